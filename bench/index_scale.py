"""What a change to the library costs as it grows: one segment per change (issue 17) against
the full rebuild of every derived index, at 10k and 100k chunks (1M where the machine has room).

The libraries are the ones ``bench/query_latency.py`` builds (SciFact abstracts, 50 per
Markdown document, copied under new names to reach the size; random unit vectors for the
documents, the real all-MiniLM-L6-v2 for queries), cached under ``FOLIO_DATA_DIR`` or
``/tmp/folio-index-scale``.

Per size, one JSON line: ``chunks``; ``add_tiny_s`` (median of ``--adds`` tiny Markdown
files added one at a time, from the call to searchable) and ``add_tiny_max_s``; ``segments``
(after those adds); ``hybrid_p95_ms`` (one search of every leg, as the floor is one
embedding and one scan) and ``filtered_p95_ms`` (one year, ~1/30 of the documents) with
those segments in place, and ``app_p95_ms`` (as the app searches: a question the rules split
is searched once more per part, issue 19); ``add_pdf_s`` (a 100-page PDF); ``delete_s``
(removing a tiny file, call to gone from the index); ``segments_after_merges``; ``rss_gb``;
the same with ``FOLIO_INDEX_SEGMENTS=false`` (every change writes the whole index as one
segment, in an index folder of its own) as ``full_*``; and the p50 of BM25 scoring alone, the
segments' exact scorer against one bm25s index of the same rows (the scorer before issue 17).
Also the p50s of hybrid and filtered search; ``load`` (the load average at the start and
``load_end``); ``disk_*`` (bytes per chunk of each part of the library folder, and in all);
the floor of ``bench/query_latency.py`` (p95 of the query embedding plus p95 of an exact
numpy scan of every vector) beside Chroma's HNSW and the segments' exact scan, and
``hybrid_p95_over_floor``; with ``--sequence N``, the segment count after each of N more tiny
adds (merges running in the background, as in use). ``--fresh``: every search embeds its
query (otherwise the embedder's query memory serves repeated queries, and the floor's
embedding is a lookup). ``--segments-only``: no whole-index baseline and no bm25s comparison
(at 1M each whole-index change takes minutes); ``--no-grow``: the cached library as it is.

    nice -n 10 python bench/index_scale.py --sizes 10000 100000 [1000000] [--adds 5]
    nice -n 5 python bench/index_scale.py --sizes 1000000 --adds 5 --sequence 200 \
        --segments-only --fresh
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _common import REPO, percentile, question_pool, shared_data

sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from query_latency import RandomDocumentEmbedder

from rag_core.config import Settings
from rag_core.embed.embeddings import QUERY_MEMORY, SentenceTransformerEmbedder
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
        started = time.perf_counter()
        report = library.add(uploads)
        have += sum(r.chunks for r in report.results if r.status == "added")
        copy += 1
        print(
            f"  built {have} chunks: {time.perf_counter() - started:.1f} s, rss {rss_gb()} GB,"
            f" {library.retriever.snapshot().segments} segments",
            file=sys.stderr,
            flush=True,
        )
    return library


def word(tag: str) -> str:
    """A word of letters only, no other document's name or text holds (``tag`` is digits).
    It ends in "z", which no stemmer strips: "quokka" + "b" + "e" would read as "quokkab"."""
    return "quokka" + tag.translate(str.maketrans("0123456789", "abcdefghij")) + "z"


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


def add_tiny(library: Library, tag: str, adds: int) -> tuple[dict[str, float], list[str]]:
    """Seconds to add ``adds`` tiny files one at a time, each from the call to searchable
    (median and worst); the documents added."""
    spent, tiny = [], []
    for i in range(adds):
        started = time.perf_counter()
        [added] = library.add([tiny_upload(f"{tag}{i}")]).results
        assert searchable(library, word(f"{tag}{i}")), "the tiny file is not searchable"
        spent.append(time.perf_counter() - started)
        assert added.doc_id is not None
        tiny.append(added.doc_id)
    return {
        "add_tiny_s": round(statistics.median(spent), 3),
        "add_tiny_max_s": round(max(spent), 3),
    }, tiny


def add_pdf_and_delete(library: Library, tag: str, tiny: list[str]) -> dict[str, float]:
    """Seconds to add a 100-page PDF and to remove a tiny file (call to gone from the
    index); then the library is as it was before the tiny files."""
    out = {}
    started = time.perf_counter()
    pdf = library.add([pdf_upload(tag)])
    assert searchable(library, f"turbine{tag}"), "the PDF is not searchable"
    out["add_pdf_s"] = round(time.perf_counter() - started, 3)
    gone = library.document(tiny[0]).name
    started = time.perf_counter()
    library.remove(tiny[0])
    library.refresh()
    out["delete_s"] = round(time.perf_counter() - started, 3)
    assert not searchable(library, gone.removeprefix("note-").removesuffix(".md"))
    pdf_ids = [r.doc_id for r in pdf.results if r.doc_id is not None]
    library.remove_many(tiny[1:] + pdf_ids)
    library.refresh()
    return out


def latencies(
    libraries: dict[str, Library], queries: list[str], rounds: int = 2
) -> dict[str, float]:
    """p95 of hybrid and of year-filtered hybrid search per library, the libraries taking
    turns (``rounds`` times) so that a noisy moment does not fall on one of them only."""
    rng = random.Random(7)
    years = [Filters(years=(rng.randint(1990, 2019),)) for _ in queries]
    for library in libraries.values():
        for q in queries:  # a first pass: the query model's first hundred calls are slower
            library.search(q, k=10)
    spent: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, library in libraries.items():
            for q, f in zip(queries, years, strict=True):
                # hybrid: one search of every leg (what the floor is compared with); app:
                # as the app searches, a question of several parts once more per part.
                for kind, filters, split in (
                    ("hybrid", None, False),
                    ("filtered", f, False),
                    ("app", None, True),
                ):
                    started = time.perf_counter()
                    library.search(q, k=10, filters=filters, decompose=split)
                    elapsed = (time.perf_counter() - started) * 1000
                    spent.setdefault(f"{name}{kind}_p95_ms", []).append(elapsed)
    out = {key: round(percentile(values, 95), 1) for key, values in spent.items()}
    out.update({key.replace("p95", "p50"): round(percentile(v, 50), 1) for key, v in spent.items()})
    return out


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


def floor(
    library: Library, embedder: RandomDocumentEmbedder, queries: list[str]
) -> dict[str, float]:
    """``bench/query_latency.py``'s floor: p95 of the query embedding plus p95 of an exact
    numpy scan of every vector (one contiguous matrix); beside it the dense paths the
    library has, each p95: Chroma's HNSW (the unfiltered dense leg) and the snapshot's
    exact scan over its memory-mapped segments (the filtered dense leg)."""
    import numpy as np

    snapshot = library.retriever.snapshot()
    spent: dict[str, list[float]] = {}

    def timed(name: str, fn: Callable[[str], object]) -> None:
        for q in queries:
            started = time.perf_counter()
            fn(q)
            spent.setdefault(name, []).append((time.perf_counter() - started) * 1000)

    vectors = {q: embedder.embed_query([q])[0] for q in queries}
    timed("query_embedding", lambda q: embedder.embed_query([q]))
    chroma = library.retriever.chroma
    timed("chroma_hnsw", lambda q: chroma.query(vectors[q], 10))
    everything = [(0, snapshot.size)]
    timed("segments_exact", lambda q: snapshot.dense_search(vectors[q], 10, everything))
    matrix = snapshot.vectors_of(np.arange(snapshot.size))  # 1.5 GB at 1M: freed on return
    timed("numpy_exact", lambda q: np.argpartition(-(matrix @ vectors[q]), 10)[:10])
    out = {f"{k}_p95_ms": round(percentile(v, 95), 1) for k, v in spent.items()}
    p95 = {k: percentile(v, 95) for k, v in spent.items()}
    out["floor_p95_ms"] = round(p95["query_embedding"] + p95["numpy_exact"], 1)
    fastest = min(p95["numpy_exact"], p95["chroma_hnsw"])
    out["floor_fastest_dense_p95_ms"] = round(p95["query_embedding"] + fastest, 1)
    return out


def sequence(library: Library, tag: str, adds: int) -> dict[str, object]:
    """``adds`` tiny files added one at a time (each to searchable): the segment count after
    every add (merges running in the background, as in use), then the files removed."""
    counts, spent, tiny = [], [], []
    for i in range(adds):
        started = time.perf_counter()
        [added] = library.add([tiny_upload(f"{tag}{i}")]).results
        assert searchable(library, word(f"{tag}{i}")), "the tiny file is not searchable"
        spent.append(time.perf_counter() - started)
        counts.append(library.retriever.snapshot().segments)
        assert added.doc_id is not None
        tiny.append(added.doc_id)
    library.retriever.snapshots.wait_for_merges()
    settled = library.retriever.snapshot().segments
    library.remove_many(tiny)
    library.refresh()
    return {
        "sequence_adds": adds,
        "sequence_segments_max": max(counts),
        "sequence_segments_last": counts[-1],
        "sequence_segments_after_merges": settled,
        "sequence_segments": counts,
        "sequence_add_p50_s": round(percentile(spent, 50), 3),
        "sequence_add_p95_s": round(percentile(spent, 95), 3),
        "sequence_add_max_s": round(max(spent), 3),
    }


def disk_per_chunk(size: int, chunks: int) -> dict[str, float]:
    """Bytes on disk per chunk, for the library folder and each of its parts (the
    whole-index baseline's folder ``full`` left out)."""
    folder = settings_for(size).data_dir
    out = {}
    for part in sorted(folder.iterdir()):
        if part.name == "full":
            continue
        files = [part] if part.is_file() else [f for f in part.rglob("*") if f.is_file()]
        out[f"disk_{part.name}"] = sum(f.stat().st_size for f in files)
    out = {k: round(v / chunks) for k, v in out.items() if v}
    out["disk_per_chunk_bytes"] = sum(out.values())
    return out


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 2**20, 2)
    return float("nan")


def run(
    size: int,
    embedder: RandomDocumentEmbedder,
    queries: list[str],
    adds: int,
    segments_only: bool = False,
    grow: bool = True,
    sequence_adds: int = 0,
) -> dict[str, object]:
    """``segments_only``: no whole-index baseline and no bm25s comparison (at 1M each
    whole-index change takes minutes and a second copy of the index); ``grow`` False:
    the cached library as it is, whatever its size."""
    if grow:
        build(size, embedder)
    tag = str(time.time_ns())[-9:]
    # Segments, and beside it (an index folder of its own) every change writing it whole.
    library = Library.open(settings_for(size), embedder=embedder)
    library.refresh()
    library.retriever.snapshots.wait_for_merges()
    warm_up(library, embedder, tag + "8")
    libraries = {"": library}
    if not segments_only:
        full = Library.open(settings_for(size, segments=False), embedder=embedder)
        full.refresh()
        warm_up(full, embedder, tag + "9")
        libraries["full_"] = full
    result: dict[str, object] = {"chunks": library.retriever.snapshot().size, "load": load()}
    added, tiny = add_tiny(library, tag, adds)
    result.update(added)
    result["segments"] = library.retriever.snapshot().segments
    if not segments_only:
        full.refresh()  # the same documents, in one segment
    result.update(latencies(libraries, queries))
    result.update(add_pdf_and_delete(library, tag, tiny))
    library.retriever.snapshots.wait_for_merges()
    result["segments_after_merges"] = library.retriever.snapshot().segments
    result["rss_gb"] = rss_gb()
    if not segments_only:
        full_added, full_tiny = add_tiny(full, tag + "7", adds)
        result.update({f"full_{k}": v for k, v in full_added.items()})
        result.update(
            {f"full_{k}": v for k, v in add_pdf_and_delete(full, tag + "7", full_tiny).items()}
        )
        result.update(bm25_scoring(library, queries))
        result["tiny_speedup"] = round(full_added["add_tiny_s"] / added["add_tiny_s"], 1)
    if sequence_adds:
        result.update(sequence(library, tag + "6", sequence_adds))
    result.update(disk_per_chunk(size, int(result["chunks"])))  # type: ignore[call-overload]
    result.update(floor(library, embedder, queries))
    for key, floor_key in (
        ("hybrid_p95_over_floor", "floor_p95_ms"),
        ("hybrid_p95_over_fastest_floor", "floor_fastest_dense_p95_ms"),
    ):
        result[key] = round(
            float(result["hybrid_p95_ms"]) / float(result[floor_key]),  # type: ignore[arg-type]
            2,
        )
    result["rss_gb_after_floor_scan"] = rss_gb()
    result["load_end"] = load()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--adds", type=int, default=5, help="tiny files added one at a time")
    parser.add_argument(
        "--sequence", type=int, default=0, help="then this many tiny adds: segment counts"
    )
    parser.add_argument("--segments-only", action="store_true", help="no whole-index baseline")
    parser.add_argument("--no-grow", action="store_true", help="the cached library as it is")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="every search embeds its query (no query memory), as the floor's embedding does",
    )
    args = parser.parse_args()
    queries = question_pool(args.queries)
    real = SentenceTransformerEmbedder(query_memory=0 if args.fresh else QUERY_MEMORY)
    embedder = RandomDocumentEmbedder(real)
    for size in args.sizes:
        result = run(
            size,
            embedder,
            queries,
            args.adds,
            segments_only=args.segments_only,
            grow=not args.no_grow,
            sequence_adds=args.sequence,
        )
        print(json.dumps({"size": size, **result}), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--build-only"]:
        embedder = RandomDocumentEmbedder(SentenceTransformerEmbedder())
        for size in map(int, sys.argv[2:]):
            build(size, embedder)
    else:
        main()
