"""Ingest throughput on real PDFs: Folio's pipeline against a naive one, in the same run.

Naive: pypdf text per page, 200-word windows, sentence-transformers (float32), Chroma storing the
text and metadata. Folio: ``Library.add`` (pdfium extraction, rendering, chunking, embedding,
Chroma ids+vectors, registry), with its per-stage timings, once per embedding backend
(``openvino-int8``: the default on a CPU for the built-in model; ``openvino``: lossless;
``torch``: PyTorch bf16).

    python bench/ingest.py [--names A.pdf B.pdf ...] [--backends openvino-int8 openvino torch]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import shared_data

DEFAULT = ["3M_2018_10K.pdf", "AMAZON_2017_10K.pdf", "ADOBE_2015_10K.pdf", "BESTBUY_2019_10K.pdf"]


def naive(pdfs: list[Path], workdir: Path) -> dict[str, float]:
    import chromadb
    import pypdf
    from chromadb.config import Settings as ChromaSettings
    from sentence_transformers import SentenceTransformer

    from rag_core.embed.embeddings import resolve_model_path

    model = SentenceTransformer(resolve_model_path("builtin:all-MiniLM-L6-v2"), device="cpu")
    model.encode(["warm up"])
    client = chromadb.PersistentClient(
        str(workdir / "naive"), ChromaSettings(anonymized_telemetry=False)
    )
    collection = client.get_or_create_collection("naive", embedding_function=None)
    stages = {"extract": 0.0, "embed": 0.0, "index": 0.0}
    pages = chunks = 0
    for pdf in pdfs:
        t = time.perf_counter()
        reader = pypdf.PdfReader(str(pdf))
        texts = []
        for number, page in enumerate(reader.pages):
            words = (page.extract_text() or "").split()
            texts += [(number, " ".join(words[i : i + 200])) for i in range(0, len(words), 200)]
        pages += len(reader.pages)
        stages["extract"] += time.perf_counter() - t
        t = time.perf_counter()
        vectors = model.encode([w for _, w in texts], batch_size=32)
        stages["embed"] += time.perf_counter() - t
        t = time.perf_counter()
        collection.add(
            ids=[f"{pdf.stem}-{i}" for i in range(len(texts))],
            embeddings=vectors,
            documents=[w for _, w in texts],
            metadatas=[{"doc": pdf.stem, "page": n} for n, _ in texts],
        )
        stages["index"] += time.perf_counter() - t
        chunks += len(texts)
    return {"pages": pages, "chunks": chunks, **stages, "total": sum(stages.values())}


def folio(pdfs: list[Path], workdir: Path, backend: str) -> tuple[str, dict[str, float]]:
    from rag_core.config import Settings
    from rag_core.library import Library

    folder = workdir / f"folio-{backend}"
    settings = Settings(data_dir=folder, db=folder / "fb.db", embed_backend=backend)
    library = Library.open(settings)
    t = time.perf_counter()
    library.embedder.embed(["warm up"])  # model load (and conversion) outside the timing
    load = time.perf_counter() - t
    t = time.perf_counter()
    report = library.add(pdfs)
    total = time.perf_counter() - t
    stages: dict[str, float] = {}
    for result in report.results:
        assert result.status == "added", result
        for timing in result.timings:
            stages[timing.stage] = stages.get(timing.stage, 0.0) + timing.ms / 1000
    pages = sum(r.pages for r in report.results)
    chunks = sum(r.chunks for r in report.results)
    stages["snapshot"] = total - sum(stages.values())
    runtime = library.embedder.runtime  # type: ignore[attr-defined]
    label = f"folio[{runtime}]"
    print(f"{label}: model load, once per process (not in the totals): {load:.1f}s")
    return label, {"pages": pages, "chunks": chunks, **stages, "total": total}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--names", nargs="*", default=DEFAULT)
    parser.add_argument("--backends", nargs="*", default=["openvino-int8", "openvino", "torch"])
    args = parser.parse_args()
    folder = shared_data() / "financebench" / "pdfs"
    pdfs = [folder / n for n in args.names]
    workdir = Path(tempfile.mkdtemp(prefix="folio-bench-ingest-"))
    try:
        runs = [("naive", naive(pdfs, workdir))]
        runs += [folio(pdfs, workdir, backend) for backend in args.backends]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"PDFs: {', '.join(args.names)}")
    skip = ("pages", "chunks", "total")
    for label, r in runs:
        stages = "  ".join(f"{k} {v:.1f}s" for k, v in r.items() if k not in skip)
        rate = f"{r['pages'] / r['total']:.2f} pages/s, {r['chunks'] / r['total']:.1f} chunks/s"
        size = f"{r['pages']} pages, {r['chunks']} chunks"
        print(f"{label:>15}: {size} in {r['total']:.1f}s = {rate}")
        print(f"{'':>15}  stages: {stages}")
    base = runs[0][1]
    for label, r in runs[1:]:
        speedup = (r["pages"] / r["total"]) / (base["pages"] / base["total"])
        print(f"ratio {label}/naive pages/s: {speedup:.2f}x")


if __name__ == "__main__":
    main()
