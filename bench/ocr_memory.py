"""OCR (issue 16): process memory while two copies of the models read page after page.

    python bench/ocr_memory.py [--pages 24] [--backend openvino] [--precision auto]
                               [--cache N]

The first ``--pages`` pages of 3M_2018_10K are scanned as ``bench/scanned_copy.py`` does and
drawn at 200 dpi (held in memory: the first line's RSS), then an ``OcrEngine`` of 2 workers x
1 thread reads them 4 at a time, as the backlog does; prints the process RSS (MB) after every
4 pages, the seconds, and the peak. ``--cache``: OpenVINO's ``CPU_RUNTIME_CACHE_CAPACITY``
(kernels compiled per input shape, kept for this many shapes) instead of Folio's
(``rag_core.ocr.engine.SHAPE_CACHE``).
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ThreadPoolExecutor

import pypdfium2 as pdfium
from _common import shared_data
from scanned_copy import scanned_copy

from rag_core.ocr import engine as ocr_engine
from rag_core.ocr.engine import OcrEngine


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--backend", default="openvino")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--cache", type=int, default=None)
    args = parser.parse_args()
    if args.cache is not None:
        ocr_engine.SHAPE_CACHE = args.cache
    path = shared_data() / "financebench" / "pdfs" / "3M_2018_10K.pdf"
    doc = pdfium.PdfDocument(scanned_copy(path.read_bytes(), 150, args.pages))
    try:
        images = [doc[i].render(scale=200 / 72).to_pil() for i in range(len(doc))]
    finally:
        doc.close()
    print(f"pages drawn: {round(rss_mb())} MB", flush=True)
    engine = OcrEngine(1, 2, args.backend, args.precision)
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        for at in range(0, len(images), 4):
            list(pool.map(engine.read, images[at : at + 4]))
            print(f"{min(at + 4, len(images))} pages: {round(rss_mb())} MB", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"{time.perf_counter() - started:.1f} s; peak {round(peak)} MB ({engine.name})")


if __name__ == "__main__":
    main()
