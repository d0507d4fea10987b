"""Reading a page image: RapidOCR with the PP-OCRv4 models its wheel ships (nothing is
downloaded). The models load on the first page, once per engine."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag_core.errors import ConfigurationError
from rag_core.ocr.words import repair_words
from rag_core.types import Box  # x0, y0, x1, y1: fractions of the page, origin top left

if TYPE_CHECKING:
    from PIL.Image import Image

INSTALL_HINT = "OCR needs rapidocr-onnxruntime: pip install rapidocr-onnxruntime==1.4.4"
# Text is found on the page scaled down to this longest side, and lines are read from the full
# drawing. RapidOCR's default searches a page drawn at 200 dpi at about 1536 x 2000; on dense
# pages that made detection and (from its boxes) recognition several times slower, for no
# better CER (docs/benchmarks.md, "OCR (issue 16)", Speed).
DETECT_SIDE = 1280
# RapidOCR's line orientation classifier is off: pages are drawn upright, and on table pages it
# turned short cells upside down (a 10-K table page: CER 0.29 with it, 0.11 without).


@dataclass(frozen=True, slots=True)
class OcrLine:
    """One line OCR read on a page: ``page_text[start:end] == text``, and where it is."""

    text: str
    start: int
    end: int
    box: Box


@dataclass(frozen=True, slots=True)
class OcrPage:
    """A page's OCR text (its lines joined by newlines) and its lines."""

    text: str
    lines: tuple[OcrLine, ...]


def page_from_lines(found: Sequence[tuple[str, Box]]) -> OcrPage:
    """The page text of recognised lines (words repaired, empty lines dropped), each line
    with its offsets into that text."""
    lines: list[OcrLine] = []
    start = 0
    for raw, box in found:
        text = " ".join(repair_words(raw).split())
        if not text:
            continue
        lines.append(OcrLine(text, start, start + len(text), box))
        start += len(text) + 1
    return OcrPage("\n".join(line.text for line in lines), tuple(lines))


def relative_box(quad: Sequence[Sequence[float]], width: int, height: int) -> Box:
    """The bounding box of a detected quadrilateral, as fractions of the image."""
    xs = [float(p[0]) for p in quad]
    ys = [float(p[1]) for p in quad]

    def clamp(v: float) -> float:
        return round(min(1.0, max(0.0, v)), 5)

    return (
        clamp(min(xs) / width),
        clamp(min(ys) / height),
        clamp(max(xs) / width),
        clamp(max(ys) / height),
    )


def limit_detection(model: Any, side: int) -> None:
    """Make RapidOCR's detector scale a page down to ``side`` pixels on its longest side.

    Its own settings cannot: ``limit_type="max"`` replaces the limit with 960, 1500 or 2000
    by the image's size (2000 for a drawn page), ``"min"`` only scales small images up."""
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    det = model.text_det
    if side < 1:
        return
    det.get_preprocess = lambda _longest: DetPreProcess(side, "max", det.mean, det.std)


class OcrEngine:
    """``read(image) -> OcrPage``. Cheap to build; the models load on first use."""

    name = "rapidocr-onnxruntime PP-OCRv4"

    def __init__(self, threads: int = 2, detect_side: int = DETECT_SIDE) -> None:
        self.threads = threads
        self.detect_side = detect_side
        self._model: Any = None
        self._lock = threading.Lock()

    def check(self) -> None:
        """A ``ConfigurationError`` with the install hint when the package is missing."""
        import importlib.util

        if importlib.util.find_spec("rapidocr_onnxruntime") is None:
            raise ConfigurationError(INSTALL_HINT)

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                self.check()
                from rapidocr_onnxruntime import RapidOCR

                model = RapidOCR(
                    intra_op_num_threads=self.threads, inter_op_num_threads=1, use_cls=False
                )
                limit_detection(model, self.detect_side)
                self._model = model
            return self._model

    def read(self, image: Image) -> OcrPage:
        import numpy as np

        model = self.load()
        rgb = image.convert("RGB")
        result, _elapsed = model(np.asarray(rgb)[:, :, ::-1])  # the model wants BGR
        width, height = rgb.size
        found = [
            (str(text), relative_box(quad, width, height)) for quad, text, _score in result or ()
        ]
        return page_from_lines(found)
