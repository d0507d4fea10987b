"""Reading a page image: RapidOCR with the PP-OCRv4 models its wheel ships (nothing is
downloaded). The models load on the first page, once per engine."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag_core.errors import ConfigurationError
from rag_core.ocr.words import repair_words
from rag_core.types import Box  # x0, y0, x1, y1: fractions of the page, origin top left

if TYPE_CHECKING:
    from PIL.Image import Image

INSTALL_HINT = "OCR needs rapidocr-onnxruntime: pip install rapidocr-onnxruntime==1.4.4"


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


class OcrEngine:
    """``read(image) -> OcrPage``. Cheap to build; the models load on first use.

    ``workers`` pages can be read at once, each by its own copy of the models running
    ``threads`` threads (a copy is loaded the first time that many reads overlap)."""

    name = "rapidocr-onnxruntime PP-OCRv4"

    def __init__(self, threads: int = 1, workers: int = 1) -> None:
        self.threads = threads
        self.workers = workers
        self._free: list[Any] = []  # loaded copies not reading a page now
        self._lock = threading.Lock()

    def check(self) -> None:
        """A ``ConfigurationError`` with the install hint when the package is missing."""
        import importlib.util

        if importlib.util.find_spec("rapidocr_onnxruntime") is None:
            raise ConfigurationError(INSTALL_HINT)

    def _new_model(self) -> Any:
        self.check()
        from rapidocr_onnxruntime import RapidOCR

        # The line orientation classifier is off: pages are drawn upright, and on a 10-K
        # table page it turned short cells upside down (CER 0.29 with it, 0.11 without).
        # Detection keeps RapidOCR's sizing (the whole drawing): on a scaled down page it
        # missed lines of small print (docs/benchmarks.md, OCR, Speed).
        return RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1, use_cls=False)

    @contextmanager
    def _model(self) -> Iterator[Any]:
        """A copy of the models no other read is using (loaded when none is free)."""
        with self._lock:
            model = self._free.pop() if self._free else None
        if model is None:
            model = self._new_model()
        try:
            yield model
        finally:
            with self._lock:
                self._free.append(model)

    def load(self) -> Any:
        """A loaded copy of the models (for one caller at a time)."""
        with self._model() as model:
            return model

    def read(self, image: Image) -> OcrPage:
        import numpy as np

        rgb = image.convert("RGB")
        with self._model() as model:
            result, _elapsed = model(np.asarray(rgb)[:, :, ::-1])  # the model wants BGR
        width, height = rgb.size
        found = [
            (str(text), relative_box(quad, width, height)) for quad, text, _score in result or ()
        ]
        return page_from_lines(found)
