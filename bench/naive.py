"""The naive retrieval pipeline of issue 21, the baseline ``bench/quality.py`` sets Folio against.

200-word windows (pdfqa: of each PDF's pypdfium2 page text, every window mapped back to the
page holding most of its words; beir: of each corpus document's title and text), a bm25s
index with English stopwords, the same MiniLM as Folio (its ``Embedder``: same model, same
vectors), and Reciprocal Rank Fusion with k=60 of the two. Own-document questions search an
index of their document's windows alone (its own BM25 statistics); the shared store searches
one index of every window. Metrics are computed by ``rag_core.eval.metrics``, the functions
Folio's evaluation uses, at the same cutoffs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag_core.embed.embeddings import Embedder
from rag_core.eval.metrics import (
    average,
    dedupe,
    hit_at_k,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
)
from rag_core.eval.sets import BeirSet, PdfQaSet
from rag_core.retrieve.fusion import reciprocal_rank_fusion

WINDOW_WORDS = 200
RRF_K = 60
CANDIDATES = 100  # per leg, as Folio's default
PDF_WINDOWS = 60  # windows asked per pdfqa question (Folio asks 60 chunks)
BEIR_WINDOWS = 300  # windows asked per beir query (Folio asks 300 chunks)
BEIR_METRICS = ("ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "mrr")
PAGE_METRICS = ("hit@1", "hit@3", "hit@5", "hit@10", "recall@5", "recall@10", "mrr")

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Window:
    doc: str  # the PDF's name without .pdf, or the beir document id
    page: int  # 0-based page (beir: 0)
    text: str


def word_windows(text: str, size: int = WINDOW_WORDS) -> list[str]:
    """Consecutive windows of ``size`` whitespace-separated words (the last may be shorter)."""
    words = text.split()
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


def page_windows(doc: str, pages: Sequence[str], size: int = WINDOW_WORDS) -> list[Window]:
    """Windows over the document's words in reading order (a window may cross a page break),
    each mapped back to the page holding most of its words (the first such page on a tie)."""
    words = [(word, page) for page, text in enumerate(pages) for word in text.split()]
    windows = []
    for start in range(0, len(words), size):
        part = words[start : start + size]
        counts = Counter(page for _, page in part)
        page = max(counts, key=lambda p: (counts[p], -p))
        windows.append(Window(doc, page, " ".join(word for word, _ in part)))
    return windows


def pdf_pages(path: Path) -> list[str]:
    """The text of every page, as pypdfium2 extracts it."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        texts = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return texts
    finally:
        pdf.close()


def beir_windows(beir: BeirSet, size: int = WINDOW_WORDS) -> list[Window]:
    return [
        Window(d.id, 0, text)
        for d in beir.corpus
        for text in word_windows(f"{d.title}\n{d.text}" if d.title else d.text, size)
    ]


def embed_windows(
    embedder: Embedder, texts: Sequence[str], cache: Path | None, say: Say
) -> np.ndarray:
    """The texts' vectors, kept in ``cache`` (a folder) under a hash of the texts."""
    key = hashlib.sha256("\0".join([embedder.name, *texts]).encode()).hexdigest()[:24]
    path = cache / f"{key}.npy" if cache is not None else None
    if path is not None and path.exists():
        return np.load(path)
    parts = []
    for start in range(0, len(texts), 256):
        parts.append(np.asarray(embedder.embed(list(texts[start : start + 256]))))
        say(f"naive: embedded {min(start + 256, len(texts))}/{len(texts)} windows")
    vectors = np.vstack(parts) if parts else np.zeros((0, 1), dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors.astype(np.float32))
    return vectors


class NaiveIndex:
    """bm25s (English stopwords) and exact MiniLM cosine over some windows, fused by RRF."""

    def __init__(self, rows: Sequence[int], windows: Sequence[Window], vectors: np.ndarray):
        import bm25s

        self.rows = np.asarray(rows, dtype=np.int64)
        self.vectors = vectors[self.rows] if len(self.rows) else np.zeros((0, 1))
        texts = [windows[r].text for r in self.rows]
        tokens = bm25s.tokenize(texts, stopwords="en", show_progress=False)
        # No word at all (a PDF without a text layer, windows of stopwords): no BM25 leg.
        self.bm25: bm25s.BM25 | None = None
        if any(len(ids) for ids in tokens.ids):
            self.bm25 = bm25s.BM25()
            self.bm25.index(tokens, show_progress=False)

    def search(self, query: str, vector: np.ndarray, n: int) -> list[int]:
        """Rows (indexes into the windows) of the best ``n`` windows, best first."""
        import bm25s

        tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)[0]
        depth = min(CANDIDATES, len(self.rows))
        if depth == 0:
            return []
        rankings: dict[str, list[tuple[str, float]]] = {}
        if tokens and self.bm25 is not None:
            scores = self.bm25.get_scores(tokens)
            top = _top(scores, depth)
            rankings["bm25"] = [(str(i), float(scores[i])) for i in top if scores[i] > 0]
        cosine = self.vectors @ vector
        rankings["dense"] = [(str(i), float(cosine[i])) for i in _top(cosine, depth)]
        fused = reciprocal_rank_fusion(rankings, k=RRF_K)
        return [int(self.rows[int(f.key)]) for f in fused[:n]]


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indexes of the ``n`` highest scores, best first (ties by index)."""
    return np.lexsort((np.arange(len(scores)), -scores))[:n]


@dataclass(frozen=True, slots=True)
class NaiveRow:
    setting: str
    metrics: dict[str, float]
    queries: int


def page_metrics(ranked: Sequence[str], gold: set[str]) -> dict[str, float]:
    """A question's page metrics, as Folio's evaluation computes them."""
    mine = {f"hit@{k}": hit_at_k(ranked, gold, k) for k in (1, 3, 5, 10)}
    mine["recall@5"] = recall_at_k(ranked, gold, 5)
    mine["recall@10"] = recall_at_k(ranked, gold, 10)
    mine["mrr"] = reciprocal_rank(ranked, gold)
    return mine


def beir_metrics(ranked: Sequence[str], relevance: dict[str, int]) -> dict[str, float]:
    """A query's document metrics, as Folio's evaluation computes them."""
    relevant = {d for d, g in relevance.items() if g > 0}
    mine = {"ndcg@10": ndcg_at_k(ranked, relevance, 10)}
    for k in (1, 5, 10, 100):
        mine[f"recall@{k}"] = recall_at_k(ranked, relevant, k)
    mine["mrr"] = reciprocal_rank(ranked[:100], relevant)
    return mine


def _averaged(setting: str, scored: Sequence[dict[str, float]], names: Sequence[str]) -> NaiveRow:
    return NaiveRow(setting, {n: average([m[n] for m in scored]) for n in names}, len(scored))


def run_naive_beir(
    beir: BeirSet, embedder: Embedder, cache: Path | None, say: Say, limit: int | None = None
) -> list[NaiveRow]:
    windows = beir_windows(beir)
    vectors = embed_windows(embedder, [w.text for w in windows], cache, say)
    index = NaiveIndex(range(len(windows)), windows, vectors)
    queries = beir.queries[:limit] if limit else beir.queries
    query_vectors = embedder.embed_query([q.text for q in queries])
    scored = []
    for q, vector in zip(queries, query_vectors, strict=True):
        rows = index.search(q.text, vector, BEIR_WINDOWS)
        scored.append(beir_metrics(dedupe([windows[r].doc for r in rows]), q.relevance))
    return [_averaged("all", scored, BEIR_METRICS)]


def run_naive_pdfqa(
    pdfqa: PdfQaSet, embedder: Embedder, cache: Path | None, say: Say, limit: int | None = None
) -> list[NaiveRow]:
    """Own-document and shared-store rows over the answerable questions."""
    windows: list[Window] = []
    vectors_by_doc: list[np.ndarray] = []
    rows_by_doc: dict[str, list[int]] = {}
    for pdf in pdfqa.pdfs:
        mine = page_windows(pdf.stem, pdf_pages(pdf))
        rows_by_doc[pdf.stem] = list(range(len(windows), len(windows) + len(mine)))
        windows.extend(mine)
        vectors_by_doc.append(embed_windows(embedder, [w.text for w in mine], cache, say))
        say(f"naive: {len(rows_by_doc)}/{len(pdfqa.pdfs)} PDFs read")
    vectors = np.vstack([v for v in vectors_by_doc if len(v)])
    asked = pdfqa.questions[:limit] if limit else pdfqa.questions
    questions = [q for q in asked if q.answerable]
    query_vectors = embedder.embed_query([q.question for q in questions])
    shared = NaiveIndex(range(len(windows)), windows, vectors)
    own: dict[str, NaiveIndex] = {}
    scored: dict[str, list[dict[str, float]]] = {"own document": [], "shared store": []}
    for q, vector in zip(questions, query_vectors, strict=True):
        if q.doc not in own:
            own[q.doc] = NaiveIndex(rows_by_doc[q.doc], windows, vectors)
        gold = {f"{q.doc}#{p}" for p in q.pages}
        for setting, index in (("own document", own[q.doc]), ("shared store", shared)):
            rows = index.search(q.question, vector, PDF_WINDOWS)
            ranked = dedupe([f"{windows[r].doc}#{windows[r].page}" for r in rows])
            scored[setting].append(page_metrics(ranked, gold))
    return [_averaged(setting, s, PAGE_METRICS) for setting, s in scored.items()]
