"""``/api/v1/query`` (JSON or Server-Sent Events) and ``/api/v1/feedback``."""

# No "from __future__ import annotations": FastAPI reads the routes' local Annotated aliases.
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from rag_core.errors import FolioError, NotFoundError
from rag_core.feedback.store import Rating
from rag_core.library import Library
from rag_core.types import AnswerDone, AnswerEvent, CitationEvent, Filters, TextDelta

from .access import Caller
from .answers import GivenAnswer
from .context import ApiContext
from .errors import request_id_of, status_of
from .models import (
    FeedbackRequest,
    FeedbackResponse,
    QueryRequest,
    QueryResponse,
    citation_out,
    query_response,
)

log = logging.getLogger("folio.api")
SSE_DESCRIPTION = (
    "Server-Sent Events: `delta` events ({text}) as the answer is written, a `citation` event"
    " per source, then one `done` event carrying the whole QueryResponse (or one `error`"
    " event with the usual error body)."
)
# Each event of the stream (the schema Server-Sent Events are described with in OpenAPI 3.2).
SSE_EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["delta", "citation", "done", "error"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
    "required": ["event", "data"],
}
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": SSE_DESCRIPTION,
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
    }
}


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event (pure)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def filters_for(library: Library, body: QueryRequest) -> Filters | None:
    if not body.doc_ids:
        return None
    return Filters(doc_ids=tuple(library.document(d).id for d in body.doc_ids))


def answer_events(ctx: ApiContext, caller: Caller, body: QueryRequest) -> Iterator[AnswerEvent]:
    """The answer's events (bad input raises here, or at the first event)."""
    library = ctx.library(caller)
    library.check_query(body.question, body.searched_query)
    return library.ask_stream(body.question, filters_for(library, body), body.searched_query)


def remember(ctx: ApiContext, request: Request, caller: Caller, event: AnswerDone) -> QueryResponse:
    """The response to a finished answer, kept so that it can be rated."""
    answer_id = uuid.uuid4().hex
    request_id = request_id_of(request)
    given = GivenAnswer(event.answer, caller.workspace, request_id, datetime.now(UTC))
    ctx.answers.keep(answer_id, given)
    ctx.metrics.observe_answer(event.answer)
    return query_response(event.answer, answer_id, request_id)


def answer(ctx: ApiContext, request: Request, caller: Caller, body: QueryRequest) -> QueryResponse:
    for event in answer_events(ctx, caller, body):
        if isinstance(event, AnswerDone):
            return remember(ctx, request, caller, event)
    raise RuntimeError("the answer stream ended without an answer")


def stream(
    ctx: ApiContext, request: Request, caller: Caller, body: QueryRequest
) -> StreamingResponse:
    events = answer_events(ctx, caller, body)
    first = next(events)  # retrieval errors become a JSON error before any byte is sent

    def body_bytes() -> Iterator[bytes]:
        try:
            for event in _chain(first, events):
                if isinstance(event, TextDelta):
                    yield sse("delta", {"text": event.text})
                elif isinstance(event, CitationEvent):
                    yield sse("citation", citation_out(event.citation).model_dump())
                elif isinstance(event, AnswerDone):
                    done = remember(ctx, request, caller, event)
                    yield sse("done", done.model_dump(mode="json"))
        except Exception as exc:  # the status is sent already: the error is an event
            log.error("error while streaming request %s", request_id_of(request), exc_info=exc)
            yield error_event(request, exc)

    return StreamingResponse(
        body_bytes(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def error_event(request: Request, exc: Exception) -> bytes:
    """The ``error`` event of a stream that failed after its status was sent."""
    status, code = status_of(exc) if isinstance(exc, FolioError) else (500, "internal_error")
    message = str(exc) if isinstance(exc, FolioError) else "Something went wrong"
    error = {"code": code, "message": message, "request_id": request_id_of(request)}
    return sse("error", {"error": {**error, "status": status}})


def rate(ctx: ApiContext, caller: Caller, body: FeedbackRequest) -> FeedbackResponse:
    """Store a rating of an answer this process gave in the caller's workspace."""
    given = ctx.answers.get(body.answer_id, caller.workspace)
    if given is None:
        raise NotFoundError(
            f"answer_id {body.answer_id}: no such answer in this workspace (answers are kept"
            f" for rating in this process, the last {ctx.answers.size})"
        )
    record = ctx.workspaces.feedback(caller.workspace).rate(
        Rating(
            session_id="api",
            message_id=body.answer_id,
            vote=body.vote,
            answer=given.answer,
            asked_at=given.asked_at,
            comment=body.comment.strip() if body.comment is not None else None,
            request_id=given.request_id,
        )
    )
    return FeedbackResponse(
        id=record.id,
        answer_id=body.answer_id,
        vote=record.vote,
        comment=record.comment,
        request_id=record.request_id,
    )


def query_router(ctx: ApiContext, prefix: str, responses: dict[int | str, Any]) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["answers"], responses=responses)
    CallerDep = Annotated[Caller, Depends(ctx.caller)]

    @router.post(
        "/query",
        response_model=QueryResponse,
        summary="Answer a question with citations (JSON, or SSE with stream=true)",
        responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}}},
    )
    def query(request: Request, body: QueryRequest, caller: CallerDep) -> Any:
        if body.stream:
            return stream(ctx, request, caller, body)
        return answer(ctx, request, caller, body)

    @router.post(
        "/query/stream",
        response_class=StreamingResponse,
        summary="Answer a question as Server-Sent Events",
        description=SSE_DESCRIPTION,
        responses=STREAM_RESPONSES,
    )
    def query_stream(request: Request, body: QueryRequest, caller: CallerDep) -> StreamingResponse:
        return stream(ctx, request, caller, body)

    @router.post(
        "/feedback",
        response_model=FeedbackResponse,
        tags=["feedback"],
        summary="Rate an answer this server gave (thumbs up 1, down -1, optional comment)",
    )
    def feedback(body: FeedbackRequest, caller: CallerDep) -> FeedbackResponse:
        return rate(ctx, caller, body)

    return router


def _chain(first: AnswerEvent, rest: Iterator[AnswerEvent]) -> Iterator[AnswerEvent]:
    yield first
    yield from rest
