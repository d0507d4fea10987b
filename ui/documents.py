"""The Library tab's handlers: upload with progress, the documents table, delete, re-index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import gradio as gr
import pandas as pd

from rag_core.types import IngestReport, Progress

from . import formatting as fmt
from . import uploads
from .errors import info, ui_errors, warn
from .i18n import Lang, t

if TYPE_CHECKING:
    from rag_core.library import Library

Action = Literal["delete", "reindex"]
FILE_TYPES = uploads.FILE_TYPES  # what the upload box offers: what the core reads
ProgressSink = Callable[[float, str], None]  # (fraction of the batch, description)


@dataclass(frozen=True, slots=True)
class LibraryView:
    """What the Library tab and the chat's document filter show."""

    table: pd.DataFrame
    doc_ids: tuple[str, ...]  # table row -> document id
    all_choices: list[tuple[str, str]]
    ready_choices: list[tuple[str, str]]
    summary: str

    def outputs(self) -> tuple[Any, ...]:
        """table, row ids, selected-document dropdown, chat filter, summary."""
        return (
            self.table,
            self.doc_ids,
            gr.update(choices=self.all_choices),
            gr.update(choices=self.ready_choices),
            self.summary,
        )


def library_view(library: Library, lang: Lang) -> LibraryView:
    docs = library.documents()
    status = library.status()
    ocr = library.ocr_status()
    ocr_line = ""
    if ocr is not None and ocr.notice:  # OCR's progress, like the vision index's
        ocr_line = "\n\n" + t("notice_ocr", lang, notice=fmt.md_escape(ocr.notice.rstrip(".")))
    return LibraryView(
        table=fmt.documents_frame(docs, lang),
        doc_ids=tuple(d.id for d in docs),
        all_choices=fmt.document_choices(docs, ready_only=False),
        ready_choices=fmt.document_choices(docs, ready_only=True),
        summary=fmt.library_summary(
            status.ready,
            status.chunks,
            status.pages,
            status.embed_model,
            status.answer_mode,
            lang,
        )
        + ocr_line,
    )


def upload(
    library: Library, paths: Sequence[str] | None, lang: Lang, progress: ProgressSink
) -> tuple[str, LibraryView]:
    """Add the uploaded files; each one goes in or fails on its own. Returns the summary.

    Only files Gradio's upload route wrote are read (``ui.uploads``): a path naming any other
    file refuses the upload; a file over FOLIO_MAX_UPLOAD_MB fails by its size, unread."""
    if not paths:
        warn(t("up_none", lang))
        return "", library_view(library, lang)
    checked = uploads.checked_uploads(paths, library.settings.max_upload_mb, lang)
    names = [f.name for f in checked.files]
    done = [0.0]

    def report(p: Progress) -> None:
        # The bar only moves forward, even if the core reports a file's stages out of order
        # (files that share an embedding batch finish together).
        done[0] = max(done[0], p.fraction)
        position = names.index(p.file) + 1 if p.file in names else 1
        progress(done[0], fmt.progress_text(p.file, position, len(names), p.stage, lang))

    with ui_errors(lang):
        added = library.add(list(checked.files), progress=report) if names else IngestReport(())
    read = iter(added.results)
    result = IngestReport(tuple(checked.refused.get(i) or next(read) for i in range(len(paths))))
    for r in result.results:
        if r.status == "unchanged":
            info(t("up_unchanged", lang, name=r.name))
    if result.failed:
        warn(t("up_some_failed", lang, failed=len(result.failed), total=len(paths)))
    return fmt.upload_summary(result, lang), library_view(library, lang)


def ask_to_confirm(library: Library, action: Action, doc_id: str | None, lang: Lang) -> Any:
    """The confirmation text for ``action`` on a document (an update of the confirm row)."""
    if not doc_id:
        warn(t("select_first", lang))
        return gr.update(visible=False), "", None
    with ui_errors(lang):
        doc = library.document(doc_id)
    key = "confirm_delete" if action == "delete" else "confirm_reindex"
    return gr.update(visible=True), t(key, lang, name=fmt.md_escape(doc.name)), action


def run_action(
    library: Library, action: Action | None, doc_id: str | None, lang: Lang
) -> tuple[str, LibraryView]:
    """Delete or re-index the selected document, once confirmed. Returns a message."""
    if not action or not doc_id:
        warn(t("select_first", lang))
        return "", library_view(library, lang)
    with ui_errors(lang):
        if action == "delete":
            doc = library.remove(doc_id)
            message = t("deleted", lang, name=doc.name)
            info(message)
        else:
            result = library.reindex(doc_id)
            if result.status == "failed":
                message = t("reindex_failed", lang, name=result.name, error=result.error or "")
                warn(message)
            else:
                message = t("reindexed", lang, name=result.name)
                info(message)
    return fmt.md_escape(message), library_view(library, lang)


def selected_row(doc_ids: Sequence[str], row: int | None) -> str | None:
    """The document id of a clicked table row."""
    return doc_ids[row] if row is not None and 0 <= row < len(doc_ids) else None
