"""``Library``: the facade the CLI, the web app and the HTTP API all use.

It receives its parts ready-made (``rag_core.assemble.open_library`` builds them from the
settings; ``Library.open`` is its named constructor) and offers what callers need: add and
remove documents, search, ask, status. Callers never reach into the parts.

Adding, removing, re-indexing and repairing hold the ingest lock: a thread lock within the
process and a file lock (``<data_dir>/locks/<workspace>.lock``) across processes. Repair
after a crash runs only in a process that gets the file lock without waiting: while another
process ingests, the documents it has in hand are not a crash's leftovers.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from rag_core.answer.agentic import Agent, Toolbox
from rag_core.answer.cache import AnswerCache, AnswerKey, answer_key
from rag_core.answer.claims import ClaimCheck
from rag_core.answer.common import Answerer, refusal, stream_answer
from rag_core.answer.decomposer import Decomposer
from rag_core.answer.gate import GateModel, gate_features
from rag_core.config import DEFAULT_WORKSPACE, Settings, safe_folder
from rag_core.embed.embeddings import Embedder
from rag_core.errors import ConfigurationError, DocumentError, InputError, NotFoundError
from rag_core.ingest.boxes import CitationBoxes
from rag_core.ingest.chunking import DENSE_TEXT_VERSION
from rag_core.ingest.highlights import citation_pictures
from rag_core.ingest.lock import IngestLock
from rag_core.ingest.pipeline import Ingestor, Prepared, content_id, unexpected_failure
from rag_core.ingest.readers import clean_name
from rag_core.ingest.rendering import PageImages
from rag_core.ocr import OcrBacklog, OcrEngine, OcrLine, OcrProgress, OcrStatus
from rag_core.retrieve.decompose import NONE, Decomposition
from rag_core.retrieve.retriever import Retriever
from rag_core.retrieve.route import (
    OWN_HEAD,
    choose_route,
    merge_hits,
    merge_pages,
    vision_dominates,
)
from rag_core.sources import Sources
from rag_core.store.registry import DENSE_TEXT_KEY, Registry
from rag_core.types import (
    Answer,
    AnswerDone,
    AnswerEvent,
    Citation,
    CitationEvent,
    Document,
    DocumentMetadata,
    Filters,
    FolderFile,
    Hit,
    IngestReport,
    IngestResult,
    PageImage,
    Progress,
    SearchResult,
    SubqueryTrace,
    Timing,
    Upload,
)
from rag_core.vision import ColVisionEmbedder, VisionIndex, VisionStatus

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
EMBED_BATCH_CHUNKS = 256
FileInput = Path | tuple[str, bytes] | Upload | FolderFile
# How long a question waits for the same question's answer already being computed.
ANSWER_WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class LibraryStatus:
    documents: int
    ready: int
    failed: int
    chunks: int
    pages: int
    embed_model: str
    answer_mode: str
    answer_model: str
    notices: tuple[str, ...]


class Library:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        ingestor: Ingestor,
        retriever: Retriever,
        answerer: Answerer,
        images: PageImages,
        vision: VisionIndex | None = None,
        gate: GateModel | None = None,
        claims: ClaimCheck | None = None,
        answer_cache: AnswerCache | None = None,
        decomposer: Decomposer | None = None,
        agent: Agent | None = None,
        boxes: CitationBoxes | None = None,
        ocr: OcrBacklog | None = None,
    ) -> None:
        self.settings = settings
        self.answer_cache = answer_cache  # repeated questions answered again (issue 17)
        self.decomposer = decomposer  # None: every question is one search
        self.gate = gate or GateModel.load()
        self.claims = claims
        self.agent = agent  # agentic retrieval (FOLIO_AGENT), with a language model only
        self.registry = registry
        self.ingestor = ingestor
        self.retriever = retriever
        self.answerer = answerer
        self.images = images
        self.vision = vision
        self.boxes = boxes or CitationBoxes(self.stored_file, registry.page_text)
        self._ingest_lock = threading.Lock()
        self._process_lock = IngestLock(
            settings.data_dir / "locks" / f"{safe_folder(registry.workspace)}.lock"
        )
        if vision is not None:  # background vision indexing waits for text indexing
            vision.indexer.busy = self._ingest_lock.locked
        self.ocr = ocr
        if ocr is not None:  # so does OCR, which indexes what it read through ``add``'s path
            ocr.busy = self._ingest_lock.locked
            ocr.apply = self._index_ocr_text
        self.sources = Sources(self)  # the watched folders of this workspace

    # Construction -------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        workspace: str = DEFAULT_WORKSPACE,
        embedder: Embedder | None = None,
        answerer: Answerer | None = None,
        recover: bool = True,
        check_model: bool = True,
        vision_embedder: ColVisionEmbedder | None = None,
        decomposer: Decomposer | None = None,
        ocr_engine: OcrEngine | None = None,
    ) -> Library:
        """The library of ``workspace`` built from ``settings`` (``rag_core.assemble``)."""
        from rag_core.assemble import open_library  # the composition module builds the parts

        return open_library(
            settings,
            workspace=workspace,
            embedder=embedder,
            answerer=answerer,
            recover=recover,
            check_model=check_model,
            vision_embedder=vision_embedder,
            decomposer=decomposer,
            ocr_engine=ocr_engine,
        )

    # What callers need, without reaching into the parts -----------------------------------
    @property
    def workspace(self) -> str:
        return self.registry.workspace

    @property
    def answer_mode(self) -> str:
        return self.answerer.mode

    @property
    def answer_model(self) -> str:
        return self.answerer.model

    def vision_status(self) -> VisionStatus | None:
        """The vision index's state and backlog (``None`` where the library has none)."""
        return self.vision.status() if self.vision is not None else None

    def vision_waiting_since(self) -> datetime | None:
        """When the oldest document the vision index has not finished was added."""
        return self.vision.waiting_since() if self.vision is not None else None

    def ocr_status(self) -> OcrStatus | None:
        """OCR's state and backlog (``None`` where the library has none)."""
        return self.ocr.status() if self.ocr is not None else None

    def ocr_waiting_since(self) -> datetime | None:
        """When the oldest document OCR has not finished with was added (None: none, or no
        OCR)."""
        if self.ocr is None or self.ocr.state != "on":
            return None
        return self.ocr.waiting_since()

    def run_ocr(self, on_step: Callable[[OcrProgress], None] | None = None) -> int:
        """Work through the OCR backlog in this thread until it is empty (nothing when OCR is
        off or paused); returns the pages read and documents indexed."""
        self._check_writer()
        if self.ocr is None or self.ocr.state != "on":
            return 0
        return self.ocr.run(on_step)

    def ocr_lines(self, doc_id: str, page: int) -> tuple[OcrLine, ...]:
        """The lines OCR read on a page (0-based), each with its offsets into the page's
        text and its box (fractions of the page, origin top left); ``()`` for a page OCR did
        not read."""
        return self.ocr.lines(doc_id, page) if self.ocr is not None else ()

    def ocr_pages(self, doc_id: str) -> frozenset[int]:
        """The pages (0-based) of a document whose text OCR read."""
        if self.ocr is None or self.ocr.state == "off":
            return frozenset()
        return frozenset(page for _, page in self.ocr.store.done_pages([doc_id]))

    def _index_ocr_text(self, doc_id: str) -> None:
        """Index a document again now that OCR has read its pages (the OCR backlog's
        ``apply``): the ingestor takes their OCR text instead of their text layer."""
        doc = self.registry.document(doc_id)
        if doc is None or doc.status != "ready":
            return  # removed or replaced meanwhile: nothing to index
        path = self.stored_file(doc.id)
        if path is None:
            raise NotFoundError(f"{doc.name}: the uploaded file is not stored")
        with self._ingesting():
            result = self.ingestor.add(doc.name, path.read_bytes(), doc.metadata, force=True)
            self.retriever.snapshot(wait=True)
        if result.status == "failed":
            raise DocumentError(doc.name, result.error or "indexing its OCR text failed")
        self._wake_vision()

    def start_background(self) -> None:
        """Start background indexing of page images and OCR (when on) and the syncing of
        watched folders, on the ingest writer only."""
        if not self.settings.ingest_writer:
            return
        if self.vision is not None:
            self.vision.start()
        if self.ocr is not None:
            self.ocr.start()
        self.sources.start()

    def stop_background(self) -> None:
        """Stop the background workers (they are daemon threads: only tests need this)."""
        if self.vision is not None:
            self.vision.stop(timeout=10)
        if self.ocr is not None:
            self.ocr.stop(timeout=30)
        self.sources.stop(timeout=30)

    def warm_up(self) -> None:
        """Load the current snapshot and the text model, so the first question is fast."""
        self.retriever.snapshot(wait=True)
        self.embedder.embed(["ready"])

    def stored_file(self, doc_id: str) -> Path | None:
        """The stored upload of a document, when it is still there."""
        stored = self.registry.file_path(doc_id)
        path = self.ingestor.files_dir / stored if stored else None
        return path if path is not None and path.is_file() else None

    @property
    def embedder(self) -> Embedder:
        return self.retriever.embedder

    # Documents ----------------------------------------------------------------------------
    def add(
        self,
        files: Sequence[FileInput],
        metadata: DocumentMetadata | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Add files; each succeeds or fails on its own. The indexes are refreshed once.

        ``metadata`` applies to every file that does not bring its own (``Upload.metadata``).
        """
        self._check_writer()
        results: dict[int, IngestResult] = {}
        total = max(1, len(files))
        pending: list[tuple[int, Prepared]] = []

        def flush() -> None:
            done = self.ingestor.complete([p for _, p in pending])
            finished = list(zip(pending, done, strict=True))
            pending.clear()
            for (position, prepared), result in finished:
                results[position] = result
                if progress is not None:
                    progress(Progress(prepared.doc.name, "done", (position + 1) / total))

        with self._ingesting():
            self.ingestor.delete_vectors(self.registry.pending_deletes())  # left by an outage
            try:
                for position, upload in enumerate(files):
                    try:
                        name, data, own = _read_upload(upload)
                    except DocumentError as exc:
                        results[position] = IngestResult(exc.name, "failed", None, str(exc))
                        continue

                    doc_id = content_id(data)
                    if any(p.doc.id == doc_id for _, p in pending):  # the same bytes twice
                        results[position] = IngestResult(name, "unchanged", doc_id)
                        continue

                    def on_stage(
                        stage: str, fraction: float, _n: str = name, _i: int = position
                    ) -> None:
                        if progress is not None:
                            progress(Progress(_n, stage, (_i + fraction) / total))

                    try:
                        prepared = self.ingestor.prepare(name, data, own or metadata, on_stage)
                    except Exception as exc:  # the ingestor fails files itself: a last guard
                        error = f"{name}: {unexpected_failure(name, 'preparing', exc)}"
                        prepared = IngestResult(name, "failed", doc_id, error)
                    if isinstance(prepared, IngestResult):
                        results[position] = prepared
                        continue
                    pending.append((position, prepared))
                    # Small files share embedding batches; a big one goes through on its own.
                    if sum(len(p.new_rows) for _, p in pending) >= EMBED_BATCH_CHUNKS:
                        flush()
                flush()
            finally:
                if pending:  # something escaped: no prepared file is left half done
                    self.ingestor.abandon([p for _, p in pending], "the upload was interrupted")
            if any(r.status in ("added", "replaced") for r in results.values()):
                self.retriever.snapshot(
                    wait=True
                )  # rebuild BM25 and vectors now, not at the next query
                self._wake_vision()
        return IngestReport(tuple(results[i] for i in sorted(results)))

    def remove(self, doc_id: str) -> Document:
        """Remove a document from the registry, every index and the data folder."""
        self._check_writer()
        doc = self.document(doc_id)
        self.remove_many([doc.id])
        return doc

    def remove_many(self, doc_ids: Sequence[str]) -> list[Document]:
        """Remove the documents of ``doc_ids`` that exist, as ``remove`` does one, their
        vectors in one call to the vector store. Returns the documents removed."""
        self._check_writer()
        if not doc_ids:
            return []
        with self._ingesting():
            docs = [d for d in map(self.registry.document, doc_ids) if d is not None]
            gone = [i for doc in docs for i in self.registry.start_removal(doc.id)]
            self.ingestor.delete_vectors(gone)
            for doc in docs:
                self.ingestor.remove_files(doc.id)
        self._wake_vision()
        return docs

    def reindex(self, doc_id: str) -> IngestResult:
        """Index a document again from its stored file (after a failure or a settings change)."""
        self._check_writer()
        doc = self.document(doc_id)
        path = self.stored_file(doc.id)
        if path is None:
            raise NotFoundError(f"{doc.name}: the uploaded file is not stored; upload it again")
        with self._ingesting():
            result = self.ingestor.add(doc.name, path.read_bytes(), doc.metadata, force=True)
            self.retriever.snapshot(wait=True)
        self._wake_vision()
        return result

    def rename(self, doc_id: str, name: str) -> IngestResult:
        """Give a document another name and keep it: same id, page images and vectors.

        It is indexed again from its stored file under the new name, since its chunks' ids and
        contexts follow the name (their vectors come from the cache). The title and year are
        derived again from the new name; category and tags stay. The index snapshot follows
        at the next query, or at ``refresh``.
        """
        self._check_writer()
        doc = self.document(doc_id)
        path = self.stored_file(doc.id)
        if path is None:
            raise NotFoundError(f"{doc.name}: the uploaded file is not stored; upload it again")
        metadata = replace(doc.metadata, title="", year=None)
        with self._ingesting():
            result = self.ingestor.add(name, path.read_bytes(), metadata, force=True)
        self._wake_vision()
        return result

    def refresh(self) -> None:
        """Build the index snapshot of the documents as they are now, not at the next query."""
        self.retriever.snapshot(wait=True)

    @contextlib.contextmanager
    def _ingesting(self) -> Iterator[None]:
        """This thread, and this process, are the only ones changing the documents."""
        try:
            with self._ingest_lock, self._process_lock.hold():
                yield
        finally:
            if self.answer_cache is not None:  # whatever changed, no answer is served again
                self.answer_cache.clear()

    def _check_writer(self) -> None:
        if not self.settings.ingest_writer:
            raise ConfigurationError(
                "This replica only reads (FOLIO_INGEST_WRITER=false): add, remove and "
                "re-index documents on the ingest writer."
            )

    def documents(self) -> list[Document]:
        return self.registry.documents()

    def document(self, doc_id: str) -> Document:
        doc = self.registry.document(doc_id)
        if doc is None:
            raise NotFoundError(f"No document with id {doc_id} in this library")
        return doc

    def find(self, name_or_id: str) -> Document:
        """A document by id, id prefix or exact file name."""
        docs = self.documents()
        for match in (
            [d for d in docs if d.id == name_or_id],
            [d for d in docs if d.name == name_or_id],
            [d for d in docs if len(name_or_id) >= 6 and d.id.startswith(name_or_id)],
        ):
            if len(match) == 1:
                return match[0]
        raise NotFoundError(f"No single document matches '{name_or_id}'")

    def page_text(self, doc_id: str, page: int) -> str:
        text = self.registry.page_text(doc_id, page)
        if text is None:
            raise NotFoundError(f"Page {page + 1} of document {doc_id} is not in the library")
        return text

    def page_image(self, doc_id: str, page: int, thumbnail: bool = False) -> Path | None:
        path = self.images.thumbnail(doc_id, page) if thumbnail else self.images.image(doc_id, page)
        return path if path.exists() else None

    def citation_pictures(self, citation: Citation) -> tuple[Path, Path] | None:
        """(its page with the cited lines highlighted, a crop of those lines) for a citation
        with boxes, drawn once and kept beside the page images; ``None`` without boxes or
        without a page image."""
        return citation_pictures(self.images, citation.doc_id, citation.page, citation.boxes)

    def page_heatmap(self, query: str, doc_id: str, page: int) -> Path | None:
        """The page image with the query's similarity over its patches (a visual citation).

        ``None`` when the vision index is off or has not indexed the page yet.
        """
        if self.vision is None or not query.strip():
            return None
        return self.vision.heatmap(query, doc_id, page)

    def _wake_vision(self) -> None:
        """The registry changed: the vision index and OCR drop stale pages and take new ones."""
        if self.vision is not None:
            self.vision.wake()
        if self.ocr is not None:
            self.ocr.wake()

    # Questions ----------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | None = None,
        searched_query: str | None = None,
        legs: Collection[str] | None = None,
        decompose: bool = True,
    ) -> SearchResult:
        """The top ``k`` chunks and their pages. A question of several parts (when a
        decomposer is configured and ``decompose``) is searched once more per part, with the
        same filters, and the results merged so that each part keeps a place at the top."""
        self.check_query(query, searched_query)
        k = k or self.settings.top_k
        searched = (searched_query or query).strip()
        split = self.split(searched) if decompose else NONE
        notes = (split.note,) if split.note else ()
        if choose_route(len(split.parts)) != "decomposed":
            main = self.retriever.search(query, k, filters, searched_query, legs)
            return self._note_ocr(
                replace(main, trace=replace(main.trace, notes=(*main.trace.notes, *notes)))
            )
        # The question's own search and one per part, over one snapshot, their query
        # embeddings (most of a search's time) in one call.
        searches = [(query, searched), *((part, None) for part in split.parts)]
        results = self.retriever.search_all(searches, k, filters, legs)
        main = results[0]
        subqueries = tuple(
            SubqueryTrace(part, result.pages[:5], sum(t.ms for t in result.trace.timings))
            for part, result in zip(split.parts, results[1:], strict=True)
        )
        trace = replace(
            main.trace,
            route="decomposed",
            subqueries=subqueries,
            split_by=split.rule,
            merge=(
                f"the question's first {OWN_HEAD} pages, then reciprocal rank fusion of every "
                f"search's pages; each part's best page kept in the first {self.settings.top_k}"
                f" (and its best chunk in the first {k})"
            ),
            notes=(*main.trace.notes, *notes),
            timings=(
                *main.trace.timings,
                *(Timing(f"part {i}", s.ms) for i, s in enumerate(subqueries, start=1)),
            ),
        )
        merged = SearchResult(
            merge_hits([r.hits for r in results], k),
            trace,
            merge_pages([r.pages for r in results], self.settings.top_k),
        )
        return self._note_ocr(merged)

    def split(self, question: str) -> Decomposition:
        """The sub-queries of ``question`` (none without a decomposer, or for one search)."""
        return self.decomposer.split(question) if self.decomposer is not None else NONE

    def _note_ocr(self, result: SearchResult) -> SearchResult:
        """The result with a trace note naming the hits' pages whose text OCR read."""
        if self.ocr is None or self.ocr.state == "off" or not result.hits:
            return result
        read = self.ocr.store.done_pages([h.chunk.doc_id for h in result.hits])
        names = {h.chunk.doc_id: h.doc_name for h in result.hits}
        pages = sorted({(h.chunk.doc_id, h.chunk.page) for h in result.hits} & read)
        if not pages:
            return result
        listed = ", ".join(f"{names[d]} p. {p + 1}" for d, p in pages)
        note = f"OCR text (no usable text layer): {listed}"
        return replace(result, trace=replace(result.trace, notes=(*result.trace.notes, note)))

    def check_query(self, question: str, searched_query: str | None = None) -> None:
        """An ``InputError`` naming the field when a question is empty or too long."""
        if not question.strip():
            raise InputError("question", "is empty")
        limit = self.settings.max_query_chars
        for field, value in (("question", question), ("searched_query", searched_query or "")):
            if len(value) > limit:
                raise InputError(
                    field,
                    f"is {len(value)} characters, over the limit of {limit} "
                    "(FOLIO_MAX_QUERY_CHARS)",
                )

    def ask(
        self, question: str, filters: Filters | None = None, searched_query: str | None = None
    ) -> Answer:
        for event in self.ask_stream(question, filters, searched_query):
            if isinstance(event, AnswerDone):
                return event.answer
        raise RuntimeError("no answer produced")

    def ask_stream(
        self, question: str, filters: Filters | None = None, searched_query: str | None = None
    ) -> Iterator[AnswerEvent]:
        """Text and citations as they come, then the answer with its sentences checked.

        A question asked again over the same library, filters and answerer is answered from
        the answer cache (``FOLIO_ANSWER_CACHE``), streamed as the same kinds of events.
        Each citation comes with its boxes on the page (``Citation.boxes``), whatever the
        answerer; the answer's timings have the stage ``boxes``.
        """
        cache = self.answer_cache
        key = self.answer_key(question, filters, searched_query) if cache is not None else None
        claimed = False
        if cache is not None and key is not None:
            started = time.perf_counter()
            # The same question already being answered: wait for that answer.
            cached, claimed = cache.join(key, timeout=ANSWER_WAIT_S)
            if cached is not None:
                timings = (Timing("cache", (time.perf_counter() - started) * 1000),)
                yield from stream_answer(replace(cached, question=question, timings=timings))
                return
        elif cache is not None:
            cache.skip()
        answer: Answer | None = None
        try:
            loaded = self.retriever.snapshot().generation if key is not None else None
            for event in self._boxed(self._answer_stream(question, filters, searched_query)):
                if isinstance(event, AnswerDone):
                    answer = event.answer
                    # Only an answer from the snapshot of the key's generation is kept.
                    same = loaded == self.retriever.snapshots.generation
                    if cache is not None and key is not None and same and loaded == key.generation:
                        cache.put(key, event.answer)
                yield event
        finally:
            if claimed and cache is not None and key is not None:
                cache.release(key, answer)  # to those asking the same meanwhile

    def answer_key(
        self, question: str, filters: Filters | None, searched_query: str | None
    ) -> AnswerKey | None:
        """What an answer to ``question`` depends on (``rag_core.answer.cache``)."""
        answerer = self.answerer
        claims = self.claims
        vision = self.vision_status() if self.retriever.page_leg is not None else None
        progress = vision.progress if vision is not None else None
        checks = (
            (type(claims).__name__, claims.name) if claims is not None else None,
            (self.gate.threshold, self.gate.embed_model),
            (progress.done, progress.total) if progress is not None else None,
            self.settings.top_k,
        )
        return answer_key(
            self.registry.generation(),
            question,
            filters,
            searched_query,
            (type(answerer).__name__, answerer.mode, answerer.model),
            checks,
        )

    def _boxed(self, events: Iterator[AnswerEvent]) -> Iterator[AnswerEvent]:
        """``events`` with each citation boxed on its page and, at the end, the answer's
        sentences checked against the passages they cite."""
        boxed: dict[Citation, Citation] = {}
        spent = 0.0
        for event in events:
            started = time.perf_counter()
            if isinstance(event, CitationEvent):
                event = CitationEvent(self._box(event.citation, boxed))
                spent += time.perf_counter() - started
            elif isinstance(event, AnswerDone):
                answer = event.answer
                citations = tuple(self._box(c, boxed) for c in answer.citations)
                spent += time.perf_counter() - started
                timings = (*answer.timings, Timing("boxes", spent * 1000))
                answer = replace(answer, citations=citations, timings=timings)
                event = AnswerDone(self.check_claims(answer))
            yield event

    def citation_boxes(self, citation: Citation) -> Citation:
        """``citation`` with its boxes on the page (``rag_core.ingest.boxes``)."""
        return self.boxes.with_boxes(citation)

    def _box(self, citation: Citation, done: dict[Citation, Citation]) -> Citation:
        if citation not in done:
            done[citation] = self.boxes.with_boxes(citation)
        return done[citation]

    def check_claims(self, answer: Answer) -> Answer:
        """``answer`` with each sentence labelled against the passages it cites (timed as
        the stage ``claims``); as it is when the check is off."""
        if self.claims is None:
            return answer
        started = time.perf_counter()
        sentences = self.claims.check(answer)
        ms = (time.perf_counter() - started) * 1000
        return replace(answer, sentences=sentences, timings=(*answer.timings, Timing("claims", ms)))

    def _answer_stream(
        self, question: str, filters: Filters | None, searched_query: str | None
    ) -> Iterator[AnswerEvent]:
        started = time.perf_counter()
        result = self.search(question, filters=filters, searched_query=searched_query)
        retrieve_ms = (time.perf_counter() - started) * 1000
        answerer = self.answerer
        images = self._visual_pages(result)
        reads_images = bool(images) and answerer.reads_images
        t = time.perf_counter()
        evidence = self.evidence_score(result)
        timings = (
            Timing("retrieve", retrieve_ms),
            Timing("gate", (time.perf_counter() - t) * 1000),
        )
        # The router: pages the model reads as images are answered from them; otherwise a
        # configured agent takes weak evidence and questions of several parts.
        route = choose_route(
            len(result.trace.subqueries),
            agentic_available=self.agent is not None and not reads_images,
            evidence_score=evidence,
            gate_threshold=self.gate.threshold,
            vision_dominates=vision_dominates(result.pages, result.hits, self.settings.top_k),
            reads_images=reads_images,
        )
        result = replace(result, trace=replace(result.trace, route=route))
        if route == "agentic":
            parts = tuple(sub.query for sub in result.trace.subqueries)
            yield from self._agentic_stream(question, filters, result, timings, evidence, parts)
            return
        if evidence < self.gate.threshold and not reads_images:
            refused = refusal(
                question, result, answerer.mode, answerer.model, timings, images, False
            )
            yield from stream_answer(replace(refused, evidence_score=evidence))
            return
        stream = (
            answerer.stream(question, result, images)
            if images
            else answerer.stream(question, result)
        )
        for event in stream:
            if isinstance(event, AnswerDone):
                answer = event.answer
                event = AnswerDone(
                    replace(answer, timings=(*timings, *answer.timings), evidence_score=evidence)
                )
            yield event

    def ask_agentic(
        self,
        question: str,
        filters: Filters | None = None,
        searched_query: str | None = None,
        first: SearchResult | None = None,
        parts: Sequence[str] = (),
    ) -> Iterator[AnswerEvent]:
        """The agentic loop's answer (``rag_core.answer.agentic``), whatever the first
        search's evidence: the model may search and read pages within ``filters`` before it
        answers; text and citations, then the answer with its sentences checked. ``first``
        is the first search's result when the caller has it (else it is searched here);
        ``parts`` are the sub-questions when a router split the question (the model is shown
        them and may search each).
        A ``ConfigurationError`` when no language model answers (``FOLIO_AGENT=off`` or the
        extractive answerer)."""
        if self.agent is None:
            raise ConfigurationError(
                "Agentic retrieval needs a language model (ANTHROPIC_API_KEY or "
                "FOLIO_LLM_BASE_URL) and FOLIO_AGENT=auto"
            )
        started = time.perf_counter()
        if first is None:
            first = self.search(question, filters=filters, searched_query=searched_query)
        retrieve_ms = (time.perf_counter() - started) * 1000
        t = time.perf_counter()
        evidence = self.evidence_score(first)
        timings = (
            Timing("retrieve", retrieve_ms),
            Timing("gate", (time.perf_counter() - t) * 1000),
        )
        yield from self._boxed(
            self._agentic_stream(question, filters, first, timings, evidence, parts)
        )

    def _agentic_stream(
        self,
        question: str,
        filters: Filters | None,
        first: SearchResult,
        timings: tuple[Timing, ...],
        evidence: float,
        parts: Sequence[str] = (),
    ) -> Iterator[AnswerEvent]:
        assert self.agent is not None
        for event in self.agent.stream(question, first, self.toolbox(filters), parts):
            if isinstance(event, AnswerDone):
                answer = event.answer
                score = evidence if answer.evidence_score is None else answer.evidence_score
                event = AnswerDone(
                    replace(answer, timings=(*timings, *answer.timings), evidence_score=score)
                )
            yield event

    def toolbox(self, filters: Filters | None) -> Toolbox:
        """The agent's tools for one question, searching within ``filters``."""
        scope = filters or Filters()

        def search(query: str, document: str | None, k: int) -> tuple[Hit, ...]:
            narrowed = scope
            if document is not None:
                narrowed = replace(scope, doc_ids=(self._agent_document(document, scope).id,))
            return self.search(query, k, narrowed).hits

        def read_page(document: str, page: int) -> tuple[Hit, ...]:
            doc = self._agent_document(document, scope)
            if page > doc.pages:
                raise InputError("page", f"{doc.name} has {doc.pages} pages, not {page}")
            chunks = [r.chunk for r in self.registry.chunk_rows(doc.id) if r.chunk.page == page - 1]
            ready = self.registry.ready_chunks([c.id for c in chunks])
            found = [ready[c.id] for c in chunks if c.id in ready]
            return tuple(
                Hit(chunk, name, 0.0, rank) for rank, (chunk, name) in enumerate(found, start=1)
            )

        return Toolbox(search, read_page, self.evidence_score, self.gate.threshold)

    def _agent_document(self, name_or_id: str, scope: Filters) -> Document:
        """The document a tool call names, if the question's filters allow it."""
        doc = self.find(name_or_id.strip())
        if not scope.empty and doc.id not in self.registry.filtered_doc_ids(scope):
            raise InputError(
                "document", f"{doc.name} is outside the documents this question searches"
            )
        return doc

    def _visual_pages(self, result: SearchResult) -> tuple[PageImage, ...]:
        """Top pages the vision leg found that no text hit covers, with their images.

        Taken from the best ``top_k`` fused pages, at most ``vision_answer_pages`` of them.
        """
        limit = self.settings.vision_answer_pages
        if limit <= 0:
            return ()
        covered = {(h.chunk.doc_id, h.chunk.page) for h in result.hits}
        found: list[PageImage] = []
        for page in result.pages[: self.settings.top_k]:
            if (page.doc_id, page.page) in covered:
                continue
            if not any(leg.leg == "vision" for leg in page.legs):
                continue
            path = self.page_image(page.doc_id, page.page)
            if path is not None:
                found.append(PageImage(page.doc_id, page.doc_name, page.page, path))
            if len(found) == limit:
                break
        return tuple(found)

    def evidence_score(self, result: SearchResult) -> float:
        """The evidence gate's score: how likely the hits hold the answer (0..1)."""
        dense_on = self.gate.embed_model == self.embedder.name and any(
            leg.leg == "dense" and leg.status == "on" for leg in result.trace.legs
        )
        features = gate_features(
            result.trace.searched_query or result.trace.query,
            result.hits,
            self.retriever.tokenizer,
            dense_on,
        )
        return self.gate.score(features)

    def reembed(self) -> int:
        """Embed every ready chunk with this library's embedder and make it the index's model.

        Used after changing FOLIO_EMBED_MODEL (open with ``check_model=False``). Vectors go
        to a collection of the new model; the old one is left as it was. Returns the number
        of chunks embedded.
        """
        self._check_writer()
        with self._ingesting():
            count = self.ingestor.reembed_all()
            self.registry.set_meta("embed_model", self.embedder.name)
            self.registry.bump_generation()
            self.retriever.snapshot(wait=True)
        return count

    # Health -------------------------------------------------------------------------------
    def status(self) -> LibraryStatus:
        docs = self.documents()
        ready = [d for d in docs if d.status == "ready"]
        notices = []
        if self.answer_mode == "extractive":
            notices.append(
                "Extractive answers: no language model is configured (ANTHROPIC_API_KEY, "
                "FOLIO_LLM_BASE_URL or FOLIO_ANSWERER), so answers are the best-supported "
                "sentences from your documents, not written by a language model."
            )
        vision_status = self.vision_status()
        vision = vision_status.notice if vision_status is not None else ""
        if vision:
            notices.append(vision)
        ocr_status = self.ocr_status()
        if ocr_status is not None and ocr_status.notice:
            notices.append(ocr_status.notice)
        return LibraryStatus(
            documents=len(docs),
            ready=len(ready),
            failed=sum(1 for d in docs if d.status == "failed"),
            chunks=sum(d.chunks for d in ready),
            pages=sum(d.pages for d in ready),
            embed_model=self.embedder.name,
            answer_mode=self.answerer.mode,
            answer_model=self.answerer.model,
            notices=tuple(notices),
        )

    def recover(self) -> list[IngestResult]:
        """Finish or roll back what a crash interrupted; drop vectors nobody owns.

        Only when no other process ingests into this workspace: what it has in hand is not
        left over from a crash (it repairs nothing then, and returns no results).
        """
        with self._ingest_lock, self._process_lock.try_hold() as held:
            if not held:
                log.info(
                    "workspace %s: not repaired now, process %s is ingesting into it",
                    self.workspace,
                    self._process_lock.holder() or "(unknown)",
                )
                return []
            self.ingestor.drain_deletes()
            results = []
            for doc in self.registry.unfinished():
                try:
                    results.append(self.ingestor.resume(doc))
                except DocumentError as exc:
                    self.ingestor._rollback(doc.id, exc.reason)
            self._refresh_vectors()
            self._sweep_files()
        return results

    def _refresh_vectors(self) -> None:
        """Once after an upgrade that changed what the embedder reads of a chunk
        (``DENSE_TEXT_VERSION``): the chunks whose embedded text changed get new vectors, and
        the index is written again over them."""
        if self.registry.meta(DENSE_TEXT_KEY) == DENSE_TEXT_VERSION:
            return
        log.info(
            "workspace %s: vectors written by an older Folio; embedding again the chunks "
            "whose embedded text changed (once; a large library takes minutes)",
            self.workspace,
        )
        started = time.perf_counter()
        try:
            count = self.ingestor.refresh_vectors()
        except Exception as exc:  # a Chroma server down: what is left waits for the next open
            log.warning(
                "workspace %s: vectors not all embedded again (%s); the rest when the "
                "library next opens", self.workspace, exc,
            )  # fmt: skip
            return
        self.registry.set_meta(DENSE_TEXT_KEY, DENSE_TEXT_VERSION)
        self.registry.bump_generation()
        log.info(
            "workspace %s: %d chunks embedded again for dense text version %s in %.1f s",
            self.workspace, count, DENSE_TEXT_VERSION, time.perf_counter() - started,
        )  # fmt: skip

    def _sweep_files(self) -> None:
        known = {d.id for d in self.documents()}
        for folder in (self.images.root, self.ingestor.files_dir):
            if not folder.exists():
                continue
            for child in folder.iterdir():
                if child.name.split(".")[0] not in known:
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)


def _read_upload(upload: FileInput) -> tuple[str, bytes, DocumentMetadata | None]:
    if isinstance(upload, FolderFile):  # named by the folder scan, not by a client
        try:
            return upload.name, upload.path.read_bytes(), None
        except OSError as exc:
            raise DocumentError(upload.name, f"cannot be read ({exc.strerror or exc})") from exc
    if isinstance(upload, Upload):
        return clean_name(upload.name), upload.data, upload.metadata
    if isinstance(upload, tuple):
        return clean_name(upload[0]), upload[1], None
    path = Path(upload)
    try:
        return path.name, path.read_bytes(), None
    except OSError as exc:
        raise DocumentError(path.name, f"cannot be read ({exc.strerror or exc})") from exc
