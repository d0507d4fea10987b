"""The edge of the HTTP API: every error leaves as ``{"error": {code, message, request_id}}``.

Core errors keep their message (written for the person using Folio); anything unexpected is
logged with its stack trace and answered with a 500 that says only the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag_core.errors import (
    AnswerError,
    BusyError,
    ConfigurationError,
    DocumentError,
    FolioError,
    InputError,
    NotFoundError,
)

log = logging.getLogger("folio.api")
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
SEND_JSON = "send one JSON object with 'Content-Type: application/json'"


class ApiError(Exception):
    """An error the API itself decides (auth, rate limit, size limit, conflicts)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def status_of(exc: FolioError) -> tuple[int, str]:
    """The HTTP status and error code of a core error (pure)."""
    if isinstance(exc, NotFoundError):
        return 404, "not_found"
    if isinstance(exc, InputError):
        return 422, "invalid_input"
    if isinstance(exc, DocumentError):
        return 422, "invalid_document"
    if isinstance(exc, AnswerError):
        return 503, "answer_unavailable"
    if isinstance(exc, BusyError):
        return 409, "busy"
    if isinstance(exc, ConfigurationError):
        return 503, "not_configured"
    return 400, "bad_request"


def unreadable_body(problems: Sequence[Any]) -> str | None:
    """Why a JSON body could not be read at all (400), or None when it was read and a field
    is not acceptable (422). Pure: it reads FastAPI's validation problems."""
    for problem in problems:
        loc, kind = tuple(problem.get("loc", ())), problem.get("type")
        if kind == "json_invalid":
            where = f" at character {loc[1]}" if len(loc) > 1 else ""
            reason = problem.get("ctx", {}).get("error", "JSON decode error")
            return f"The body is not valid JSON ({reason}{where}); {SEND_JSON}"
        if loc == ("body",) and kind == "missing":
            return f"The body is empty; {SEND_JSON}"
        if loc == ("body",) and isinstance(problem.get("input"), bytes):
            return f"The body was not sent as JSON; {SEND_JSON}"
    return None


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or request.scope.get("request_id", ""))


def error_response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "request_id": request_id_of(request)}}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(FolioError)
    async def _folio(request: Request, exc: FolioError) -> JSONResponse:
        status, code = status_of(exc)
        return error_response(request, status, code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        unreadable = unreadable_body(exc.errors())
        if unreadable is not None:
            return error_response(request, 400, "bad_request", unreadable)
        problems = []
        for problem in exc.errors()[:5]:
            where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
            problems.append(f"{where or 'body'}: {problem.get('msg', 'invalid')}")
        return error_response(request, 422, "invalid_request", "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(
            request, exc.status_code, code, str(exc.detail), dict(exc.headers or {})
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error in request %s", request_id_of(request), exc_info=exc)
        return error_response(
            request,
            500,
            "internal_error",
            f"Something went wrong on the server; quote request id {request_id_of(request)}",
        )
