"""The Feedback analytics tab: the rows of ``feedback.db`` as tables, a plot and a CSV file.

Every number comes from ``rag_core.feedback.analytics`` over ``FeedbackStore.records()``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rag_core.feedback import analytics as fa
from rag_core.feedback.store import FeedbackRecord

from .formatting import CLAIM_MARKS, md_escape
from .i18n import Lang, t

if TYPE_CHECKING:
    from rag_core.feedback.store import FeedbackStore

EXPORT_NAME = "folio-feedback.csv"


@dataclass(frozen=True, slots=True)
class AnalyticsView:
    summary: str
    by_day: pd.DataFrame  # columns: day, satisfaction (0..1), rated
    by_document: pd.DataFrame
    by_mode: pd.DataFrame
    by_route: pd.DataFrame  # satisfaction per route (single, decomposed, agentic, visual)
    causes: pd.DataFrame
    by_support: pd.DataFrame  # answers by their weakest sentence: count, likes, dislike rate
    disliked: pd.DataFrame
    disliked_ids: tuple[tuple[int, ...], ...]  # per disliked question: its rows' ids, latest first


def _rate(tally: fa.Tally) -> str:
    return "–" if tally.rate is None else f"{tally.rate:.0%}"


def _tally_frame(groups: Sequence[tuple[str, fa.Tally]], first: str, lang: Lang) -> pd.DataFrame:
    return pd.DataFrame(
        [[name, g.up, g.down, g.total, _rate(g)] for name, g in groups],
        columns=[
            t(k, lang) for k in (first, "col_up", "col_down", "col_total", "col_satisfaction")
        ],
    )


def analytics_view(records: Sequence[FeedbackRecord], lang: Lang) -> AnalyticsView:
    """Everything the tab shows, from the rows (pure)."""
    total = fa.tally(records)
    summary = (
        t("an_summary", lang, total=total.total, up=total.up, down=total.down, rate=_rate(total))
        if records
        else t("an_empty", lang)
    )
    days = pd.DataFrame(
        [[day.isoformat(), g.rate, g.total] for day, g in fa.by_day(records)],
        columns=["day", "satisfaction", "rated"],
    )
    documents = [
        (t("no_citation", lang) if name == fa.NO_CITATION else name, g)
        for name, g in fa.by_document(records)
    ]
    modes = [(t(f"mode_{mode}", lang), g) for mode, g in fa.by_mode(records)]
    dislikes = sum(n for _, n in fa.dislike_causes(records))
    causes = pd.DataFrame(
        [
            [t(f"cause_{cause}", lang), n, f"{n / dislikes:.0%}" if dislikes else "–"]
            for cause, n in fa.dislike_causes(records)
        ],
        columns=[t("col_cause", lang), t("col_count", lang), t("col_share", lang)],
    )
    support = pd.DataFrame(
        [
            [
                t(f"support_{group}", lang),
                g.total,
                g.up,
                g.down,
                "–" if g.dislike_rate is None else f"{g.dislike_rate:.0%}",
            ]
            for group, g in fa.by_support(records)
        ],
        columns=[
            t(k, lang)
            for k in ("col_support", "col_answers", "col_up", "col_down", "col_dislike_rate")
        ],
    )
    top = fa.most_disliked(records)
    disliked = pd.DataFrame(
        [
            [
                q.question,
                q.dislikes,
                q.likes,
                t(f"cause_{fa.dislike_cause(q.records[0])}", lang)
                if not q.records[0].liked
                else "",
                q.records[0].asked_at.strftime("%Y-%m-%d %H:%M"),
            ]
            for q in top
        ],
        columns=[
            t(k, lang)
            for k in ("col_question", "col_dislikes", "col_likes", "col_cause", "col_last_asked")
        ],
    )
    return AnalyticsView(
        summary=summary,
        by_day=days,
        by_document=_tally_frame(documents, "col_document", lang),
        by_mode=_tally_frame(modes, "col_mode", lang),
        by_route=_tally_frame(fa.by_route(records), "col_route", lang),
        causes=causes,
        by_support=support,
        disliked=disliked,
        disliked_ids=tuple(tuple(r.id for r in q.records) for q in top),
    )


def record_trace(record: FeedbackRecord, lang: Lang) -> str:
    """A stored rating's trace as Markdown: vote, comment, query, citations, hits, timings."""
    lines = [
        f"**{t('an_vote', lang)}:** {t('col_up' if record.liked else 'col_down', lang)}"
        + ("" if record.liked else f" · {t(f'cause_{fa.dislike_cause(record)}', lang)}"),
        f"**{t('an_asked', lang)}:** {record.asked_at.strftime('%Y-%m-%d %H:%M UTC')}",
        f"**{t('tr_question', lang)}:** {md_escape(record.question)}",
        f"**{t('tr_searched', lang)}:** `{record.searched_query.replace('`', chr(39))}` "
        f"({t(f'tr_rewrite_{record.rewrite}', lang)})",
        f"**{t('tr_answer', lang)}:** {t(f'mode_{record.mode}', lang)} · `{record.model}`"
        + (f" · {t('tr_refused', lang)}" if record.refused else ""),
    ]
    lines = ["  \n".join(lines), "", "> " + md_escape(record.answer)]
    if record.comment:
        lines += ["", f"**{t('an_comment', lang)}:** {md_escape(record.comment)}"]
    for check in record.sentences:
        if check.support != "supported":
            lines.append(
                f"- {CLAIM_MARKS[check.support]} {t(f'support_{check.support}', lang)}: "
                f"“{md_escape(check.text)}” ({md_escape(check.reason)})"
            )
    for c in record.citations:
        lines.append(
            f"- [{c.number}] {md_escape(c.doc_name)}, {t('page', lang, page=c.page_number)}: "
            f"“{md_escape(c.cited_text)}”"
        )
    legs = [leg.leg for leg in record.legs]
    lines += [
        "",
        f"**{t('tr_hits', lang)}**",
        "",
        f"| {t('tr_rank', lang)} | {t('tr_document', lang)} | {t('tr_page', lang)} | "
        + " | ".join(t("tr_leg_rank", lang, leg=leg) for leg in legs)
        + " |",
        "|---|---|---|" + "---|" * len(legs),
    ]
    for hit in record.hits:
        ranks = " | ".join(str(hit.leg_rank(leg) or "–") for leg in legs)
        lines.append(f"| {hit.rank} | {md_escape(hit.doc_name)} | {hit.page_number} | {ranks} |")
    lines += [
        "",
        f"**{t('tr_legs', lang)}:** "
        + "; ".join(
            f"{leg.leg} {t(f'leg_status_{leg.status}', lang)}"
            + (f" ({md_escape(leg.note)})" if leg.note else "")
            for leg in record.legs
        ),
        f"**{t('tr_timings', lang)}:** "
        + " · ".join(f"{s.stage} {s.ms:.0f}" for s in record.timings),
    ]
    return "\n".join(lines)


def disliked_trace(
    store: FeedbackStore, disliked_ids: Sequence[Sequence[int]], row: int, lang: Lang
) -> str:
    """The latest trace of the disliked question in table row ``row``."""
    if not 0 <= row < len(disliked_ids):
        return t("an_pick", lang)
    ids = set(disliked_ids[row])
    records = sorted(
        (r for r in store.records() if r.id in ids), key=lambda r: (r.asked_at, r.id), reverse=True
    )
    latest_dislike = next((r for r in records if not r.liked), None)
    return record_trace(latest_dislike, lang) if latest_dislike else t("an_pick", lang)


_export_folder: Path | None = None
_export_lock = threading.Lock()


def export_folder() -> Path:
    """This process's folder for CSV exports: made on first use, removed at exit."""
    global _export_folder
    with _export_lock:
        if _export_folder is None:
            _export_folder = Path(tempfile.mkdtemp(prefix="folio-feedback-"))
            atexit.register(shutil.rmtree, _export_folder, ignore_errors=True)
        return _export_folder


def export_csv(records: Sequence[FeedbackRecord], folder: Path) -> Path:
    """Write the rows to ``folder/folio-feedback.csv`` (UTF-8 with BOM so spreadsheets read
    Chinese), in place of the last export.

    Written under another name and renamed, so the file is always whole: Gradio copies it
    into its own cache when the handler returns, and an export running at the same time may
    replace it meanwhile (with the same rows or newer ones), never remove it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / EXPORT_NAME
    staging = folder / f".{EXPORT_NAME}.{os.getpid()}.{threading.get_ident()}"
    staging.write_text(fa.to_csv(records), encoding="utf-8-sig")
    os.replace(staging, path)
    return path
