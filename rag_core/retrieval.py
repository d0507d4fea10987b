"""Hybrid retrieval: BM25 and dense legs over one snapshot, fused, with a full trace."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from .dense_index import ChromaStore
from .embeddings import Embedder
from .fusion import Fused, Ranking, reciprocal_rank_fusion, score_fusion
from .lexical import LexicalTokenizer
from .registry import Registry
from .snapshot import Snapshot, SnapshotStore
from .types import (
    Filters,
    Hit,
    LegRank,
    LegTrace,
    PageHit,
    RetrievalTrace,
    SearchResult,
    Timing,
)


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    fusion: str = "rrf"
    rrf_k: int = 60
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    candidates: int = 100
    max_unknown_ratio: float = 0.3


@dataclass(frozen=True, slots=True)
class DenseDecision:
    """Whether the dense leg can read a query, and how much it counts."""

    weight: float
    status: Literal["on", "down-weighted", "off"]
    note: str


def dense_decision(
    unknown_ratio: float, weight: float, max_ratio: float, model: str
) -> DenseDecision:
    """Skip the dense leg for queries its model cannot read; down-weight partly readable ones."""
    share = f"{unknown_ratio:.0%}"
    if unknown_ratio > max_ratio:
        return DenseDecision(
            0.0, "off", f"dense leg off: {model} cannot read {share} of the query's tokens"
        )
    if unknown_ratio > max_ratio / 2:
        return DenseDecision(
            weight * (1.0 - unknown_ratio),
            "down-weighted",
            f"dense leg down-weighted: {model} cannot read {share} of the query's tokens",
        )
    return DenseDecision(weight, "on", "")


class PageLeg(Protocol):
    """A retrieval leg that ranks whole pages (the vision index)."""

    def search(self, query: str, n: int, doc_ids: Collection[str]) -> LegTrace:
        """The best ``n`` pages of ``doc_ids``; ``ranked`` keys are ``page_key`` values."""
        ...


class Retriever:
    def __init__(
        self,
        registry: Registry,
        snapshots: SnapshotStore,
        tokenizer: LexicalTokenizer,
        embedder: Embedder,
        chroma: ChromaStore,
        config: RetrievalConfig,
        page_leg: PageLeg | None = None,
    ) -> None:
        self.registry = registry
        self.snapshots = snapshots
        self.tokenizer = tokenizer
        self.embedder = embedder
        self.chroma = chroma
        self.config = config
        self.page_leg = page_leg

    def snapshot(self) -> Snapshot:
        return self.snapshots.current(self.registry.generation())

    def search(
        self, query: str, k: int, filters: Filters | None = None, searched_query: str | None = None
    ) -> SearchResult:
        filters = filters or Filters()
        searched = (searched_query or query).strip()
        timings: list[Timing] = []
        clock = _Clock(timings)
        snapshot = self.snapshot()
        ranges = None
        notes: list[str] = []
        if not filters.empty:
            ranges = snapshot.ranges_for(self.registry.filtered_doc_ids(filters))
            if not ranges:
                notes.append("no ready document matches the filters")
        clock.lap("snapshot")
        n = self.config.candidates
        legs = [self._bm25_leg(snapshot, searched, n, ranges, clock)]
        legs.append(self._dense_leg(snapshot, searched, n, ranges, clock))
        rankings = {leg.leg: leg.ranked for leg in legs if leg.status != "off"}
        weights = {leg.leg: leg.weight for leg in legs}
        fused = self._fuse(rankings, weights)[: max(k * 3, k)]
        clock.lap("fuse")
        chunks = self.registry.ready_chunks([f.key for f in fused])
        hits: list[Hit] = []
        for f in fused:
            if f.key in chunks and len(hits) < k:
                chunk, doc_name = chunks[f.key]
                hits.append(Hit(chunk, doc_name, f.score, len(hits) + 1, f.legs))
        clock.lap("fetch")
        pages = pages_of(hits)
        if self.page_leg is not None:
            page_leg = self._page_leg(searched, max(k * 3, 10), filters)
            clock.lap("vision")
            legs.append(page_leg)
            if page_leg.status != "off":
                names = {d.id: d.name for d in self.registry.documents()}
                pages = fuse_pages(pages, page_leg, names, self.config.rrf_k)
        notes.extend(leg.note for leg in legs if leg.note)
        trace = RetrievalTrace(
            query=query,
            searched_query=searched,
            filters=filters,
            legs=tuple(legs),
            fused=tuple((f.key, f.score) for f in fused),
            timings=tuple(timings),
            notes=tuple(notes),
        )
        return SearchResult(tuple(hits), trace, pages)

    def _page_leg(self, query: str, n: int, filters: Filters) -> LegTrace:
        assert self.page_leg is not None
        # Only ready documents (the filters' ones): pages of a document that just left the
        # registry may still be in the vision store for a moment, never in a result.
        allowed = self.registry.filtered_doc_ids(filters)
        return self.page_leg.search(query, n, allowed)

    def _fuse(self, rankings: Mapping[str, Ranking], weights: Mapping[str, float]) -> list[Fused]:
        if self.config.fusion == "score":
            return score_fusion(rankings, weights)
        return reciprocal_rank_fusion(rankings, weights, k=self.config.rrf_k)

    def _bm25_leg(
        self,
        snapshot: Snapshot,
        query: str,
        n: int,
        ranges: list[tuple[int, int]] | None,
        clock: _Clock,
    ) -> LegTrace:
        started = time.perf_counter()
        tokens = self.tokenizer.tokenize(query)
        found = snapshot.bm25.search(tokens, n, ranges)
        ranked = tuple((snapshot.ids[row], score) for row, score in found)
        clock.lap("bm25")
        note = "" if tokens else "BM25 leg: the query has no searchable words"
        return LegTrace("bm25", self.config.bm25_weight, "on", note, ranked, _ms_since(started))

    def _dense_leg(
        self,
        snapshot: Snapshot,
        query: str,
        n: int,
        ranges: list[tuple[int, int]] | None,
        clock: _Clock,
    ) -> LegTrace:
        started = time.perf_counter()
        model = self.embedder.name
        if not snapshot.dense.any():
            return LegTrace(
                "dense",
                0.0,
                "off",
                f"dense leg off: no chunk in the library is readable by {model}",
                (),
                0.0,
            )
        unknown = self.embedder.unknown_ratio([query])[0]
        decision = dense_decision(
            unknown, self.config.dense_weight, self.config.max_unknown_ratio, model
        )
        if decision.status == "off":
            return LegTrace("dense", 0.0, "off", decision.note, (), _ms_since(started))
        vector = self.embedder.embed_query([query])[0]
        clock.lap("embed_query")
        if ranges is None:
            ranked = self._chroma_ranked(snapshot, vector, n)
        else:
            found = snapshot.dense_search(vector, n, ranges)
            ranked = tuple((snapshot.ids[row], score) for row, score in found)
        clock.lap("dense")
        return LegTrace(
            "dense", decision.weight, decision.status, decision.note, ranked, _ms_since(started)
        )

    def _chroma_ranked(
        self, snapshot: Snapshot, vector: np.ndarray, n: int
    ) -> tuple[tuple[str, float], ...]:
        # Ids Chroma holds that the snapshot does not (a document still being indexed) drop out.
        found = self.chroma.query(vector, n)
        return tuple((cid, s) for cid, s in found if cid in snapshot.row_of)


def pages_of(hits: Sequence[Hit]) -> tuple[PageHit, ...]:
    """Pages in the order of their best chunk; a page scores its chunks' fused scores summed."""
    pages: dict[tuple[str, int], list[Hit]] = {}
    for hit in hits:
        pages.setdefault((hit.chunk.doc_id, hit.chunk.page), []).append(hit)
    return tuple(
        PageHit(
            doc_id=doc_id,
            doc_name=group[0].doc_name,
            page=page,
            score=sum(h.score for h in group),
            rank=rank,
            legs=(LegRank("text", group[0].rank, group[0].score),),
        )
        for rank, ((doc_id, page), group) in enumerate(pages.items(), start=1)
    )


def page_key(doc_id: str, page: int) -> str:
    """A page's key in page-level rankings: ``<doc id>:<page>`` (page counted from 0)."""
    return f"{doc_id}:{page}"


def parse_page_key(key: str) -> tuple[str, int]:
    doc_id, _, page = key.rpartition(":")
    return doc_id, int(page)


def fuse_pages(
    text_pages: Sequence[PageHit], leg: LegTrace, names: Mapping[str, str], k: int = 60
) -> tuple[PageHit, ...]:
    """One ranked list of pages: weighted RRF of the text pages (weight 1) and a page leg.

    Pages only the page leg found (e.g. scans without a text layer) come in with the name
    from ``names``; each page keeps the rank and score every leg gave it.
    """
    text = [(page_key(p.doc_id, p.page), p.score) for p in text_pages]
    fused = reciprocal_rank_fusion(
        {"text": text, leg.leg: leg.ranked}, {"text": 1.0, leg.leg: leg.weight}, k=k
    )
    known = {page_key(p.doc_id, p.page): p.doc_name for p in text_pages}
    pages = []
    for rank, f in enumerate(fused, start=1):
        doc_id, page = parse_page_key(f.key)
        name = known.get(f.key) or names.get(doc_id, doc_id)
        pages.append(PageHit(doc_id, name, page, f.score, rank, f.legs))
    return tuple(pages)


class _Clock:
    def __init__(self, timings: list[Timing]) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings.append(Timing(stage, (now - self.last) * 1000))
        self.last = now


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
