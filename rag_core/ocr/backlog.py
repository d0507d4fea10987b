"""Background OCR that follows the registry, as the vision indexer does.

The backlog is derived, never queued: pages of ready PDF documents whose text layer
``needs_ocr`` and that the OCR store has no row for. So it survives restarts (it continues
where the store stops), includes documents added before OCR existed, and follows the
registry: rows of documents that left it (removed, or replaced by a version with a new id)
are deleted before each step.

Once every page of a document that needs OCR has its row, the document is indexed again
(``apply``, given by the library: under the ingest lock, through the ordinary pipeline), and
the ingestor takes the OCR text of those pages instead of their text layer. That the
registry's page text equals the stored OCR text is how a document is known to be done, so a
crash between OCR and indexing is repaired by the next step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from rag_core.background import BackgroundWorker, oldest_added
from rag_core.errors import ConfigurationError
from rag_core.ingest.pdfium_lock import PDFIUM
from rag_core.ocr.engine import REPAIR_VERSION, OcrEngine, OcrLine
from rag_core.ocr.rule import needs_ocr
from rag_core.ocr.store import OcrStore
from rag_core.store.registry import Registry
from rag_core.types import Document

log = logging.getLogger(__name__)

OcrState = Literal["on", "off", "unavailable", "failed"]
MAX_OCR_PIXELS = 16_000_000  # a page is drawn smaller than ocr_dpi to stay within this


@dataclass(frozen=True, slots=True)
class OcrConfig:
    enabled: Literal["auto", "on", "off"]
    threads: int
    dpi: int


@dataclass(frozen=True, slots=True)
class OcrProgress:
    done: int  # pages of ready documents OCR has read (or failed on)
    total: int  # pages of ready documents that need OCR
    failed: int
    paused: bool
    running: bool  # a background worker is alive
    pages_per_second: float | None  # this process's recent pages
    error: str  # why OCR stopped, or the last failure

    @property
    def remaining(self) -> int:
        return self.total - self.done


@dataclass(frozen=True, slots=True)
class OcrStatus:
    state: OcrState
    reason: str  # why it is not on
    progress: OcrProgress | None  # when on

    @property
    def notice(self) -> str:
        """What a person should know (the Library tab's progress line), or ``""``."""
        if self.state == "off":
            return ""
        if self.state != "on":
            return f"OCR off: {self.reason}"
        p = self.progress
        if p is None or (p.remaining <= 0 and not p.failed and not p.error):
            return ""
        text = f"OCR: {p.done}/{p.total} pages"
        if p.failed:
            text += f", {p.failed} failed (python -m rag_core ocr status)"
        if p.error:
            text += f"; {p.error}"
        if p.remaining > 0 and p.paused:
            text += " (paused)"
        elif p.remaining > 0 and p.pages_per_second:
            text += f", about {max(1, round(p.remaining / p.pages_per_second))} s left"
        return text


class OcrBacklog:
    def __init__(
        self,
        registry: Registry,
        files_dir: Path,
        folder: Path,
        engine: OcrEngine,
        config: OcrConfig,
    ) -> None:
        self.registry = registry
        self.files_dir = files_dir
        self.engine = engine
        self.config = config
        self.store = OcrStore(folder)
        self.state: OcrState = "on"
        self.reason = ""
        if config.enabled == "off":
            self.state = "off"
        else:
            try:
                engine.check()
            except ConfigurationError as exc:
                if config.enabled == "on":
                    raise ConfigurationError(f"OCR (FOLIO_OCR=on): {exc}") from exc
                self.state, self.reason = "unavailable", str(exc)
        # Given by the library: index a document again (under the ingest lock) ...
        self.apply: Callable[[str], object] = lambda doc_id: None
        # ... and wait while it ingests.
        self.busy: Callable[[], bool] = lambda: False
        self.error = ""
        self._settled: set[str] = set()  # documents with nothing left to read
        self._applied: set[str] = set()  # documents indexed with their OCR text (recorded)
        self._unappliable: set[str] = set()  # indexing with OCR text failed (this process)
        self._rate: tuple[int, float] = (0, 0.0)  # pages read, wall seconds reading them
        self._step_lock = threading.Lock()
        self._rederived = False  # the store's pages are of this REPAIR_VERSION (this process)
        self.worker = BackgroundWorker(
            "folio-ocr",
            lambda: self.step(),
            self.store,
            busy=lambda: self.busy(),
            on_error=self._failed,
            on_fatal=self._stopped,
        )

    # Reading what OCR found ---------------------------------------------------------------
    def page_texts(self, doc_id: str) -> dict[int, str]:
        """The OCR text of the pages of ``doc_id`` OCR read (the ingestor's override)."""
        return self.store.texts(doc_id) if self.state != "off" else {}

    def lines(self, doc_id: str, page: int) -> tuple[OcrLine, ...]:
        """The lines OCR read on a page (none when OCR is off: its text is not indexed)."""
        return self.store.lines(doc_id, page) if self.state != "off" else ()

    def indexed_lines(self, doc_id: str, page: int) -> tuple[OcrLine, ...]:
        """The lines OCR read on a page that is indexed with their text (the citation boxes'
        lines): their offsets hold only then, and OCR may have read a page whose document is
        not indexed again yet. ``()`` for any other page."""
        read = self.store.page(doc_id, page) if self.state != "off" else None
        if read is None or not read.lines or not self._indexed(doc_id, page, read.text):
            return ()
        return read.lines

    def _indexed(self, doc_id: str, page: int, ocr_text: str) -> bool:
        """Whether the page is indexed with its OCR text ``ocr_text``: recorded once its
        document is (``_applied``), else read from the registry (another process may have
        indexed it)."""
        return doc_id in self._applied or self.registry.page_text(doc_id, page) == ocr_text

    # The work list ------------------------------------------------------------------------
    def _ready_pdfs(self) -> dict[str, Document]:
        return {
            d.id: d for d in self.registry.documents() if d.status == "ready" and d.kind == "pdf"
        }

    def sync(self) -> int:
        """Delete the rows of documents the registry no longer has; returns how many."""
        # On every change: only the documents OCR holds rows of are looked up, not every one.
        have = self.store.doc_ids()
        stale = have - self.registry.doc_ids(("ready", "indexing"), among=have)
        self._settled -= stale
        self._applied -= stale
        return self.store.delete_docs(sorted(stale))

    def pending(self) -> list[tuple[str, int]]:
        """Pages still to read, document by document (after dropping stale rows)."""
        self.sync()
        have = self.store.keys()
        todo: list[tuple[str, int]] = []
        for doc_id in self._ready_pdfs():
            if doc_id in self._settled:
                continue
            pages = [
                (doc_id, p.index)
                for p in self.registry.pages(doc_id)
                if (doc_id, p.index) not in have and needs_ocr(p.text)
            ]
            if not pages:
                self._settled.add(doc_id)
            todo.extend(pages)
        return todo

    def unapplied(self) -> list[str]:
        """Ready documents OCR has finished whose index does not hold its text yet."""
        ready = self._ready_pdfs()
        waiting = set()
        for doc_id, _page in self.pending():
            waiting.add(doc_id)
        found = []
        for doc_id in sorted(self.store.doc_ids() & set(ready)):
            if doc_id in waiting or doc_id in self._applied or doc_id in self._unappliable:
                continue
            texts = self.store.texts(doc_id)
            if all(self._indexed(doc_id, p, t) for p, t in texts.items()):
                self._applied.add(doc_id)
            else:
                found.append(doc_id)
        return found

    def waiting_since(self) -> datetime | None:
        """When the oldest document with pages still to read, or read but not yet indexed
        with their text, was added (None: none waits)."""
        waiting = {doc_id for doc_id, _page in self.pending()} | set(self.unapplied())
        return oldest_added(d for d in self._ready_pdfs().values() if d.id in waiting)

    def progress(self) -> OcrProgress:
        ready = self._ready_pdfs()
        pending = len(self.pending())
        rows = self.store.keys()
        done = sum(1 for doc_id, page in rows if page < getattr(ready.get(doc_id), "pages", 0))
        failed = sum(1 for f in self.store.failures() if f.doc_id in ready)
        pages, seconds = self._rate
        return OcrProgress(
            done=done,
            total=done + pending,
            failed=failed,
            paused=self.store.paused(),
            running=self.worker.running,
            pages_per_second=pages / seconds if pages and seconds > 0 else None,
            error=self.error,
        )

    def status(self) -> OcrStatus:
        if self.state != "on":
            return OcrStatus(self.state, self.reason, None)
        return OcrStatus("on", "", self.progress())

    # Work ---------------------------------------------------------------------------------
    def step(self) -> int:
        """Index one finished document with its OCR text, or read the next pending pages
        (as many at once as the engine has workers); returns how many of those it did
        (0: nothing is left)."""
        with self._step_lock:
            if not self._rederived:
                # Pages read by an older repair are made again from what was read; the
                # documents whose text changed are then indexed again, one per step.
                changed = self.store.rederive(REPAIR_VERSION)
                self._rederived = True
                if changed:
                    log.info(
                        "OCR: %d pages made again with repair version %d", changed, REPAIR_VERSION
                    )
            for doc_id in self.unapplied():
                self._apply(doc_id)
                return 1
            todo = self.pending()[: max(1, self.engine.workers)]
            if not todo:
                return 0
            started = time.perf_counter()
            if len(todo) == 1:
                self._read(*todo[0])
            else:
                with ThreadPoolExecutor(len(todo), thread_name_prefix="folio-ocr-page") as pool:
                    for future in [pool.submit(self._read, doc_id, p) for doc_id, p in todo]:
                        future.result()  # a ConfigurationError (or a crash) goes on up
            pages, seconds = self._rate
            self._rate = (pages + len(todo), seconds + time.perf_counter() - started)
            return len(todo)

    def _apply(self, doc_id: str) -> None:
        try:
            self.apply(doc_id)
        except Exception as exc:
            self._unappliable.add(doc_id)
            self.error = f"indexing the OCR text of {doc_id} failed: {exc}"
            log.exception("indexing the OCR text of %s failed", doc_id)
            return
        self._applied.add(doc_id)

    def _read(self, doc_id: str, page: int) -> None:
        """OCR one page into the store; a page OCR fails on gets its reason and the rest go on."""
        started = time.perf_counter()
        try:
            image = self._render(doc_id, page)
            read = self.engine.read(image)
        except ConfigurationError:
            raise  # the engine cannot work at all: nothing to record per page
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.warning("OCR of %s page %d failed: %s", doc_id, page + 1, reason)
            if self._still_ready(doc_id):
                self.store.fail(doc_id, page, reason)
            return
        seconds = time.perf_counter() - started
        if self._still_ready(doc_id):  # it may have been removed while we read
            self.store.put(doc_id, page, read, seconds)

    def _still_ready(self, doc_id: str) -> bool:
        doc = self.registry.document(doc_id)
        return doc is not None and doc.status == "ready"

    def _render(self, doc_id: str, page: int):  # type: ignore[no-untyped-def]
        """The page drawn at ``dpi`` (smaller when it would exceed MAX_OCR_PIXELS)."""
        import pypdfium2 as pdfium

        stored = self.registry.file_path(doc_id)
        if not stored or not (self.files_dir / stored).is_file():
            raise FileNotFoundError("the stored PDF is missing")
        data = (self.files_dir / stored).read_bytes()
        with PDFIUM:  # pdfium is not thread-safe: ingest and citation boxes use it too
            pdf = pdfium.PdfDocument(data, password="")
            try:
                width, height = pdf.get_page_size(page)
                scale = self.config.dpi / 72
                pixels = width * height * scale * scale
                if pixels > MAX_OCR_PIXELS:
                    scale *= (MAX_OCR_PIXELS / pixels) ** 0.5
                handle = pdf[page]
                try:
                    return handle.render(scale=scale).to_pil()
                finally:
                    handle.close()
            finally:
                pdf.close()

    def run(self, on_step: Callable[[OcrProgress], None] | None = None) -> int:
        """Work through the backlog in the foreground (unless paused) until it is empty;
        returns the number of pages read and documents indexed."""
        self._require_on()
        return self.worker.drain(None if on_step is None else lambda: on_step(self.progress()))

    def _require_on(self) -> None:
        if self.state != "on":
            raise ConfigurationError(self.status().notice or "OCR is off (FOLIO_OCR=off)")

    # Background ---------------------------------------------------------------------------
    def start(self) -> None:
        """Read pending pages in a daemon thread; it sleeps when nothing is pending until
        ``wake``, and waits while ``busy()`` (text indexing goes first)."""
        if self.state == "on":
            self.worker.start()

    def stop(self, timeout: float | None = None) -> None:
        self.worker.stop(timeout)

    def wake(self) -> None:
        """The registry changed: drop stale rows now and read new pages."""
        if self.state == "on":
            self.sync()
            self.worker.wake()

    def pause(self) -> None:
        self._require_on()
        self.worker.pause()

    def resume(self) -> None:
        self._require_on()
        self.worker.resume()

    def _failed(self, exc: Exception) -> None:
        self.error = f"OCR failed, retrying: {exc}"
        log.exception("OCR step failed")

    def _stopped(self, exc: ConfigurationError) -> None:  # the engine cannot load
        self.state, self.reason = "failed", str(exc)
        log.error("OCR stopped: %s", exc)
