"""The Gradio app: built from a ready ``Library``; ``app.py`` composes and launches it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag_core import FolioError, TextDelta
from rag_core.library import Library
from rag_core.types import AnswerDone


def documents_table(library: Library) -> list[list[Any]]:
    return [
        [
            d.name,
            d.pages,
            d.chunks,
            d.pages_without_text,
            d.added_at.strftime("%Y-%m-%d %H:%M"),
            d.status,
            d.error or "",
        ]
        for d in library.documents()
    ]


def build_app(library: Library) -> gr.Blocks:
    def upload(files: list[str] | None) -> tuple[list[list[Any]], str]:
        if not files:
            return documents_table(library), ""
        report = library.add([Path(f) for f in files])
        lines = [
            f"{r.name}: {r.status}" + (f" — {r.error}" if r.error else "") for r in report.results
        ]
        return documents_table(library), "\n".join(lines)

    def chat(message: str, history: list[dict[str, Any]]) -> Iterator[str]:
        text = ""
        try:
            for event in library.ask_stream(message):
                if isinstance(event, TextDelta):
                    text += event.text
                    yield text
                elif isinstance(event, AnswerDone):
                    sources = "\n".join(
                        f"[{c.number}] {c.doc_name}, page {c.page_number}"
                        for c in event.answer.citations
                    )
                    yield text + (f"\n\n{sources}" if sources else "")
        except FolioError as exc:
            raise gr.Error(str(exc)) from exc

    with gr.Blocks(title="Folio") as demo:
        gr.Markdown("# Folio")
        with gr.Tab("Library"):
            files = gr.File(file_count="multiple", file_types=[".pdf", ".md", ".txt", ".docx"])
            status = gr.Textbox(label="Upload result", interactive=False)
            table = gr.Dataframe(
                headers=[
                    "Name",
                    "Pages",
                    "Chunks",
                    "Pages without text",
                    "Added",
                    "Status",
                    "Error",
                ],
                value=lambda: documents_table(library),
                interactive=False,
            )
            files.upload(upload, files, [table, status])
        with gr.Tab("Chat"):
            gr.ChatInterface(chat)
    return demo
