"""Hybrid retrieval: BM25 and dense legs over one snapshot, fused, with a full trace."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import numpy as np

from rag_core.embed.embeddings import Embedder, readable_unknown_ratio
from rag_core.index.bm25 import top_in_ranges
from rag_core.index.dense import ChromaStore
from rag_core.index.lexical import LexicalTokenizer
from rag_core.index.postings import LiveField, top_of_fields
from rag_core.index.routing import (
    asked_years,
    generic_terms,
    named_documents,
    of_latest_year,
    routing_terms,
)
from rag_core.index.snapshot import Snapshot, SnapshotStore
from rag_core.retrieve.fusion import Fused, reciprocal_rank_fusion, score_fusion, zscore_fusion
from rag_core.retrieve.legs import CHUNK_LEGS, Leg, chunk_legs
from rag_core.store.registry import Registry
from rag_core.types import (
    Filters,
    Hit,
    LegRank,
    LegTrace,
    PageHit,
    RetrievalTrace,
    SearchResult,
    Timing,
    page_key,
    parse_page_key,
)
from rag_core.vectors import rocchio

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    fusion: str
    rrf_k: int
    bm25_weight: float
    dense_weight: float
    section_weight: float
    feedback_chunks: int
    feedback_weight: float
    candidates: int
    max_unknown_ratio: float
    route_docs: int
    route_weight: float
    route_cover_weight: float
    route_min_chunks: int
    bm25_scope: str
    exact_dense_max: int


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


Fields = tuple[tuple[LiveField, tuple[str, ...]], ...]
Ranges = list[tuple[int, int]] | None


@dataclass(frozen=True, slots=True)
class _Query:
    """What a query turns into, computed once and shared by every leg."""

    text: str
    tokens: tuple[str, ...]
    # The BM25 fields (chunk text, and the gram field's where Chinese is read both ways) with
    # their query tokens, and the statistics' rows (None: all): a routed leg ranks them again.
    lexical: Fields
    scope: Ranges
    # The best rows of each, within the filters, found while the query was embedded.
    bm25_top: list[tuple[int, float]]
    section_top: list[tuple[int, float]]
    dense: DenseDecision
    vector: np.ndarray | None
    # The vector store's nearest chunks to ``vector`` over the whole snapshot, queried in the
    # embedding thread (None: not queried there), or the error that query raised.
    nearest: tuple[tuple[str, float], ...] | Exception | None = None


@dataclass(frozen=True, slots=True)
class _Scope:
    """What every query of one ``search_all`` searches: a snapshot, within the filters."""

    snapshot: Snapshot
    filters: Filters
    allowed: list[str] | None  # the filters' documents in the snapshot (None: no filters)
    ranges: list[tuple[int, int]] | None  # their rows
    wanted: Collection[str]  # the legs asked for


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

    def snapshot(self, wait: bool = False) -> Snapshot:
        """The index snapshot of the registry's generation (``SnapshotStore.current``)."""
        return self.snapshots.current(self.registry.generation(), wait)

    def search(
        self,
        query: str,
        k: int,
        filters: Filters | None = None,
        searched_query: str | None = None,
        legs: Collection[str] | None = None,
    ) -> SearchResult:
        """Top ``k`` chunks for ``query``; ``legs`` limits the legs used (default: all)."""
        return self.search_all([(query, searched_query)], k, filters, legs)[0]

    def search_all(
        self,
        queries: Sequence[tuple[str, str | None]],
        k: int,
        filters: Filters | None = None,
        legs: Collection[str] | None = None,
    ) -> list[SearchResult]:
        """``search`` of each ``(query, searched_query)``, with the same results as one at a
        time, over one snapshot: the filters resolved once and the query vectors embedded in
        one call (a decomposed question's searches). The snapshot and embedding stages are
        in the first result's timings."""
        filters = filters or Filters()
        wanted = set(legs) if legs is not None else set(CHUNK_LEGS)
        timings: list[Timing] = []
        clock = _Clock(timings)
        snapshot = self.snapshot()
        allowed: list[str] | None = None
        notes: list[str] = []
        if not filters.empty:
            allowed = [
                d for d in self.registry.filtered_doc_ids(filters) if d in snapshot.doc_ranges
            ]
            if not allowed:
                notes.append("no ready document matches the filters")
        ranges = None if allowed is None else snapshot.ranges_for(allowed)
        clock.lap("snapshot")
        texts = [(searched or query).strip() for query, searched in queries]
        n = max(self.config.candidates, k)
        prepared = self._prepare_all(snapshot, texts, wanted, ranges, n)
        if any(q.vector is not None for q in prepared):
            clock.lap("embed_query")
        scope = _Scope(snapshot, filters, allowed, ranges, wanted)
        # One after the other: what is left of a search is mostly Python (fusion, feedback,
        # the registry fetch), and threads side by side made a decomposed question slower
        # (bench library at 100k chunks: p50 / p95 40.5 / 75.9 ms in threads, 36.9 / 60.3
        # ms one after the other, same run).
        return [
            self._search(scope, query, q, k, list(notes), clock if i == 0 else _Clock([]))
            for i, ((query, _), q) in enumerate(zip(queries, prepared, strict=True))
        ]

    def _search(
        self, scope: _Scope, query: str, q: _Query, k: int, notes: list[str], clock: _Clock
    ) -> SearchResult:
        """One prepared query's legs, fusion, feedback and pages."""
        snapshot, ranges, wanted = scope.snapshot, scope.ranges, scope.wanted
        n = max(self.config.candidates, k)
        # The chunk legs on, each with its scope: the filters' documents, then (searched
        # again) the documents the query names.
        route = self._route(snapshot, q, scope.allowed)
        plan = chunk_legs(wanted, routed=bool(route.ranked))
        routed = snapshot.ranges_for(doc for doc, _ in route.ranked) if route.ranked else None
        scopes = {leg: routed if leg.routed else ranges for leg in plan if leg.kind in wanted}
        traces = [
            self._leg(leg, snapshot, q, n, scopes[leg]) if leg in scopes else _off(leg.name)
            for leg in plan
        ]
        clock.lap("legs")
        fused = self._fuse(traces)
        clock.lap("fuse")
        refined = self._feedback(snapshot, q, plan, traces, fused)
        if refined is not None:
            # The dense legs rank their candidates again with the refined vector: exact
            # cosine over the first round's pool (every leg's candidates), a few hundred rows.
            pool = np.unique([snapshot.row_of[key] for t in traces for key, _ in t.ranked])
            traces = [
                _rescored(t, snapshot, refined, n, pool, scopes[leg])
                if leg in scopes and leg.dense and t.status != "off"
                else t
                for leg, t in zip(plan, traces, strict=True)
            ]
            fused = self._fuse(traces)
            clock.lap("feedback")
        fused = fused[: max(k * 3, k)]
        hits = self._hits(fused, k)
        clock.lap("fetch")
        pages = pages_of(hits)
        if self.page_leg is not None:
            page_leg = self._page_leg(q.text, max(k * 3, 10), scope.filters)
            clock.lap("vision")
            traces.append(page_leg)
            if page_leg.status != "off":
                names = {d.id: d.name for d in self.registry.documents()}
                pages = fuse_pages(pages, page_leg, names, self.config.rrf_k)
        notes.extend(leg.note for leg in traces if leg.note)
        trace = RetrievalTrace(
            query=query,
            searched_query=q.text,
            filters=scope.filters,
            legs=(*traces, route),
            fused=tuple((f.key, f.score) for f in fused),
            timings=tuple(clock.timings),
            notes=tuple(notes),
        )
        return SearchResult(tuple(hits), trace, pages)

    def _hits(self, fused: Sequence[Fused], k: int) -> list[Hit]:
        """The first ``k`` fused chunks the registry still holds ready (fetched k at a time:
        the snapshot's chunks are ready unless removed since it was built)."""
        hits: list[Hit] = []
        start = 0
        while len(hits) < k and start < len(fused):
            batch = fused[start : start + k]
            chunks = self.registry.ready_chunks([f.key for f in batch])
            for f in batch:
                if f.key in chunks and len(hits) < k:
                    chunk, doc_name = chunks[f.key]
                    hits.append(Hit(chunk, doc_name, f.score, len(hits) + 1, f.legs))
            start += k
        return hits

    def _page_leg(self, query: str, n: int, filters: Filters) -> LegTrace:
        assert self.page_leg is not None
        # Only ready documents (the filters' ones): pages of a document that just left the
        # registry may still be in the vision store for a moment, never in a result.
        allowed = self.registry.filtered_doc_ids(filters)
        return self.page_leg.search(query, n, allowed)

    def _prepare_all(
        self,
        snapshot: Snapshot,
        texts: Sequence[str],
        wanted: Collection[str],
        ranges: list[tuple[int, int]] | None = None,
        n: int = 0,
    ) -> list[_Query]:
        """Each text's tokens, best ``n`` BM25 and section rows within ``ranges`` and dense
        decision, and the vectors of those the dense leg reads, embedded in one call.
        ``ranges``: the rows the filters leave (None: all); with ``bm25_scope`` "searched",
        the BM25 legs score them with their own statistics.

        The embedding runs in a thread of its own while this one ranks by BM25 (the model
        releases the GIL), and so does the search of the ``n`` nearest chunks where the dense
        leg searches the whole library (``_nearest``: an exact scan or HNSW): at 1M chunks the
        lexical rankings of a question take about as long as its embedding and HNSW search
        together (one after the other, a search cost both)."""
        scope = ranges if self.config.bm25_scope == "searched" else None
        decisions = [self._dense_decision(snapshot, text, wanted) for text in texts]
        read = [i for i, d in enumerate(decisions) if d.status != "off"]
        nearest = n if ranges is None else 0
        background = None
        if read:
            thread = ThreadPoolExecutor(1, thread_name_prefix="query-embedding")
            background = thread.submit(
                self._embed_and_search, snapshot, [texts[i] for i in read], nearest
            )
            thread.shutdown(wait=False)  # the thread ends with its one task
        prepared = [
            self._prepare(snapshot, text, wanted, scope, ranges, n, decision)
            for text, decision in zip(texts, decisions, strict=True)
        ]
        if background is not None:
            vectors, found = background.result()
            for i, vector, near in zip(read, vectors, found, strict=True):
                prepared[i] = replace(prepared[i], vector=vector, nearest=near)
        return prepared

    def _embed_and_search(
        self, snapshot: Snapshot, texts: list[str], n: int
    ) -> tuple[np.ndarray, list[tuple[tuple[str, float], ...] | Exception | None]]:
        """The texts' vectors and (``n`` > 0) each one's ``n`` nearest chunks in the vector
        store, or the error its search raised (the dense leg answers it with an exact scan)."""
        vectors = self.embedder.embed_query(texts)
        found: list[tuple[tuple[str, float], ...] | Exception | None] = []
        for vector in vectors:
            if n <= 0:
                found.append(None)
                continue
            try:
                found.append(self._nearest(snapshot, vector, n))
            except Exception as exc:  # a Chroma server down or failing
                found.append(exc)
        return vectors, found

    def _dense_decision(
        self, snapshot: Snapshot, text: str, wanted: Collection[str]
    ) -> DenseDecision:
        """Whether the dense leg reads ``text`` (and with what weight)."""
        model = self.embedder.name
        if "dense" not in wanted:
            return DenseDecision(0.0, "off", "")
        if not snapshot.dense.any():
            return DenseDecision(
                0.0, "off", f"dense leg off: no chunk in the library is readable by {model}"
            )
        unknown = readable_unknown_ratio(self.embedder, [text])[0]
        return dense_decision(
            unknown, self.config.dense_weight, self.config.max_unknown_ratio, model
        )

    def _prepare(
        self,
        snapshot: Snapshot,
        text: str,
        wanted: Collection[str],
        scope: Ranges,
        ranges: Ranges,
        n: int,
        decision: DenseDecision,
    ) -> _Query:
        """A text's tokens, the fields its lexical legs rank by (statistics over ``scope``'s
        rows where given) and their best ``n`` rows within ``ranges``; its vector comes
        after."""
        words = self.tokenizer.tokenize(text)
        # The chunk index's tokens (and the gram index's) read Chinese as the snapshot does.
        chunk, grams = self.tokenizer.fields(text, words, snapshot.chinese)
        lexical: Fields = ()
        if "bm25" in wanted and chunk:
            lexical = ((snapshot.bm25, tuple(chunk)),)
        if "bm25" in wanted and grams and snapshot.grams is not None:
            lexical += ((snapshot.grams, tuple(grams)),)
        # Headings repeat over many chunks, so the section field's best rows tie in crowds
        # and MaxScore prunes little: scoring every row is cheaper there (bench/bm25_topk.py:
        # p50 / p95 3.5 / 7.3 ms against 4.4 / 8.4 at 1M).
        sections: list[tuple[int, float]] = []
        if "section" in wanted and words:
            sections = top_in_ranges(snapshot.sections.scores(words, scope), n, ranges)
        # MaxScore: the exact best rows without scoring every posting of the common terms.
        bm25 = top_of_fields(lexical, n, scope, ranges) if lexical else []
        return _Query(text, (*chunk, *grams), lexical, scope, bm25, sections, decision, None)

    def _fuse(self, traces: Sequence[LegTrace]) -> list[Fused]:
        rankings = {leg.leg: leg.ranked for leg in traces if leg.status != "off"}
        weights = {leg.leg: leg.weight for leg in traces}
        if self.config.fusion == "score":
            return score_fusion(rankings, weights)
        if self.config.fusion == "zscore":
            return zscore_fusion(rankings, weights)
        return reciprocal_rank_fusion(rankings, weights, k=self.config.rrf_k)

    def _feedback(
        self,
        snapshot: Snapshot,
        q: _Query,
        legs: Sequence[Leg],
        traces: Sequence[LegTrace],
        fused: Sequence[Fused],
    ) -> np.ndarray | None:
        """The query vector moved towards the first fusion's top chunks (Rocchio
        pseudo-relevance feedback), or None where there is nothing to learn from: no dense
        leg, feedback off, or no other leg on (a dense leg alone would only confirm itself)."""
        count, weight = self.config.feedback_chunks, self.config.feedback_weight
        if q.vector is None or count <= 0 or weight <= 0:
            return None
        others = (t for leg, t in zip(legs, traces, strict=True) if not leg.dense)
        if not any(t.ranked for t in others if t.weight > 0):
            return None
        rows: list[int] = []
        for f in fused:
            row = snapshot.row_of.get(f.key)
            if row is not None and snapshot.dense[row]:
                rows.append(row)
                if len(rows) == count:
                    break
        if not rows:
            return None
        return rocchio(q.vector, snapshot.vectors_of(rows), weight)

    def _leg(
        self, leg: Leg, snapshot: Snapshot, q: _Query, n: int, ranges: list[tuple[int, int]] | None
    ) -> LegTrace:
        if leg.dense:
            return self._dense_leg(leg, snapshot, q, n, ranges)
        if leg.kind == "section":
            if self.config.section_weight <= 0 or not q.tokens:
                return _off(leg.name)
            weight, found, note = self.config.section_weight, q.section_top, ""
        else:
            weight, found = self.config.bm25_weight, q.bm25_top
            silent = q.tokens or leg.routed
            note = "" if silent else "BM25 leg: the query has no searchable words"
        started = time.perf_counter()
        if leg.routed:  # the documents the query names, searched again (BM25 only)
            found = top_of_fields(q.lexical, n, q.scope, ranges) if q.lexical else []
        ranked = tuple((snapshot.ids[row], score) for row, score in found)
        weight *= self.config.route_weight if leg.routed else 1.0
        return LegTrace(leg.name, weight, "on", note, ranked, _ms_since(started))

    def _dense_leg(
        self, leg: Leg, snapshot: Snapshot, q: _Query, n: int, ranges: list[tuple[int, int]] | None
    ) -> LegTrace:
        started = time.perf_counter()
        note = "" if leg.routed else q.dense.note
        if q.vector is None:
            return LegTrace(leg.name, 0.0, "off", note, (), 0.0)
        ranked: tuple[tuple[str, float], ...] | None = None
        if ranges is None:
            try:
                if isinstance(q.nearest, Exception):
                    raise q.nearest
                # Searched in the embedding thread for as many (``n`` is the same) or now.
                near = q.nearest
                ranked = near if near is not None else self._nearest(snapshot, q.vector, n)
            except Exception as exc:  # a Chroma server down or failing: answer without it
                log.warning("vector store query failed, exact search instead: %s", exc)
                outage = f"vector store unavailable ({type(exc).__name__}): exact search"
                note = f"{note}; {outage}" if note else outage
                ranges = [(0, snapshot.size)]
        if ranked is None:
            found = snapshot.dense_search(q.vector, n, ranges or [])
            ranked = tuple((snapshot.ids[row], score) for row, score in found)
        weight = q.dense.weight * (self.config.route_weight if leg.routed else 1.0)
        return LegTrace(leg.name, weight, q.dense.status, note, ranked, _ms_since(started))

    def _route(self, snapshot: Snapshot, q: _Query, allowed: list[str] | None) -> LegTrace:
        """The documents the query names, best first (documents with few chunks are left
        out: routing cannot help where a document is a chunk or two)."""
        started = time.perf_counter()
        limit = self.config.route_docs
        if (
            limit <= 0
            or not snapshot.router_docs
            or (allowed is not None and len(allowed) <= limit)
        ):
            return _off("route")
        terms = routing_terms(self.tokenizer, q.text)
        named = self._named(snapshot, terms)
        # Only when the question names documents distinctly: a question matching covers
        # alone is about their subject, which the chunk legs already rank (routing would
        # count it twice); one matching a year or a word of many names names nothing.
        if not named:
            return _off("route")
        named = of_latest_year(named, asked_years(terms), lambda year: _holding(snapshot, year))
        scores = snapshot.router.scores(terms)
        if self.config.route_cover_weight > 0:
            scores = scores + self.config.route_cover_weight * snapshot.router_cover.scores(terms)
        keep = set(allowed) if allowed is not None else None
        ranked: list[tuple[str, float]] = []
        for row in np.argsort(-scores, kind="stable"):
            if len(ranked) >= limit:
                break
            if int(row) not in named:
                continue
            doc, score = snapshot.router_docs[row], float(scores[row])
            start, stop = snapshot.doc_ranges[doc]
            if (keep is None or doc in keep) and stop - start >= self.config.route_min_chunks:
                ranked.append((doc, score))
        status: Literal["on", "off"] = "on" if ranked else "off"
        return LegTrace(
            "route", self.config.route_weight, status, "", tuple(ranked), _ms_since(started)
        )

    def _named(self, snapshot: Snapshot, terms: list[str]) -> frozenset[int]:
        """The router rows the question names distinctly (``named_documents``)."""
        term_docs = {}
        for term in dict.fromkeys(terms):
            rows = _holding(snapshot, term)
            if rows:
                term_docs[term] = rows
        n_docs = len(snapshot.router_docs)

        def share(term: str, rows: frozenset[int]) -> float:
            # Chunks holding the term, weighted by its BM25 score: the part in ``rows``' docs.
            # Only its postings are scored; a BM25 variant that scores every row (bm25l,
            # bm25+) is read at the rows holding the term, which its postings say.
            docs = [snapshot.doc_ranges[snapshot.router_docs[r]] for r in rows]
            held = snapshot.bm25.postings([term])
            if held is None:
                holding = snapshot.bm25.rows_holding(term)
                scores = snapshot.bm25.scores([term])[holding].astype(np.float64)
            elif held:
                holding = held[0].rows
                scores = held[0].contribution(np.arange(len(holding))).astype(np.float64)
            else:
                holding = np.zeros(0, dtype=np.int32)
            if not len(holding):
                return 1.0  # the text never uses it: the name alone says it
            edges = np.searchsorted(holding, np.asarray(docs, holding.dtype))
            total = float(scores.sum())
            if total <= 0:
                return 1.0
            return sum(float(scores[a:b].sum()) for a, b in edges.reshape(-1, 2)) / total

        return named_documents(term_docs, n_docs, generic_terms(self.tokenizer), share)

    def _nearest(
        self, snapshot: Snapshot, vector: np.ndarray, n: int
    ) -> tuple[tuple[str, float], ...]:
        """The ``n`` chunks nearest to ``vector`` in the whole library: an exact scan of the
        snapshot's vectors up to ``exact_dense_max`` of them, Chroma's HNSW above.

        The exact scan is exact and the same after every restart; Chroma's HNSW is neither:
        it replays its log's last items into the graph when it loads, so its approximate
        candidates differ from one process to the next (measured: the same question over
        uda_ex's 5,204 chunks got two different top-100 lists in three processes, and with
        the pseudo-relevance feedback that followed, two different answers). A scan reads
        every vector (about 4 ms at 50k chunks here, 9 ms at 100k), HNSW a few hundred."""
        if snapshot.dense_count <= self.config.exact_dense_max:
            found = snapshot.dense_search(vector, n, [(0, snapshot.size)])
            return tuple((snapshot.ids[row], score) for row, score in found)
        # Ids Chroma holds that the snapshot does not (a document still being indexed) drop out.
        near = self.chroma.query(vector, min(n, snapshot.dense_count))
        return tuple((cid, s) for cid, s in near if cid in snapshot.row_of)


def _holding(snapshot: Snapshot, term: str) -> frozenset[int]:
    """The router rows (documents) whose names hold ``term`` (from its postings: bm25l and
    bm25+ score every name, holding the term or not)."""
    return frozenset(int(r) for r in snapshot.router.rows_holding(term))


def _rescored(
    trace: LegTrace,
    snapshot: Snapshot,
    vector: np.ndarray,
    n: int,
    pool: np.ndarray,
    ranges: list[tuple[int, int]] | None,
) -> LegTrace:
    """``trace`` (a dense leg) ranked again by ``vector`` over the ``pool`` rows in its
    ``ranges`` (None: all) that have a vector."""
    started = time.perf_counter()
    rows = pool
    if ranges is not None:
        inside = np.zeros(len(rows), dtype=bool)
        for start, stop in ranges:
            inside |= (rows >= start) & (rows < stop)
        rows = rows[inside]
    rows = rows[snapshot.dense[rows]]
    scores = snapshot.vectors_of(rows) @ vector
    order = np.lexsort((rows, -scores))[:n]
    ranked = tuple((snapshot.ids[rows[i]], float(scores[i])) for i in order)
    spent = trace.elapsed_ms + _ms_since(started)
    return replace(trace, ranked=ranked, elapsed_ms=spent)


def _off(leg: str) -> LegTrace:
    return LegTrace(leg, 0.0, "off", "", (), 0.0)


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
