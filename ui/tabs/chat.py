"""The Chat tab: streaming cited answers, sources, retrieved pages, trace, ratings.

``build`` lays the tab out and wires its events; the handlers here find the request's
workspace and language and call ``ui.chat``. The document filter and the notices are filled
by ``ui.app.build_app`` too (from the library view and on load).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import chat
from ..context import Context, lang_of, row_of, session_of
from ..i18n import label


@dataclass(frozen=True, slots=True)
class ChatTab:
    notices: gr.Markdown
    doc_filter: gr.Dropdown
    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    comment_row: gr.Row
    comment: gr.Textbox
    comment_send: gr.Button
    sources: gr.HTML
    gallery: gr.Gallery
    trace: gr.Markdown
    state: gr.State  # a chat.ChatState


def on_chat(
    ctx: Context,
    state: chat.ChatState,
    text: str,
    doc_ids: list[str] | None,
    request: gr.Request,
) -> Any:
    name = ctx.workspace(request)
    library = ctx.library(request, name)
    state = state.for_workspace(name)
    yield from chat.respond(library, ctx.rewriter, state, text, doc_ids, lang_of(request))


def on_like(ctx: Context, state: chat.ChatState, event: gr.LikeData, request: gr.Request) -> Any:
    name = ctx.workspace(request)
    state = state.for_workspace(name)
    return chat.rate(
        ctx.feedback(request, name),
        state,
        row_of(event),
        event.liked,
        session_of(request),
        lang_of(request),
    )


def on_select(
    ctx: Context, state: chat.ChatState, event: gr.SelectData, request: gr.Request
) -> Any:
    name = ctx.workspace(request)
    state = state.for_workspace(name)
    return chat.show_turn(ctx.library(request, name), state, row_of(event), lang_of(request))


def on_clear() -> tuple[Any, ...]:
    return chat.ChatState(), "", [], "", gr.update(visible=False)


def on_comment(ctx: Context, state: chat.ChatState, text: str, request: gr.Request) -> Any:
    name = ctx.workspace(request)
    state = state.for_workspace(name)
    return chat.send_comment(
        ctx.feedback(request, name), state, text, session_of(request), lang_of(request)
    )


def layout() -> ChatTab:
    with gr.Row():
        with gr.Column(scale=3):
            notices = gr.Markdown(elem_id="notices")
            doc_filter = gr.Dropdown(
                label=label("filter_label"),
                choices=[],
                multiselect=True,
                elem_id="doc-filter",
            )
            chatbot = gr.Chatbot(label=label("chatbot_label"), height=520, elem_id="chatbot")
            with gr.Row(equal_height=True):
                question = gr.Textbox(
                    placeholder=label("question_placeholder"),
                    show_label=False,
                    scale=5,
                    elem_id="question",
                )
                send = gr.Button(label("send_button"), variant="primary", scale=1)
            with gr.Row(visible=False, elem_id="comment-row") as comment_row:
                comment = gr.Textbox(label=label("comment_label"), scale=5, elem_id="comment")
                comment_send = gr.Button(label("comment_button"), scale=1)
        with gr.Column(scale=2):
            sources = gr.HTML(elem_id="sources")
            gallery = gr.Gallery(
                label=label("gallery_label"),
                columns=3,
                height=280,
                object_fit="contain",
                elem_id="pages",
            )
            with gr.Accordion(label("trace_label"), open=False, elem_id="trace-box"):
                trace = gr.Markdown(elem_id="trace")
    state = gr.State(chat.ChatState())
    return ChatTab(
        notices,
        doc_filter,
        chatbot,
        question,
        send,
        comment_row,
        comment,
        comment_send,
        sources,
        gallery,
        trace,
        state,
    )


def build(ctx: Context, concurrency: int) -> ChatTab:
    """The tab; at most ``concurrency`` answers stream at once across the app."""
    with gr.Tab(label("tab_chat"), id="chat"):
        tab = layout()
    answering = ctx.bind(on_chat)
    shown = [tab.chatbot, tab.state, tab.question, tab.sources, tab.gallery, tab.trace, tab.notices]
    for trigger, name in ((tab.question.submit, "chat"), (tab.send.click, "chat_button")):
        trigger(
            answering,
            [tab.state, tab.question, tab.doc_filter],
            shown,
            api_name=name,
            api_visibility="public" if name == "chat" else "private",
            concurrency_limit=concurrency,
            concurrency_id="chat",
            show_progress="minimal",
        )
    tab.chatbot.like(ctx.bind(on_like), tab.state, [tab.state, tab.comment_row, tab.comment])
    tab.chatbot.select(
        ctx.bind(on_select),
        tab.state,
        [tab.sources, tab.gallery, tab.trace],
        api_visibility="private",
    )
    tab.chatbot.clear(
        on_clear,
        None,
        [tab.state, tab.sources, tab.gallery, tab.trace, tab.comment_row],
        api_visibility="private",
    )
    commenting = ctx.bind(on_comment)
    tab.comment_send.click(commenting, [tab.state, tab.comment], [tab.comment_row, tab.comment])
    tab.comment.submit(commenting, [tab.state, tab.comment], [tab.comment_row, tab.comment])
    return tab
