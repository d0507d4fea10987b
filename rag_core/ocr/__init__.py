"""OCR of pages without a usable text layer (RapidOCR, offline, Chinese and English)."""

from rag_core.ocr.backlog import OcrBacklog, OcrConfig, OcrProgress, OcrStatus
from rag_core.ocr.engine import OcrEngine, OcrLine, OcrPage
from rag_core.ocr.rule import needs_ocr
from rag_core.ocr.words import repair_words

__all__ = [
    "OcrBacklog",
    "OcrConfig",
    "OcrEngine",
    "OcrLine",
    "OcrPage",
    "OcrProgress",
    "OcrStatus",
    "needs_ocr",
    "repair_words",
]
