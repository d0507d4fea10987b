"""The small, frozen values Folio's core passes around and returns.

Pages are stored 0-based (``page``) like every PDF library; ``page_number`` is the reader's count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

DocumentStatus = Literal["indexing", "ready", "failed", "removing"]
AnswerMode = Literal["claude", "openai", "extractive"]
SupportLabel = Literal["supported", "partial", "unsupported"]
SUPPORT_LABELS: tuple[SupportLabel, ...] = ("supported", "partial", "unsupported")
# A rectangle on a page: (x0, y0, x1, y1) as fractions of the page (0..1), origin top left.
Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range ``[start, end)`` in a page's text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class PageText:
    """The text of one page as Folio stores it (normalised; spans refer to this text)."""

    index: int
    text: str

    @property
    def has_text(self) -> bool:
        return sum(ch.isalnum() for ch in self.text) >= 3


@dataclass(frozen=True, slots=True)
class DocumentMetadata:
    """What a user may say about a document at upload, or what Folio derives from it."""

    title: str = ""
    year: int | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Upload:
    """A file to add, given as bytes, optionally with what the user says about it."""

    name: str
    data: bytes
    metadata: DocumentMetadata | None = None


@dataclass(frozen=True, slots=True)
class FolderFile:
    """A file of a watched folder (``rag_core.sources``), added under ``name`` as given
    (``<source>/<path in the folder>``, folders kept) and read only when its turn comes."""

    name: str
    path: Path


@dataclass(frozen=True, slots=True)
class Document:
    """One document in the library (a row of the registry)."""

    id: str
    name: str
    kind: str
    size_bytes: int
    pages: int
    chunks: int
    pages_without_text: int
    status: DocumentStatus
    error: str | None
    added_at: datetime
    metadata: DocumentMetadata = field(default_factory=DocumentMetadata)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A citable piece of one page: ``text == page_text[start:end]``."""

    id: str
    doc_id: str
    page: int
    ordinal: int
    start: int
    end: int
    text: str
    context: str = ""

    @property
    def page_number(self) -> int:
        return self.page + 1

    @property
    def indexed_text(self) -> str:
        """What BM25 sees: the document/section context, then the text."""
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass(frozen=True, slots=True)
class LegRank:
    """Where one retrieval leg placed a chunk (rank counted from 1)."""

    leg: str
    rank: int
    score: float


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved chunk with its fused score and the rank each leg gave it."""

    chunk: Chunk
    doc_name: str
    score: float
    rank: int
    legs: tuple[LegRank, ...] = ()

    def leg_rank(self, leg: str) -> int | None:
        return next((lr.rank for lr in self.legs if lr.leg == leg), None)


@dataclass(frozen=True, slots=True)
class PageHit:
    """A retrieved page: text hits aggregated to their page, fused with any page-level leg."""

    doc_id: str
    doc_name: str
    page: int
    score: float
    rank: int
    legs: tuple[LegRank, ...] = ()

    @property
    def page_number(self) -> int:
        return self.page + 1


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrict a search. Empty means the whole library."""

    doc_ids: tuple[str, ...] = ()
    years: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.doc_ids or self.years or self.categories or self.tags)


@dataclass(frozen=True, slots=True)
class LegTrace:
    """What one leg did for a query."""

    leg: str
    weight: float
    status: Literal["on", "down-weighted", "off"]
    note: str
    ranked: tuple[tuple[str, float], ...]  # (chunk id, score), best first
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class Timing:
    stage: str
    ms: float


@dataclass(frozen=True, slots=True)
class SubqueryTrace:
    """One search of a decomposed question: its query and the best pages it found."""

    query: str
    pages: tuple[PageHit, ...]
    ms: float


@dataclass(frozen=True, slots=True)
class AgentStep:
    """One tool call of the agentic loop (``rag_core.answer.agentic``): the tool, its
    arguments as the model sent them (JSON text), the passages it returned (``hits``; new ones
    are numbered on), how long it took, and the tool error the model was sent, if any."""

    step: int  # the model turn that made the call, from 1
    tool: str
    arguments: str
    hits: int
    ms: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class RetrievalTrace:
    query: str
    searched_query: str
    filters: Filters
    legs: tuple[LegTrace, ...]  # the vision leg ranks pages: its keys are "<doc id>:<page>"
    fused: tuple[tuple[str, float], ...]
    timings: tuple[Timing, ...]
    notes: tuple[str, ...] = ()
    # The router's path (``rag_core.retrieve.route``): single, decomposed, agentic, visual.
    route: str = "single"
    # A decomposed search's sub-queries (the question's own search is the trace above), how
    # they were found (a rule's name, or the model's) and how their results were merged.
    subqueries: tuple[SubqueryTrace, ...] = ()
    split_by: str = ""
    merge: str = ""
    # The tool calls of the agentic loop, in order (empty when no agent ran).
    agent_steps: tuple[AgentStep, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: tuple[Hit, ...]
    trace: RetrievalTrace
    pages: tuple[PageHit, ...] = ()  # best pages first


@dataclass(frozen=True, slots=True)
class PageImage:
    """A page handed to an answerer as an image: the vision index found it, no text hit did."""

    doc_id: str
    doc_name: str
    page: int
    path: Path

    @property
    def page_number(self) -> int:
        return self.page + 1


@dataclass(frozen=True, slots=True)
class Citation:
    """One numbered source of an answer: ``[number]`` in the text points here.

    A ``page`` citation points at a whole page found by its image: it has no chunk, no cited
    text and an empty span. ``boxes`` are where the cited text is on the page, one per line
    (``rag_core.ingest.boxes``); empty where that is not known (not a PDF, a page citation).
    """

    number: int
    chunk_id: str
    doc_id: str
    doc_name: str
    page: int
    cited_text: str
    start: int  # span of the cited text in the page text
    end: int
    kind: Literal["text", "page"] = "text"
    boxes: tuple[Box, ...] = ()

    @property
    def page_number(self) -> int:
        return self.page + 1


@dataclass(frozen=True, slots=True)
class SentenceCheck:
    """One sentence of an answer, checked against the passages it cites.

    ``text`` is the sentence without its ``[n]`` markers; ``start``/``end`` are its span in the
    answer's text, the markers that follow it included; ``citations`` are the numbers of the
    markers. ``reason`` says in a few words why it got its label.
    """

    text: str
    citations: tuple[int, ...]
    support: SupportLabel
    reason: str = ""
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    text: str
    citations: tuple[Citation, ...]
    mode: AnswerMode
    model: str
    refused: bool
    hits: tuple[Hit, ...]
    trace: RetrievalTrace
    timings: tuple[Timing, ...] = ()
    pages: tuple[PageHit, ...] = ()
    # False when retrieval found nothing the answerer could use (no hit, or no hit sharing
    # enough of the question's words): the refusal was decided before any answerer ran.
    evidence_found: bool = True
    # The evidence gate's score (0..1): how likely retrieval found the answer; None when the
    # answer did not go through the gate.
    evidence_score: float | None = None
    # Each sentence's support by the passages it cites (``rag_core.answer.claims``); empty
    # when the claim check is off.
    sentences: tuple[SentenceCheck, ...] = ()

    @property
    def stage_timings(self) -> tuple[Timing, ...]:
        """Every measured stage of this answer, retrieval's steps as ``retrieve.<step>``."""
        return (
            *self.timings,
            *(Timing(f"retrieve.{t.stage}", t.ms) for t in self.trace.timings),
        )


# Streaming: ``Library.ask_stream`` yields TextDelta and CitationEvent, then one AnswerDone.
@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class CitationEvent:
    citation: Citation


@dataclass(frozen=True, slots=True)
class AnswerDone:
    answer: Answer


AnswerEvent = TextDelta | CitationEvent | AnswerDone


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one file of an ``add``."""

    name: str
    status: Literal["added", "replaced", "unchanged", "failed"]
    doc_id: str | None = None
    error: str | None = None
    pages: int = 0
    chunks: int = 0
    pages_without_text: int = 0
    embedded: int = 0  # chunks whose vectors had to be computed
    reused: int = 0  # chunks whose vectors came from the cache or the previous version
    timings: tuple[Timing, ...] = ()


@dataclass(frozen=True, slots=True)
class IngestReport:
    results: tuple[IngestResult, ...]

    @property
    def failed(self) -> tuple[IngestResult, ...]:
        return tuple(r for r in self.results if r.status == "failed")


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported during ingest: ``fraction`` of the whole batch is done."""

    file: str
    stage: str  # read, extract, render, embed, index, done
    fraction: float
    message: str = ""


def page_key(doc_id: str, page: int) -> str:
    """A page's key in page-level rankings: ``<doc id>:<page>`` (page counted from 0)."""
    return f"{doc_id}:{page}"


def parse_page_key(key: str) -> tuple[str, int]:
    doc_id, _, page = key.rpartition(":")
    return doc_id, int(page)
