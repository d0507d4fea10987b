"""OCR (issue 16): pages read at once against threads per page, interleaved in one run.

    python bench/ocr_workers.py [--pdf 3M_2018_10K.pdf] [--pages 4] [--rounds 3]
                                [--configs 1x2,2x1]
    python bench/ocr_workers.py --configs 2x1:onnxruntime,2x1:openvino,2x1:openvino-auto

The first ``--pages`` pages of a FinanceBench 10-K are scanned as ``bench/scanned_copy.py``
does (150 dpi JPEG, no text layer) and drawn at FOLIO_OCR_DPI once. Each configuration
WORKERSxTHREADS is an ``OcrEngine(threads, workers)`` reading those pages the way the backlog
does (``workers`` pages at once, each copy of the models with ``threads`` threads), on the
runtime after the colon (``onnxruntime``, ``openvino`` (float32), ``openvino-auto`` (the CPU's
fastest precision); none: Folio's defaults, auto and auto); the copies are loaded and warmed
before timing. Round after round, the configurations take turns on the
same pages, so the machine's load hits them alike. Prints JSON per round and a summary: wall
seconds per page (median over rounds), process CPU seconds per page, the ratio of each to the
first configuration, whether every configuration read the same text as the first, and the
character error rate of its text against the first's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pypdfium2 as pdfium
from _common import shared_data
from scanned_copy import scanned_copy

from rag_core.config import Settings
from rag_core.ocr.engine import OcrEngine
from rag_core.ocr.quality import cer


def _drawn(scan: bytes, dpi: int) -> list:  # type: ignore[type-arg]
    pdf = pdfium.PdfDocument(scan)
    try:
        return [pdf[i].render(scale=dpi / 72).to_pil() for i in range(len(pdf))]
    finally:
        pdf.close()


def _read_all(engine: OcrEngine, images: list) -> tuple[list[str], float, float]:  # type: ignore[type-arg]
    started, cpu = time.perf_counter(), time.process_time()
    texts: list[str] = []
    for at in range(0, len(images), engine.workers):
        batch = images[at : at + engine.workers]
        with ThreadPoolExecutor(len(batch)) as pool:
            texts.extend(page.text for page in pool.map(engine.read, batch))
    return texts, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf", default="3M_2018_10K.pdf")
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", default="1x2,2x1", help="WORKERSxTHREADS,...")
    args = parser.parse_args()
    dpi = Settings().ocr_dpi  # type: ignore[call-arg]
    path = shared_data() / "financebench" / "pdfs" / args.pdf
    images = _drawn(scanned_copy(path.read_bytes(), 150, args.pages), dpi)
    engines = {}
    for config in args.configs.split(","):
        shape, _, runtime = config.partition(":")
        workers, threads = (int(n) for n in shape.split("x"))
        backend, _, precision = (runtime or "auto").partition("-")
        precision = precision or ("f32" if runtime else "auto")  # none: the defaults
        engine = OcrEngine(threads, workers, backend, precision)  # type: ignore[arg-type]
        _read_all(engine, images[:workers])  # every copy loaded and warmed
        engines[config] = engine
    wall: dict[str, list[float]] = {c: [] for c in engines}
    cpu: dict[str, list[float]] = {c: [] for c in engines}
    texts: dict[str, list[str]] = {}
    for round_ in range(args.rounds):
        for config, engine in engines.items():
            read, seconds, cpu_seconds = _read_all(engine, images)
            texts.setdefault(config, read)
            wall[config].append(seconds / len(images))
            cpu[config].append(cpu_seconds / len(images))
            print(
                json.dumps(
                    {
                        "round": round_ + 1,
                        "config": config,
                        "wall_s_per_page": round(seconds / len(images), 2),
                        "cpu_s_per_page": round(cpu_seconds / len(images), 2),
                    }
                ),
                flush=True,
            )
    first = next(iter(engines))
    summary = {
        config: {
            "wall_s_per_page": round(statistics.median(wall[config]), 2),
            "cpu_s_per_page": round(statistics.median(cpu[config]), 2),
            "wall_vs_first": round(
                statistics.median(wall[config]) / statistics.median(wall[first]), 3
            ),
            "cpu_vs_first": round(
                statistics.median(cpu[config]) / statistics.median(cpu[first]), 3
            ),
            "per_round_wall_vs_first": [
                round(w / f, 3) for w, f in zip(wall[config], wall[first], strict=True)
            ],
            "same_text_as_first": texts[config] == texts[first],
            "cer_vs_first": round(cer("\n".join(texts[first]), "\n".join(texts[config])), 4),
            "runtime": engines[config].name,
        }
        for config in engines
    }
    print(
        json.dumps({"pdf": args.pdf, "pages": args.pages, "dpi": dpi, "summary": summary}, indent=1)
    )


if __name__ == "__main__":
    main()
