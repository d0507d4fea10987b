"""OCR (issue 16): upload to searchable for a scanned PDF, with the library's OCR settings.

    python bench/ocr_upload.py [--pdf 3M_2018_10K.pdf] [--pages 50] [--configs 2x1,1x2]
                               [--backend auto] [--precision auto]

The first ``--pages`` pages of a FinanceBench 10-K are scanned as ``bench/scanned_copy.py``
does (150 dpi JPEG, no text layer), added with ``Library.add`` (OCR on, Folio's default
settings but for ``--backend`` and ``--precision``, FOLIO_OCR_BACKEND and
FOLIO_OCR_PRECISION), and the OCR backlog is run to the end (``Library.run_ocr``: every page
read, the document indexed again with its OCR text). Then words of the last pages' text layers (7+
letters) are searched: found when a hit of the top 3 is that page. ``--configs`` lists OCR
configurations as WORKERSxTHREADS (``FOLIO_OCR_WORKERS`` pages read at once, each with
``FOLIO_OCR_THREADS`` threads), run one after the other on the same scan in a fresh library
each, so their times compare within one run. Prints one JSON object per configuration:
seconds to add, to searchable, OCR pages/s, process CPU seconds, and the OCR text of every
page is compared across configurations (``same_text_as_first``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import shared_data
from ocr_quality import WORD, _extract, _library
from scanned_copy import scanned_copy


def _run(scan: bytes, name: str, pages: int, layers, check: int, workers: int, threads: int, **ocr):  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        library = _library(Path(tmp), "on", ocr_workers=workers, ocr_threads=threads, **ocr)
        library.warm_up()
        settings = library.settings
        started = time.perf_counter()
        cpu = time.process_time()
        library.add([(name, scan)])
        added = time.perf_counter() - started
        steps = library.run_ocr()
        searchable = time.perf_counter() - started
        cpu = time.process_time() - cpu
        status = library.ocr_status()
        progress = status.progress if status else None
        doc = library.find(name)
        texts = [library.page_text(doc.id, p) for p in range(pages)] if doc else []
        checks = []
        for page in range(max(0, pages - check), pages):
            seen: list[str] = []
            for w in WORD.findall(layers[page].text.lower()):
                if len(w) > 6 and w not in seen:
                    seen.append(w)
            words = seen[:5]
            found = [
                w for w in words if page in {h.chunk.page for h in library.search(w, k=3).hits}
            ]
            checks.append({"page": page + 1, "words": words, "found": found})
    ocr_seconds = searchable - added
    return texts, {
        "config": f"{workers}x{threads}",
        "pages": pages,
        "ocr_dpi": settings.ocr_dpi,
        "ocr_workers": settings.ocr_workers,
        "ocr_threads": settings.ocr_threads,
        "ocr_runtime": library.ocr.engine.name if library.ocr else None,
        "ocr_precision": settings.ocr_precision,
        "add_s": round(added, 1),
        "searchable_s": round(searchable, 1),
        "ocr_and_reindex_s": round(ocr_seconds, 1),
        "ocr_pages_per_s": round(pages / ocr_seconds, 4),
        "process_cpu_s": round(cpu, 1),
        "cpu_s_per_page": round(cpu / pages, 2),
        "steps": steps,
        "ocr_done": progress.done if progress else None,
        "ocr_failed": progress.failed if progress else None,
        "target_s": 180,
        "words_found": f"{sum(len(c['found']) for c in checks)}/"
        f"{sum(len(c['words']) for c in checks)}",
        "checks": checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf", default="3M_2018_10K.pdf")
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--check", type=int, default=3, help="last pages whose words to search")
    parser.add_argument(
        "--configs", default="", help="WORKERSxTHREADS,... (default: the settings as they are)"
    )
    parser.add_argument("--backend", default="auto", choices=["auto", "openvino", "onnxruntime"])
    parser.add_argument("--precision", default="auto", choices=["auto", "f32"])
    args = parser.parse_args()
    ocr = {"ocr_backend": args.backend, "ocr_precision": args.precision}
    path = shared_data() / "financebench" / "pdfs" / args.pdf
    scan = scanned_copy(path.read_bytes(), 150, args.pages)
    layers = _extract(path).pages[: args.pages]
    configs = [tuple(int(n) for n in c.split("x")) for c in args.configs.split(",") if c]
    if not configs:
        from rag_core.config import Settings

        settings = Settings()  # type: ignore[call-arg]
        configs = [(settings.ocr_workers, settings.ocr_threads)]
    first: list[str] | None = None
    for workers, threads in configs:
        texts, result = _run(
            scan, f"scan-{args.pdf}", args.pages, layers, args.check, workers, threads, **ocr
        )
        first = texts if first is None else first
        result["same_text_as_first"] = texts == first
        print(json.dumps({"pdf": args.pdf, **result}, indent=1), flush=True)


if __name__ == "__main__":
    main()
