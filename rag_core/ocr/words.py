"""Repairing English OCR lines whose recognizer dropped the spaces between words.

PP-OCRv4's recognizer often reads ``Consolidated Statement of Cash Flows`` as
``ConsolidatedStatementofCashFlows``: one token BM25 has never seen. A run of letters that is
not an English word is segmented by the cheapest sequence of pieces (dynamic programming over
a unigram cost, as ``wordninja`` does, with its word list, which ships in its wheel), where a
piece is either a word of that list, at the cost of its frequency rank, or a stretch the list
does not know (a name, a ticker, an acronym), at a cost that grows with its length. So
``AmcorFlexiblesNorthAmerica`` becomes ``Amcor Flexibles North America`` and ``EBITDA`` or
``Amcor`` stay whole: splitting them would need rare two- or three-letter pieces
(``EB IT DA``, ``Amc or``) that cost more than the unknown word. Further rules:

- a run that is a word of the list, or one with an inflection (``-s``, ``-ed``, ``-ing``...)
  of one, is left alone;
- an unknown stretch never spans a lower-to-upper case change (``endedDecember``), which is
  where OCR most often lost a space;
- two-letter pieces outside the list's 200 most frequent words cost extra (``un``, ``eb``):
  the short words OCR runs together are the common ones (of, to, in).

Digits run into a word (``4,512million``) are parted from it. The costs were chosen on OCR'd
pages of other documents than the ones measured (docs/benchmarks.md, OCR, word repair).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

RUN = re.compile(r"[A-Za-z]{2,}")
DIGITS_THEN_WORD = re.compile(r"(?<=\d)(?=[A-Za-z]{3,})")  # 4,512million
MIN_RUN = 5  # shorter runs are left alone
MAX_RANK = 100_000  # a word piece must be among this many most frequent English words
MAX_PIECE = 20  # the longest piece considered (letters)
SINGLE = frozenset({"a", "i"})
INFLECTIONS = ("s", "es", "ed", "d", "ing", "al", "ly")
# Costs, in the units of the word costs (-log probability under Zipf's law):
UNKNOWN_BASE = 6.0  # an unknown stretch: this much ...
UNKNOWN_PER_LETTER = 2.0  # ... plus this much a letter (at least 3 letters)
SHORT_PENALTY = 3.0  # a two-letter word piece outside the most common ...
SHORT_COMMON_RANK = 200  # ... this many words


@lru_cache(maxsize=1)
def _ranks() -> dict[str, int]:
    """Each word of wordninja's list with its frequency rank (0: the most frequent)."""
    import wordninja

    cost: dict[str, float] = wordninja.DEFAULT_LANGUAGE_MODEL._wordcost
    return {w: i for i, w in enumerate(sorted(cost, key=cost.__getitem__))}


def is_word(run: str) -> bool:
    """``run`` is a word of the list, however rare, or an inflection of one."""
    low, ranks = run.lower(), _ranks()
    return low in ranks or any(
        low.endswith(end) and low[: -len(end)] in ranks for end in INFLECTIONS
    )


@lru_cache(maxsize=65_536)
def _word_cost(piece: str) -> float:
    """The cost of ``piece`` (lower case) as a word; ``inf`` when it is not one."""
    rank = _ranks().get(piece)
    if rank is None or rank >= MAX_RANK or (len(piece) == 1 and piece not in SINGLE):
        return math.inf
    cost = math.log((rank + 1) * math.log(len(_ranks())))  # wordninja's cost
    if len(piece) == 2 and rank >= SHORT_COMMON_RANK:
        cost += SHORT_PENALTY
    return cost


def unknown_cost(letters: int) -> float:
    return UNKNOWN_BASE + UNKNOWN_PER_LETTER * letters


@lru_cache(maxsize=65_536)
def split_run(run: str) -> tuple[str, ...]:
    """``run`` as the words it is made of, or ``(run,)`` when it is a word or costs least whole."""
    if len(run) < MIN_RUN or is_word(run):
        return (run,)
    low, n = run.lower(), len(run)
    # changes[k]: how many lower-to-upper changes come before letter k - 1 (between letters
    # m - 1 and m for m < k); an unknown stretch [j, i) may start at one but not contain one.
    changes = [0, 0]
    for k in range(1, n):
        changes.append(changes[-1] + (run[k - 1].islower() and run[k].isupper()))
    best = [0.0] + [math.inf] * n
    back = [0] * (n + 1)
    for i in range(1, n + 1):
        for j in range(max(0, i - MAX_PIECE), i):
            if best[j] == math.inf:
                continue
            cost = _word_cost(low[j:i])
            if i - j >= 3 and changes[i] - changes[j + 1] == 0:
                cost = min(cost, unknown_cost(i - j))
            if best[j] + cost < best[i]:
                best[i], back[i] = best[j] + cost, j
    if changes[n] == 0 and unknown_cost(n) <= best[n]:
        return (run,)  # cheapest whole (and longer than MAX_PIECE is allowed here)
    pieces: list[str] = []
    i = n
    while i > 0:
        pieces.append(run[back[i] : i])
        i = back[i]
    return tuple(reversed(pieces))


def repair_words(line: str) -> str:
    """``line`` with each run-together English run split into its words."""
    line = DIGITS_THEN_WORD.sub(" ", line)
    return RUN.sub(lambda m: " ".join(split_run(m.group(0))), line)
