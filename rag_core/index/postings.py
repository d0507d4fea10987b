"""Term postings of one field of one index segment, and BM25 over several segments at once.

A segment keeps, per term, the rows holding it and how often (``Postings``), never scores:
BM25's document frequencies and average length belong to the whole library, so they are
computed at query time from every live segment (``LiveField``). A query's scores are then
exactly those of one BM25 index over the live rows: the same formulas as bm25s (its own idf
and term-frequency functions are used), the same document frequencies, the same average.
Rows of removed documents are masked (``live``): they count in no statistic and score 0.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from rag_core.index import npy
from rag_core.index.bm25 import top_in_ranges
from rag_core.index.maxscore import TermPostings, top_rows


@dataclass(frozen=True)
class BM25Params:
    """The BM25 variant (a bm25s method), its parameters and its idf (None: the method's)."""

    method: str = "lucene"
    k1: float = 1.2
    b: float = 0.75
    idf_method: str | None = None
    delta: float = 0.5  # bm25l and bm25+ only (bm25s's default)


@dataclass(frozen=True)
class Postings:
    """One field of a segment: for term ``t`` (``vocab[t]`` = i), its rows are
    ``rows[indptr[i]:indptr[i + 1]]`` (ascending) with ``counts`` occurrences each;
    ``lengths``: the tokens of every row."""

    terms: tuple[str, ...]
    indptr: np.ndarray  # (terms + 1,) int64
    rows: np.ndarray  # (postings,) int32
    counts: np.ndarray  # (postings,) float32
    lengths: np.ndarray  # (rows,) int32

    @cached_property
    def vocab(self) -> dict[str, int]:
        return {term: i for i, term in enumerate(self.terms)}

    @property
    def size(self) -> int:
        return len(self.lengths)

    def term(self, token: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The rows holding ``token`` and its count in each; None when no row does."""
        i = self.vocab.get(token)
        if i is None:
            return None
        start, stop = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.rows[start:stop], self.counts[start:stop]


def build_postings(token_lists: Sequence[Sequence[str]]) -> Postings:
    """The postings of rows given as their tokens."""
    vocab: dict[str, int] = {}
    flat = [vocab.setdefault(token, len(vocab)) for tokens in token_lists for token in tokens]
    size = len(token_lists)
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int32, count=size)
    rows = np.repeat(np.arange(size, dtype=np.int64), lengths)
    # One key per (term, row) occurrence; its count is the term's frequency in the row.
    keys, counts = np.unique(
        np.asarray(flat, dtype=np.int64) * max(size, 1) + rows, return_counts=True
    )
    return _sorted_postings(
        tuple(vocab),
        keys // max(size, 1),
        (keys % max(size, 1)).astype(np.int32),
        counts.astype(np.float32),
        lengths,
    )


def _sorted_postings(
    terms: tuple[str, ...],
    term_ids: np.ndarray,
    rows: np.ndarray,
    counts: np.ndarray,
    lengths: np.ndarray,
) -> Postings:
    order = np.lexsort((rows, term_ids))
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum(np.bincount(term_ids, minlength=len(terms)), out=indptr[1:])
    return Postings(terms, indptr, rows[order], counts[order], lengths)


def merge_postings(parts: Sequence[tuple[Postings, np.ndarray]]) -> Postings:
    """One field of a merged segment: each part with ``remap`` (its row -> the merged row,
    -1 for rows left out: removed documents). Terms no kept row holds are dropped."""
    vocab: dict[str, int] = {}
    term_ids, rows, counts = [], [], []
    size = 0
    for postings, remap in parts:
        kept = remap >= 0
        size = max(size, int(remap.max(initial=-1)) + 1)
        to_merged = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for t in postings.terms),
            dtype=np.int64,
            count=len(postings.terms),
        )
        per_term = np.diff(postings.indptr)
        local_terms = np.repeat(np.arange(len(postings.terms)), per_term)
        keep = kept[postings.rows]
        term_ids.append(to_merged[local_terms[keep]])
        rows.append(remap[postings.rows[keep]].astype(np.int32))
        counts.append(np.asarray(postings.counts[keep], dtype=np.float32))
    lengths = np.zeros(size, dtype=np.int32)
    for postings, remap in parts:
        kept = remap >= 0
        lengths[remap[kept]] = postings.lengths[kept]
    all_terms = np.concatenate(term_ids) if term_ids else np.zeros(0, dtype=np.int64)
    used = np.unique(all_terms)  # terms held by no kept row are dropped, ids renumbered
    renumber = np.full(len(vocab), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    names = tuple(vocab)
    return _sorted_postings(
        tuple(names[i] for i in used),
        renumber[all_terms],
        np.concatenate(rows) if rows else np.zeros(0, dtype=np.int32),
        np.concatenate(counts) if counts else np.zeros(0, dtype=np.float32),
        lengths,
    )


def save_postings(postings: Postings, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "terms.json").write_text(json.dumps(postings.terms, ensure_ascii=False))
    for name in ("indptr", "rows", "counts", "lengths"):
        np.save(folder / f"{name}.npy", getattr(postings, name))


def load_postings(folder: Path) -> Postings:
    # Memory-mapped, as plain arrays: a slice of an ``np.memmap`` is a memmap too, and
    # building one (per term, per segment, per query) cost more than reading the postings.
    arrays = {
        name: np.asarray(npy.load(folder / f"{name}.npy", mmap=True))
        for name in ("indptr", "rows", "counts", "lengths")
    }
    terms = tuple(json.loads((folder / "terms.json").read_text()))
    return Postings(terms, **arrays)


def _tfc_robertson(counts: np.ndarray, norm: np.ndarray, k1: float) -> np.ndarray:
    out: np.ndarray = counts / (norm + counts)
    return out


def _tfc_atire(counts: np.ndarray, norm: np.ndarray, k1: float) -> np.ndarray:
    out: np.ndarray = (counts * (k1 + 1)) / (counts + norm)
    return out


# bm25s's term-frequency functions given the length norm (``LiveField._norm``): the same
# operations in the same order (tests/test_maxscore.py checks them bit for bit).
_NORMED = {"robertson": _tfc_robertson, "lucene": _tfc_robertson, "atire": _tfc_atire}


@dataclass(frozen=True)
class _QueryTerm:
    """A query term's live rows in scope (ascending), its count in each, how often the query
    holds it, its idf and (bm25l, bm25+) what it gives a row without it."""

    rows: np.ndarray
    counts: np.ndarray
    times: int
    idf: float
    absent: float

    def within(self, ranges: Sequence[tuple[int, int]]) -> _QueryTerm:
        """The term at its rows inside ``ranges`` only (sorted row ranges ``[start, stop)``)."""
        edges = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
        if not len(edges):
            return replace(self, rows=self.rows[:0], counts=self.counts[:0])
        at = np.searchsorted(edges[:, 0], self.rows, side="right") - 1
        keep = (at >= 0) & (self.rows < edges[np.maximum(at, 0), 1])
        return replace(self, rows=self.rows[keep], counts=self.counts[keep])


@dataclass(frozen=True)
class LiveField:
    """One field over several segments, as one BM25 index over their live rows.

    ``live[i]``: which rows of ``parts[i]`` count (None: all); the scores of part ``i``'s
    live rows come one after another, in segment order (rows of removed documents take no
    place)."""

    parts: tuple[Postings, ...]
    live: tuple[np.ndarray | None, ...]
    params: BM25Params

    @cached_property
    def _kept(self) -> tuple[np.ndarray | None, ...]:
        return tuple(None if m is None else np.flatnonzero(m) for m in self.live)

    @cached_property
    def size(self) -> int:
        """Live rows in all (BM25's N)."""
        return sum(
            p.size if k is None else len(k) for p, k in zip(self.parts, self._kept, strict=True)
        )

    @cached_property
    def _lengths(self) -> np.ndarray:
        """The tokens of every live row, in row order (float32: whole numbers, exact)."""
        out = [
            np.asarray(p.lengths if k is None else p.lengths[k], dtype=np.float32)
            for p, k in zip(self.parts, self._kept, strict=True)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    @cached_property
    def _placement(self) -> tuple[tuple[int, np.ndarray | None], ...]:
        """Per part: the live row of its first row, and for a part with removed rows its
        segment row -> live row map (-1: a row that does not count)."""
        out: list[tuple[int, np.ndarray | None]] = []
        offset = 0
        for postings, kept in zip(self.parts, self._kept, strict=True):
            if kept is None:
                out.append((offset, None))
                offset += postings.size
                continue
            rows = np.full(postings.size, -1, dtype=np.int32)
            rows[kept] = np.arange(offset, offset + len(kept))
            out.append((offset, rows))
            offset += len(kept)
        return tuple(out)

    @cached_property
    def average_length(self) -> float:
        return float(self._lengths.sum(dtype=np.float64)) / self.size if self.size else 0.0

    @cached_property
    def _shortest(self) -> float:
        """The fewest tokens of a live row (a bound: no row is shorter)."""
        return float(self._lengths.min()) if self.size else 0.0

    def _statistics(
        self, scope: Sequence[tuple[int, int]] | None
    ) -> tuple[int, float, np.ndarray | None]:
        """BM25's row count and average length over ``scope`` (None: all live rows), and
        which rows are in it."""
        if scope is None:
            return self.size, self.average_length, None
        inside = np.zeros(self.size, dtype=bool)
        for start, stop in scope:
            inside[start:stop] = True
        size = int(inside.sum())
        avg = float(self._lengths[inside].sum(dtype=np.float64)) / size if size else 0.0
        return size, avg, inside

    def _query_terms(
        self, query_tokens: Sequence[str], size: int, avg: float, inside: np.ndarray | None
    ) -> list[_QueryTerm]:
        """Each distinct query term held by a live row in scope, in the query's order."""
        from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

        p = self.params
        idf_of = _select_idf_scorer(p.idf_method or p.method)
        tfc_of = _select_tfc_scorer(p.method)
        out = []
        for token, times in Counter(query_tokens).items():
            rows, counts = self._term_rows(token)
            if inside is not None:
                keep = inside[rows]
                rows, counts = rows[keep], counts[keep]
            if len(rows) == 0:
                continue  # in no live row: unknown to an index of the live rows
            idf = idf_of(len(rows), N=size)
            absent = 0.0
            if p.method in ("bm25l", "bm25+"):
                absent = idf * tfc_of(tf_array=0, l_d=avg, l_avg=avg, k1=p.k1, b=p.b, delta=p.delta)
            out.append(_QueryTerm(rows, counts, times, idf, absent))
        return out

    @cached_property
    def _length_norm(self) -> np.ndarray:
        """``k1 * (1 - b + b * length / average)`` of every live row (float32)."""
        return self._norm(self._lengths, self.average_length)

    def _norm(self, lengths: np.ndarray, avg: float) -> np.ndarray:
        # bm25s's own expression, operation for operation, so the scores are bit for bit its.
        p = self.params
        norm: np.ndarray = p.k1 * ((1 - p.b) + p.b * lengths / avg)
        return norm

    def _contribution(self, term: _QueryTerm, avg: float, at: np.ndarray | None) -> np.ndarray:
        """What ``term`` adds to its rows (at positions ``at``; None: all)."""
        p = self.params
        rows, counts = (term.rows, term.counts) if at is None else (term.rows[at], term.counts[at])
        if p.method in _NORMED:
            if avg == self.average_length:
                norm = self._length_norm[rows]
            else:
                norm = self._norm(self._lengths[rows], avg)
            tfc = _NORMED[p.method](counts, norm, p.k1)
        else:
            from bm25s.scoring import _select_tfc_scorer

            tfc = _select_tfc_scorer(p.method)(
                tf_array=counts, l_d=self._lengths[rows], l_avg=avg, k1=p.k1, b=p.b, delta=p.delta
            )
        added: np.ndarray = term.times * (term.idf * tfc - term.absent)
        return added

    def scores(
        self, query_tokens: Sequence[str], scope: Sequence[tuple[int, int]] | None = None
    ) -> np.ndarray:
        """BM25 score of every live row for the query (0 for rows sharing no term).

        ``scope``: live row ranges ``[start, stop)`` searched (None: all). The statistics
        (document frequencies, row count, average length) are then those of the rows in
        scope, as an index of those rows alone would have them, and rows outside score 0.

        Each term's postings are scored as one array and all are summed by row in one pass
        (``np.bincount``): at 1M rows a question's terms hold about 600k postings, and a
        score array per term added into the whole (a gather and a scatter each) cost twice
        as much."""
        size, avg, inside = self._statistics(scope)
        terms = self._query_terms(query_tokens, size, avg, inside)
        background = sum(t.times * t.absent for t in terms)  # bm25l, bm25+: added to every row
        total: np.ndarray
        if terms:
            total = np.bincount(
                np.concatenate([t.rows for t in terms]),
                weights=np.concatenate([self._contribution(t, avg, None) for t in terms]),
                minlength=self.size,
            ).astype(np.float64, copy=False)
        else:
            total = np.zeros(self.size, dtype=np.float64)
        if background:
            total += background if inside is None else np.where(inside, background, 0.0)
        return total.astype(np.float32)

    def postings(
        self,
        query_tokens: Sequence[str],
        scope: Sequence[tuple[int, int]] | None = None,
        ranges: Sequence[tuple[int, int]] | None = None,
        field: int = 0,
    ) -> list[TermPostings] | None:
        """The query's terms for ``maxscore.top_rows``: each with its live rows in ``ranges``
        (None: all), scored with ``scope``'s statistics as ``scores`` scores them; None where
        that cannot be exact (bm25l and bm25+ give every row a score, held or not)."""
        from bm25s.scoring import _select_tfc_scorer

        p = self.params
        if p.method in ("bm25l", "bm25+"):
            return None
        size, avg, inside = self._statistics(scope)
        tfc_of = _select_tfc_scorer(p.method)
        out = []
        for term in self._query_terms(query_tokens, size, avg, inside):
            if ranges is not None and ranges != scope:  # the scope's rows are in already
                term = term.within(ranges)
            if not len(term.rows):
                continue
            # tf / (tf + k1 (1 - b + b dl / avg)) grows with tf and shrinks with dl.
            most = tfc_of(
                tf_array=float(term.counts.max()),
                l_d=self._shortest,
                l_avg=avg,
                k1=p.k1,
                b=p.b,
                delta=p.delta,
            )
            bound = term.times * (term.idf * float(most) - term.absent)
            score = functools.partial(self._contribution, term, avg)
            out.append(TermPostings(term.rows, score, max(bound, 0.0), field))
        return out

    def top(
        self,
        query_tokens: Sequence[str],
        k: int,
        scope: Sequence[tuple[int, int]] | None = None,
        ranges: Sequence[tuple[int, int]] | None = None,
    ) -> list[tuple[int, float]]:
        """``top_in_ranges(self.scores(query_tokens, scope), k, ranges)``, computed without
        scoring every posting (``maxscore``)."""
        return top_of_fields([(self, query_tokens)], k, scope, ranges)

    def rows_holding(self, token: str) -> np.ndarray:
        """The live rows holding ``token``, ascending: read from its postings, whatever the
        BM25 variant gives a row without it."""
        return self._term_rows(token)[0]

    def _term_rows(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """The live rows holding ``token`` (ascending, int32) and its count in each."""
        rows, counts = [], []
        for part, (offset, to_live) in zip(self.parts, self._placement, strict=True):
            found = part.term(token)
            if found is None or not len(found[0]):
                continue
            held, times = found
            if to_live is None:
                rows.append(held + offset if offset else held)  # int32 (an error past 2**31)
            else:
                live = to_live[held]
                kept = live >= 0
                rows.append(live[kept])
                times = times[kept]
            counts.append(np.asarray(times, dtype=np.float32))
        if not rows:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        if len(rows) == 1:
            return rows[0], counts[0]
        return np.concatenate(rows), np.concatenate(counts)


def top_of_fields(
    fields: Sequence[tuple[LiveField, Sequence[str]]],
    k: int,
    scope: Sequence[tuple[int, int]] | None = None,
    ranges: Sequence[tuple[int, int]] | None = None,
) -> list[tuple[int, float]]:
    """The top ``k`` live rows (in ``ranges``; None: all) by the sum of each field's BM25
    scores for its query tokens (statistics over ``scope``): exactly ``top_in_ranges`` over
    ``sum(field.scores(tokens, scope))`` (float32, fields added in order), without scoring
    every posting of the query's common terms (``maxscore``)."""
    terms: list[TermPostings] = []
    for i, (live, tokens) in enumerate(fields):
        found = live.postings(tokens, scope, ranges, field=i)
        if found is None:  # a variant MaxScore cannot bound: score every row
            return top_in_ranges(_summed(fields, scope), k, ranges)
        terms.extend(found)
    return top_rows(terms, k)


def _summed(
    fields: Sequence[tuple[LiveField, Sequence[str]]], scope: Sequence[tuple[int, int]] | None
) -> np.ndarray:
    total = fields[0][0].scores(fields[0][1], scope)
    for live, tokens in fields[1:]:
        total = total + live.scores(tokens, scope)
    return total
