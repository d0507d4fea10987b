"""What a change to the library costs as it grows: one segment per change (issue 17) against
the full rebuild of every derived index, at 10k and 100k chunks (1M where the machine has room).

The libraries are the ones ``bench/query_latency.py`` builds (SciFact abstracts, 50 per
Markdown document, copied under new names to reach the size; random unit vectors for the
documents, the real all-MiniLM-L6-v2 for queries), cached under ``FOLIO_DATA_DIR`` or
``/tmp/folio-index-scale``.

Per size, one JSON line: ``chunks``, ``segments``, ``add_tiny_s`` (one tiny Markdown file,
from the call to searchable), ``add_pdf_s`` (a 100-page PDF), ``delete_s`` (removing the
tiny file), ``hybrid_p95_ms`` and ``filtered_p95_ms`` (one year) over the segmented index,
``rss_gb``, and the same add and delete with ``FOLIO_INDEX_SEGMENTS=off`` (every change
rebuilds one segment of everything, as before) as ``full_*``.

    nice -n 10 python bench/index_scale.py --sizes 10000 100000 [1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

from _common import REPO, percentile, question_pool, shared_data

sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from query_latency import RandomDocumentEmbedder

from rag_core.config import Settings
from rag_core.embed.embeddings import SentenceTransformerEmbedder
from rag_core.library import Library
from rag_core.types import DocumentMetadata, Filters, Upload

DOCS_PER_COPY = 104  # SciFact's 5,183 abstracts, 50 per document


def cache_root() -> Path:
    return Path(os.environ.get("FOLIO_DATA_DIR") or "/tmp/folio-index-scale")


def settings_for(size: int, segments: bool = True) -> Settings:
    """The library's settings; ``segments`` False: the old full rebuild, in an index folder
    of its own."""
    folder = cache_root() / f"chunks-{size}"
    if segments:
        return Settings(data_dir=folder, db=folder / "feedback.db")
    return Settings(
        data_dir=folder, db=folder / "feedback.db", index_segments=False, index_dir=folder / "full"
    )


def build(size: int, embedder: RandomDocumentEmbedder) -> Library:
    """The library of ``size`` chunks, built through the real ingest path (once, cached)."""
    library = Library.open(settings_for(size), embedder=embedder)
    docs = library.documents()
    have = sum(d.chunks for d in docs)
    corpus = [json.loads(line) for line in (shared_data() / "scifact" / "corpus.jsonl").open()]
    copy = len([d for d in docs if d.name.startswith("copy")]) // DOCS_PER_COPY
    while have < size:
        uploads = []
        for start in range(0, len(corpus), 50):
            group = corpus[start : start + 50]
            body = "\n\n".join(f"## {d['title']}\n\n{d['text']}" for d in group)
            text = f"# Collection {copy}\n\n{body}"  # distinct bytes: a copy is a new document
            year = 1990 + (start // 50) % 30
            name = f"copy{copy:03d}-part{start // 50:03d}-{year}.md"
            uploads.append(Upload(name, text.encode(), DocumentMetadata(title=name)))
        report = library.add(uploads)
        have += sum(r.chunks for r in report.results if r.status == "added")
        copy += 1
        print(f"  built {have} chunks", file=sys.stderr, flush=True)
    return library


def word(tag: str) -> str:
    """A word of letters only, no other document's name or text holds (``tag`` is digits)."""
    return "quokka" + tag.translate(str.maketrans("0123456789", "abcdefghij"))


def tiny_upload(tag: str) -> Upload:
    text = f"# Note\n\nThe {word(tag)} census counted 41 animals on Rottnest.\n"
    return Upload(f"note-{word(tag)}.md", text.encode(), DocumentMetadata())


def pdf_upload(tag: str, pages: int = 100) -> Upload:
    from tests.pdfs import make_pdf

    texts = [
        f"Page {p} of report {tag}\n\n"
        + " ".join(f"Inspection {p}.{s} of turbine{tag} blade {s} found wear." for s in range(25))
        for p in range(pages)
    ]
    return Upload(f"report-{tag}.pdf", make_pdf(texts), DocumentMetadata())


def searchable(library: Library, word: str) -> bool:
    hits = library.search(word, k=3, legs=("bm25",)).hits
    return bool(hits) and word in hits[0].chunk.text.lower()


def warm_up(library: Library, embedder: RandomDocumentEmbedder, tag: str) -> None:
    """Load the query model and the page cache, and make one change (not timed)."""
    embedder.count_tokens(["warm up"])
    library.search("warm up", k=10)
    [added] = library.add([tiny_upload(tag)]).results
    assert added.doc_id is not None
    library.remove(added.doc_id)
    library.refresh()


def change_costs(library: Library, tag: str) -> dict[str, float]:
    """Seconds to add a tiny file (call to searchable), a 100-page PDF, and to remove the
    tiny file (call to gone from the index)."""
    out: dict[str, float] = {}
    started = time.perf_counter()
    [added] = library.add([tiny_upload(tag)]).results
    assert searchable(library, word(tag)), "the tiny file is not searchable"
    out["add_tiny_s"] = time.perf_counter() - started
    started = time.perf_counter()
    pdf = library.add([pdf_upload(tag)])
    assert searchable(library, f"turbine{tag}"), "the PDF is not searchable"
    out["add_pdf_s"] = time.perf_counter() - started
    started = time.perf_counter()
    assert added.doc_id is not None
    library.remove(added.doc_id)
    library.refresh()
    out["delete_s"] = time.perf_counter() - started
    assert not searchable(library, word(tag)), "the removed file is still found"
    library.remove_many([r.doc_id for r in pdf.results if r.doc_id is not None])  # as it was
    library.refresh()
    return out


def latencies(library: Library, queries: list[str]) -> dict[str, float]:
    rng = random.Random(7)
    years = [Filters(years=(rng.randint(1990, 2019),)) for _ in queries]
    for q in queries[:5]:
        library.search(q, k=10)
    hybrid, filtered = [], []
    for q, f in zip(queries, years, strict=True):
        started = time.perf_counter()
        library.search(q, k=10)
        hybrid.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        library.search(q, k=10, filters=f)
        filtered.append((time.perf_counter() - started) * 1000)
    return {
        "hybrid_p95_ms": round(percentile(hybrid, 95), 1),
        "filtered_p95_ms": round(percentile(filtered, 95), 1),
    }


def bm25_scoring(library: Library, queries: list[str]) -> dict[str, float]:
    """p50 of BM25 scoring alone (tokens given): the segments' exact scorer against one bm25s
    index of the same live rows (what every snapshot held before issue 17)."""
    from rag_core.index.bm25 import BM25Index

    snapshot = library.retriever.snapshot()
    tokenizer = library.retriever.tokenizer
    tokens = [tokenizer.fields(q, tokenizer.tokenize(q), snapshot.chinese)[0] for q in queries]
    rows = {r.id: r.tokens.split() for r in library.registry.iter_ready_chunks()}
    method = library.settings.bm25_method
    single = BM25Index(method, library.settings.bm25_k1, library.settings.bm25_b)
    single.build([rows[i] for i in snapshot.ids])
    out = {}
    for name, scorer in (("segments", snapshot.bm25), ("bm25s", single)):
        spent = []
        for t in tokens:
            started = time.perf_counter()
            scorer.scores(t)
            spent.append((time.perf_counter() - started) * 1000)
        out[f"bm25_scoring_p50_ms_{name}"] = round(percentile(spent, 50), 2)
    return out


def rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 2**20, 2)
    return float("nan")


def run(size: int, embedder: RandomDocumentEmbedder, queries: list[str]) -> dict[str, object]:
    build(size, embedder)
    tag = str(time.time_ns())[-9:]
    # Segments: the index of the library as it is (written once in the new format).
    library = Library.open(settings_for(size), embedder=embedder)
    started = time.perf_counter()
    library.refresh()
    first = time.perf_counter() - started
    library.retriever.snapshots.wait_for_merges()
    warm_up(library, embedder, tag + "3")
    segmented = change_costs(library, tag)
    result: dict[str, object] = {
        "chunks": library.retriever.snapshot().size,
        "segments": library.retriever.snapshot().segments,
        **{k: round(v, 3) for k, v in segmented.items()},
        **latencies(library, queries),
    }
    library.retriever.snapshots.wait_for_merges()
    result["segments_after_merges"] = library.retriever.snapshot().segments
    result["rss_gb"] = rss_gb()
    # The same changes with every change writing the whole index (its own index folder).
    full_settings = settings_for(size, segments=False)
    full = Library.open(full_settings, embedder=embedder)
    full.refresh()
    warm_up(full, embedder, tag + "1")
    baseline = change_costs(full, tag + "2")
    result.update({f"full_{k}": round(v, 3) for k, v in baseline.items()})
    result.update({f"full_{k}": v for k, v in latencies(full, queries).items()})
    result.update(bm25_scoring(library, queries))
    result["first_build_s"] = round(first, 3)
    result["tiny_speedup"] = round(baseline["add_tiny_s"] / segmented["add_tiny_s"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    queries = question_pool(args.queries)
    embedder = RandomDocumentEmbedder(SentenceTransformerEmbedder())
    for size in args.sizes:
        print(json.dumps({"size": size, **run(size, embedder, queries)}), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--build-only"]:
        embedder = RandomDocumentEmbedder(SentenceTransformerEmbedder())
        for size in map(int, sys.argv[2:]):
            build(size, embedder)
    else:
        main()
