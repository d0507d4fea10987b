"""OCR speed (issue 16): where one page's time goes, and RapidOCR settings against quality.

    python bench/ocr_speed.py [--english 4] [--chinese 2] [--configs base,dpi150,...]

Each page is scanned as ``bench/scanned_copy.py`` does (150 dpi JPEG, no text layer), then
for each configuration: drawn at its dpi (render), read by RapidOCR (detection, orientation
classifier, recognition, and the crops between them: the rest of the model call), lines
repaired (word repair). Quality: English CER and word recall (after repair) against the
text layer, Chinese CER against the drawn text (generated CMRC2018 pages, as
``ocr_quality.py chinese``). Configurations run interleaved page by page so machine load hits
them alike; speed is reported as a ratio to the first configuration. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from _common import shared_data
from ocr_quality import _chinese_pdf, _extract, _one_page, _recall
from scanned_copy import scanned_copy

# name -> (dpi, RapidOCR keyword arguments)
CONFIGS: dict[str, tuple[int, dict[str, object]]] = {
    "base": (200, {}),
    "dpi150": (150, {}),
    "dpi120": (120, {}),
    "nocls": (200, {"use_cls": False}),
    "det960cls": (200, {"det_limit_type": "max", "det_limit_side_len": 960}),
    "det1280": (200, {"use_cls": False, "det_limit_type": "max", "det_limit_side_len": 1280}),
    "det960": (200, {"use_cls": False, "det_limit_type": "max", "det_limit_side_len": 960}),
    "det960_rec16": (
        200,
        {
            "use_cls": False,
            "det_limit_type": "max",
            "det_limit_side_len": 960,
            "rec_batch_num": 16,
        },
    ),
    "nocls_det960": (200, {"use_cls": False, "detect_side": 960}),
    "nocls_det1280": (200, {"use_cls": False, "detect_side": 1280}),
    "nocls_det1600": (200, {"use_cls": False, "detect_side": 1600}),
    "nocls_rec16": (200, {"use_cls": False, "rec_batch_num": 16}),
    # The shipped engine's settings (classifier off, one thread) on each runtime.
    "ort_t1": (200, {"use_cls": False, "intra_op_num_threads": 1}),
    "ov_f32": (200, {"use_cls": False, "intra_op_num_threads": 1, "openvino": "f32"}),
    "ov_auto": (200, {"use_cls": False, "intra_op_num_threads": 1, "openvino": "auto"}),
    "det960_t1": (
        200,
        {
            "use_cls": False,
            "det_limit_type": "max",
            "det_limit_side_len": 960,
            "intra_op_num_threads": 1,
        },
    ),
}


def limit_detection(model, side: int) -> None:  # type: ignore[no-untyped-def]
    """Make RapidOCR's detector scale a page down to ``side`` pixels on its longest side.

    Its own settings cannot: ``det_limit_type="max"`` replaces the limit with 960, 1500 or
    2000 by the image's size (2000 for a drawn page); ``"min"`` only scales small images up."""
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    det = model.text_det
    det.get_preprocess = lambda _longest: DetPreProcess(side, "max", det.mean, det.std)


class _Timed:
    """A model stage that keeps its last call's CPU seconds (this process, all threads)."""

    def __init__(self, stage) -> None:  # type: ignore[no-untyped-def]
        self.stage = stage
        self.cpu = 0.0

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.process_time()
        try:
            return self.stage(*args, **kwargs)
        finally:
            self.cpu = time.process_time() - started


def _pages(
    english: int, chinese: int, seed: int, chosen: list[str]
) -> list[tuple[str, str, bytes, str]]:
    """(kind, name, scanned one-page PDF, reference text)."""
    from rag_core.ocr import needs_ocr

    pdfs = sorted((shared_data() / "financebench" / "pdfs").glob("*.pdf"))
    rng = random.Random(seed)
    out = []
    for spec in chosen:  # NAME.pdf:PAGE (1-based)
        name, number = spec.rsplit(":", 1)
        path = shared_data() / "financebench" / "pdfs" / name
        page = int(number) - 1
        reference = _extract(path).pages[page].text
        out.append(
            ("en", f"{path.stem} p.{page + 1}", scanned_copy(_one_page(path, page)), reference)
        )
    while len(out) < english:
        path = rng.choice(pdfs)
        extracted = _extract(path)
        page = rng.randrange(len(extracted.pages))
        reference = extracted.pages[page].text
        if needs_ocr(reference) or len(reference) < 1500:  # dense pages: the slow case
            continue
        scan = scanned_copy(_one_page(path, page), 150)
        out.append(("en", f"{path.stem} p.{page + 1}", scan, reference))
    if chinese:
        corpus = shared_data() / "cmrc2018" / "corpus.jsonl"
        paragraphs = [json.loads(line)["text"] for line in corpus.open(encoding="utf-8")][:400]
        pdf, texts = _chinese_pdf(paragraphs, chinese)
        import pypdfium2 as pdfium

        n = len(pdfium.PdfDocument(pdf))
        for i in range(n):
            scan = scanned_copy(_one_page_bytes(pdf, i), 150)
            out.append(("zh", f"chinese p.{i + 1}", scan, texts[i]))
    return out


def _one_page_bytes(data: bytes, page: int) -> bytes:
    import io

    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(data)
    out = pdfium.PdfDocument.new()
    out.import_pages(src, [page])
    buffer = io.BytesIO()
    out.save(buffer)
    return buffer.getvalue()


def _model(kwargs: dict[str, object]):  # type: ignore[no-untyped-def]
    from rapidocr_onnxruntime import RapidOCR

    from rag_core.ocr.engine import run_on_openvino

    args = {"intra_op_num_threads": 2, "inter_op_num_threads": 1}
    ours = ("use_cls", "detect_side", "openvino")
    args.update({k: v for k, v in kwargs.items() if k not in ours})
    model = RapidOCR(**args)
    if "openvino" in kwargs:  # the models on OpenVINO, as rag_core.ocr.engine runs them
        threads = int(args["intra_op_num_threads"])  # type: ignore[call-overload]
        run_on_openvino(model, threads, kwargs["openvino"])  # type: ignore[arg-type]
    if "detect_side" in kwargs:
        limit_detection(model, int(kwargs["detect_side"]))  # type: ignore[call-overload]
    for attr in ("text_det", "text_cls", "text_rec"):
        setattr(model, attr, _Timed(getattr(model, attr)))
    return model


def _read(model, kwargs, scan: bytes, dpi: int) -> tuple[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    import numpy as np
    import pypdfium2 as pdfium

    from rag_core.ocr import repair_words

    c0 = time.process_time()
    t0 = time.perf_counter()
    doc = pdfium.PdfDocument(scan)
    image = doc[0].render(scale=dpi / 72).to_pil().convert("RGB")
    doc.close()
    bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
    t1 = time.perf_counter()
    result, elapse = model(bgr, use_cls=kwargs.get("use_cls", True))
    t2 = time.perf_counter()
    raw = [str(text) for _box, text, _score in result or ()]
    text = "\n".join(repair_words(line) for line in raw)
    t3 = time.perf_counter()
    c3 = time.process_time()
    for attr in ("text_det", "text_cls", "text_rec"):
        if not (kwargs.get("use_cls", True) or attr != "text_cls"):
            getattr(model, attr).cpu = 0.0
    det, cls, rec = ([*list(elapse or ()), 0.0, 0.0, 0.0])[:3]
    stages = {
        "render": t1 - t0,
        "det": det,
        "cls": cls,
        "rec": rec,
        "other": (t2 - t1) - det - cls - rec,
        "repair": t3 - t2,
        "total": t3 - t0,
        "cpu_det": model.text_det.cpu,
        "cpu_cls": model.text_cls.cpu,
        "cpu_rec": model.text_rec.cpu,
        "cpu": c3 - c0,
    }
    return text, stages


KEYS = (
    "render",
    "det",
    "cls",
    "rec",
    "other",
    "repair",
    "total",
    "cpu_det",
    "cpu_cls",
    "cpu_rec",
    "cpu",
)


def main() -> None:
    from rag_core.ocr.quality import cer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--english", type=int, default=4)
    parser.add_argument("--chinese", type=int, default=2)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument(
        "--page", action="append", default=[], help="a FinanceBench page too: NAME.pdf:PAGE"
    )
    args = parser.parse_args()
    names = args.configs.split(",")
    pages = _pages(args.english, args.chinese, args.seed, args.page)
    models = {n: _model(CONFIGS[n][1]) for n in names}
    rows: dict[str, list[dict[str, float | str]]] = {n: [] for n in names}
    for kind, label, scan, reference in pages:
        for n in names:
            dpi, kwargs = CONFIGS[n]
            text, stages = _read(models[n], kwargs, scan, dpi)
            row: dict[str, float | str] = {"page": label, "kind": kind, **stages}
            row["cer"] = cer(reference, text)
            if kind == "en":
                row["recall"] = _recall(reference, text)
            rows[n].append(row)
            print(
                f"{label} {n}: {stages['total']:.2f} s wall, {stages['cpu']:.2f} s CPU, "
                f"CER {row['cer']:.4f}",
                flush=True,
            )
    base = names[0]
    summary = {}
    for n in names:
        r = rows[n]
        mean = {k: statistics.mean(float(x[k]) for x in r) for k in KEYS}
        en = [x for x in r if x["kind"] == "en"]
        zh = [x for x in r if x["kind"] == "zh"]
        summary[n] = {
            "dpi": CONFIGS[n][0],
            "kwargs": CONFIGS[n][1],
            "seconds_per_page": round(mean["total"], 3),
            "cpu_seconds_per_page": round(mean["cpu"], 3),
            "stages_s": {k: round(v, 3) for k, v in mean.items() if k not in ("total", "cpu")},
            "time_vs_base": round(
                sum(float(x["total"]) for x in r) / sum(float(x["total"]) for x in rows[base]), 3
            ),
            "cpu_vs_base": round(
                sum(float(x["cpu"]) for x in r) / sum(float(x["cpu"]) for x in rows[base]), 3
            ),
            "en_cer_mean": round(statistics.mean(float(x["cer"]) for x in en), 4) if en else None,
            "en_cer_median": round(statistics.median(float(x["cer"]) for x in en), 4)
            if en
            else None,
            "en_recall": round(statistics.mean(float(x["recall"]) for x in en), 4) if en else None,
            "zh_cer_mean": round(statistics.mean(float(x["cer"]) for x in zh), 4) if zh else None,
            "zh_cer_max": round(max(float(x["cer"]) for x in zh), 4) if zh else None,
        }
    print(json.dumps({"pages": [p[1] for p in pages], "configs": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
