"""Pure formatting: core values in, table rows, Markdown and escaped HTML out. No I/O."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from rag_core.answer.conversation import Rewrite
from rag_core.retrieve.legs import CHUNK_LEGS
from rag_core.types import (
    AgentStep,
    Answer,
    Box,
    Document,
    IngestReport,
    RetrievalTrace,
    SentenceCheck,
    Timing,
)

from .i18n import Lang, t

_MARKER = re.compile(r"\[(\d+)\]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")
_LITERAL = re.compile(r"([\\`\[\]])")


def md_escape(text: str) -> str:
    """Text shown literally inside Markdown (tables included)."""
    return _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", text)).strip()


# Library ---------------------------------------------------------------------------------
def documents_frame(docs: Sequence[Document], lang: Lang) -> pd.DataFrame:
    columns = ["col_name", "col_pages", "col_chunks", "col_no_text", "col_added"]
    columns += ["col_status", "col_error"]
    rows = [
        [
            d.name,
            d.pages,
            d.chunks,
            d.pages_without_text,
            d.added_at.strftime("%Y-%m-%d %H:%M"),
            t(f"status_{d.status}", lang),
            d.error or "",
        ]
        for d in docs
    ]
    return pd.DataFrame(rows, columns=[t(c, lang) for c in columns])


def document_choices(docs: Sequence[Document], ready_only: bool) -> list[tuple[str, str]]:
    """(label, doc id) pairs for dropdowns; names repeat rarely, so a short id follows them."""
    names = [d.name for d in docs]
    return [
        (d.name if names.count(d.name) == 1 else f"{d.name} ({d.id[:8]})", d.id)
        for d in docs
        if d.status == "ready" or not ready_only
    ]


def upload_summary(report: IngestReport, lang: Lang) -> str:
    lines = []
    for r in report.results:
        if r.status == "failed":
            lines.append("✗ " + md_escape(t("up_failed", lang, error=r.error or r.name)))
            continue
        key = {"added": "up_added", "replaced": "up_replaced", "unchanged": "up_unchanged"}
        text = t(key[r.status], lang, name=r.name, pages=r.pages, chunks=r.chunks)
        lines.append(("＝ " if r.status == "unchanged" else "✓ ") + md_escape(text))
    return "  \n".join(lines)


def progress_text(file: str, position: int, count: int, stage: str, lang: Lang) -> str:
    stage = "extract" if stage == "read" else stage  # the core reads and extracts in one go
    known = stage in ("extract", "render", "embed", "index", "done")
    stage_text = t(f"stage_{stage}", lang) if known else stage
    return t("progress", lang, file=file, i=position, n=count, stage=stage_text)


# Chat ------------------------------------------------------------------------------------
def literal_markdown(text: str) -> str:
    """Text (an answer, a question) for the chatbot's Markdown that cannot become markup:
    HTML is escaped (``<img>``, ``<form>``, an unclosed ``<style`` show as text), and so are
    brackets and backticks, so no link, image or code span forms; emphasis stays."""
    return _LITERAL.sub(r"\\\1", html.escape(text, quote=False))


def answer_markdown(
    text: str,
    message_id: str,
    titles: dict[int, str],
    sentences: Sequence[SentenceCheck] = (),
    lang: Lang = "en",
) -> str:
    """An answer's text as chatbot Markdown: shown literally (``literal_markdown``), with its
    ``[n]`` markers that have a citation as links to the source card, its unsupported and
    partly supported sentences marked (a class, a symbol and a title) and then a one-line
    legend (pure)."""
    parts: list[str] = []
    last = 0
    flagged = False
    for check in sorted(sentences, key=lambda c: c.start):
        if check.support == "supported" or not last <= check.start < check.end <= len(text):
            continue
        lead = _BLOCK_LEAD.match(text, check.start, check.end)
        start = check.start + (len(lead.group(0)) if lead else 0)
        if start >= check.end or "|" in text[check.start : check.end]:
            continue  # a table row stays as it is: a tag inside would break the table
        parts.append(_linked(text[last:start], message_id, titles))
        tip = html.escape(t(f"claim_{check.support}", lang), quote=True)
        parts.append(f'<span class="folio-claim folio-claim-{check.support}" title="{tip}">')
        parts.append(_linked(text[start : check.end], message_id, titles))
        parts.append(f'<sup class="folio-claim-mark">{CLAIM_MARKS[check.support]}</sup></span>')
        last, flagged = check.end, True
    parts.append(_linked(text[last:], message_id, titles))
    if flagged:
        legend = html.escape(t("claim_legend", lang))
        parts.append(f'\n\n<span class="folio-claim-legend">{legend}</span>')
    return "".join(parts)


CLAIM_MARKS = {"unsupported": "⚠", "partial": "◐"}
# What opens a Markdown block line (a list item, a heading, a quote): marks go after it.
_BLOCK_LEAD = re.compile(r"(?:[-*+>#]+\s+|\d{1,3}[.)]\s+)*")


def _linked(text: str, message_id: str, titles: dict[int, str]) -> str:
    """``text`` shown literally, its ``[n]`` markers that have a citation as links."""
    parts: list[str] = []
    last = 0
    for match in _MARKER.finditer(text):
        number = int(match.group(1))
        if number not in titles:
            continue
        # The title stays inside its quotes: no double quote, no backslash, one line.
        title = re.sub(r"[\\\s]+", " ", titles[number].replace('"', "'")).strip()
        parts.append(literal_markdown(text[last : match.start()]))
        parts.append(f'[[{number}]](#cite-{message_id}-{number} "{title}")')
        last = match.end()
    parts.append(literal_markdown(text[last:]))
    return "".join(parts)


def passage(page_text: str, start: int, end: int, radius: int = 280) -> tuple[str, str, str]:
    """(before, cited, after) around a span of the page text, cut at word boundaries."""
    if not 0 <= start < end <= len(page_text):
        return "", "", ""
    lo, hi = max(0, start - radius), min(len(page_text), end + radius)
    before, after = page_text[lo:start], page_text[end:hi]
    if lo > 0:
        cut = re.search(r"\s", before)
        before = "…" + (before[cut.end() :] if cut and cut.end() < len(before) else before)
    if hi < len(page_text):
        cut = re.search(r"\s\S*$", after)
        after = (after[: cut.start()] if cut and cut.start() > 0 else after) + "…"
    return before, page_text[start:end], after


@dataclass(frozen=True, slots=True)
class SourceCard:
    """What a citation card shows. ``overlay_url``: an image of where on the page (optional).

    A ``page`` card is a page found by its image: it shows the page, no text passage."""

    number: int
    doc_name: str
    page_number: int
    before: str
    cited: str
    after: str
    thumb_url: str | None
    image_url: str | None
    overlay_url: str | None = None
    kind: Literal["text", "page"] = "text"
    crop_url: str | None = None  # the cited lines, cut from the highlighted page
    boxes: tuple[Box, ...] = ()  # where the cited lines are, drawn over the thumbnail
    ocr: bool = False  # the passage is text OCR read from the page image


def _text(value: str) -> str:
    return html.escape(re.sub(r"\s+", " ", value))


def source_cards_html(
    cards: Sequence[SourceCard], message_id: str, question: str, lang: Lang
) -> str:
    title = _text(t("sources_for", lang, question=question))
    parts = ['<div class="folio-sources">', f'<div class="folio-sources-title">{title}</div>']
    if not cards:
        parts.append(f'<p class="folio-empty">{_text(t("no_sources", lang))}</p>')
    for card in cards:
        anchor = f"cite-{message_id}-{card.number}"
        full = f"full-{message_id}-{card.number}"
        page = _text(t("page", lang, page=card.page_number))
        alt = html.escape(f"{card.doc_name}, {t('page', lang, page=card.page_number)}", quote=True)
        kind = " folio-card-page" if card.kind == "page" else ""
        parts.append(f'<div class="folio-card{kind}" id="{anchor}">')
        parts.append(
            f'<div class="folio-card-head"><span class="folio-num">[{card.number}]</span> '
            f'<span class="folio-doc">{_text(card.doc_name)}</span> · '
            f'<span class="folio-page">{page}</span>'
            + (
                f' · <span class="folio-ocr">{_text(t("ocr_text", lang))}</span>'
                if card.ocr
                else ""
            )
            + "</div>"
        )
        parts.append('<div class="folio-card-body">')
        if card.thumb_url and card.image_url:
            tip = html.escape(t("open_full_page", lang), quote=True)
            parts.append(
                f'<a class="folio-thumb" href="#{full}" title="{tip}">'
                f'<img src="{html.escape(card.thumb_url, quote=True)}" alt="{alt}">'
                f"{box_marks(card.boxes)}</a>"
            )
        else:
            parts.append(f'<div class="folio-noimg">{_text(t("no_image", lang))}</div>')
        if card.kind == "page":
            parts.append(f'<p class="folio-by-image">{_text(t("page_found_by_image", lang))}</p>')
        else:
            parts.append(
                f'<blockquote class="folio-passage">{_text(card.before)}'
                f"<mark>{_text(card.cited)}</mark>{_text(card.after)}</blockquote>"
            )
        parts.append("</div>")
        if card.crop_url:
            tip = html.escape(t("open_full_page", lang), quote=True)
            label = html.escape(t("cited_lines", lang), quote=True)
            parts.append(
                f'<a class="folio-crop" href="#{full}" title="{tip}">'
                f'<img src="{html.escape(card.crop_url, quote=True)}" alt="{label}"></a>'
            )
        if card.overlay_url:
            parts.append(
                f'<div class="folio-overlay"><span>{_text(t("overlay", lang))}</span>'
                f'<img src="{html.escape(card.overlay_url, quote=True)}" alt="{alt}"></div>'
            )
        if card.image_url:
            parts.append(
                f'<a class="folio-lightbox" id="{full}" href="#{anchor}">'
                f'<img src="{html.escape(card.image_url, quote=True)}" alt="{alt}" '
                'loading="lazy"></a>'
            )
        parts.append("</div>")
    parts.append("</div>")
    return "\n".join(parts)


def box_marks(boxes: Sequence[Box]) -> str:
    """The boxes as marks laid over an image (its container positioned), in percent."""
    return "".join(
        f'<span class="folio-box" style="left:{100 * x0:.2f}%;top:{100 * y0:.2f}%;'
        f'width:{100 * (x1 - x0):.2f}%;height:{100 * (y1 - y0):.2f}%"></span>'
        for x0, y0, x1, y1 in boxes
    )


def leg_name(leg: str, lang: Lang) -> str:
    return t(f"leg_{leg}", lang) if leg in CHUNK_LEGS else leg


def answer_notices(answer: Answer, rewrite: Rewrite, lang: Lang) -> list[str]:
    """What the reader should know about how this answer was found."""
    notices = []
    for leg in answer.trace.legs:
        if not leg.note:
            continue  # a leg that has nothing to say was not expected to run
        if leg.status == "off":
            notices.append(
                t("notice_leg_off", lang, leg=leg_name(leg.leg, lang), note=md_escape(leg.note))
            )
        elif leg.status == "down-weighted":
            notices.append(
                t("notice_leg_down", lang, leg=leg_name(leg.leg, lang), note=md_escape(leg.note))
            )
    if rewrite.note:
        notices.append(t("notice_rewrite_failed", lang, note=md_escape(rewrite.note)))
    return notices


def notices_markdown(notices: Sequence[str]) -> str:
    return "\n\n".join(notices)


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def trace_markdown(
    answer: Answer, rewrite: Rewrite, ui_timings: Sequence[Timing], lang: Lang
) -> str:
    """The retrieval trace of one answer: query searched, legs, hits with leg ranks, timings."""
    trace = answer.trace
    how = t(f"tr_rewrite_{rewrite.method}", lang)
    scope = (
        t("tr_documents", lang, n=len(trace.filters.doc_ids))
        if trace.filters.doc_ids
        else t("tr_whole_library", lang)
    )
    mode = t(f"mode_{answer.mode}", lang)
    searched = trace.searched_query.replace("`", "'")
    lines = [
        f"**{t('tr_question', lang)}:** {md_escape(answer.question)}",
        f"**{t('tr_searched', lang)}:** `{searched}` ({how})",
        f"**{t('tr_filter', lang)}:** {scope}",
        f"**{t('tr_answer', lang)}:** {mode} · `{answer.model}`"
        + (f" · {t('tr_refused', lang)}" if answer.refused else ""),
    ]
    if answer.evidence_score is not None:
        lines.append(f"**{t('tr_evidence', lang)}:** {answer.evidence_score:.2f}")
    lines.append(f"**{t('tr_route', lang)}:** {trace.route}")
    lines = ["  \n".join(lines)]
    lines += subqueries_markdown(trace, lang)
    lines += [
        "",
        f"**{t('tr_legs', lang)}**",
        "",
        f"| {t('tr_leg', lang)} | {t('tr_status', lang)} | {t('tr_weight', lang)} "
        f"| {t('tr_time', lang)} | {t('tr_note', lang)} |",
        "|---|---|---|---|---|",
    ]
    for leg in trace.legs:
        lines.append(
            f"| {leg_name(leg.leg, lang)} | {t(f'leg_status_{leg.status}', lang)} "
            f"| {leg.weight:.2f} | {_ms(leg.elapsed_ms)} | {md_escape(leg.note)} |"
        )
    legs = [leg.leg for leg in trace.legs]
    rank_heads = " | ".join(t("tr_leg_rank", lang, leg=leg) for leg in legs)
    lines += [
        "",
        f"**{t('tr_hits', lang)}**",
        "",
        f"| {t('tr_rank', lang)} | {t('tr_document', lang)} | {t('tr_page', lang)} "
        f"| {t('tr_score', lang)} | {rank_heads} |",
        "|---|---|---|---|" + "---|" * len(legs),
    ]
    for hit in answer.hits:
        ranks = " | ".join(str(hit.leg_rank(leg) or "–") for leg in legs)
        lines.append(
            f"| {hit.rank} | {md_escape(hit.doc_name)} | {hit.chunk.page_number} "
            f"| {hit.score:.4f} | {ranks} |"
        )
    lines += agent_markdown(trace.agent_steps, lang)
    lines += claims_markdown(answer.sentences, lang)
    stages = [*ui_timings, *answer.stage_timings]
    lines += [
        "",
        f"**{t('tr_timings', lang)}:** " + " · ".join(f"{s.stage} {_ms(s.ms)}" for s in stages),
    ]
    if trace.notes:
        lines += ["", f"**{t('tr_notes', lang)}:** " + "; ".join(md_escape(n) for n in trace.notes)]
    return "\n".join(lines)


def subqueries_markdown(trace: RetrievalTrace, lang: Lang) -> list[str]:
    """The trace's sub-queries of a decomposed search: each with its best pages, and how
    they were merged (empty for a single search)."""
    if not trace.subqueries:
        return []
    lines = [
        "",
        f"**{t('tr_subqueries', lang)}** ({md_escape(trace.split_by)})",
        "",
        f"| {t('tr_searched', lang)} | {t('tr_page', lang)} | {t('tr_time', lang)} |",
        "|---|---|---|",
    ]
    for sub in trace.subqueries:
        pages = ", ".join(f"{md_escape(p.doc_name)} p.{p.page_number}" for p in sub.pages[:3])
        lines.append(f"| {md_escape(sub.query)} | {pages or '–'} | {_ms(sub.ms)} |")
    lines += ["", md_escape(trace.merge)]
    return lines


def agent_markdown(steps: Sequence[AgentStep], lang: Lang) -> list[str]:
    """The trace's table of the agent's tool calls (empty when no agent ran)."""
    if not steps:
        return []
    lines = [
        "",
        f"**{t('tr_agent', lang)}**",
        "",
        f"| {t('tr_agent_step', lang)} | {t('tr_agent_tool', lang)} "
        f"| {t('tr_agent_arguments', lang)} | {t('tr_agent_result', lang)} "
        f"| {t('tr_time', lang)} |",
        "|---|---|---|---|---|",
    ]
    for x in steps:
        result = md_escape(x.error) if x.error else t("tr_agent_passages", lang, n=x.hits)
        lines.append(f"| {x.step} | {x.tool} | {md_escape(x.arguments)} | {result} | {_ms(x.ms)} |")
    return lines


def claims_markdown(sentences: Sequence[SentenceCheck], lang: Lang) -> list[str]:
    """The trace's table of checked sentences: text, citations, label, why (empty if none)."""
    if not sentences:
        return []
    lines = [
        "",
        f"**{t('tr_claims', lang)}**",
        "",
        f"| {t('tr_rank', lang)} | {t('tr_sentence', lang)} | {t('tr_citations', lang)} "
        f"| {t('tr_support', lang)} | {t('tr_reason', lang)} |",
        "|---|---|---|---|---|",
    ]
    for number, check in enumerate(sentences, start=1):
        text = check.text if len(check.text) <= 160 else check.text[:159] + "…"
        mark = CLAIM_MARKS.get(check.support, "")
        cites = " ".join(f"\\[{n}\\]" for n in check.citations) or "–"
        lines.append(
            f"| {number} | {md_escape(text)} | {cites} "
            f"| {mark} {t(f'support_{check.support}', lang)} | {md_escape(check.reason)} |"
        )
    return lines


def library_summary(ready: int, chunks: int, pages: int, model: str, mode: str, lang: Lang) -> str:
    return t(
        "library_summary",
        lang,
        ready=ready,
        chunks=chunks,
        pages=pages,
        model=md_escape(model),
        mode=t(f"mode_{mode}", lang),
    )
