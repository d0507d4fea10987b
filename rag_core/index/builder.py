"""Builds a library's snapshot from its registry: the ready chunks, their cached vectors, and
the BM25 indexes over chunk text, sections and the documents' names and covers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag_core.embed.embeddings import Embedder, EmbeddingCache
from rag_core.index.bm25 import BM25Index
from rag_core.index.lexical import ChineseAnalysis, LexicalTokenizer
from rag_core.index.routing import name_terms, profile_of, routing_terms
from rag_core.index.snapshot import build_snapshot
from rag_core.store.registry import Registry
from rag_core.text import section_of


@dataclass(frozen=True)
class SnapshotBuilder:
    """``SnapshotStore``'s build function: ``builder(folder, generation)`` writes a snapshot."""

    registry: Registry
    cache: EmbeddingCache
    embedder: Embedder
    tokenizer: LexicalTokenizer
    bm25_method: str
    bm25_k1: float
    bm25_b: float
    chinese: ChineseAnalysis = "jieba"  # how the chunk BM25 indexes read Chinese

    def bm25(self) -> BM25Index:
        return BM25Index(self.bm25_method, self.bm25_k1, self.bm25_b)

    def route_tokens(self) -> dict[str, tuple[list[str], list[str]]]:
        """Each ready document's (name, cover page) tokens for the router indexes."""
        firsts = self.registry.first_pages()
        tokens = {}
        for doc in self.registry.documents():
            if doc.status == "ready":
                profile = profile_of(doc, firsts.get(doc.id, ""))
                tokens[doc.id] = (
                    name_terms(self.tokenizer, profile.name),
                    routing_terms(self.tokenizer, profile.cover),
                )
        return tokens

    def __call__(self, folder: Path, generation: int) -> None:
        rows = list(self.registry.iter_ready_chunks())
        grams: list[list[str]] = []
        if self.chinese != "jieba":  # the stored tokens are jieba's: read the text again
            fields = [
                self.tokenizer.fields(r.indexed_text, r.tokens.split(), self.chinese) for r in rows
            ]
            rows = [r._replace(tokens=" ".join(f[0])) for r, f in zip(rows, fields, strict=True)]
            grams = [f[1] for f in fields]
        vectors = self.cache.get(self.embedder.name, [r[4] for r in rows if r[3]])
        dim = len(next(iter(vectors.values()))) if vectors else 1
        section_tokens: dict[tuple[str, str], list[str]] = {}  # chunks share sections
        for r in rows:
            key = (r.context, r.doc_title)
            if key not in section_tokens:
                section_tokens[key] = self.tokenizer.tokenize(section_of(*key))
        build_snapshot(
            folder,
            generation,
            self.embedder.name,
            dim,
            rows,
            vectors,
            self.bm25(),
            (self.bm25(), self.bm25()),
            self.route_tokens(),
            (self.bm25(), [section_tokens[(r.context, r.doc_title)] for r in rows]),
            (self.bm25(), grams) if self.chinese == "fields" else None,
            self.chinese,
        )
