"""``create_api``: Folio's HTTP API (REST under ``/api/v1``, health, metrics) as a FastAPI app.

It receives ready objects (the composition root, ``app.py``, builds them) and never imports
gradio; ``app.py`` mounts the Gradio UI on the app this returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rag_core.auth.api_keys import ApiKeys
from rag_core.config import DEFAULT_WORKSPACE, Settings
from rag_core.workspaces import Workspaces

from .access import Access, exposure
from .answers import RecentAnswers
from .context import ApiContext
from .documents import documents_router
from .errors import install_error_handlers
from .limits import BodyLimit
from .models import ErrorResponse, Health
from .observability import ApiMetrics, RequestMiddleware
from .query import query_router
from .sources import sources_router

log = logging.getLogger("folio.api")
PREFIX = "/api/v1"
DESCRIPTION = (
    "Ask questions over a workspace's documents and get answers whose every claim cites"
    " a document and page. Authenticate with `Authorization: Bearer <key>` or"
    " `X-API-Key: <key>` (keys: `python -m rag_core apikey create`); the key decides"
    " the workspace."
)
JSON_BODY_LIMIT = 1024 * 1024
MULTIPART_OVERHEAD = 1024 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "The body cannot be parsed (not JSON, not multipart)"),
        (401, "No valid API key"),
        (404, "Not found in the caller's workspace"),
        (413, "The request body is too large"),
        (422, "A field is not acceptable; the message names it"),
        (429, "Rate limited; see the Retry-After header"),
        (503, "Not configured or not available (answer model, vision index)"),
    )
}


class Readiness:
    """Opens the default workspace's library, loads its index snapshot and warms the text
    model, in a background thread; ``/readyz`` answers 503 with the reason until done."""

    def __init__(self, workspaces: Workspaces) -> None:
        self.workspaces = workspaces
        self.state = "starting"
        self.detail = "opening the default workspace's indexes"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._warm, name="folio-readiness", daemon=True)
            self._thread.start()

    def _warm(self) -> None:
        try:
            library = self.workspaces.library(DEFAULT_WORKSPACE)
            library.warm_up()
            self.detail = "the default workspace's index is loaded and the text model is warm"
            self.state = "ok"
        except Exception as exc:
            log.exception("the default workspace could not be opened")
            self.detail = f"the default workspace could not be opened: {exc}"
            self.state = "failed"

    def health(self) -> Health:
        return Health(status=self.state, detail=self.detail)  # type: ignore[arg-type]


def create_api(
    workspaces: Workspaces,
    settings: Settings,
    *,
    keys: ApiKeys | None = None,
    warm_up: bool = True,
) -> FastAPI:
    """The API over these workspaces.

    ``keys`` are needed unless ``api_auth`` is ``off``. Where the API is exposed (the login
    on, or a network address) a key is required even then, so the registry's keys are used.
    """
    if keys is None and exposure(settings):
        keys = ApiKeys.open(settings.registry_url)
    access = Access.for_settings(settings, keys)
    readiness = Readiness(workspaces)
    ctx = ApiContext(
        workspaces=workspaces,
        settings=settings,
        access=access,
        answers=RecentAnswers(settings.api_answers_kept),
        metrics=ApiMetrics(lambda: ctx.opened_libraries()),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            readiness.start()
        yield

    app = FastAPI(
        title="Folio API",
        version="1",
        summary="Answers with citations from your documents",
        description=DESCRIPTION,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.folio = ctx
    app.state.readiness = readiness
    install_error_handlers(app)
    # Each router carries the prefix itself, so its routes' paths (the metrics' and logs'
    # route labels) are the full templates.
    app.include_router(query_router(ctx, PREFIX, ERRORS))
    app.include_router(documents_router(ctx, PREFIX, ERRORS))
    app.include_router(sources_router(ctx, PREFIX, ERRORS))
    app.include_router(health_router(readiness, ctx.metrics))
    app.add_middleware(BodyLimit, limit_for=body_limits(settings))
    app.add_middleware(RequestMiddleware, metrics=ctx.metrics)  # outermost: ids, logs, metrics
    return app


def health_router(readiness: Readiness, api_metrics: ApiMetrics) -> APIRouter:
    """``/healthz``, ``/readyz`` and ``/metrics``: no key, for probes on the internal network."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Health, summary="The process is alive")
    def healthz() -> Health:
        return Health(status="ok")

    @router.get(
        "/readyz",
        response_model=Health,
        summary="The default workspace's indexes are loaded (503 with the reason until then)",
        responses={503: {"model": Health, "description": "Not ready yet, or failed"}},
    )
    def readyz() -> Any:
        health = readiness.health()
        if health.status != "ok":
            return JSONResponse(health.model_dump(), status_code=503)
        return health

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    def metrics() -> Response:
        return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def body_limits(settings: Settings) -> Callable[[str], int | None]:
    """The body limit of a path: uploads get FOLIO_MAX_UPLOAD_MB, other API requests 1 MB."""
    upload_limit = settings.max_upload_bytes + MULTIPART_OVERHEAD

    def limit_for(path: str) -> int | None:
        if not path.startswith(PREFIX):
            return None
        return upload_limit if path.rstrip("/") == f"{PREFIX}/documents" else JSON_BODY_LIMIT

    return limit_for
