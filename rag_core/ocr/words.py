"""Repairing English OCR lines whose recognizer dropped the spaces between words.

PP-OCRv4's recognizer often reads ``Consolidated Statement of Cash Flows`` as
``ConsolidatedStatementofCashFlows``: one token BM25 has never seen. A run of letters that is
not an English word is split by a word-frequency segmenter (``wordninja``, whose word list
ships in its wheel) when every piece is a word of that list; otherwise it is left alone, so
names, codes and Chinese text pass unchanged. Digits run into a word (``4,512million``) are
parted from it.
"""

from __future__ import annotations

import re
from functools import lru_cache

RUN = re.compile(r"[A-Za-z]{2,}")
DIGITS_THEN_WORD = re.compile(r"(?<=\d)(?=[A-Za-z]{3,})")  # 4,512million
MIN_RUN = 5  # shorter runs are left alone
MAX_RANK = 100_000  # a piece must be among this many most frequent English words
SINGLE = frozenset({"a", "i"})


@lru_cache(maxsize=1)
def _ranks() -> dict[str, int]:
    """Each word of wordninja's list with its frequency rank (0: the most frequent)."""
    import wordninja

    cost: dict[str, float] = wordninja.DEFAULT_LANGUAGE_MODEL._wordcost
    return {w: i for i, w in enumerate(sorted(cost, key=cost.__getitem__))}


def known(word: str) -> bool:
    """A common English word (case ignored)."""
    rank = _ranks().get(word.lower())
    return rank is not None and rank < MAX_RANK


def split_run(run: str) -> list[str]:
    """``run`` as the words it is made of, or ``[run]`` when it is a word or not made of words."""
    if len(run) < MIN_RUN or run.lower() in _ranks():  # a word, however rare
        return [run]
    import wordninja

    pieces = wordninja.split(run)
    if len(pieces) < 2 or "".join(pieces) != run:
        return [run]
    if any((len(p) < 2 and p.lower() not in SINGLE) or not known(p) for p in pieces):
        return [run]
    return pieces


def repair_words(line: str) -> str:
    """``line`` with each run-together English run split into its words."""
    line = DIGITS_THEN_WORD.sub(" ", line)
    return RUN.sub(lambda m: " ".join(split_run(m.group(0))), line)
