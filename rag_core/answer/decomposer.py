"""Who splits a question into its searches: the rules (``rag_core.retrieve.decompose``), or
the answering model in one short call that replies JSON, the rules taking over on any error.
"""

from __future__ import annotations

import json
import logging
import re
from abc import ABC, abstractmethod
from typing import Any

from rag_core.answer.anthropic_client import AnthropicClient
from rag_core.answer.openai_client import ChatClient, ModelServerError, without_reasoning
from rag_core.retrieve.decompose import MAX_PARTS, NONE, Decomposition, decompose

log = logging.getLogger(__name__)

DECOMPOSE_PROMPT = f"""You split a question for a document search engine into the searches it \
needs. A question that compares, lists or spans several things (companies, years, documents, \
statements) needs one search per thing; any other question needs one search. Reply with JSON \
only: {{"subqueries": ["...", "..."]}}, at most {MAX_PARTS} short standalone search queries in \
the question's language, or {{"subqueries": []}} when one search will do."""


class Decomposer(ABC):
    """Splits a question into the sub-queries it needs (none: one search will do)."""

    @abstractmethod
    def split(self, question: str) -> Decomposition: ...


class RuleDecomposer(Decomposer):
    def split(self, question: str) -> Decomposition:
        return decompose(question)


def parse_subqueries(text: str, question: str) -> tuple[str, ...]:
    """The sub-queries of a model's JSON reply (pure); ``ValueError`` when it is not one."""
    text = without_reasoning(text).strip()
    fenced = re.search(r"\{.*\}", text, re.DOTALL)
    value = json.loads(fenced.group() if fenced else text)
    parts = value.get("subqueries") if isinstance(value, dict) else None
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise ValueError('no "subqueries" list of strings')
    seen = dict.fromkeys(
        " ".join(p.split())
        for p in parts
        if p.strip() and " ".join(p.split()).casefold() != question.casefold()
    )
    return tuple(p[:500] for p in seen)[:MAX_PARTS]


def _model_split(question: str, reply: str, by: str) -> Decomposition:
    parts = parse_subqueries(reply, question)
    return Decomposition(parts, by) if len(parts) >= 2 else NONE


def _fallback(question: str, why: str) -> Decomposition:
    log.warning("sub-queries by the model failed (%s): the rules split the question", why)
    rules = decompose(question)
    note = f"the model could not propose sub-queries ({why}); used the rules"
    return Decomposition(rules.parts, rules.rule, note)


class OpenAIDecomposer(Decomposer):
    """Your own model (an OpenAI-compatible server) proposes the sub-queries."""

    def __init__(self, chat: ChatClient) -> None:
        self.chat = chat

    def split(self, question: str) -> Decomposition:
        body = {
            "model": self.chat.model,
            "max_tokens": 300,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": DECOMPOSE_PROMPT},
                {"role": "user", "content": question},
            ],
        }
        try:
            return _model_split(question, self.chat.complete(body), "openai")
        except ModelServerError as exc:
            return _fallback(question, exc.reason)
        except ValueError as exc:  # not JSON, or not the expected shape
            return _fallback(question, f"not the JSON asked for: {exc}")


class ClaudeDecomposer(Decomposer):
    """Claude proposes the sub-queries."""

    def __init__(
        self, api_key: str, *, model: str, base_url: str | None = None, timeout: float = 10.0
    ) -> None:
        self._anthropic = AnthropicClient("ClaudeDecomposer", api_key, base_url, timeout, 1)
        self.model = model

    @property
    def client(self) -> Any:
        return self._anthropic.client

    def split(self, question: str) -> Decomposition:
        import anthropic

        try:
            message = self.client.messages.create(
                model=self.model,
                max_tokens=300,
                system=DECOMPOSE_PROMPT,
                messages=[{"role": "user", "content": question}],
            )
            text = "".join(
                block.text for block in message.content if getattr(block, "type", "") == "text"
            )
            return _model_split(question, text, "claude")
        except anthropic.APIError as exc:
            return _fallback(question, type(exc).__name__)
        except ValueError as exc:
            return _fallback(question, f"not the JSON asked for: {exc}")
