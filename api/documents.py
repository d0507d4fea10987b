"""``/api/v1/documents``: list, upload (multipart, one or more files), delete, page images."""

# No "from __future__ import annotations": FastAPI reads the routes' local Annotated aliases.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import FileResponse

from rag_core.errors import NotFoundError
from rag_core.ingest.readers import MB
from rag_core.types import IngestResult, Upload

from .access import Caller
from .context import ApiContext
from .models import (
    DocumentList,
    DocumentOut,
    UploadResponse,
    document_out,
    upload_result,
)


def documents_router(ctx: ApiContext, prefix: str, responses: dict[int | str, Any]) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["documents"], responses=responses)
    CallerDep = Annotated[Caller, Depends(ctx.caller)]

    @router.get("/documents", response_model=DocumentList, summary="Documents of the workspace")
    def list_documents(caller: CallerDep) -> DocumentList:
        docs = ctx.library(caller).documents()
        return DocumentList(documents=[document_out(d) for d in docs])

    @router.post(
        "/documents",
        response_model=UploadResponse,
        summary="Upload files (PDF, Markdown, text, DOCX); each succeeds or fails on its own",
        responses={413: {"description": "The request body is over the upload limit"}},
    )
    def upload_documents(
        request: Request, caller: CallerDep, files: Annotated[list[UploadFile], File()]
    ) -> UploadResponse:
        library = ctx.library(caller)
        limit = ctx.settings.max_upload_bytes
        uploads: list[Upload] = []
        too_big: dict[int, IngestResult] = {}
        for position, file in enumerate(files):
            name = file.filename or "upload"
            if file.size is not None and file.size > limit:
                too_big[position] = IngestResult(
                    name,
                    "failed",
                    error=f"{name}: is {file.size / MB:.1f} MB, over the upload limit of "
                    f"{round(limit / MB, 2):g} MB (FOLIO_MAX_UPLOAD_MB)",
                )
                continue
            uploads.append(Upload(name, file.file.read()))
        report = library.add(uploads)
        ctx.metrics.observe_ingest(report)
        added = iter(report.results)
        results = [too_big[i] if i in too_big else next(added) for i in range(len(files))]
        return UploadResponse(results=[upload_result(r) for r in results])

    @router.delete(
        "/documents/{doc_id}", response_model=DocumentOut, summary="Remove a document everywhere"
    )
    def delete_document(doc_id: str, caller: CallerDep) -> DocumentOut:
        return document_out(ctx.library(caller).remove(doc_id))

    @router.get(
        "/documents/{doc_id}/pages/{page}/image",
        response_class=FileResponse,
        summary="A page image (JPEG) of a PDF document; pages count from 1",
        responses={200: {"content": {"image/jpeg": {}}, "description": "the page image"}},
    )
    def page_image(
        doc_id: str, page: int, caller: CallerDep, thumbnail: bool = False
    ) -> FileResponse:
        library = ctx.library(caller)
        doc = library.document(doc_id)  # 404 unless it is in the caller's workspace
        if not 1 <= page <= doc.pages:
            raise NotFoundError(f"{doc.name} has no page {page} (it has {doc.pages})")
        path = library.page_image(doc.id, page - 1, thumbnail=thumbnail)
        if path is None:
            raise NotFoundError(
                f"Page {page} of {doc.name} has no image (only PDF pages are rendered)"
            )
        return FileResponse(path, media_type="image/jpeg")

    return router
