"""Brings a library's index up to date with its registry: the documents added or changed
since the index was last written go into one new segment (their ready chunks, cached
vectors, and the BM25 postings of chunk text, sections and the documents' names and
covers); the documents removed or changed are marked deleted in the segments holding them.

A document is recognised by its stamp (when its current version began indexing, and its
chunk count): a re-indexed document has a new one. An index written with another model,
BM25 or Chinese analysis, over vectors of another dense text (``DENSE_TEXT_KEY``), by an
older Folio, or with segments off (``segmented``) is
written again whole, as one segment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag_core.embed.embeddings import Embedder, EmbeddingCache
from rag_core.hanzi import has_traditional
from rag_core.index.lexical import ChineseAnalysis, LexicalTokenizer
from rag_core.index.postings import BM25Params
from rag_core.index.routing import name_terms, profile_of, routing_terms
from rag_core.index.segments import (
    Manifest,
    SegmentSource,
    read_manifest,
    remove_unused,
    write_manifest,
    write_segment,
)
from rag_core.store.registry import DENSE_TEXT_KEY, Registry
from rag_core.text import section_of
from rag_core.types import Document


def stamp_of(added_at: str, chunks: int) -> str:
    """What changes whenever a document is indexed again: when its current version began
    indexing (``added_at`` as the registry stores it, ISO text, not parsed: this runs for
    every document on every change) and its chunk count. Indexes written before stamps were
    read unparsed hold ``datetime.isoformat()``, the same text except where the time's
    microseconds are 0 (one document in a million, indexed again once)."""
    return f"{added_at}/{chunks}"


def changes(
    live: Mapping[str, str], ready: Mapping[str, str]
) -> tuple[frozenset[str], dict[str, str]]:
    """Documents to delete from the index (gone or changed) and to add (new or changed), from
    the stamps of the documents live in the index and of those ready in the registry."""
    gone = frozenset(d for d, s in live.items() if ready.get(d) != s)
    new = {d: s for d, s in ready.items() if live.get(d) != s}
    return gone, new


@dataclass(frozen=True)
class SnapshotBuilder:
    """``SnapshotStore``'s build function: ``builder(folder, generation)`` updates the
    index (called under the index folder's lock)."""

    registry: Registry
    cache: EmbeddingCache
    embedder: Embedder
    tokenizer: LexicalTokenizer
    bm25_method: str
    bm25_k1: float
    bm25_b: float
    chinese: ChineseAnalysis = "jieba"  # how the chunk BM25 indexes read Chinese
    segmented: bool = True  # False: every change writes the whole index again

    def params(self) -> BM25Params:
        return BM25Params(self.bm25_method, self.bm25_k1, self.bm25_b)

    def __call__(self, folder: Path, generation: int) -> None:
        # Stamps of every ready document (one light query: this runs on every change), the
        # documents themselves only for those written into the new segment.
        ready = {d: stamp_of(*v) for d, v in self.registry.ready_versions().items()}
        old = read_manifest(folder)
        vectors = self.registry.meta(DENSE_TEXT_KEY) or ""
        fresh = Manifest(
            generation, self.embedder.name, self.chinese, self.params(), vectors=vectors
        )
        built_with = (fresh.model, fresh.vectors, fresh.chinese, fresh.bm25)
        if (
            not self.segmented
            or old is None
            or (old.model, old.vectors, old.chinese, old.bm25) != built_with
        ):
            docs = self._ready_documents(ready)
            entry = write_segment(folder, self.source(docs, ready, everything=True))
            manifest = replace(fresh, segments=(entry,))
        else:
            gone, new = changes(old.stamps(), ready)
            kept = []
            for entry in old.segments:
                entry = replace(entry, deleted=entry.deleted | (gone & entry.docs.keys()))
                if any(True for _ in entry.live_docs()):  # wholly deleted: dropped
                    kept.append(entry)
            if new:
                kept.append(write_segment(folder, self.source(self._ready_documents(new), new)))
            manifest = replace(old, generation=generation, segments=tuple(kept))
        write_manifest(folder, manifest)
        remove_unused(folder, manifest)

    def _ready_documents(self, stamps: Mapping[str, str]) -> dict[str, Document]:
        """The documents of ``stamps`` that are ready."""
        docs = self.registry.documents_of(list(stamps))
        return {d.id: d for d in docs if d.status == "ready"}

    def source(
        self, docs: Mapping[str, Document], stamps: Mapping[str, str], everything: bool = False
    ) -> SegmentSource:
        """The segment of the documents of ``stamps`` (``everything``: all ready ones)."""
        wanted = None if everything else list(stamps)
        rows = list(self.registry.iter_ready_chunks(wanted))
        grams: list[list[str]] = [[] for _ in rows]
        tokens = [r.tokens.split() for r in rows]
        if self.chinese != "grams":  # jieba's words are indexed (grams re-read the text)
            # words stored before Traditional Chinese was read as Simplified: read again
            tokens = [
                self.tokenizer.tokenize(r.indexed_text) if has_traditional(r.indexed_text) else t
                for r, t in zip(rows, tokens, strict=True)
            ]
        if self.chinese != "jieba":  # the stored tokens are jieba's: read the text again
            fields = [
                self.tokenizer.fields(r.indexed_text, t, self.chinese)
                for r, t in zip(rows, tokens, strict=True)
            ]
            tokens = [f[0] for f in fields]
            if self.chinese == "fields":
                grams = [f[1] for f in fields]
        by_hash = self.cache.get(self.embedder.name, [r.text_hash for r in rows if r.dense])
        dim = len(next(iter(by_hash.values()))) if by_hash else 1
        dense = np.asarray([r.dense and r.text_hash in by_hash for r in rows], dtype=bool)
        vectors = np.zeros((len(rows), dim), dtype=np.float32)
        for row, r in enumerate(rows):
            if dense[row]:
                vectors[row] = by_hash[r.text_hash]
        section_tokens: dict[tuple[str, str], list[str]] = {}  # chunks share sections
        for r in rows:
            key = (r.context, r.doc_title)
            if key not in section_tokens:
                section_tokens[key] = self.tokenizer.tokenize(section_of(*key))
        return SegmentSource(
            ids=[r.id for r in rows],
            doc_ids=[r.doc_id for r in rows],
            text=tokens,
            sections=[section_tokens[(r.context, r.doc_title)] for r in rows],
            grams=grams,
            dense=dense,
            vectors=vectors,
            route=self.route_tokens([docs[d] for d in stamps if d in docs]),
            stamps=stamps,
        )

    def route_tokens(self, docs: Sequence[Document]) -> dict[str, tuple[list[str], list[str]]]:
        """Each document's (name, cover page) tokens for the router indexes."""
        firsts = self.registry.first_pages([d.id for d in docs])
        tokens = {}
        for doc in docs:
            profile = profile_of(doc, firsts.get(doc.id, ""))
            tokens[doc.id] = (
                name_terms(self.tokenizer, profile.name),
                routing_terms(self.tokenizer, profile.cover),
            )
        return tokens
