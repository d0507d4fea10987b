"""Reading a page image: RapidOCR with the PP-OCRv4 models its wheel ships (nothing is
downloaded). The models load on the first page, once per engine.

RapidOCR runs them with onnxruntime. Where OpenVINO is installed (it is a requirement of
Folio's CPU embedder), the detection and recognition models run on it instead: the same ONNX
files, the same pre- and post-processing. In float32 it reads the same text as onnxruntime
with 0.30x the CPU; in bfloat16 (OpenVINO's default where the CPU has it) 0.18x, with text
that differs a little (docs/benchmarks.md, OCR, OpenVINO)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rag_core.errors import ConfigurationError
from rag_core.ocr.words import repair_words
from rag_core.types import Box  # x0, y0, x1, y1: fractions of the page, origin top left

if TYPE_CHECKING:
    from PIL.Image import Image

INSTALL_HINT = "OCR needs rapidocr-onnxruntime: pip install rapidocr-onnxruntime==1.4.4"
OPENVINO_HINT = "FOLIO_OCR_BACKEND=openvino needs OpenVINO: pip install openvino==2026.4.1"

# Who runs the models: "auto" (OpenVINO where installed, else onnxruntime), or either.
OcrBackend = Literal["auto", "openvino", "onnxruntime"]
# OpenVINO's inference precision: "auto" (its default, what the CPU is fastest at: bfloat16
# on CPUs with AVX-512 BF16 or AMX, else float32; the text can differ from onnxruntime's a
# little), or "f32" (the same text as onnxruntime).
OcrPrecision = Literal["f32", "auto"]


@dataclass(frozen=True, slots=True)
class OcrLine:
    """One line OCR read on a page: ``page_text[start:end] == text``, and where it is."""

    text: str
    start: int
    end: int
    box: Box


@dataclass(frozen=True, slots=True)
class OcrPage:
    """A page's OCR text and its lines: the lines of one visual row joined by a space (a
    table row's cells, as a text layer gives them), rows by newlines."""

    text: str
    lines: tuple[OcrLine, ...]
    # What the recognizer read, box by box, before any repair: the store keeps it, so a
    # better repair reaches pages already read without reading them again.
    raw: tuple[tuple[str, Box], ...] = ()


# The version of what ``page_from_lines`` makes of the recognizer's lines (its word repair
# and row joining). The OCR store re-derives its pages when it changes (``OcrStore.rederive``).
# 1: words split when every piece was a listed word, one line per box. 2: cheapest
# segmentation with unknown stretches, a visual row's boxes on one line.
REPAIR_VERSION = 2

# Two boxes in a row share at least this share of the shorter one's height.
SAME_ROW_OVERLAP = 0.5


def same_row(left: Box, right: Box) -> bool:
    """``right`` continues the visual row of ``left``: they share most of a line's height, and
    ``right`` starts to the right of ``left``'s middle."""
    height = min(left[3] - left[1], right[3] - right[1])
    overlap = min(left[3], right[3]) - max(left[1], right[1])
    return (
        height > 0 and overlap >= SAME_ROW_OVERLAP * height and right[0] >= (left[0] + left[2]) / 2
    )


def page_from_lines(found: Sequence[tuple[str, Box]]) -> OcrPage:
    """The page text of recognised lines in the recognizer's order (words repaired, empty
    lines dropped), each line with its offsets into that text. The recognizer reads a table
    one cell per box; a box on the row of the one before it continues that row's line, so
    that a row label and its figures stay together (as in a text layer, and as the chunker's
    table and heading rules expect)."""
    lines: list[OcrLine] = []
    parts: list[str] = []
    start = 0
    for raw, box in found:
        text = " ".join(repair_words(raw).split())
        if not text:
            continue
        if lines:
            parts.append(" " if same_row(lines[-1].box, box) else "\n")
        lines.append(OcrLine(text, start, start + len(text), box))
        parts.append(text)
        start += len(text) + 1
    return OcrPage("".join(parts), tuple(lines), tuple((str(t), b) for t, b in found))


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

    def __init__(
        self,
        threads: int = 1,
        workers: int = 1,
        backend: OcrBackend = "auto",
        precision: OcrPrecision = "auto",
    ) -> None:
        self.threads = threads
        self.workers = workers
        self.backend = backend
        self.precision = precision
        self._free: list[Any] = []  # loaded copies not reading a page now
        self._lock = threading.Lock()

    @property
    def runtime(self) -> Literal["openvino", "onnxruntime"]:
        """Who runs the models: ``backend``, with "auto" resolved by what is installed."""
        if self.backend == "auto":
            return "openvino" if _installed("openvino") else "onnxruntime"
        return self.backend

    @property
    def name(self) -> str:
        return f"RapidOCR PP-OCRv4 on {self.runtime}"

    def check(self) -> None:
        """A ``ConfigurationError`` with the install hint when a package is missing."""
        if not _installed("rapidocr_onnxruntime"):
            raise ConfigurationError(INSTALL_HINT)
        if self.backend == "openvino" and not _installed("openvino"):
            raise ConfigurationError(OPENVINO_HINT)

    def _new_model(self) -> Any:
        self.check()
        from rapidocr_onnxruntime import RapidOCR

        # The line orientation classifier is off: pages are drawn upright, and on a 10-K
        # table page it turned short cells upside down (CER 0.29 with it, 0.11 without).
        # Detection keeps RapidOCR's sizing (the whole drawing): on a scaled down page it
        # missed lines of small print (docs/benchmarks.md, OCR, Speed).
        model = RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1, use_cls=False)
        if self.runtime == "openvino":
            run_on_openvino(model, self.threads, self.precision)
        return model

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


# OpenVINO's cache of kernels compiled per input shape, in shapes (its default: 5,000).
SHAPE_CACHE = 200


def run_on_openvino(model: Any, threads: int, precision: OcrPrecision) -> None:
    """Swap a ``RapidOCR`` model's detection and recognition sessions for OpenVINO ones on
    the same model files (its pre- and post-processing stay)."""
    paths = _model_paths()
    model.text_det.infer = OpenVinoSession(paths["Det"], threads, precision)
    model.text_rec.session = OpenVinoSession(paths["Rec"], threads, precision)


class OpenVinoSession:
    """An ONNX model compiled by OpenVINO for the CPU, called as RapidOCR calls its
    onnxruntime sessions: ``session(batch)`` -> the model's outputs (one here)."""

    def __init__(self, path: str, threads: int, precision: OcrPrecision) -> None:
        import openvino as ov

        # Not pinned: OpenVINO pins each model's threads to cores, and two copies of one
        # thread each (two pages read at once) then shared one core (measured: no faster
        # than one page at a time). Its cache of kernels compiled per input shape (every
        # batch of lines has a width of its own) is bounded: at its default of 5,000 shapes
        # a process reading 24 pages with two copies grew from 1.6 to 2.9 GB; at 200 it
        # ended at 2.4 GB, no slower (docs/benchmarks.md, OCR, OpenVINO).
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": str(threads),
            "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": False,
            "CPU_RUNTIME_CACHE_CAPACITY": SHAPE_CACHE,
        }
        if precision == "f32":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        core = ov.Core()
        self._model = core.compile_model(core.read_model(path), "CPU", config)

    def __call__(self, batch: Any) -> list[Any]:
        # The output copied, then the model's working memory released: OpenVINO keeps it
        # sized for the largest input it has seen (a whole page for detection), and two
        # copies of the models held 1.95 GB after reading two pages, 0.90 GB released.
        output = self._model(batch)[0].copy()
        self._model.release_memory()
        return [output]


def _model_paths() -> dict[str, str]:
    """The model files RapidOCR loads, by stage ("Det", "Rec", "Cls"): its own default
    configuration, resolved as it resolves it."""
    from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
    from rapidocr_onnxruntime.utils import read_yaml, update_model_path

    config = update_model_path(read_yaml(DEFAULT_CFG_PATH))
    return {stage: str(config[stage]["model_path"]) for stage in ("Det", "Rec", "Cls")}


def _installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None
