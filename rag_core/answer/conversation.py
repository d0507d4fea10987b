"""Follow-up questions: the conversation turns "and in 2019?" into a query worth searching.

``RuleRewriter`` needs nothing: a question that leans on the conversation (a pronoun, an
ellipsis such as "what about ...", "那2019年呢？", or a very short question) is searched
together with the salient words of the previous searched query; a year in the new question
replaces the years of the old one. ``ClaudeRewriter`` asks Claude for a standalone query,
``OpenAIRewriter`` your own model behind an OpenAI-compatible server; both fall back to the
rule when the call fails. Either way the ``Rewrite`` says which was used,
and the trace shows the query actually searched.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rag_core.answer.anthropic_client import AnthropicClient
from rag_core.answer.openai_client import ChatClient, ModelServerError, without_reasoning
from rag_core.index.lexical import CHINESE_STOPWORDS, ENGLISH_STOPWORDS
from rag_core.text import HAN, YEAR, nfkc

log = logging.getLogger(__name__)

RewriteMethod = Literal["none", "rule", "claude", "openai"]
MAX_CONTEXT_TERMS = 8


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier exchange of the conversation."""

    question: str
    searched_query: str
    answer: str = ""


@dataclass(frozen=True, slots=True)
class Rewrite:
    """What to search for a question: ``method`` "none" means the question as asked."""

    query: str
    method: RewriteMethod
    note: str = ""


class QueryRewriter(ABC):
    """Turns a question and the conversation so far into the query to search."""

    @abstractmethod
    def rewrite(self, question: str, history: Sequence[Turn]) -> Rewrite:
        """The query to search for ``question`` after ``history`` (oldest turn first)."""


# The rule ------------------------------------------------------------------------------
_EN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’&.,%-]*[A-Za-z0-9%]|[A-Za-z0-9]")
_CJK_RUN = re.compile(f"[{HAN}]+")
_YEAR = YEAR
_EN_PRONOUNS = frozenset(
    ("it", "its", "it's", "they", "them", "their", "theirs", "those", "these", "he", "she")
) | frozenset(("him", "his", "her", "hers", "same", "former", "latter", "there"))
# "this"/"that" refer back only when nothing follows them but a verb or the end.
_EN_DEMONSTRATIVE = re.compile(
    r"\b(?:this|that)\b\s*(?:$|[?.!,]|(?:is|was|are|were|do|does|did|mean|means|one)\b)",
    re.IGNORECASE,
)
_EN_OPENERS = re.compile(
    r"^\s*(?:and|also|then|so|but|what about|how about|what of|same for|why not|"
    r"compared to|versus|vs\.?)\b",
    re.IGNORECASE,
)
# Openers that start standalone questions too: a follow-up only when little else is said.
_EN_WEAK_OPENERS = re.compile(r"^\s*(?:in|for|why|during|from|since)\b", re.IGNORECASE)
_ZH_REFERENCES = (
    "它们",
    "它",
    "他们",
    "她们",
    "他",
    "她",
    "其",
    "该",
    "这个",
    "那个",
    "这些",
    "那些",
    "此",
    "上述",
    "同期",
    "前者",
    "后者",
)
_ZH_OPENERS = ("那么", "那", "还有", "另外", "而", "以及", "并且", "同时")
_QUESTION_WORDS = (
    frozenset(("what", "which", "who", "whom", "whose", "when", "where", "why", "how", "much"))
    | frozenset(("many", "does", "do", "did", "is", "are", "was", "were", "can", "could"))
    | frozenset(("should", "would", "will", "please", "tell", "me", "show", "give", "list"))
    | frozenset(("explain", "describe"))
)
_ZH_QUESTION_WORDS = frozenset(
    ("什么", "多少", "哪些", "哪个", "如何", "怎么", "怎样", "为什么", "是否", "请问", "请", "吗")
) | frozenset(("呢",))


_ZH_NOT_CONTENT = CHINESE_STOPWORDS | _ZH_QUESTION_WORDS | frozenset(_ZH_REFERENCES)


def _english_words(text: str) -> list[str]:
    return [w.strip(".,'’") for w in _EN_WORD.findall(_CJK_RUN.sub(" ", text))]


def _chinese_words(text: str) -> list[str]:
    runs = _CJK_RUN.findall(text)
    if not runs:
        return []  # no need to load jieba's dictionary
    from rag_core.index.lexical import _get_jieba

    jieba = _get_jieba()
    return [word for run in runs for word in jieba.lcut(run, HMM=True)]


def _content_words(text: str) -> list[str]:
    """The words of ``text`` that say what it is about, in order, surface form kept."""
    text = nfkc(text)
    words = []
    for word in _english_words(text):
        low = word.lower()
        if low and low not in ENGLISH_STOPWORDS | _QUESTION_WORDS | _EN_PRONOUNS:
            words.append(word)
    for word in _chinese_words(text):
        word = word.strip()
        if len(word) > 1 and word not in _ZH_NOT_CONTENT:
            words.append(word)
    return words


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the conversation: a pronoun, an ellipsis, or too short."""
    text = nfkc(question).strip()
    if not text:
        return False
    chinese = "".join(_CJK_RUN.findall(text))
    if chinese:
        stripped = text.rstrip("?？。.!！ ")
        if any(ref in text for ref in _ZH_REFERENCES) or stripped.endswith("呢"):
            return True
        if text.startswith(_ZH_OPENERS):
            return True
        return not [w for w in _content_words(text) if not _YEAR.fullmatch(w)]
    words = [w.lower() for w in _english_words(text)]
    if any(w in _EN_PRONOUNS for w in words) or _EN_DEMONSTRATIVE.search(text):
        return True
    if _EN_OPENERS.match(text):
        return True
    content = [w for w in _content_words(text) if not _YEAR.fullmatch(w)]
    return not content or (bool(_EN_WEAK_OPENERS.match(text)) and len(content) <= 2)


def rule_rewrite(question: str, history: Sequence[Turn]) -> Rewrite:
    """The question, plus the salient words of the previous searched query for a follow-up."""
    question = question.strip()
    if not history or not is_follow_up(question):
        return Rewrite(question, "none")
    previous = history[-1].searched_query or history[-1].question
    have = {w.lower() for w in _content_words(question)}
    new_year = bool(_YEAR.search(question))
    context: list[str] = []
    for word in _content_words(previous):
        if word.lower() in have or word in context:
            continue
        if new_year and _YEAR.search(word):
            continue  # "and in 2019?" replaces the year it follows up on
        context.append(word)
    context = context[:MAX_CONTEXT_TERMS]
    if not context:
        return Rewrite(question, "none")
    return Rewrite(f"{question} {' '.join(context)}", "rule")


class RuleRewriter(QueryRewriter):
    """The rule alone (no language model): predictable, instant, offline."""

    def rewrite(self, question: str, history: Sequence[Turn]) -> Rewrite:
        return rule_rewrite(question, history)


# Claude --------------------------------------------------------------------------------
REWRITE_PROMPT = """You turn the last question of a conversation into a standalone search \
query for a search engine over the user's documents.
Resolve references to earlier turns (it, they, that year, the company, 它, 该公司, 呢 ...) \
using the conversation. Keep names, numbers, years and units exactly. Write the query in the \
language of the last question. If the question already stands alone, return it unchanged.
Reply with the standalone search query only: one line, no quotes, no explanation."""

MAX_HISTORY_TURNS = 3
MAX_ANSWER_CHARS = 400


def rewrite_prompt(question: str, history: Sequence[Turn]) -> str:
    """The conversation and the last question, as the rewriting model reads them (pure)."""
    lines = ["Conversation so far:"]
    for turn in history[-MAX_HISTORY_TURNS:]:
        lines.append(f"User: {turn.question}")
        if turn.answer:
            answer = re.sub(r"\s+", " ", turn.answer).strip()[:MAX_ANSWER_CHARS]
            lines.append(f"Assistant: {answer}")
    lines += ["", f"Last question: {question}", "", "Standalone search query:"]
    return "\n".join(lines)


def rewrite_request(model: str, question: str, history: Sequence[Turn]) -> dict[str, Any]:
    """The Messages API body asking Claude for a standalone query (pure)."""
    return {
        "model": model,
        "max_tokens": 200,
        "system": REWRITE_PROMPT,
        "messages": [{"role": "user", "content": rewrite_prompt(question, history)}],
    }


class ClaudeRewriter(QueryRewriter):
    """Claude writes the standalone query; the rule takes over when Claude cannot."""

    MAX_RETRIES = 1  # a slow rewrite delays the answer: fall back to the rule sooner

    def __init__(
        self,
        api_key: str,
        *,
        model: str,
        base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._anthropic = AnthropicClient(
            "ClaudeRewriter", api_key, base_url, timeout, self.MAX_RETRIES
        )
        self.model = model

    @property
    def client(self) -> Any:
        return self._anthropic.client

    def rewrite(self, question: str, history: Sequence[Turn]) -> Rewrite:
        question = question.strip()
        if not history:
            return Rewrite(question, "none")
        import anthropic

        try:
            message = self.client.messages.create(**rewrite_request(self.model, question, history))
            text = "".join(
                block.text for block in message.content if getattr(block, "type", "") == "text"
            )
        except anthropic.APIError as exc:
            log.warning("query rewrite by Claude failed: %s", exc)
            fallback = rule_rewrite(question, history)
            note = f"Claude could not rewrite the question ({type(exc).__name__}); used the rule"
            return Rewrite(fallback.query, fallback.method, note)
        query = _clean_query(text)
        if not query:
            fallback = rule_rewrite(question, history)
            return Rewrite(fallback.query, fallback.method, "Claude's rewrite was empty")
        return Rewrite(query, "claude" if query != question else "none")


# Your own model ------------------------------------------------------------------------
def chat_rewrite_request(model: str, question: str, history: Sequence[Turn]) -> dict[str, Any]:
    """The chat-completions body asking an OpenAI-compatible server for a standalone query."""
    return {
        "model": model,
        "max_tokens": 200,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": REWRITE_PROMPT},
            {"role": "user", "content": rewrite_prompt(question, history)},
        ],
    }


class OpenAIRewriter(QueryRewriter):
    """Your own model writes the standalone query; the rule takes over when it cannot."""

    def __init__(self, chat: ChatClient) -> None:
        self.chat = chat
        self.model = chat.model

    def rewrite(self, question: str, history: Sequence[Turn]) -> Rewrite:
        question = question.strip()
        if not history:
            return Rewrite(question, "none")
        try:
            text = self.chat.complete(chat_rewrite_request(self.model, question, history))
        except ModelServerError as exc:
            log.warning("query rewrite by %s failed: %s", exc.url, exc.reason)
            fallback = rule_rewrite(question, history)
            note = f"the model at {exc.url} could not rewrite it ({exc.reason}); used the rule"
            return Rewrite(fallback.query, fallback.method, note)
        query = _clean_query(without_reasoning(text))
        if not query:
            fallback = rule_rewrite(question, history)
            return Rewrite(fallback.query, fallback.method, "the model's rewrite was empty")
        return Rewrite(query, "openai" if query != question else "none")


def _clean_query(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    query = lines[0].strip().strip("\"'“”「」")
    return query if len(query) <= 500 else ""
