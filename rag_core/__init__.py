"""Folio's core: documents in, cited answers out. Never imports gradio."""

from .config import Settings
from .errors import AnswerError, ConfigurationError, DocumentError, FolioError, NotFoundError
from .types import (
    Answer,
    AnswerDone,
    AnswerEvent,
    Chunk,
    Citation,
    CitationEvent,
    Document,
    DocumentMetadata,
    Filters,
    Hit,
    IngestReport,
    IngestResult,
    PageHit,
    Progress,
    SearchResult,
    TextDelta,
)

__all__ = [
    "Answer",
    "AnswerDone",
    "AnswerError",
    "AnswerEvent",
    "Chunk",
    "Citation",
    "CitationEvent",
    "ConfigurationError",
    "Document",
    "DocumentError",
    "DocumentMetadata",
    "Filters",
    "FolioError",
    "Hit",
    "IngestReport",
    "IngestResult",
    "NotFoundError",
    "PageHit",
    "Progress",
    "SearchResult",
    "Settings",
    "TextDelta",
]
