"""Tokens for BM25: jieba words for Chinese; lowercased, stemmed, stopword-free English.

Chinese text can also be read as its characters and character pairs (``han_grams``, as
Lucene's CJK analyzer does): no dictionary, so Traditional Chinese, names and terms jieba
does not know are matched as well as Simplified (``LexicalTokenizer.grams``).

Numbers are kept whole without thousands separators ("1,577" -> "1577") because in
reports the number is often the answer. Letter-digit runs are also split ("FY2018" gives
"fy2018", "fy" and "2018") so a question about 2018 finds "FY2018".
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, Literal

from rag_core.hanzi import simplified
from rag_core.text import HAN, nfkc

_LETTER_DIGIT = re.compile(r"[a-z]+|[0-9]+(?:\.[0-9]+)?")
_HAN_RUN = re.compile(rf"[{HAN}]+")
_TOKEN_OR_CJK = re.compile(rf"(?P<cjk>[{HAN}]+)|(?P<word>[a-z0-9]+(?:[.,'][a-z0-9]+)*)")

ENGLISH_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "s",
        "t",
        "d",
        "ll",
        "m",
        "re",
        "ve",
    ]
)
CHINESE_STOPWORDS = frozenset(
    [
        "的",
        "了",
        "和",
        "是",
        "在",
        "也",
        "就",
        "都",
        "而",
        "及",
        "与",
        "着",
        "或",
        "一个",
        "没有",
        "我们",
        "你们",
        "他们",
        "她们",
        "它们",
        "这",
        "那",
        "这个",
        "那个",
        "之",
        "于",
        "以",
        "为",
        "对",
        "从",
        "把",
        "被",
        "让",
        "给",
        "但",
        "并",
        "等",
        "呢",
        "吗",
        "吧",
        "啊",
        "呀",
        "么",
        "其",
        "该",
        "此",
        "所",
        "其中",
        "已",
        "已经",
        "还",
        "又",
        "很",
    ]
)

ChineseAnalysis = Literal["jieba", "grams", "both", "fields"]
"""How the chunk BM25 index reads Chinese: jieba words; characters and character pairs
(``han_grams``); both in one field; or each in a field of its own, their scores added."""
CHINESE_ANALYSES: tuple[ChineseAnalysis, ...] = ("jieba", "grams", "both", "fields")

_jieba_lock = threading.Lock()
_jieba: Any = None


def _get_jieba() -> Any:
    global _jieba
    with _jieba_lock:
        if _jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba = jieba
    return _jieba


class LexicalTokenizer:
    """Turns text into BM25 tokens. Cheap to build; jieba and the stemmer load on first use."""

    def __init__(self, stem: bool = True) -> None:
        self.stem = stem
        self._stemmer: Any = None

    def _stem_words(self, words: list[str]) -> list[str]:
        if not self.stem or not words:
            return words
        if self._stemmer is None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        stemmed: list[str] = self._stemmer.stemWords(words)
        return stemmed

    def tokenize(self, text: str) -> list[str]:
        """Jieba words for the Chinese of ``text``, then its English words."""
        return self._analyse(text, self._chinese)

    def grams(self, text: str) -> list[str]:
        """Like ``tokenize``, with each run of Chinese characters as its characters and
        overlapping character pairs (``han_grams``) instead of jieba words."""
        return self._analyse(text, han_grams)

    def fields(
        self, text: str, words: list[str], chinese: ChineseAnalysis
    ) -> tuple[list[str], list[str]]:
        """The tokens of ``text`` for the chunk BM25 index and for the gram index, read the
        ``chinese`` way; ``words``: ``tokenize(text)``, already at hand (the stored tokens of
        a chunk, the section leg's query tokens). Text without Chinese gets ``words`` and
        no grams whatever ``chinese`` is, so English is searched as it always was."""
        runs = han_runs(text) if chinese != "jieba" else []
        if not runs:
            return words, []
        if chinese == "grams":
            return self.grams(text), []
        grams = [g for run in runs for g in han_grams(run)]
        return (words + grams, []) if chinese == "both" else (words, grams)

    def _analyse(self, text: str, chinese: Callable[[str], list[str]]) -> list[str]:
        text = nfkc(text).lower()
        tokens: list[str] = []
        english: list[str] = []
        for match in _TOKEN_OR_CJK.finditer(text):
            if match.group("cjk"):
                tokens.extend(chinese(match.group("cjk")))
            else:
                english.extend(_english_parts(match.group("word")))
        return tokens + self._stem_words(english)

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.tokenize(text) for text in texts]

    @staticmethod
    def _chinese(run: str) -> list[str]:
        """jieba's words of a run, Traditional read as Simplified (its dictionary's script,
        and so either script finds the other)."""
        jieba = _get_jieba()
        words = jieba.lcut_for_search(simplified(run), HMM=True)
        return [w for w in words if w.strip() and w not in CHINESE_STOPWORDS]


def han_grams(run: str) -> list[str]:
    """A run of Chinese characters as its characters, then its overlapping pairs, Traditional
    characters written Simplified (so either script finds the other): "北京大學" -> 北, 京,
    大, 学, 北京, 京大, 大学."""
    run = simplified(run)
    return [*run, *(run[i : i + 2] for i in range(len(run) - 1))]


def han_runs(text: str) -> list[str]:
    """The runs of Chinese characters in ``text`` (after NFKC, as the tokenizer reads it)."""
    return _HAN_RUN.findall(nfkc(text))


@functools.lru_cache(maxsize=1 << 16)  # words repeat: a cache hit is 10x cheaper
def _english_parts(word: str) -> tuple[str, ...]:
    word = word.strip(".,'")
    if not word:
        return ()
    if re.fullmatch(r"[0-9][0-9,]*(?:\.[0-9]+)?", word):
        return (word.replace(",", ""),)  # a number: 1,577.00 -> 1577.00
    word = re.sub(r"'s$", "", word).replace("'", "")  # possessive: "mgm's" -> "mgm"
    parts: list[str] = []
    for piece in re.split(r"[.,]", word):
        if not piece or piece in ENGLISH_STOPWORDS:
            continue
        parts.append(piece)
        sub = _LETTER_DIGIT.findall(piece)
        if len(sub) > 1:
            parts.extend(s for s in sub if s not in ENGLISH_STOPWORDS)
    return tuple(parts)
