"""The request and response bodies of the HTTP API (they make the OpenAPI schema).

Pages are counted from 1 here, as a reader counts them (the core stores them from 0).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from rag_core.types import Answer, Citation, Document, IngestResult


def unicode_text(value: str) -> str:
    """Text that can be stored and sent back. JSON may carry a lone surrogate ("\\ud800"),
    which no UTF-8 encoder accepts: it is refused here, naming the field, instead of failing
    deep in the answer or its response."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PydanticCustomError(
            "unicode_text",
            "is not valid Unicode text: a lone surrogate U+{code} at character {position}",
            {"code": f"{ord(value[exc.start]):04X}", "position": exc.start},
        ) from None
    return value


Text = Annotated[str, AfterValidator(unicode_text)]


class ErrorBody(BaseModel):
    code: str = Field(description="machine-readable: not_found, invalid_input, rate_limited ...")
    message: str = Field(description="what went wrong and what to do, for a person")
    request_id: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Text = Field(description="the question (at most FOLIO_MAX_QUERY_CHARS characters)")
    doc_ids: list[Text] = Field(
        default_factory=list,
        max_length=100,
        description="only search these documents (ids from /documents), at most 100",
    )
    searched_query: Text | None = Field(
        default=None, description="search with this text instead of the question"
    )
    stream: bool = Field(
        default=False, description="answer as Server-Sent Events (like /query/stream)"
    )


class CitationOut(BaseModel):
    number: int = Field(description="the [n] marker in the answer text")
    kind: Literal["text", "page"]
    document_id: str
    document_name: str
    page: int = Field(description="page number, from 1")
    cited_text: str
    start: int = Field(description="start of the cited span in the page text")
    end: int
    boxes: list[list[float]] = Field(
        description="where the cited text is on the page, one box per line: [x0, y0, x1, y1] "
        "as fractions of the page (0..1, origin top left); empty where not known"
    )


class SentenceOut(BaseModel):
    text: str = Field(description="the sentence, without its [n] markers")
    citations: list[int] = Field(description="the numbers of the [n] markers it carries")
    support: Literal["supported", "partial", "unsupported"] = Field(
        description="how far the passages it cites support it (FOLIO_CLAIM_CHECK)"
    )
    reason: str = Field(description="why, in a few words")


class LegOut(BaseModel):
    leg: str
    status: str
    weight: float
    note: str
    ms: float


class TimingOut(BaseModel):
    stage: str
    ms: float


class AgentStepOut(BaseModel):
    step: int = Field(description="the model turn that made the call, from 1")
    tool: Literal["search", "read_page"] | str
    arguments: str = Field(description="the arguments as the model sent them (JSON text)")
    hits: int = Field(description="passages the call returned")
    ms: float
    error: str = Field(description="the tool error the model was sent; empty when none")


class TraceOut(BaseModel):
    searched_query: str
    legs: list[LegOut]
    timings: list[TimingOut]
    notes: list[str]
    hits: int = Field(description="retrieved chunks handed to the answerer")
    route: str = Field("single", description="single, decomposed, agentic or visual")
    subqueries: list[str] = Field(
        default_factory=list, description="a decomposed question's searches, besides its own"
    )
    agent_steps: list[AgentStepOut] = Field(
        default_factory=list,
        description="the tool calls of agentic retrieval (FOLIO_AGENT), in order; empty when "
        "no agent ran",
    )


class QueryResponse(BaseModel):
    answer_id: str = Field(description="rate this answer with POST /feedback")
    request_id: str
    question: str
    answer: str = Field(description="the answer text with [n] citation markers")
    citations: list[CitationOut]
    mode: Literal["claude", "openai", "extractive"]
    model: str
    refused: bool
    evidence_found: bool
    evidence_score: float | None = Field(
        default=None,
        description="the evidence gate's score (0-1); below its threshold Folio refuses",
    )
    sentences: list[SentenceOut] = Field(
        description="each sentence with its citations and support label (empty when the claim "
        "check is off)"
    )
    trace: TraceOut


class DocumentOut(BaseModel):
    id: str
    name: str
    kind: str
    size_bytes: int
    pages: int
    chunks: int
    pages_without_text: int
    status: Literal["indexing", "ready", "failed", "removing"]
    error: str | None
    added_at: datetime
    title: str
    year: int | None
    category: str | None
    tags: list[str]


class DocumentList(BaseModel):
    documents: list[DocumentOut]


class UploadResult(BaseModel):
    name: str
    status: Literal["added", "replaced", "unchanged", "failed"]
    document_id: str | None
    error: str | None = Field(description="when failed: the file and the reason")
    pages: int
    chunks: int
    embedded: int
    reused: int


class UploadResponse(BaseModel):
    results: list[UploadResult]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_id: str = Field(max_length=64, description="answer_id of a /query response")
    vote: Literal[1, -1] = Field(description="1 thumbs up, -1 thumbs down")
    comment: str | None = Field(default=None, max_length=4000)


class FeedbackResponse(BaseModel):
    id: int
    answer_id: str
    vote: int
    comment: str
    request_id: str = Field(description="the request that produced the answer")


class Health(BaseModel):
    status: Literal["ok", "starting", "failed"]
    detail: str = ""


def citation_out(c: Citation) -> CitationOut:
    return CitationOut(
        number=c.number,
        kind=c.kind,
        document_id=c.doc_id,
        document_name=c.doc_name,
        page=c.page_number,
        cited_text=c.cited_text,
        start=c.start,
        end=c.end,
        boxes=[list(box) for box in c.boxes],
    )


def query_response(answer: Answer, answer_id: str, request_id: str) -> QueryResponse:
    trace = answer.trace
    timings = answer.stage_timings
    return QueryResponse(
        answer_id=answer_id,
        request_id=request_id,
        question=answer.question,
        answer=answer.text,
        citations=[citation_out(c) for c in answer.citations],
        mode=answer.mode,
        model=answer.model,
        refused=answer.refused,
        evidence_found=answer.evidence_found,
        evidence_score=answer.evidence_score,
        sentences=[
            SentenceOut(
                text=c.text, citations=list(c.citations), support=c.support, reason=c.reason
            )
            for c in answer.sentences
        ],
        trace=TraceOut(
            searched_query=trace.searched_query,
            legs=[
                LegOut(leg=x.leg, status=x.status, weight=x.weight, note=x.note, ms=x.elapsed_ms)
                for x in trace.legs
            ],
            timings=[TimingOut(stage=t.stage, ms=round(t.ms, 3)) for t in timings],
            notes=list(trace.notes),
            hits=len(answer.hits),
            route=trace.route,
            subqueries=[sub.query for sub in trace.subqueries],
            agent_steps=[
                AgentStepOut(
                    step=x.step,
                    tool=x.tool,
                    arguments=x.arguments,
                    hits=x.hits,
                    ms=round(x.ms, 3),
                    error=x.error,
                )
                for x in trace.agent_steps
            ],
        ),
    )


def document_out(d: Document) -> DocumentOut:
    return DocumentOut(
        id=d.id,
        name=d.name,
        kind=d.kind,
        size_bytes=d.size_bytes,
        pages=d.pages,
        chunks=d.chunks,
        pages_without_text=d.pages_without_text,
        status=d.status,
        error=d.error,
        added_at=d.added_at,
        title=d.metadata.title,
        year=d.metadata.year,
        category=d.metadata.category,
        tags=list(d.metadata.tags),
    )


def upload_result(r: IngestResult) -> UploadResult:
    return UploadResult(
        name=r.name,
        status=r.status,
        document_id=r.doc_id,
        error=r.error,
        pages=r.pages,
        chunks=r.chunks,
        embedded=r.embedded,
        reused=r.reused,
    )
