"""``/api/v1/sources``: the caller's workspace's watched folders (list, add, sync, pause, resume,
remove), with the bodies they send and return.

A folder must be inside ``FOLIO_SOURCE_ROOTS`` where the server is not local (the core checks
it: ``Settings.source_root_folders``). Syncing runs on the ingest writer only.
"""

# No "from __future__ import annotations": FastAPI reads the routes' local Annotated aliases.
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rag_core.sources import Failure, SourceStatus, SyncReport

from .access import Caller
from .context import ApiContext
from .models import Text


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: Text = Field(description="absolute path of a folder on the server (recursive)")
    name: Text | None = Field(
        default=None, description="1-40 of a-z, 0-9, '-', '_' (default: from the folder's name)"
    )
    every: int | None = Field(
        default=None, description="seconds between syncs, 0: only when asked (default 60)"
    )
    include: list[Text] = Field(
        default_factory=list,
        max_length=50,
        description="globs of the files to take (default: the types Folio reads)",
    )
    exclude: list[Text] = Field(default_factory=list, max_length=50, description="globs to skip")


class FailureOut(BaseModel):
    path: str = Field(description="the file's path inside the folder")
    reason: str


class SyncOut(BaseModel):
    source: str
    finished_at: datetime
    seconds: float
    seen: int = Field(description="files in the folder that count")
    added: int
    updated: int = Field(description="content changed: the document was replaced")
    renamed: int = Field(description="same content at a new path: the document kept")
    removed: int = Field(description="files deleted or excluded: their documents went")
    unchanged: int
    waiting: list[str] = Field(description="still being written: taken at the next sync")
    failed: list[FailureOut] = Field(description="files failing now, retried once they change")
    skipped: list[FailureOut] = Field(description="links out of the folder, unreadable entries")
    error: str = Field(description="why the sync did not run (the source is paused then)")


class SourceOut(BaseModel):
    name: str
    folder: str
    include: list[str]
    exclude: list[str]
    every: int
    state: Literal["active", "paused", "syncing"]
    paused: Literal["user", "missing", "empty", "removing"] | None = Field(
        description="who paused it: its user, or a sync that found the folder missing or empty"
    )
    paused_detail: str
    files: int = Field(description="files it knows: in the library, failing or waiting")
    failures: list[FailureOut]
    last_sync_at: datetime | None
    last_sync_age_seconds: float | None
    last_sync: SyncOut | None


class SourceList(BaseModel):
    sources: list[SourceOut]


class SourceRemoved(BaseModel):
    name: str
    documents_removed: int


def failure_out(f: Failure) -> FailureOut:
    return FailureOut(path=f.path, reason=f.reason)


def sync_out(r: SyncReport) -> SyncOut:
    return SyncOut(
        source=r.source,
        finished_at=r.finished_at,
        seconds=r.seconds,
        seen=r.seen,
        added=r.added,
        updated=r.updated,
        renamed=r.renamed,
        removed=r.removed,
        unchanged=r.unchanged,
        waiting=list(r.waiting),
        failed=[failure_out(f) for f in r.failed],
        skipped=[failure_out(f) for f in r.skipped],
        error=r.error,
    )


def source_out(s: SourceStatus) -> SourceOut:
    src = s.source
    state: Literal["active", "paused", "syncing"] = "paused" if src.paused else "active"
    return SourceOut(
        name=src.name,
        folder=str(src.root),
        include=list(src.include),
        exclude=list(src.exclude),
        every=src.every,
        state="syncing" if s.syncing else state,
        paused=src.paused,
        paused_detail=src.paused_detail,
        files=s.files,
        failures=[failure_out(f) for f in s.failures],
        last_sync_at=src.last_sync_at,
        last_sync_age_seconds=s.last_sync_age(datetime.now(UTC)),
        last_sync=sync_out(src.last_report) if src.last_report else None,
    )


def sources_router(ctx: ApiContext, prefix: str, responses: dict[int | str, Any]) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["sources"], responses=responses)
    CallerDep = Annotated[Caller, Depends(ctx.caller)]
    busy: dict[int | str, dict[str, Any]] = {
        409: {"description": "A sync of the workspace's sources is running"}
    }

    @router.get("/sources", response_model=SourceList, summary="Watched folders of the workspace")
    def list_sources(caller: CallerDep) -> SourceList:
        statuses = ctx.library(caller).sources.statuses()
        return SourceList(sources=[source_out(s) for s in statuses])

    @router.post(
        "/sources",
        response_model=SourceOut,
        status_code=201,
        summary="Watch a folder; it syncs soon in the background (or POST …/sync)",
    )
    def add_source(body: SourceIn, caller: CallerDep) -> SourceOut:
        status = ctx.library(caller).sources.add(
            body.folder,
            roots=ctx.settings.source_root_folders,
            name=body.name,
            every=body.every,
            include=body.include,
            exclude=body.exclude,
        )
        return source_out(status)

    @router.get("/sources/{name}", response_model=SourceOut, summary="One source and its state")
    def get_source(name: str, caller: CallerDep) -> SourceOut:
        return source_out(ctx.library(caller).sources.status(name))

    @router.delete(
        "/sources/{name}",
        response_model=SourceRemoved,
        summary="Stop watching a folder, keeping or removing its documents",
        responses=busy,
    )
    def remove_source(
        name: str,
        caller: CallerDep,
        documents: Annotated[
            Literal["keep", "remove"],
            Query(description="keep its documents in the library, or remove them everywhere"),
        ],
    ) -> SourceRemoved:
        sources = ctx.library(caller).sources
        removed = sources.remove(name, keep_documents=documents == "keep")
        return SourceRemoved(name=name, documents_removed=removed)

    @router.post(
        "/sources/{name}/sync",
        response_model=SyncOut,
        summary="Sync now and return what it did (background=true: start it, 202)",
        responses={**busy, 202: {"model": SourceOut, "description": "Started in the background"}},
    )
    def sync_source(name: str, caller: CallerDep, background: bool = False) -> Any:
        sources = ctx.library(caller).sources
        if background:
            status = sources.request_sync(name)
            return JSONResponse(source_out(status).model_dump(mode="json"), status_code=202)
        return sync_out(sources.sync(name))

    @router.post("/sources/{name}/pause", response_model=SourceOut, summary="Stop syncing")
    def pause_source(name: str, caller: CallerDep) -> SourceOut:
        return source_out(ctx.library(caller).sources.pause(name))

    @router.post(
        "/sources/{name}/resume",
        response_model=SourceOut,
        summary="Sync again (a folder found empty is then taken as it is)",
    )
    def resume_source(name: str, caller: CallerDep) -> SourceOut:
        return source_out(ctx.library(caller).sources.resume(name))

    return router
