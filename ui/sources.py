"""The Library tab's Sources panel: watched folders, their state, and what to do with them.

Handlers are plain functions of a ``Library`` and plain values; each returns a message and the
panel's view (``SourcesView``). Folders are checked by the core against
``FOLIO_SOURCE_ROOTS`` where the server is not local.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import gradio as gr
import pandas as pd

from rag_core.sources import SourceStatus, SyncReport

from . import formatting as fmt
from .errors import info, ui_errors, warn
from .i18n import Lang, t

if TYPE_CHECKING:
    from rag_core.library import Library

SourceAction = Literal["sync", "pause", "resume"]
COLUMNS = (
    "src_col_name", "src_col_folder", "src_col_state", "src_col_every", "src_col_last",
    "src_col_files", "src_col_added", "src_col_updated", "src_col_removed", "src_col_failed",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SourcesView:
    """What the panel shows: the table, the names to choose from, and the details below."""

    table: pd.DataFrame
    names: list[str]
    details: str

    def outputs(self, selected: str | None = None) -> tuple[Any, ...]:
        """table, source dropdown (keeping ``selected`` while it exists), details."""
        keep = selected if selected in self.names else None
        return self.table, gr.update(choices=self.names, value=keep), self.details


def sources_view(library: Library, lang: Lang) -> SourcesView:
    statuses = library.sources.statuses()
    now = datetime.now(UTC)
    rows = [_row(s, now, lang) for s in statuses]
    table = pd.DataFrame(rows, columns=[t(c, lang) for c in COLUMNS])
    details = "\n\n".join(d for d in (_details(s, lang) for s in statuses) if d)
    return SourcesView(table, [s.name for s in statuses], details or t("src_none", lang))


def _row(status: SourceStatus, now: datetime, lang: Lang) -> list[Any]:
    source, last = status.source, status.source.last_report
    if status.syncing:
        state = t("src_state_syncing", lang)
    elif source.paused:
        state = t(f"src_paused_{source.paused}", lang)
    else:
        state = t("src_state_on", lang)
    every = t("src_every", lang, s=source.every) if source.every else t("src_manual", lang)
    age = status.last_sync_age(now)
    when = _ago(age, lang) if age is not None else t("src_never", lang)
    counts = [last.added, last.updated, last.removed] if last else [0, 0, 0]
    return [
        source.name, str(source.root), state, every, when, status.files, *counts,
        len(status.failures),
    ]  # fmt: skip


def _ago(seconds: float, lang: Lang) -> str:
    if seconds < 120:
        return t("src_ago", lang, s=int(seconds))
    if seconds < 7200:
        return t("src_ago_min", lang, m=int(seconds // 60))
    return t("src_ago_h", lang, h=int(seconds // 3600))


def _details(status: SourceStatus, lang: Lang) -> str:
    """The source's pause reason, its failing files with their reasons, files waiting."""
    source, last = status.source, status.source.last_report
    lines = []
    if source.paused and source.paused_detail:
        lines.append(t("src_paused_why", lang, detail=fmt.md_escape(source.paused_detail)))
    if last is not None and last.error and not source.paused:
        lines.append(fmt.md_escape(last.error))
    for failure in status.failures:
        lines.append(
            t(
                "src_failed_line",
                lang,
                path=fmt.md_escape(failure.path),
                reason=fmt.md_escape(failure.reason),
            )
        )
    for path in last.waiting if last is not None else ():
        lines.append(t("src_waiting_line", lang, path=fmt.md_escape(path)))
    for skipped in last.skipped if last is not None else ():
        lines.append(
            t(
                "src_skipped_line",
                lang,
                path=fmt.md_escape(skipped.path),
                reason=fmt.md_escape(skipped.reason),
            )
        )
    if not lines:
        return ""
    title = t("src_details_title", lang, name=fmt.md_escape(source.name))
    return "\n".join([title, *(f"- {line}" for line in lines)])


def patterns(text: str | None) -> list[str]:
    """Globs typed as one line, separated by commas or spaces."""
    return [p for p in (text or "").replace(",", " ").split() if p]


def add(
    library: Library,
    folder: str | None,
    name: str | None,
    every: float | None,
    include: str | None,
    exclude: str | None,
    lang: Lang,
) -> tuple[str, SourcesView]:
    """Watch ``folder`` (inside FOLIO_SOURCE_ROOTS where the server is not local)."""
    if not (folder or "").strip():
        warn(t("src_folder_first", lang))
        return "", sources_view(library, lang)
    with ui_errors(lang):
        status = library.sources.add(
            (folder or "").strip(),
            roots=library.settings.source_root_folders,
            name=(name or "").strip() or None,
            every=None if every is None else int(every),
            include=patterns(include),
            exclude=patterns(exclude),
        )
    message = t("src_added", lang, name=status.name, folder=str(status.source.root))
    info(message)
    return fmt.md_escape(message), sources_view(library, lang)


def act(
    library: Library, action: SourceAction, name: str | None, lang: Lang
) -> tuple[str, SourcesView]:
    """Sync now, pause or resume the selected source."""
    if not name:
        warn(t("src_select_first", lang))
        return "", sources_view(library, lang)
    with ui_errors(lang):
        if action == "sync":
            message = report_text(library.sources.sync(name), lang)
        elif action == "pause":
            library.sources.pause(name)
            message = t("src_now_paused", lang, name=name)
        else:
            library.sources.resume(name)
            message = t("src_now_resumed", lang, name=name)
    info(message)
    return fmt.md_escape(message), sources_view(library, lang)


def report_text(report: SyncReport, lang: Lang) -> str:
    if report.error:
        return t("src_not_synced", lang, name=report.source, error=report.error)
    return t(
        "src_synced",
        lang,
        name=report.source,
        seen=report.seen,
        added=report.added,
        updated=report.updated,
        renamed=report.renamed,
        removed=report.removed,
        failed=len(report.failed),
        waiting=len(report.waiting),
    )


def ask_to_remove(library: Library, name: str | None, lang: Lang) -> tuple[Any, str]:
    """The confirmation row for removing a source: visible, with its question."""
    if not name:
        warn(t("src_select_first", lang))
        return gr.update(visible=False), ""
    with ui_errors(lang):
        status = library.sources.status(name)
    question = t("src_confirm_remove", lang, name=fmt.md_escape(name), files=status.files)
    return gr.update(visible=True), question


def remove(
    library: Library, name: str | None, documents: str | None, lang: Lang
) -> tuple[str, SourcesView]:
    """Stop watching the source; keep its documents or remove them (``documents``)."""
    if not name:
        warn(t("src_select_first", lang))
        return "", sources_view(library, lang)
    if documents not in ("keep", "remove"):
        warn(t("src_keep_or_remove", lang))
        return "", sources_view(library, lang)
    with ui_errors(lang):
        removed = library.sources.remove(name, keep_documents=documents == "keep")
    if documents == "keep":
        message = t("src_removed_kept", lang, name=name)
    else:
        message = t("src_removed", lang, name=name, n=removed)
    info(message)
    return fmt.md_escape(message), sources_view(library, lang)
