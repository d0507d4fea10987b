"""Folio's composition root: the only place that builds concrete objects and launches the app."""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import gradio as gr

from rag_core.config import Settings
from rag_core.conversation import ClaudeRewriter, QueryRewriter, RuleRewriter
from rag_core.feedback import FeedbackStore
from rag_core.library import Library
from ui.app import build_app, launch_options


def rewriter_for(settings: Settings) -> QueryRewriter:
    if settings.anthropic_api_key:
        return ClaudeRewriter(
            settings.anthropic_api_key,
            model=settings.rewrite_model,
            base_url=settings.anthropic_base_url,
        )
    return RuleRewriter()


def create(settings: Settings) -> tuple[gr.Blocks, Library]:
    library = Library.open(settings)
    if library.vision is not None and settings.ingest_writer:
        library.vision.start()  # index page images in the background (no-op when it is off)
    feedback = FeedbackStore.open(settings.feedback_url)
    demo = build_app(
        library, feedback, rewriter_for(settings), chat_concurrency=settings.chat_concurrency
    )
    return demo, library


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings.from_env()
    demo, library = create(settings)
    demo.queue(default_concurrency_limit=4).launch(
        server_name=settings.host, server_port=settings.port, **launch_options(library)
    )


if __name__ == "__main__":
    main()
