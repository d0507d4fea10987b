"""Request ids, one JSON log line per request, and Prometheus metrics.

``RequestMiddleware`` (pure ASGI, so streamed answers pass through untouched) gives each
request an id (a safe incoming ``X-Request-ID`` or a new one), returns it in the response
header, counts the request by route and status, times it, and logs one JSON line.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag_core.library import Library
from rag_core.types import Answer, IngestReport

access_log = logging.getLogger("folio.api.access")
log = logging.getLogger("folio.api")
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's ``X-Request-ID`` when it is short and plain, else a new random id."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            text = value.decode("latin-1")
            if SAFE_REQUEST_ID.fullmatch(text):
                return text
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extra fields."""

    FIELDS = (
        "request_id",
        "method",
        "route",
        "status",
        "ms",
        "workspace",
        "key_id",
        "client",
        "source",  # a watched folder's name (logger folio.sources)
        "sync",  # what one sync of it did: seen, added, updated, ... (SyncReport.counts)
    )

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class ApiMetrics:
    """The API's Prometheus metrics, in their own registry (one per app)."""

    def __init__(self, libraries: Callable[[], list[tuple[str, Library]]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "folio_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "folio_http_errors",
            "HTTP responses with status 400 or more, by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "folio_http_request_seconds",
            "Time from request to the end of the response, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "folio_answer_stage_seconds",
            "Time per answering stage (retrieve, generate, first_token, answer, claims) and per"
            " retrieval step (retrieve.<step>)",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.embedded = Counter(
            "folio_ingest_chunks",
            "Chunks ingested through the API: outcome=embedded (computed) or reused (from the"
            " embedding cache or the previous version); hit rate = reused / all",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(IndexCollector(libraries))

    def observe_answer(self, answer: Answer) -> None:
        for t in answer.stage_timings:
            self.stages.labels(t.stage).observe(t.ms / 1000)

    def observe_ingest(self, report: IngestReport) -> None:
        self.embedded.labels("embedded").inc(sum(r.embedded for r in report.results))
        self.embedded.labels("reused").inc(sum(r.reused for r in report.results))


class IndexCollector(Collector):
    """Index sizes, the vision and OCR backlogs (pages, and the age of their oldest
    document), the sources (files, failures, last sync age) and the answer cache of every
    workspace opened in this process."""

    def __init__(self, libraries: Callable[[], list[tuple[str, Library]]]) -> None:
        self.libraries = libraries

    def collect(self) -> Iterable[Metric]:
        docs = GaugeMetricFamily("folio_documents", "Ready documents", labels=["workspace"])
        chunks = GaugeMetricFamily(
            "folio_chunks", "Chunks of ready documents", labels=["workspace"]
        )
        pages = GaugeMetricFamily("folio_pages", "Pages of ready documents", labels=["workspace"])
        failed = GaugeMetricFamily(
            "folio_documents_failed", "Failed documents", labels=["workspace"]
        )
        backlog = GaugeMetricFamily(
            "folio_vision_pages_pending",
            "Pages waiting for the vision index (absent when the index is off)",
            labels=["workspace"],
        )
        backlog_age = GaugeMetricFamily(
            "folio_vision_backlog_oldest_seconds",
            "Seconds since the oldest ready PDF with pages still waiting for the vision index"
            " was added (0 when none wait; absent when the index is off)",
            labels=["workspace"],
        )
        now = datetime.now(UTC)
        for name, library in self.libraries():
            try:
                status = library.status()
            except Exception:  # a scrape must not fail because one workspace cannot be read
                log.exception("metrics: workspace %s could not be read", name)
                continue
            docs.add_metric([name], status.ready)
            chunks.add_metric([name], status.chunks)
            pages.add_metric([name], status.pages)
            failed.add_metric([name], status.failed)
            vision = library.vision_status()
            if vision is not None and vision.progress is not None:
                backlog.add_metric([name], vision.progress.remaining)
                try:
                    waiting = library.vision_waiting_since() if vision.progress.remaining else None
                except Exception:
                    log.exception("metrics: workspace %s vision backlog could not be read", name)
                    continue
                age = (now - waiting).total_seconds() if waiting is not None else 0.0
                backlog_age.add_metric([name], max(age, 0.0))
        yield from (docs, chunks, pages, failed, backlog, backlog_age)
        yield from ocr_metrics(self.libraries(), now)
        yield from source_metrics(self.libraries())
        yield from answer_cache_metrics(self.libraries())


def ocr_metrics(libraries: list[tuple[str, Library]], now: datetime) -> list[Metric]:
    """Per opened workspace with OCR on: pages waiting for OCR, and the age of the oldest
    document still waiting (for its pages to be read, or to be indexed with their text)."""
    pending = GaugeMetricFamily(
        "folio_ocr_pages_pending",
        "Pages without a usable text layer waiting for OCR (absent when OCR is not on)",
        labels=["workspace"],
    )
    age = GaugeMetricFamily(
        "folio_ocr_backlog_oldest_seconds",
        "Seconds since the oldest ready PDF still waiting for OCR was added (0 when none"
        " waits; absent when OCR is not on)",
        labels=["workspace"],
    )
    for name, library in libraries:
        try:
            status = library.ocr_status()
            if status is None or status.progress is None:
                continue
            waiting = library.ocr_waiting_since()
        except Exception:  # a scrape must not fail because one workspace cannot be read
            log.exception("metrics: workspace %s OCR backlog could not be read", name)
            continue
        pending.add_metric([name], status.progress.remaining)
        seconds = (now - waiting).total_seconds() if waiting is not None else 0.0
        age.add_metric([name], max(seconds, 0.0))
    return [pending, age]


def answer_cache_metrics(libraries: list[tuple[str, Library]]) -> list[Metric]:
    """Per opened workspace: answers served from the answer cache (hit), answered and kept
    (miss), or not cacheable (skipped: follow-ups); hit rate = hit / (hit + miss)."""
    asks = CounterMetricFamily(
        "folio_answer_cache",
        "Questions by answer-cache outcome: hit (answered from the cache), miss (answered,"
        " then kept), skipped (a follow-up whose rewrite differs); absent when the cache is off",
        labels=["workspace", "outcome"],
    )
    kept = GaugeMetricFamily(
        "folio_answer_cache_entries", "Answers in the answer cache", labels=["workspace"]
    )
    for name, library in libraries:
        cache = library.answer_cache
        if cache is None:
            continue
        asks.add_metric([name, "hit"], cache.hits)
        asks.add_metric([name, "miss"], cache.misses)
        asks.add_metric([name, "skipped"], cache.skipped)
        kept.add_metric([name], len(cache))
    return [asks, kept]


def source_metrics(libraries: list[tuple[str, Library]]) -> list[Metric]:
    """Per source of every opened workspace: files, failing files, last sync age, paused."""
    labels = ["workspace", "source"]
    files = GaugeMetricFamily("folio_source_files", "Files a source knows", labels=labels)
    failing = GaugeMetricFamily(
        "folio_source_failed_files",
        "Files of a source that failed (retried once they change)",
        labels=labels,
    )
    age = GaugeMetricFamily(
        "folio_source_last_sync_age_seconds",
        "Seconds since a source's last sync finished (absent before its first)",
        labels=labels,
    )
    paused = GaugeMetricFamily(
        "folio_source_paused",
        "1 when a source is paused (by its user, or because its folder went missing or empty)",
        labels=labels,
    )
    now = datetime.now(UTC)
    for name, library in libraries:
        try:
            statuses = library.sources.statuses()
        except Exception:
            log.exception("metrics: sources of workspace %s could not be read", name)
            continue
        for status in statuses:
            key = [name, status.name]
            files.add_metric(key, status.files)
            failing.add_metric(key, len(status.failures))
            paused.add_metric(key, 1.0 if status.source.paused else 0.0)
            last = status.last_sync_age(now)
            if last is not None:
                age.add_metric(key, last)
    return [files, failing, age, paused]


def route_of(scope: Scope) -> str:
    """The route template (``/api/v1/documents/{doc_id}``), never the raw path's ids."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    return path or "ui"  # the Gradio app is mounted at "/" (its path is "")


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope.get("headers", []))
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            status = 500
            if not response_started:
                body = json.dumps(
                    {
                        "error": {
                            "code": "internal_error",
                            "message": "Something went wrong on the server; quote request id "
                            + request_id,
                            "request_id": request_id,
                        }
                    }
                ).encode()
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(route, method, str(status)).inc()
            if status >= 400:
                self.metrics.errors.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(elapsed)
            state = scope.get("state", {})
            client = scope.get("client")
            access_log.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "status": status,
                    "ms": round(elapsed * 1000, 1),
                    "workspace": state.get("workspace"),
                    "key_id": state.get("key_id"),
                    "client": client[0] if client else None,
                },
            )
