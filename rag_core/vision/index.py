"""The vision index as the library uses it: availability, the page-level search leg,
heatmaps for visual citations, and background indexing.

Building it is cheap: whether the model's files are on this machine is checked without
loading them, and the model loads on the first page to index or query to embed. When the
model is missing (and ``enabled`` is ``auto``) the index is off and says why; everything
else in Folio works without it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Container, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np

from rag_core.background import oldest_added
from rag_core.errors import ConfigurationError
from rag_core.ingest.rendering import PageImages
from rag_core.store.registry import Registry
from rag_core.types import Document, LegTrace, page_key
from rag_core.vision.heatmap import overlay, patch_scores
from rag_core.vision.indexer import VisionIndexer, VisionProgress
from rag_core.vision.model import PageEmbedder, QueryEmbedding
from rag_core.vision.search import search_pages
from rag_core.vision.store import VisionStore

VisionState = Literal["on", "off", "unavailable", "failed"]
LEG = "vision"
CPU_ONLY = (
    "no GPU here, and on a CPU the model takes about 80 s to index a page and 5 s per "
    "question; FOLIO_VISION_ENABLED=on turns it on anyway"
)


@dataclass(frozen=True, slots=True)
class VisionConfig:
    enabled: Literal["auto", "on", "off"]
    pool_factor: int
    candidates: int  # pages re-scored exactly after the first stage
    representatives: int  # vectors per page in the first stage
    batch_size: int
    weight: float  # of the vision leg in page-level fusion


@dataclass(frozen=True, slots=True)
class VisionStatus:
    state: VisionState
    model: str
    reason: str  # why it is not on
    progress: VisionProgress | None  # when on

    @property
    def notice(self) -> str:
        """What a person should know, or ``""``."""
        if self.state == "off":
            return "Vision index off (FOLIO_VISION_ENABLED=off)"
        if self.state != "on":
            return f"Vision index off: {self.reason}"
        p = self.progress
        if p is None:
            return ""
        if p.error:
            return f"Vision index: {p.done}/{p.total} pages; {p.error}"
        if p.remaining <= 0:
            return ""
        text = f"Vision index: {p.done}/{p.total} pages"
        if p.paused:
            return text + " (paused)"
        if p.pages_per_second:
            text += f", about {_duration(p.remaining / p.pages_per_second)} left"
        return text


class VisionIndex:
    def __init__(
        self,
        registry: Registry,
        images: PageImages,
        folder: Path,
        embedder: PageEmbedder,
        config: VisionConfig,
    ) -> None:
        self.registry = registry
        self.images = images
        self.folder = folder
        self.embedder = embedder
        self.config = config
        self.state: VisionState = "on"
        self.reason = ""
        self._queries: OrderedDict[str, QueryEmbedding] = OrderedDict()
        self._lock = threading.Lock()
        if config.enabled == "off":
            self.state = "off"
        else:
            try:
                embedder.check()
            except ConfigurationError as exc:
                if config.enabled == "on":
                    raise ConfigurationError(
                        f"Vision index (FOLIO_VISION_ENABLED=on): {exc}"
                    ) from exc
                self.state, self.reason = "unavailable", str(exc)
            else:
                if config.enabled == "auto" and not embedder.accelerated():
                    # Measured here: ~80 s to index a page and ~5 s per question on a CPU.
                    self.state, self.reason = "unavailable", CPU_ONLY
        self.store = VisionStore(folder / "store", embedder.name, config.representatives)
        if self.state == "on":
            self.store.open()
        self.indexer = VisionIndexer(
            registry,
            images,
            self.store,
            embedder,
            pool_factor=config.pool_factor,
            batch_size=config.batch_size,
        )

    def waiting_since(self) -> datetime | None:
        """When the oldest document still waiting for page vectors was added (None: none)."""
        return oldest_waiting(self.registry.documents(), self.indexer.store.keys())

    def status(self) -> VisionStatus:
        if self.state == "on" and self.indexer.fatal:
            self._fail(ConfigurationError(self.indexer.fatal))
        if self.state != "on":
            return VisionStatus(self.state, self.embedder.name, self.reason, None)
        return VisionStatus("on", self.embedder.name, "", self.indexer.progress())

    def _require_on(self) -> None:
        if self.state != "on":
            raise ConfigurationError(self.status().notice)

    # Indexing -----------------------------------------------------------------------------
    def start(self) -> None:
        """Index pending pages in the background (nothing happens when the index is off)."""
        if self.state == "on":
            self.indexer.start()

    def stop(self, timeout: float | None = None) -> None:
        self.indexer.stop(timeout)

    def wake(self) -> None:
        """The registry changed: drop stale pages now and index new ones."""
        if self.state == "on":
            self.indexer.sync()
            self.indexer.wake()

    def run(self, on_batch: Callable[[VisionProgress], None] | None = None) -> int:
        """Index every pending page now, in this thread; returns the number of pages."""
        self._require_on()
        try:
            return self.indexer.run(on_batch)
        except ConfigurationError as exc:
            self._fail(exc)
            raise

    def pause(self) -> None:
        self._require_on()
        self.indexer.pause()

    def resume(self) -> None:
        self._require_on()
        self.indexer.resume()

    def _fail(self, exc: Exception) -> None:
        self.state, self.reason = "failed", str(exc)

    # Searching ----------------------------------------------------------------------------
    def _query(self, text: str) -> QueryEmbedding:
        with self._lock:
            cached = self._queries.get(text)
            if cached is not None:
                self._queries.move_to_end(text)
                return cached
        embedding = self.embedder.embed_queries([text])[0]
        with self._lock:
            self._queries[text] = embedding
            while len(self._queries) > 64:
                self._queries.popitem(last=False)
        return embedding

    def search(self, query: str, n: int, doc_ids: Collection[str]) -> LegTrace:
        """The best ``n`` pages of the documents ``doc_ids`` by exact MaxSim, as a leg."""
        started = time.perf_counter()
        weight = self.config.weight
        if self.state != "on":
            return LegTrace(LEG, 0.0, "off", self.status().notice, (), 0.0)
        matrix = self.store.matrix()
        if not matrix.keys:
            return LegTrace(
                LEG, 0.0, "off", "vision leg off: no page is indexed yet", (), _ms(started)
            )
        try:
            embedding = self._query(query)
        except ConfigurationError as exc:
            self._fail(exc)
            return LegTrace(LEG, 0.0, "off", f"vision leg off: {exc}", (), _ms(started))
        rows: np.ndarray | None = matrix.rows_for(doc_ids)
        if rows is not None and len(rows) == len(matrix.keys):
            rows = None  # every page: no copy of the representatives
        found = search_pages(
            embedding.vectors,
            matrix.coarse,
            matrix.fetch,
            len(matrix.keys),
            n,
            self.config.candidates,
            rows,
        )
        ranked = tuple((page_key(*matrix.keys[row]), score) for row, score in found)
        note = ""
        progress = self.indexer.progress()
        if progress.remaining > 0:
            note = f"vision leg: {progress.done}/{progress.total} pages indexed so far"
        return LegTrace(LEG, weight, "on", note, ranked, _ms(started))

    # Visual citations ---------------------------------------------------------------------
    def heatmap(self, query: str, doc_id: str, page: int) -> Path | None:
        """A JPEG of the page with the query's similarity over its patches, or ``None`` when
        the index is off or the page is not indexed."""
        if self.state != "on":
            return None
        stored = self.store.get(doc_id, page)
        source = self.images.image(doc_id, page)
        if stored is None or not source.exists():
            return None
        key = "\0".join((self.embedder.name, query, doc_id, str(page), str(self.store.version())))
        target = self.folder / "heatmaps" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.jpg"
        if target.exists():
            return target
        try:
            embedding = self._query(query)
        except ConfigurationError as exc:
            self._fail(exc)
            return None
        words = embedding.content if embedding.content.any() else slice(None)
        tokens = embedding.vectors[words]
        scores = patch_scores(tokens, stored.vectors, stored.labels, stored.grid)
        from PIL import Image

        with Image.open(source) as image:
            picture = overlay(image, scores)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        picture.save(tmp, format="JPEG", quality=85)
        os.replace(tmp, target)
        _prune(target.parent, keep=256)
        return target


def _prune(folder: Path, keep: int) -> None:
    files = sorted(folder.glob("*.jpg"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def oldest_waiting(
    documents: Iterable[Document], indexed: Container[tuple[str, int]]
) -> datetime | None:
    """When the oldest ready PDF with pages not in ``indexed`` (``(doc id, page)``) was added."""
    return oldest_added(
        d
        for d in documents
        if d.status == "ready"
        and d.kind == "pdf"
        and any((d.id, page) not in indexed for page in range(d.pages))
    )
