"""The library registry: documents, pages, chunks and their status. The source of truth.

Every index (Chroma, BM25, the vector snapshot) is derived from the chunks whose status is
``ready``. Chunk rows are written *before* their vectors go anywhere and their ids are
queued in ``pending_deletes`` *before* the rows go away, so an interrupted ingest or
removal never leaves a vector the registry does not know about.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from rag_core.store.database import apply_migrations, in_batches, in_clause, utcnow, writing
from rag_core.store.locks import LockKey
from rag_core.store.migrations import MIGRATIONS
from rag_core.text import document_title
from rag_core.types import Chunk, Document, DocumentMetadata, Filters, PageText

# library_meta key: the version of ``dense_text`` the chunks' text hashes (and so the
# vectors) were made with; unset in a library written before it was kept (version 1).
DENSE_TEXT_KEY = "dense_text"


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A chunk as stored: the chunk plus what the indexes need."""

    chunk: Chunk
    text_hash: str
    tokens: tuple[str, ...]
    dense: bool


class ReadyChunk(NamedTuple):
    """What the index snapshot needs of a ready chunk."""

    id: str
    doc_id: str
    tokens: str  # BM25 tokens of the chunk's indexed text, space-separated
    dense: bool
    text_hash: str
    context: str
    doc_title: str  # the title the chunker saw (``chunking.document_title``)
    text: str = ""  # the chunk's text (BM25 reads ``context`` + "\n" + ``text``)

    @property
    def indexed_text(self) -> str:
        """What BM25 reads (``Chunk.indexed_text``)."""
        return f"{self.context}\n{self.text}" if self.context else self.text


_DOC_COLUMNS = (
    "id, name, kind, size_bytes, pages, chunks, pages_without_text, status, error, added_at, "
    "title, year, category, tags"
)


def _document(row: Any) -> Document:
    return Document(
        id=row.id,
        name=row.name,
        kind=row.kind,
        size_bytes=row.size_bytes,
        pages=row.pages,
        chunks=row.chunks,
        pages_without_text=row.pages_without_text,
        status=row.status,
        error=row.error,
        added_at=datetime.fromisoformat(row.added_at),
        metadata=DocumentMetadata(
            title=row.title, year=row.year, category=row.category, tags=tuple(json.loads(row.tags))
        ),
    )


def _chunk(row: Any) -> Chunk:
    return Chunk(
        id=row.id,
        doc_id=row.doc_id,
        page=row.page,
        ordinal=row.ordinal,
        start=row.span_start,
        end=row.span_end,
        text=row.text,
        context=row.context,
    )


class Registry:
    """One workspace's view of the registry database."""

    def __init__(self, engine: Engine, workspace: str) -> None:
        self.engine = engine
        self.workspace = workspace

    def migrate(self) -> list[str]:
        return apply_migrations(self.engine, MIGRATIONS, lock_key=LockKey.REGISTRY_MIGRATIONS)

    # Reading ------------------------------------------------------------------------------
    def _rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            # fetchall: the driver reads the rows in one call (iterating the result fetched
            # them one at a time, 3x the cost over thousands of documents).
            return list(conn.execute(text(sql), {"ws": self.workspace, **params}).fetchall())

    def documents(self) -> list[Document]:
        rows = self._rows(
            f"SELECT {_DOC_COLUMNS} FROM documents WHERE workspace = :ws ORDER BY added_at, name"
        )
        return [_document(r) for r in rows]

    def documents_of(self, doc_ids: Sequence[str]) -> list[Document]:
        """The documents of ``doc_ids`` that exist, in ``documents``' order."""
        found: list[Any] = []
        for clause, params in in_batches("id", doc_ids, "d"):
            found += self._rows(
                f"SELECT {_DOC_COLUMNS} FROM documents WHERE workspace = :ws AND {clause}",
                **params,
            )
        return [_document(r) for r in sorted(found, key=lambda r: (r.added_at, r.name))]

    def ready_versions(self) -> dict[str, tuple[str, int]]:
        """(added_at as stored, ISO text; chunks) of every ready document, in one light query
        (what the index builder compares on every change: nothing is decoded)."""
        rows = self._rows(
            "SELECT id, added_at, chunks FROM documents WHERE workspace = :ws AND status = 'ready'"
        )
        return {r.id: (r.added_at, r.chunks) for r in rows}

    def doc_ids(self, statuses: Sequence[str], among: Iterable[str] | None = None) -> set[str]:
        """Ids of the documents whose status is one of ``statuses`` (one light query);
        ``among``: only those of these ids (a lookup by id, not a list of every document)."""
        clause, params = in_clause("status", list(statuses), "s")
        sql = f"SELECT id FROM documents WHERE workspace = :ws AND {clause}"
        if among is None:
            return {r.id for r in self._rows(sql, **params)}
        found: set[str] = set()
        for ids, id_params in in_batches("id", among, "d"):
            found.update(r.id for r in self._rows(f"{sql} AND {ids}", **params, **id_params))
        return found

    def document(self, doc_id: str) -> Document | None:
        rows = self._rows(
            f"SELECT {_DOC_COLUMNS} FROM documents WHERE workspace = :ws AND id = :id", id=doc_id
        )
        return _document(rows[0]) if rows else None

    def ready_document_named(self, name: str) -> Document | None:
        rows = self._rows(
            f"SELECT {_DOC_COLUMNS} FROM documents "
            "WHERE workspace = :ws AND name = :name AND status = 'ready'",
            name=name,
        )
        return _document(rows[0]) if rows else None

    def file_path(self, doc_id: str) -> str | None:
        rows = self._rows(
            "SELECT file_path FROM documents WHERE workspace = :ws AND id = :id", id=doc_id
        )
        return rows[0].file_path if rows else None

    def unfinished(self) -> list[Document]:
        rows = self._rows(
            f"SELECT {_DOC_COLUMNS} FROM documents "
            "WHERE workspace = :ws AND status IN ('indexing', 'removing')"
        )
        return [_document(r) for r in rows]

    def pages(self, doc_id: str) -> list[PageText]:
        rows = self._rows(
            "SELECT page, text FROM pages WHERE workspace = :ws AND doc_id = :d ORDER BY page",
            d=doc_id,
        )
        return [PageText(r.page, r.text) for r in rows]

    def page_text(self, doc_id: str, page: int) -> str | None:
        rows = self._rows(
            "SELECT text FROM pages WHERE workspace = :ws AND doc_id = :d AND page = :p",
            d=doc_id,
            p=page,
        )
        return rows[0].text if rows else None

    def ready_chunk_ids(self, doc_id: str) -> set[str]:
        """Ids of a document's ready chunks: their vectors are known to be stored."""
        rows = self._rows(
            "SELECT id FROM chunks WHERE workspace = :ws AND doc_id = :d AND status = 'ready'",
            d=doc_id,
        )
        return {r.id for r in rows}

    def chunk_rows(self, doc_id: str) -> list[ChunkRow]:
        rows = self._rows(
            "SELECT * FROM chunks WHERE workspace = :ws AND doc_id = :d ORDER BY page, ordinal",
            d=doc_id,
        )
        return [
            ChunkRow(_chunk(r), r.text_hash, tuple(r.tokens.split()), bool(r.dense)) for r in rows
        ]

    def ready_chunks(self, ids: Sequence[str]) -> dict[str, tuple[Chunk, str]]:
        """Ready chunks by id, with their document's name; unknown or pending ids are absent."""
        if not ids:
            return {}
        clause, params = in_clause("c.id", list(ids), "c")
        # By primary key only: with a workspace condition too, SQLite's planner (no
        # statistics) walks the workspace's whole (workspace, doc_id) index instead, 100 ms
        # at 100k chunks. Chunk ids are unique across workspaces; the workspace is checked here.
        rows = self._rows(
            "SELECT c.id, c.workspace, c.doc_id, c.page, c.ordinal, c.span_start, c.span_end, "
            "c.text, c.context, d.name AS doc_name FROM chunks c JOIN documents d "
            "ON d.workspace = c.workspace AND d.id = c.doc_id "
            f"WHERE {clause} AND c.status = 'ready'",
            **params,
        )
        return {r.id: (_chunk(r), r.doc_name) for r in rows if r.workspace == self.workspace}

    def iter_ready_chunks(self, doc_ids: Sequence[str] | None = None) -> Iterator[ReadyChunk]:
        """The ready chunks in index order (document, page, ordinal); only those of
        ``doc_ids`` where given."""
        if doc_ids is None:
            yield from self._ready_chunks("", {})
            return
        for clause, params in in_batches("c.doc_id", doc_ids, "d"):
            yield from self._ready_chunks(f"AND {clause} ", params)

    def _ready_chunks(self, where: str, params: dict[str, Any]) -> Iterator[ReadyChunk]:
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(
                text(
                    "SELECT c.id, c.doc_id, c.tokens, c.dense, c.text_hash, c.context, "
                    "d.title, d.name, c.text FROM chunks c "
                    "JOIN documents d ON d.workspace = c.workspace AND d.id = c.doc_id "
                    "WHERE c.workspace = :ws AND c.status = 'ready' AND d.status = 'ready' "
                    f"{where}ORDER BY c.doc_id, c.page, c.ordinal"
                ),
                {"ws": self.workspace, **params},
            )
            for r in result:
                title = document_title(r.title, r.name)
                yield ReadyChunk(
                    r.id,
                    r.doc_id,
                    r.tokens,
                    bool(r.dense),
                    r.text_hash,
                    r.context,
                    title,
                    r.text,
                )

    def filtered_doc_ids(self, filters: Filters) -> list[str]:
        """Ready documents matching ``filters`` (one light query: it runs on every search)."""
        sql = (
            "SELECT id, year, category, tags FROM documents "
            "WHERE workspace = :ws AND status = 'ready'"
        )
        params: dict[str, Any] = {}
        for column, values, prefix in (
            ("id", filters.doc_ids, "fd"),
            ("year", filters.years, "fy"),
        ):
            if values:
                clause, more = in_clause(column, list(values), prefix)
                sql += f" AND {clause}"
                params.update(more)
        rows = self._rows(sql + " ORDER BY added_at, name", **params)
        if filters.categories:
            cats = {c.lower() for c in filters.categories}
            rows = [r for r in rows if (r.category or "").lower() in cats]
        if filters.tags:
            tags = {t.lower() for t in filters.tags}
            rows = [r for r in rows if tags & {t.lower() for t in json.loads(r.tags or "[]")}]
        return [r.id for r in rows]

    def first_pages(self, doc_ids: Sequence[str] | None = None) -> dict[str, str]:
        """The text of each ready document's first page (for routing profiles); only of
        ``doc_ids`` where given."""
        sql = (
            "SELECT p.doc_id, p.text FROM pages p JOIN documents d "
            "ON d.workspace = p.workspace AND d.id = p.doc_id "
            "WHERE p.workspace = :ws AND p.page = 0 AND d.status = 'ready'"
        )
        if doc_ids is None:
            return {r.doc_id: r.text for r in self._rows(sql)}
        found: dict[str, str] = {}
        for clause, params in in_batches("p.doc_id", doc_ids, "d"):
            found.update((r.doc_id, r.text) for r in self._rows(f"{sql} AND {clause}", **params))
        return found

    def pending_deletes(self) -> list[str]:
        rows = self._rows("SELECT chunk_id FROM pending_deletes WHERE workspace = :ws")
        return [r.chunk_id for r in rows]

    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    def meta(self, key: str) -> str | None:
        rows = self._rows(
            "SELECT value FROM library_meta WHERE workspace = :ws AND key = :k", k=key
        )
        return rows[0].value if rows else None

    # Writing ------------------------------------------------------------------------------
    def set_meta(self, key: str, value: str) -> None:
        with writing(self.engine) as conn:
            self._set_meta(conn, key, value)

    def _set_meta(self, conn: Connection, key: str, value: str) -> None:
        params = {"ws": self.workspace, "k": key, "v": value}
        conn.execute(text("DELETE FROM library_meta WHERE workspace = :ws AND key = :k"), params)
        conn.execute(
            text("INSERT INTO library_meta (workspace, key, value) VALUES (:ws, :k, :v)"), params
        )

    def bump_generation(self) -> None:
        with writing(self.engine) as conn:
            self._bump_generation(conn)

    def set_dense_flags(self, flags: dict[str, bool]) -> None:
        with writing(self.engine) as conn:
            conn.execute(
                text("UPDATE chunks SET dense = :v WHERE workspace = :ws AND id = :id"),
                [{"v": int(v), "ws": self.workspace, "id": k} for k, v in flags.items()],
            )

    def set_chunk_vectors(self, chunks: dict[str, tuple[str, bool]]) -> None:
        """Each chunk's (text hash, dense) after its vector was embedded again."""
        with writing(self.engine) as conn:
            conn.execute(
                text(
                    "UPDATE chunks SET text_hash = :h, dense = :v "
                    "WHERE workspace = :ws AND id = :id"
                ),
                [
                    {"h": h, "v": int(v), "ws": self.workspace, "id": k}
                    for k, (h, v) in chunks.items()
                ],
            )

    def _bump_generation(self, conn: Connection) -> None:
        row = conn.execute(
            text("SELECT value FROM library_meta WHERE workspace = :ws AND key = 'generation'"),
            {"ws": self.workspace},
        ).first()
        self._set_meta(conn, "generation", str(int(row.value if row else 0) + 1))

    def begin_document(
        self,
        doc: Document,
        pages: Sequence[PageText],
        page_hashes: Sequence[str],
        file_path: str,
        replaces: str | None,
    ) -> None:
        """Record a document being indexed, with its pages.

        An earlier row of the same document (failed, interrupted or being re-indexed) is
        replaced; its chunk rows stay until ``finish_document`` or ``fail_document`` settles
        them, so their vectors are always accounted for.
        """
        with writing(self.engine) as conn:
            params = {"ws": self.workspace, "d": doc.id}
            conn.execute(text("DELETE FROM pages WHERE workspace = :ws AND doc_id = :d"), params)
            conn.execute(text("DELETE FROM documents WHERE workspace = :ws AND id = :d"), params)
            conn.execute(
                text(
                    "INSERT INTO documents (workspace, id, name, kind, size_bytes, pages, "
                    "chunks, pages_without_text, status, error, added_at, title, year, "
                    "category, tags, file_path, replaces) VALUES (:ws, :id, :name, :kind, :size, "
                    ":pages, 0, :pwt, 'indexing', NULL, :added, :title, :year, :cat, :tags, "
                    ":path, :replaces)"
                ),
                {
                    "ws": self.workspace,
                    "id": doc.id,
                    "name": doc.name,
                    "kind": doc.kind,
                    "size": doc.size_bytes,
                    "pages": doc.pages,
                    "pwt": doc.pages_without_text,
                    "added": utcnow(),
                    "title": doc.metadata.title,
                    "year": doc.metadata.year,
                    "cat": doc.metadata.category,
                    "tags": json.dumps(list(doc.metadata.tags), ensure_ascii=False),
                    "path": file_path,
                    "replaces": replaces,
                },
            )
            if pages:
                conn.execute(
                    text(
                        "INSERT INTO pages (workspace, doc_id, page, text, text_hash) "
                        "VALUES (:ws, :d, :p, :t, :h)"
                    ),
                    [
                        {"ws": self.workspace, "d": doc.id, "p": p.index, "t": p.text, "h": h}
                        for p, h in zip(pages, page_hashes, strict=True)
                    ],
                )

    def add_pending_chunks(self, rows: Sequence[ChunkRow]) -> None:
        """Write chunk rows (status pending) before their vectors are stored anywhere."""
        if not rows:
            return
        with writing(self.engine) as conn:
            clause, params = in_clause("id", [r.chunk.id for r in rows], "i")
            existing = {
                r.id for r in conn.execute(text(f"SELECT id FROM chunks WHERE {clause}"), params)
            }
            fresh = [r for r in rows if r.chunk.id not in existing]
            if fresh:
                conn.execute(text(_INSERT_CHUNK), [self._chunk_params(r, "pending") for r in fresh])

    def _chunk_params(self, row: ChunkRow, status: str) -> dict[str, Any]:
        c = row.chunk
        return {
            "id": c.id,
            "ws": self.workspace,
            "d": c.doc_id,
            "p": c.page,
            "o": c.ordinal,
            "s": c.start,
            "e": c.end,
            "t": c.text,
            "ctx": c.context,
            "h": row.text_hash,
            "tok": " ".join(row.tokens),
            "dense": int(row.dense),
            "st": status,
        }

    def finish_document(
        self, doc_id: str, rows: Sequence[ChunkRow], replaces: str | None
    ) -> list[str]:
        """Make a document's chunks live in one transaction; retire the version it replaces.

        ``rows`` are all the new version's chunks; those that were the old version's too
        are taken over. Returns the chunk ids that no longer belong to any document (queued
        in ``pending_deletes`` for removal from the vector store).
        """
        new_ids = {r.chunk.id for r in rows}
        with writing(self.engine) as conn:
            params = {"ws": self.workspace, "d": doc_id}
            owners = [doc_id, replaces] if replaces else [doc_id]
            clause, owner_params = in_clause("doc_id", owners, "o")
            old_ids = [
                r.id
                for r in conn.execute(
                    text(f"SELECT id FROM chunks WHERE workspace = :ws AND {clause}"),
                    {"ws": self.workspace, **owner_params},
                )
            ]
            gone = [i for i in old_ids if i not in new_ids]
            self._queue_deletes(conn, gone)
            if replaces:
                self._delete_rows(conn, replaces)
            conn.execute(text("DELETE FROM chunks WHERE workspace = :ws AND doc_id = :d"), params)
            if rows:
                conn.execute(text(_INSERT_CHUNK), [self._chunk_params(r, "ready") for r in rows])
            conn.execute(
                text(
                    "UPDATE documents SET status = 'ready', error = NULL, chunks = :n, "
                    "replaces = NULL WHERE workspace = :ws AND id = :d"
                ),
                {**params, "n": len(rows)},
            )
            self._bump_generation(conn)
        return gone

    def _chunk_ids(self, conn: Connection, doc_id: str) -> list[str]:
        rows = conn.execute(
            text("SELECT id FROM chunks WHERE workspace = :ws AND doc_id = :d"),
            {"ws": self.workspace, "d": doc_id},
        )
        return [r.id for r in rows]

    def fail_document(self, doc_id: str, error: str) -> list[str]:
        """Roll a document back to a failed row (its reason kept); returns chunk ids to delete."""
        with writing(self.engine) as conn:
            ids = self._chunk_ids(conn, doc_id)
            self._queue_deletes(conn, ids)
            conn.execute(
                text("DELETE FROM chunks WHERE workspace = :ws AND doc_id = :d"),
                {"ws": self.workspace, "d": doc_id},
            )
            conn.execute(
                text("DELETE FROM pages WHERE workspace = :ws AND doc_id = :d"),
                {"ws": self.workspace, "d": doc_id},
            )
            conn.execute(
                text(
                    "UPDATE documents SET status = 'failed', error = :e, chunks = 0, "
                    "replaces = NULL WHERE workspace = :ws AND id = :d"
                ),
                {"ws": self.workspace, "d": doc_id, "e": error},
            )
        return ids

    def record_failure(self, doc: Document, error: str) -> None:
        """A file rejected before indexing: keep a failed row so the reason can be shown."""
        with writing(self.engine) as conn:
            exists = conn.execute(
                text("SELECT status FROM documents WHERE workspace = :ws AND id = :d"),
                {"ws": self.workspace, "d": doc.id},
            ).first()
            if exists is not None:
                return
            conn.execute(
                text(
                    "INSERT INTO documents (workspace, id, name, kind, size_bytes, status, "
                    "error, added_at) VALUES (:ws, :id, :name, :kind, :size, 'failed', :e, :t)"
                ),
                {
                    "ws": self.workspace,
                    "id": doc.id,
                    "name": doc.name,
                    "kind": doc.kind,
                    "size": doc.size_bytes,
                    "e": error,
                    "t": utcnow(),
                },
            )

    def start_removal(self, doc_id: str) -> list[str]:
        """Remove a document from the registry; its chunk ids are queued for the vector store."""
        with writing(self.engine) as conn:
            ids = self._chunk_ids(conn, doc_id)
            self._queue_deletes(conn, ids)
            self._delete_rows(conn, doc_id)
            self._bump_generation(conn)
        return ids

    def clear_pending_deletes(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with writing(self.engine) as conn:
            for clause, params in in_batches("chunk_id", ids, "i"):
                conn.execute(
                    text(f"DELETE FROM pending_deletes WHERE workspace = :ws AND {clause}"),
                    {"ws": self.workspace, **params},
                )

    def _queue_deletes(self, conn: Connection, ids: Sequence[str]) -> None:
        if ids:
            conn.execute(
                text(
                    "INSERT INTO pending_deletes (workspace, chunk_id) VALUES (:ws, :c) "
                    "ON CONFLICT DO NOTHING"
                ),
                [{"ws": self.workspace, "c": i} for i in ids],
            )

    def _delete_rows(self, conn: Connection, doc_id: str) -> None:
        params = {"ws": self.workspace, "d": doc_id}
        for table in ("chunks", "pages"):
            conn.execute(text(f"DELETE FROM {table} WHERE workspace = :ws AND doc_id = :d"), params)
        conn.execute(text("DELETE FROM documents WHERE workspace = :ws AND id = :d"), params)


_INSERT_CHUNK = (
    "INSERT INTO chunks (id, workspace, doc_id, page, ordinal, span_start, span_end, text, "
    "context, text_hash, tokens, dense, status) VALUES (:id, :ws, :d, :p, :o, :s, :e, :t, :ctx, "
    ":h, :tok, :dense, :st)"
)
