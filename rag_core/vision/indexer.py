"""Background vision indexing that follows the registry.

The work list is derived, never queued: pages of ready PDF documents that the store does not
hold yet. So indexing survives restarts (it continues where the store stops), and it follows
the registry: the pages of a document that left it (removed, or replaced by a new version
with a new id) are deleted from the store before each batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rag_core.background import BackgroundWorker
from rag_core.errors import ConfigurationError
from rag_core.ingest.rendering import PageImages
from rag_core.store.registry import Registry
from rag_core.vision.model import PageEmbedder
from rag_core.vision.pooling import pool_page, representatives
from rag_core.vision.store import PageVectors, VisionStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VisionProgress:
    done: int  # pages of ready documents with vectors
    total: int  # pages of ready documents that have page images (PDFs)
    paused: bool
    running: bool  # a background worker is alive
    pages_per_second: float | None  # measured over this process's recent batches
    error: str  # why indexing stopped, or pages it had to skip

    @property
    def remaining(self) -> int:
        return self.total - self.done


class VisionIndexer:
    def __init__(
        self,
        registry: Registry,
        images: PageImages,
        store: VisionStore,
        embedder: PageEmbedder,
        *,
        pool_factor: int = 3,
        batch_size: int = 4,
    ) -> None:
        self.registry = registry
        self.images = images
        self.store = store
        self.embedder = embedder
        self.pool_factor = pool_factor
        self.batch_size = batch_size
        # The background worker waits while this says so (the library: text ingest running).
        self.busy: Callable[[], bool] = lambda: False
        self.error = ""  # the last batch failed (retried)
        self.fatal = ""  # the model cannot be used: indexing stopped
        self._skipped: set[tuple[str, int]] = set()
        self._rate: tuple[int, float] = (0, 0.0)  # pages, seconds
        self._step_lock = threading.Lock()
        self.worker = BackgroundWorker(
            "folio-vision",
            lambda: self.step(),
            store,
            busy=lambda: self.busy(),
            on_turn=self._clear_error,
            on_error=self._failed,
            on_fatal=self._stopped,
            # The model loads now, so that the first query does not wait for it.
            prepare=lambda: self.embedder.load(),
        )

    # The work list ------------------------------------------------------------------------
    def _ready_pdfs(self) -> dict[str, int]:
        """Ready documents that have page images, with their page counts."""
        return {
            d.id: d.pages
            for d in self.registry.documents()
            if d.status == "ready" and d.kind == "pdf"
        }

    def sync(self) -> int:
        """Delete the pages of documents no longer ready in the registry; returns how many."""
        # On every change: only the documents the vision index holds are looked up.
        have = self.store.doc_ids()
        stale = have - self.registry.doc_ids(("ready",), among=have)
        dropped = self.store.delete_docs(sorted(stale))
        if dropped:
            self.store.compact()
        return dropped

    def pending(self) -> list[tuple[str, int]]:
        """Pages still to embed, document by document (after dropping stale ones)."""
        self.sync()
        have = self.store.keys()
        return [
            (doc_id, page)
            for doc_id, pages in self._ready_pdfs().items()
            for page in range(pages)
            if (doc_id, page) not in have and (doc_id, page) not in self._skipped
        ]

    def progress(self) -> VisionProgress:
        ready = self._ready_pdfs()
        have = self.store.keys()
        done = sum(1 for doc_id, page in have if page < ready.get(doc_id, 0))
        pages, seconds = self._rate
        error = self.fatal or self.error
        if not error and self._skipped:
            error = f"{len(self._skipped)} pages skipped: their page image is missing"
        return VisionProgress(
            done=done,
            total=sum(ready.values()),
            paused=self.store.paused(),
            running=self.worker.running,
            pages_per_second=pages / seconds if pages and seconds > 0 else None,
            error=error,
        )

    # Work ---------------------------------------------------------------------------------
    def step(self) -> int:
        """Embed and store one batch of pending pages; returns the number stored."""
        with self._step_lock:
            todo = self.pending()[: self.batch_size]
            if not todo:
                return 0
            from PIL import Image

            pages, loaded = [], []
            for doc_id, page in todo:
                path = self.images.image(doc_id, page)
                try:
                    with Image.open(path) as image:
                        loaded.append(image.convert("RGB"))
                    pages.append((doc_id, page))
                except OSError:
                    self._skipped.add((doc_id, page))
            if not pages:
                return 0
            started = time.perf_counter()
            embeddings = self.embedder.embed_pages(loaded)
            vectors = []
            for (doc_id, page), embedding in zip(pages, embeddings, strict=True):
                pooled = pool_page(
                    embedding.vectors, embedding.patches, embedding.grid, self.pool_factor
                )
                reps = representatives(pooled.vectors, self.store.m)
                vectors.append(
                    PageVectors(doc_id, page, pooled.vectors, reps, pooled.labels, pooled.grid)
                )
            ready = self._ready_pdfs()  # a document may have gone while we embedded
            self.store.add([v for v in vectors if v.doc_id in ready])
            done, seconds = self._rate
            self._rate = (done + len(pages), seconds + time.perf_counter() - started)
            return len(pages)

    def run(self, on_batch: Callable[[VisionProgress], None] | None = None) -> int:
        """Index every pending page in the foreground (unless paused); returns pages stored."""
        return self.worker.drain(None if on_batch is None else lambda: on_batch(self.progress()))

    # Background ---------------------------------------------------------------------------
    def start(self) -> None:
        """Index in a daemon thread; it sleeps when nothing is pending until ``wake``, and
        waits while ``busy()`` (text indexing goes first)."""
        self.worker.start()

    def stop(self, timeout: float | None = None) -> None:
        self.worker.stop(timeout)

    def wake(self) -> None:
        self.worker.wake()

    def pause(self) -> None:
        self.worker.pause()

    def resume(self) -> None:
        self.worker.resume()

    def _clear_error(self) -> None:
        self.error = ""

    def _failed(self, exc: Exception) -> None:
        self.error = f"vision indexing failed, retrying: {exc}"
        log.exception("vision indexing batch failed")

    def _stopped(self, exc: ConfigurationError) -> None:  # the model cannot load
        self.fatal = str(exc)
        log.error("vision indexing stopped: %s", exc)
