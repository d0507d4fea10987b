"""OCR (issue 16): upload to searchable for a scanned PDF, with the library's OCR settings.

    python bench/ocr_upload.py [--pdf 3M_2018_10K.pdf] [--pages 50]

The first ``--pages`` pages of a FinanceBench 10-K are scanned as ``bench/scanned_copy.py``
does (150 dpi JPEG, no text layer), added with ``Library.add`` (OCR on; FOLIO_OCR_DPI and
FOLIO_OCR_THREADS from the environment), and the OCR backlog is run to the end
(``Library.run_ocr``: every page read, the document indexed again with its OCR text). Then
words of the last pages' text layers (7+ letters) are searched: found when a hit of the top 3
is that page. Prints JSON: seconds to add, to searchable, OCR pages/s, process CPU seconds.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf", default="3M_2018_10K.pdf")
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--check", type=int, default=3, help="last pages whose words to search")
    args = parser.parse_args()
    path = shared_data() / "financebench" / "pdfs" / args.pdf
    scan = scanned_copy(path.read_bytes(), 150, args.pages)
    layers = _extract(path).pages[: args.pages]
    with tempfile.TemporaryDirectory() as tmp:
        library = _library(Path(tmp), "on")
        library.warm_up()
        settings = library.settings
        started = time.perf_counter()
        cpu = time.process_time()
        library.add([(f"scan-{args.pdf}", scan)])
        added = time.perf_counter() - started
        steps = library.run_ocr()
        searchable = time.perf_counter() - started
        cpu = time.process_time() - cpu
        status = library.ocr_status()
        progress = status.progress if status else None
        checks = []
        for page in range(max(0, args.pages - args.check), args.pages):
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
    print(
        json.dumps(
            {
                "pdf": args.pdf,
                "pages": args.pages,
                "ocr_dpi": settings.ocr_dpi,
                "ocr_threads": settings.ocr_threads,
                "add_s": round(added, 1),
                "searchable_s": round(searchable, 1),
                "ocr_and_reindex_s": round(ocr_seconds, 1),
                "ocr_pages_per_s": round(args.pages / ocr_seconds, 4),
                "process_cpu_s": round(cpu, 1),
                "cpu_s_per_page": round(cpu / args.pages, 2),
                "steps": steps,
                "ocr_done": progress.done if progress else None,
                "ocr_failed": progress.failed if progress else None,
                "target_s": 180,
                "words_found": f"{sum(len(c['found']) for c in checks)}/"
                f"{sum(len(c['words']) for c in checks)}",
                "checks": checks,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
