"""Folio's composition root: the only place that builds concrete objects and launches the app."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from rag_core.config import Settings
from rag_core.library import Library
from ui.app import build_app


def create(settings: Settings) -> object:
    library = Library.open(settings)
    if library.vision is not None:
        library.vision.start()  # index page images in the background (no-op when it is off)
    return build_app(library)


def main() -> None:
    settings = Settings.from_env()
    demo = create(settings)
    demo.queue().launch(server_name=settings.host, server_port=settings.port)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
