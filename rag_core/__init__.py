"""Folio's core: documents in, cited answers out. Never imports gradio."""

from rag_core.config import Settings
from rag_core.errors import (
    AnswerError,
    ConfigurationError,
    DocumentError,
    FolioError,
    NotFoundError,
)
from rag_core.types import (
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
