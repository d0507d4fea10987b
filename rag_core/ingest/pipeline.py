"""Adding one file: check, extract, render, chunk, embed, index; idempotent and crash-safe.

The order of writes is what makes a crash harmless:
1. the stored file and a document row in status ``indexing`` (with its pages);
2. chunk rows in status ``pending`` (only for chunks the previous version did not have);
3. vectors into the cache and the vector store (upserts: repeating them is harmless);
4. one transaction that makes the chunks ``ready``, retires the previous version and queues
   the ids no document uses any more in ``pending_deletes``;
5. those ids leave the vector store and the queue.
A restart finds a document still ``indexing`` and runs it again from its stored file, and
drains ``pending_deletes``; the BM25 index and vector snapshot are rebuilt from ready
chunks only, so they can never hold an orphan.

Whatever goes wrong with one file (a limit, a broken file, an exception nobody foresaw,
memory running out) fails that file with a reason in words and rolls it back; the other
files of the batch go on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from rag_core.embed.embeddings import Embedder, EmbeddingCache, readable_unknown_ratio, text_hash
from rag_core.embed.sentences import SentenceVectors, quotable_sentences
from rag_core.errors import DocumentError
from rag_core.index.dense import ChromaStore
from rag_core.index.lexical import LexicalTokenizer
from rag_core.ingest.chunking import chunk_document, dense_text
from rag_core.ingest.readers import KINDS, MB, ExtractedDocument, ReadLimits, read_document
from rag_core.ingest.rendering import PageImages, RenderLimits, check_pixels, render_pdf
from rag_core.store.registry import ChunkRow, Registry
from rag_core.text import document_title
from rag_core.types import Chunk, Document, DocumentMetadata, IngestResult, PageText, Timing

log = logging.getLogger(__name__)

StageCallback = Callable[[str, float], None]  # (stage, fraction of this file done)

# Share of one file's work per stage, for progress bars.
_STAGES = {"read": (0.0, 0.05), "render": (0.05, 0.3), "embed": (0.3, 0.9), "index": (0.9, 1.0)}


@dataclass(frozen=True, slots=True)
class IngestConfig:
    max_bytes: int
    max_pages: int
    chunk_tokens: int
    chunk_overlap: int
    render_dpi: int
    thumb_width: int
    max_unknown_ratio: float  # chunks above this are kept out of the dense leg
    max_page_pixels: int
    max_document_pixels: int
    max_page_content_mb: float
    max_document_content_mb: float
    max_page_render_seconds: float
    max_document_render_seconds: float
    max_docx_xml_mb: float

    @property
    def read_limits(self) -> ReadLimits:
        return ReadLimits(
            page_content=int(self.max_page_content_mb * MB),
            document_content=int(self.max_document_content_mb * MB),
            docx_xml=int(self.max_docx_xml_mb * MB),
            docx_other=self.max_bytes,
        )

    @property
    def render_limits(self) -> RenderLimits:
        return RenderLimits(
            dpi=self.render_dpi,
            thumb_width=self.thumb_width,
            max_page_pixels=self.max_page_pixels,
            max_document_pixels=self.max_document_pixels,
            max_page_seconds=self.max_page_render_seconds,
            max_document_seconds=self.max_document_render_seconds,
        )


def content_id(data: bytes) -> str:
    """A document's identity: the hash of its bytes."""
    return hashlib.sha256(data).hexdigest()[:32]


def chunk_id(workspace: str, name: str, page: int, indexed_text: str, occurrence: int) -> str:
    key = f"{workspace}\0{name}\0{page}\0{occurrence}\0{indexed_text}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Prepared:
    """A document checked, extracted, rendered, chunked and registered, awaiting vectors."""

    doc: Document
    rows: tuple[ChunkRow, ...]
    new_rows: tuple[ChunkRow, ...]  # rows whose vectors are not stored yet
    replaces: str | None
    timings: tuple[Timing, ...]
    report: StageCallback


class Ingestor:
    """Adds documents in two phases, so many small files share embedding batches:
    ``prepare`` (per file) and ``complete`` (per batch of prepared files)."""

    def __init__(
        self,
        registry: Registry,
        cache: EmbeddingCache,
        embedder: Embedder,
        chroma: ChromaStore,
        tokenizer: LexicalTokenizer,
        images: PageImages,
        files_dir: Path,
        config: IngestConfig,
        sentences: SentenceVectors | None = None,
    ) -> None:
        self.registry = registry
        self.sentences = sentences  # the extractive answerer's sentence vectors, made here
        self.cache = cache
        self.embedder = embedder
        self.chroma = chroma
        self.tokenizer = tokenizer
        self.images = images
        self.files_dir = files_dir
        self.config = config
        # Text read elsewhere for some pages of a document (OCR), by page: it replaces
        # their text layer whenever the document is indexed (given by the composition).
        self.page_texts: Callable[[str], Mapping[int, str]] = lambda doc_id: {}

    # Public -------------------------------------------------------------------------------
    def add(
        self,
        name: str,
        data: bytes,
        metadata: DocumentMetadata | None = None,
        on_stage: StageCallback | None = None,
        force: bool = False,
    ) -> IngestResult:
        """Add one file. The same bytes again are a no-op unless ``force`` (re-index)."""
        prepared = self.prepare(name, data, metadata, on_stage, force)
        if isinstance(prepared, IngestResult):
            return prepared
        return self.complete([prepared])[0]

    def prepare(
        self,
        name: str,
        data: bytes,
        metadata: DocumentMetadata | None = None,
        on_stage: StageCallback | None = None,
        force: bool = False,
    ) -> Prepared | IngestResult:
        """Everything up to the vectors; an ``IngestResult`` when there is nothing more to do."""
        report = on_stage or (lambda stage, fraction: None)
        started = time.perf_counter()
        doc_id = content_id(data) if data else "empty-" + text_hash(name)[:26]
        existing = self.registry.document(doc_id)
        if existing is not None and existing.status == "ready" and not force:
            return IngestResult(
                name,
                "unchanged",
                doc_id,
                None,
                existing.pages,
                existing.chunks,
                existing.pages_without_text,
            )
        report("read", 0.0)
        try:
            extracted = self._read(name, data)
        except Exception as exc:  # MemoryError included: this file fails, the batch goes on
            reason = _reason(name, "reading", exc)
            kind = KINDS.get(Path(name).suffix.lower(), "unknown")
            self.registry.record_failure(_stub(doc_id, name, kind, len(data)), reason)
            return IngestResult(name, "failed", doc_id, f"{name}: {reason}")
        return self._prepare(name, data, doc_id, extracted, metadata, report, started)

    def complete(self, batch: Sequence[Prepared]) -> list[IngestResult]:
        """Embed the batch's new chunks together, store them, make each document live."""
        if not batch:
            return []
        lap = time.perf_counter()
        try:
            computed = self._embed_and_store(batch)
        except Exception as exc:
            if len(batch) > 1:  # one file's chunks may be at fault: each file on its own
                log.warning("embedding %d files failed (%s); one by one", len(batch), exc)
                return [result for p in batch for result in self.complete([p])]
            [p] = batch
            return [self._failed(p, unexpected_failure(p.doc.name, "embedding", exc))]
        embed_ms = _ms(lap)
        total_new = sum(len(p.new_rows) for p in batch) or 1
        results = []
        for p in batch:
            lap = time.perf_counter()
            p.report("index", _STAGES["index"][0])
            try:
                gone = self.registry.finish_document(p.doc.id, p.rows, p.replaces)
                self.delete_vectors(gone)
                if p.replaces:
                    self.remove_files(p.replaces)
            except Exception as exc:
                results.append(self._failed(p, unexpected_failure(p.doc.name, "indexing", exc)))
                continue
            p.report("index", 1.0)
            share = embed_ms * len(p.new_rows) / total_new
            timings = (*p.timings, Timing("embed", share), Timing("index", _ms(lap)))
            embedded = computed.get(p.doc.id, 0)
            results.append(
                IngestResult(
                    name=p.doc.name,
                    status="replaced" if p.replaces else "added",
                    doc_id=p.doc.id,
                    pages=p.doc.pages,
                    chunks=len(p.rows),
                    pages_without_text=p.doc.pages_without_text,
                    embedded=embedded,
                    reused=len(p.rows) - embedded,
                    timings=timings,
                )
            )
        return results

    def resume(self, doc: Document) -> IngestResult:
        """Finish a document a crash left in status ``indexing``, or roll it back."""
        stored = self.registry.file_path(doc.id)
        path = self.files_dir / stored if stored else None
        if path is None or not path.exists():
            self._rollback(doc.id, "indexing was interrupted and the uploaded file is missing")
            return IngestResult(doc.name, "failed", doc.id, "interrupted; file missing")
        return self.add(doc.name, path.read_bytes(), doc.metadata, force=True)

    def drain_deletes(self) -> int:
        ids = self.registry.pending_deletes()
        if ids:
            self.chroma.delete(ids)
            self.registry.clear_pending_deletes(ids)
        return len(ids)

    def delete_vectors(self, ids: Sequence[str]) -> None:
        """Delete the vectors of chunks that are gone (already queued in pending_deletes).

        When the vector store fails they stay queued, to be deleted at the next ingest or
        start; queries never see them meanwhile (they are not in the snapshot).
        """
        if not ids:
            return
        try:
            self.chroma.delete(ids)
        except Exception as exc:
            log.warning("%d vectors left queued for deletion: %s", len(ids), exc)
            return
        self.registry.clear_pending_deletes(ids)

    # Steps --------------------------------------------------------------------------------
    def _read(self, name: str, data: bytes) -> ExtractedDocument:
        """The file's text, after every check that needs no storage (``DocumentError``)."""
        if len(data) > self.config.max_bytes:
            raise DocumentError(
                name,
                f"is {len(data) / MB:.1f} MB, over the upload limit of "
                f"{round(self.config.max_bytes / MB, 2):g} MB (FOLIO_MAX_UPLOAD_MB)",
            )
        extracted = read_document(name, data, self.config.max_pages, self.config.read_limits)
        if extracted.kind == "pdf":
            check_pixels(name, extracted.page_sizes, self.config.render_limits)
        return extracted

    def _prepare(
        self,
        name: str,
        data: bytes,
        doc_id: str,
        extracted: ExtractedDocument,
        metadata: DocumentMetadata | None,
        report: StageCallback,
        started: float,
    ) -> Prepared | IngestResult:
        meta = _merge_metadata(extracted.metadata, metadata)
        replaced = self.page_texts(doc_id) if extracted.kind == "pdf" else {}
        if replaced:
            pages = tuple(PageText(p.index, replaced.get(p.index, p.text)) for p in extracted.pages)
            extracted = replace(extracted, pages=pages)
        doc = Document(
            id=doc_id,
            name=name,
            kind=extracted.kind,
            size_bytes=len(data),
            pages=len(extracted.pages),
            chunks=0,
            pages_without_text=extracted.pages_without_text,
            status="indexing",
            error=None,
            added_at=datetime.now(UTC),
            metadata=meta,
        )
        timings = [Timing("extract", _ms(started))]
        try:
            previous = self.registry.ready_document_named(name)
            replaces = previous.id if previous is not None and previous.id != doc_id else None
            stored = self._store_file(doc_id, name, data)
            self.registry.begin_document(
                doc, extracted.pages, [text_hash(p.text) for p in extracted.pages], stored, replaces
            )
            if extracted.kind == "pdf":
                lap = time.perf_counter()
                lo, hi = _STAGES["render"]
                render_pdf(
                    name,
                    data,
                    doc_id,
                    self.images,
                    self.config.render_limits,
                    on_page=lambda done, total: report("render", lo + (hi - lo) * done / total),
                )
                timings.append(Timing("render", _ms(lap)))
            lap = time.perf_counter()
            rows = self._chunk_rows(doc_id, name, extracted, meta)
            # Chunks the previous version (or this one, when re-indexed) already has ready
            # need no vectors; pending rows of an interrupted try are stored again.
            old_ids = self.registry.ready_chunk_ids(replaces) if replaces else set()
            old_ids |= self.registry.ready_chunk_ids(doc_id)
            new_rows = [r for r in rows if r.chunk.id not in old_ids]
            self.registry.add_pending_chunks(new_rows)
            timings.append(Timing("chunk", _ms(lap)))
        except Exception as exc:  # MemoryError included: this file fails, the batch goes on
            reason = _reason(name, "indexing", exc)
            self._give_up(doc, reason)
            return IngestResult(name, "failed", doc_id, f"{name}: {reason}")
        return Prepared(doc, tuple(rows), tuple(new_rows), replaces, tuple(timings), report)

    def abandon(self, batch: Sequence[Prepared], reason: str) -> list[IngestResult]:
        """Roll back prepared documents that will not be completed."""
        return [self._failed(p, reason) for p in batch]

    def _failed(self, prepared: Prepared, reason: str) -> IngestResult:
        self._rollback(prepared.doc.id, reason)
        return IngestResult(
            prepared.doc.name, "failed", prepared.doc.id, f"{prepared.doc.name}: {reason}"
        )

    def _chunk_rows(
        self, doc_id: str, name: str, extracted: ExtractedDocument, meta: DocumentMetadata
    ) -> list[ChunkRow]:
        budget = min(self.config.chunk_tokens, max(16, self.embedder.max_tokens - 48))
        specs = chunk_document(
            extracted.pages,
            self.embedder.count_tokens,
            title=document_title(meta.title, name),
            max_tokens=budget,
            overlap_tokens=self.config.chunk_overlap,
        )
        page_text = {p.index: p.text for p in extracted.pages}
        chunks = [
            Chunk(
                "",
                doc_id,
                s.page,
                s.ordinal,
                s.start,
                s.end,
                page_text[s.page][s.start : s.end],
                s.context,
            )
            for s in specs
        ]
        indexed = [c.indexed_text for c in chunks]
        embedded = [dense_text(c.context, c.text) for c in chunks]
        readable = self._readable(embedded)
        tokens = self.tokenizer.tokenize_many(indexed)
        seen: dict[tuple[int, str], int] = {}
        rows: list[ChunkRow] = []
        for chunk, text, vector_text, ok, toks in zip(
            chunks, indexed, embedded, readable, tokens, strict=True
        ):
            occurrence = seen.get((chunk.page, text), 0)
            seen[(chunk.page, text)] = occurrence + 1
            cid = chunk_id(self.registry.workspace, name, chunk.page, text, occurrence)
            rows.append(
                ChunkRow(
                    replace(chunk, id=cid),
                    text_hash(vector_text),
                    tuple(toks),
                    ok,
                )
            )
        return rows

    def _embed_and_store(self, batch: Sequence[Prepared]) -> dict[str, int]:
        """Vectors for the batch's new dense rows (cache first, then the embedder, in shared
        batches); returns how many vectors each document had computed."""
        rows = [(p, r) for p in batch for r in p.new_rows if r.dense]
        if not rows:
            return {}
        model = self.embedder.name
        vectors = self.cache.get(model, [r.text_hash for _, r in rows])
        owner: dict[str, str] = {}
        for p, r in rows:
            if r.text_hash not in vectors:
                owner.setdefault(r.text_hash, p.doc.id)
        missing = list(owner)
        texts = {r.text_hash: dense_text(r.chunk.context, r.chunk.text) for _, r in rows}
        lo, hi = _STAGES["embed"]
        step = 1024  # long calls: sentence-transformers sorts a call's texts by length
        for start in range(0, len(missing), step):
            hashes = missing[start : start + step]
            computed = self.embedder.embed([texts[h] for h in hashes])
            self.cache.put(model, hashes, computed)
            vectors.update(zip(hashes, computed, strict=True))
            fraction = lo + (hi - lo) * min(1.0, (start + len(hashes)) / len(missing))
            for p in batch:
                p.report("embed", fraction)
        import numpy as np

        self.chroma.upsert(
            [r.chunk.id for _, r in rows], np.stack([vectors[r.text_hash] for _, r in rows])
        )
        if self.sentences is not None:  # so that no answer embeds them (issue 17)
            self.sentences.precompute(
                [s for _, r in rows for s in quotable_sentences(r.chunk.text)]
            )
        counts: dict[str, int] = {}
        for doc_id in owner.values():
            counts[doc_id] = counts.get(doc_id, 0) + 1
        return counts

    def reembed_all(self) -> int:
        """Vectors of every ready chunk from this embedder (readability judged again)."""
        total = 0
        for doc, rows in self._ready_rows():
            readable = self._readable([dense_text(r.chunk.context, r.chunk.text) for r in rows])
            rows = [replace(r, dense=ok) for r, ok in zip(rows, readable, strict=True)]
            self.registry.set_dense_flags({r.chunk.id: r.dense for r in rows})
            total += self._embed_rows(doc, rows)
        return total

    def refresh_vectors(self) -> int:
        """Embed again the ready chunks whose stored vector embeds another text than
        ``dense_text`` makes of them now (a library written by an older Folio): vectors
        first (cache and vector store), then the chunk's hash, so an index built meanwhile
        reads either the old vector or the new one, never none. Returns how many changed."""
        total = 0
        for doc, rows in self._ready_rows():
            texts = [dense_text(r.chunk.context, r.chunk.text) for r in rows]
            changed = [
                (r, t, h)
                for r, t in zip(rows, texts, strict=True)
                if (h := text_hash(t)) != r.text_hash
            ]
            if not changed:
                continue
            readable = self._readable([t for _, t, _ in changed])
            fresh = [
                replace(r, text_hash=h, dense=ok)
                for (r, _, h), ok in zip(changed, readable, strict=True)
            ]
            self._embed_rows(doc, fresh)
            unread = [r.chunk.id for r in fresh if not r.dense]
            if unread:  # the embedder cannot read the new text: no stale vector stays
                self.chroma.delete(unread)
            self.registry.set_chunk_vectors({r.chunk.id: (r.text_hash, r.dense) for r in fresh})
            total += len(fresh)
        return total

    def _ready_rows(self) -> Iterator[tuple[Document, list[ChunkRow]]]:
        """Each ready document with its chunk rows."""
        for doc in self.registry.documents():
            if doc.status == "ready":
                yield doc, self.registry.chunk_rows(doc.id)

    def _readable(self, texts: Sequence[str]) -> list[bool]:
        """Whether the embedder can read each embedded text: not blank, and few of its
        tokens unknown to the model (``max_unknown_ratio``)."""
        unknown = readable_unknown_ratio(self.embedder, texts)
        return [
            u <= self.config.max_unknown_ratio and bool(t.strip())
            for t, u in zip(texts, unknown, strict=True)
        ]

    def _embed_rows(self, doc: Document, rows: Sequence[ChunkRow]) -> int:
        """Vectors of a stored document's ``rows`` (cache first) into the cache and the
        vector store; how many had to be computed."""
        batch = Prepared(doc, tuple(rows), tuple(rows), None, (), lambda s, f: None)
        return sum(self._embed_and_store([batch]).values())

    def _give_up(self, doc: Document, reason: str) -> None:
        """Fail a document whose registration may not have happened (the disk was full...)."""
        if self.registry.document(doc.id) is None:
            self.registry.record_failure(replace(doc, status="failed"), reason)
        else:
            self._rollback(doc.id, reason)

    def _rollback(self, doc_id: str, reason: str) -> None:
        """Mark the document failed and drop its vectors; its stored file stays for a retry."""
        self.delete_vectors(self.registry.fail_document(doc_id, reason))
        shutil.rmtree(self.images.folder(doc_id), ignore_errors=True)

    def _store_file(self, doc_id: str, name: str, data: bytes) -> str:
        self.files_dir.mkdir(parents=True, exist_ok=True)
        stored = f"{doc_id}{Path(name).suffix.lower()}"
        target = self.files_dir / stored
        if not target.exists():
            tmp = target.with_suffix(".part")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return stored

    def remove_files(self, doc_id: str) -> None:
        shutil.rmtree(self.images.folder(doc_id), ignore_errors=True)
        for path in self.files_dir.glob(f"{doc_id}.*"):
            path.unlink(missing_ok=True)


def _merge_metadata(derived: DocumentMetadata, given: DocumentMetadata | None) -> DocumentMetadata:
    if given is None:
        return derived
    return DocumentMetadata(
        title=given.title or derived.title,
        year=given.year if given.year is not None else derived.year,
        category=given.category or derived.category,
        tags=given.tags or derived.tags,
    )


def _stub(doc_id: str, name: str, kind: str, size: int) -> Document:
    return Document(
        id=doc_id,
        name=name,
        kind=kind,
        size_bytes=size,
        pages=0,
        chunks=0,
        pages_without_text=0,
        status="failed",
        error=None,
        added_at=datetime.now(UTC),
    )


def _reason(name: str, step: str, exc: Exception) -> str:
    return exc.reason if isinstance(exc, DocumentError) else unexpected_failure(name, step, exc)


def unexpected_failure(name: str, step: str, exc: BaseException) -> str:
    """The reason ``step`` of file ``name`` failed, when nobody foresaw how: never empty (a
    ``MemoryError`` has no message). The traceback goes to the log."""
    log.error("%s: %s failed", name, step, exc_info=exc)
    if isinstance(exc, MemoryError):
        return f"{step} failed: it ran out of memory"
    return f"{step} failed: {str(exc) or type(exc).__name__}"


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
