"""The Chat tab's handlers: streaming cited answers, follow-ups, sources, ratings.

Handlers are plain functions of ready objects and plain values; ``ui/tabs/chat.py`` wires them to
components. Per-session state is a ``ChatState`` (kept in ``gr.State``): the turns of the
conversation with their answers, so a rating can store the answer's whole trace.
Turn ``k`` is shown as chatbot messages ``2k`` (question) and ``2k + 1`` (answer).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from rag_core.answer.conversation import QueryRewriter, Rewrite, Turn
from rag_core.errors import NotFoundError
from rag_core.feedback.store import Rating
from rag_core.types import Answer, AnswerDone, Citation, CitationEvent, Filters, TextDelta, Timing

from . import formatting as fmt
from .access import served_path, served_url
from .errors import error, info, ui_error, ui_errors, warn
from .i18n import Lang, t

if TYPE_CHECKING:
    from rag_core.feedback.store import FeedbackStore
    from rag_core.library import Library

log = logging.getLogger("folio.ui")


def request_id(turn: ChatTurn) -> str:
    """The id of the request that produced a chat answer: in its log line and its rating."""
    return f"ui-{turn.message_id}"


STREAM_INTERVAL = 0.05  # seconds between streamed chatbot updates after the first token
OVERLAY_PAGES = 3  # pages per answer shown with the question's heatmap


@dataclass(frozen=True, slots=True)
class ChatTurn:
    message_id: str
    question: str
    rewrite: Rewrite
    asked_at: datetime
    text: str = ""
    citations: tuple[Citation, ...] = ()
    answer: Answer | None = None
    error: str | None = None
    timings: tuple[Timing, ...] = ()  # ui.rewrite, ui.first_token, ui.total


@dataclass(frozen=True, slots=True)
class ChatState:
    turns: tuple[ChatTurn, ...] = ()
    comment_for: str | None = None  # message id the comment box belongs to
    workspace: str = ""  # the workspace whose answers these are

    def for_workspace(self, workspace: str) -> ChatState:
        """This conversation if it belongs to ``workspace``, else a new, empty one."""
        return self if self.workspace == workspace else ChatState(workspace=workspace)

    def history(self) -> list[Turn]:
        return [
            Turn(turn.question, turn.answer.trace.searched_query, turn.answer.text)
            for turn in self.turns
            if turn.answer is not None
        ]

    def with_last(self, turn: ChatTurn) -> ChatState:
        return replace(self, turns=(*self.turns[:-1], turn))

    def turn_at(self, message_index: int) -> ChatTurn | None:
        """The turn whose answer is chatbot message ``message_index``."""
        if message_index % 2 != 1 or not 0 <= message_index // 2 < len(self.turns):
            return None
        return self.turns[message_index // 2]

    def turn(self, message_id: str) -> ChatTurn | None:
        return next((turn for turn in self.turns if turn.message_id == message_id), None)


@dataclass(frozen=True, slots=True)
class AnswerView:
    """The side panels for one answer."""

    sources: str
    gallery: list[tuple[str, str]] = field(default_factory=list)
    trace: str = ""
    notices: str = ""


def messages(state: ChatState, lang: Lang = "en") -> list[dict[str, Any]]:
    """The chatbot's value: a question and (once something arrived) its answer per turn;
    a finished answer's unsupported and partly supported sentences are marked."""
    out: list[dict[str, Any]] = []
    for turn in state.turns:
        out.append({"role": "user", "content": fmt.literal_markdown(turn.question)})
        if turn.error is not None:
            out.append({"role": "assistant", "content": turn.error})
        elif turn.text:
            titles = {
                c.number: f"{c.doc_name}, page {c.page_number}"
                for c in (turn.answer.citations if turn.answer else turn.citations)
            }
            sentences = turn.answer.sentences if turn.answer else ()
            content = fmt.answer_markdown(turn.text, turn.message_id, titles, sentences, lang)
            out.append({"role": "assistant", "content": content})
    return out


def overlays(library: Library, answer: Answer) -> dict[tuple[str, int], Path]:
    """Heatmaps of the searched query over the answer's top pages (cited ones first).

    Only ``OVERLAY_PAGES`` pages: each costs a pass over the page's patches (the query's
    embedding is the search's, cached by the vision index; the images are cached on disk).
    Empty when the vision index is off or has not read those pages yet."""
    query = answer.trace.searched_query
    pages = [(c.doc_id, c.page) for c in answer.citations]
    pages += [(p.doc_id, p.page) for p in answer.pages]
    found = {}
    for doc_id, page in list(dict.fromkeys(pages))[:OVERLAY_PAGES]:
        path = library.page_heatmap(query, doc_id, page)
        if path is not None:
            found[(doc_id, page)] = path
    return found


def answer_view(library: Library, turn: ChatTurn, notices: Sequence[str], lang: Lang) -> AnswerView:
    answer = turn.answer
    if answer is None:
        return AnswerView(sources="", notices=fmt.notices_markdown(notices))
    heat = overlays(library, answer)
    cards = [source_card(library, c, heat.get((c.doc_id, c.page))) for c in answer.citations]
    gallery = []
    for page in answer.pages:
        caption = f"{page.doc_name} · {t('page', lang, page=page.page_number)}"
        overlay = heat.get((page.doc_id, page.page))
        if overlay is not None:  # the page with where the question matches it
            gallery.append((served_path(overlay), f"{caption} · {t('overlay', lang)}"))
            continue
        image = library.page_image(page.doc_id, page.page)
        if image is not None:
            gallery.append((served_path(image), caption))
    return AnswerView(
        sources=fmt.source_cards_html(cards, turn.message_id, turn.question, lang),
        gallery=gallery,
        trace=fmt.trace_markdown(answer, turn.rewrite, turn.timings, lang),
        notices=fmt.notices_markdown([*notices, *fmt.answer_notices(answer, turn.rewrite, lang)]),
    )


def source_card(
    library: Library, citation: Citation, overlay: Path | None = None
) -> fmt.SourceCard:
    """A citation's card: its passage in the page text, or the page alone for a page found
    by its image; ``overlay``: the page's heatmap for the question. A citation with boxes
    shows them on the thumbnail and the full page, and a crop of the cited lines."""
    before = cited = after = ""
    if citation.kind == "text":
        try:
            page_text = library.page_text(citation.doc_id, citation.page)
        except NotFoundError:  # the document left the library since
            page_text = ""
        before, cited, after = fmt.passage(page_text, citation.start, citation.end)
        if not cited:
            before, cited, after = "", citation.cited_text, ""
    thumb = library.page_image(citation.doc_id, citation.page, thumbnail=True)
    image = library.page_image(citation.doc_id, citation.page)
    pictures = library.citation_pictures(citation)  # the cited lines highlighted, and a crop
    crop = None
    if pictures is not None:
        image, crop = pictures
    return fmt.SourceCard(
        number=citation.number,
        doc_name=citation.doc_name,
        page_number=citation.page_number,
        before=before,
        cited=cited,
        after=after,
        thumb_url=served_url(thumb) if thumb else None,
        image_url=served_url(image) if image else None,
        overlay_url=served_url(overlay) if overlay else None,
        kind=citation.kind,
        crop_url=served_url(crop) if crop else None,
        boxes=citation.boxes if thumb else (),
        ocr=citation.kind == "text" and citation.page in library.ocr_pages(citation.doc_id),
    )


def mode_notices(library: Library, lang: Lang) -> list[str]:
    """What holds for every answer now: extractive mode, the vision index off or behind."""
    notices = [t("notice_extractive", lang)] if library.answer_mode == "extractive" else []
    vision_status = library.vision_status()
    vision = vision_status.notice if vision_status is not None else ""
    if vision:
        notices.append(t("notice_vision", lang, notice=fmt.md_escape(vision.rstrip("."))))
    return notices


ChatOutputs = tuple[Any, ...]  # chatbot, state, question box, sources, gallery, trace, notices


def respond(
    library: Library,
    rewriter: QueryRewriter,
    state: ChatState,
    question: str,
    doc_ids: Sequence[str] | None,
    lang: Lang,
) -> Iterator[ChatOutputs]:
    """Stream an answer to ``question``; the last update fills sources, pages and trace."""
    skip = gr.skip()
    question = (question or "").strip()
    if not question:
        warn(t("empty_question", lang))
        yield (skip,) * 7
        return
    started = time.perf_counter()
    turn = ChatTurn(uuid.uuid4().hex[:12], question, Rewrite(question, "none"), datetime.now(UTC))
    state = replace(state, turns=(*state.turns, turn))
    yield messages(state, lang), state, "", skip, skip, skip, skip
    try:
        rewrite = rewriter.rewrite(question, state.history())
        rewrite_ms = (time.perf_counter() - started) * 1000
        turn = replace(turn, rewrite=rewrite)
        filters = Filters(doc_ids=tuple(doc_ids or ()))
        first_token_ms: float | None = None
        last_yield = 0.0
        answer: Answer | None = None
        for event in library.ask_stream(question, filters, searched_query=rewrite.query):
            if isinstance(event, TextDelta):
                turn = replace(turn, text=turn.text + event.text)
                state = state.with_last(turn)
                now = time.perf_counter()
                if first_token_ms is None:
                    first_token_ms = (now - started) * 1000
                elif now - last_yield < STREAM_INTERVAL:
                    continue
                last_yield = now
                yield messages(state, lang), state, skip, skip, skip, skip, skip
            elif isinstance(event, CitationEvent):
                turn = replace(turn, citations=(*turn.citations, event.citation))
                state = state.with_last(turn)
            elif isinstance(event, AnswerDone):
                answer = event.answer
        if answer is None:
            raise RuntimeError("the answer stream ended without an answer")
        timings = [Timing("ui.rewrite", rewrite_ms)]
        if first_token_ms is not None:
            timings.append(Timing("ui.first_token", first_token_ms))
        total_ms = (time.perf_counter() - started) * 1000
        timings.append(Timing("ui.total", total_ms))
        turn = replace(turn, text=answer.text, answer=answer, timings=tuple(timings))
        log.info(
            "answer",
            extra={
                "request_id": request_id(turn),
                "route": "ui/chat",
                "ms": round(total_ms, 1),
                "workspace": library.workspace,
            },
        )
        state = state.with_last(turn)
        view = answer_view(library, turn, mode_notices(library, lang), lang)
    except Exception as exc:
        error = ui_error(exc, lang)
        failed = state.with_last(
            replace(
                state.turns[-1], error=t("answer_failed", lang, error=error.message), answer=None
            )
        )
        yield messages(failed, lang), failed, skip, skip, skip, skip, skip
        raise error from None
    yield messages(state, lang), state, skip, view.sources, view.gallery, view.trace, view.notices


def show_turn(
    library: Library, state: ChatState, message_index: int, lang: Lang
) -> tuple[Any, ...]:
    """The side panels for the answer a click selected (sources, pages, trace)."""
    turn = state.turn_at(message_index)
    if turn is None or turn.answer is None:
        return gr.skip(), gr.skip(), gr.skip()
    view = answer_view(library, turn, (), lang)
    return view.sources, view.gallery, view.trace


def rate(
    feedback: FeedbackStore,
    state: ChatState,
    message_index: int,
    liked: bool | str | None,
    session_id: str,
    lang: Lang,
) -> tuple[ChatState, Any, Any]:
    """Store (or take back) a thumbs up/down with the answer's trace.

    Returns the state, the comment row's visibility and the comment box's value.
    """
    turn = state.turn_at(message_index)
    if turn is None or turn.answer is None:
        warn(t("cannot_rate", lang))
        return state, gr.update(), gr.update()
    if liked in ("", None):
        with ui_errors(lang):
            feedback.withdraw(session_id, turn.message_id)
        info(t("vote_withdrawn", lang))
        return replace(state, comment_for=None), gr.update(visible=False), ""
    vote = 1 if liked is True else -1
    with ui_errors(lang):
        feedback.rate(
            Rating(
                session_id=session_id,
                message_id=turn.message_id,
                vote=vote,
                answer=turn.answer,
                asked_at=turn.asked_at,
                rewrite=turn.rewrite.method,
                timings=turn.timings,
                language=lang,
                request_id=request_id(turn),
            )
        )
    info(t("rated_up" if vote > 0 else "rated_down", lang))
    return replace(state, comment_for=turn.message_id), gr.update(visible=True), ""


def send_comment(
    feedback: FeedbackStore, state: ChatState, comment: str, session_id: str, lang: Lang
) -> tuple[Any, Any]:
    """Attach the comment to the last rated answer; hides the comment row."""
    if not (comment or "").strip():
        warn(t("comment_empty", lang))
        return gr.update(), gr.update()
    if state.comment_for is None:
        raise error(t("cannot_rate", lang))
    with ui_errors(lang):
        feedback.comment(session_id, state.comment_for, comment)
    info(t("comment_saved", lang))
    return gr.update(visible=False), ""
