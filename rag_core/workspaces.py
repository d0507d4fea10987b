"""Workspaces: one ``Library`` and one feedback store per workspace, sharing the models.

A workspace is a separate library inside the same registry database, Chroma server and data
folder: its documents, chunks, vectors, page images, snapshots and ratings are keyed by the
workspace name, and every read filters by it. ``Workspaces`` opens each library on first use
and keeps it, so the text and vision models are loaded once for all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rag_core.assemble import open_library, text_embedder_for, vision_embedder_for
from rag_core.config import DEFAULT_WORKSPACE, Settings, check_workspace
from rag_core.embed.embeddings import Embedder
from rag_core.feedback.store import FeedbackStore
from rag_core.library import Library


class Workspaces:
    """The libraries and feedback stores of every workspace, opened lazily and kept."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        on_open: Callable[[Library], None] | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or text_embedder_for(settings)
        self._vision = vision_embedder_for(settings)
        self._on_open = on_open
        self._libraries: dict[str, Library] = {}
        self._feedback: dict[str, FeedbackStore] = {}
        self._lock = threading.Lock()
        self._store: FeedbackStore | None = None

    def library(self, name: str = DEFAULT_WORKSPACE) -> Library:
        check_workspace(name)
        with self._lock:
            library = self._libraries.get(name)
            if library is None:
                library = open_library(
                    self.settings,
                    workspace=name,
                    embedder=self.embedder,
                    vision_embedder=self._vision,
                )
                self._libraries[name] = library
                if self._on_open is not None:
                    self._on_open(library)
            return library

    def feedback(self, name: str = DEFAULT_WORKSPACE) -> FeedbackStore:
        check_workspace(name)
        with self._lock:
            store = self._feedback.get(name)
            if store is None:
                if self._store is None:  # one engine and one migration run for all of them
                    self._store = FeedbackStore.open(self.settings.feedback_url, name)
                    store = self._store
                else:
                    store = FeedbackStore(self._store.engine, name)
                self._feedback[name] = store
            return store

    def opened(self) -> list[str]:
        """The workspaces whose library has been opened in this process."""
        with self._lock:
            return sorted(self._libraries)
