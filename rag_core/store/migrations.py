"""Schema of the library registry, as named steps. Never edit a step: add a new one."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from rag_core.store.database import Migration, blob_type


def m001_registry(conn: Connection) -> None:
    blob = blob_type(conn)
    statements = [
        """CREATE TABLE documents (
            workspace TEXT NOT NULL,
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            size_bytes BIGINT NOT NULL,
            pages INTEGER NOT NULL DEFAULT 0,
            chunks INTEGER NOT NULL DEFAULT 0,
            pages_without_text INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            error TEXT,
            added_at TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            year INTEGER,
            category TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            file_path TEXT,
            replaces TEXT,
            PRIMARY KEY (workspace, id)
        )""",
        "CREATE INDEX documents_name ON documents (workspace, name)",
        """CREATE TABLE pages (
            workspace TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            page INTEGER NOT NULL,
            text TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            PRIMARY KEY (workspace, doc_id, page)
        )""",
        """CREATE TABLE chunks (
            id TEXT PRIMARY KEY,
            workspace TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            page INTEGER NOT NULL,
            ordinal INTEGER NOT NULL,
            span_start INTEGER NOT NULL,
            span_end INTEGER NOT NULL,
            text TEXT NOT NULL,
            context TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            tokens TEXT NOT NULL,
            dense INTEGER NOT NULL,
            status TEXT NOT NULL
        )""",
        "CREATE INDEX chunks_doc ON chunks (workspace, doc_id)",
        f"""CREATE TABLE embedding_cache (
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            vector {blob} NOT NULL,
            PRIMARY KEY (model, text_hash)
        )""",
        """CREATE TABLE pending_deletes (
            workspace TEXT NOT NULL,
            chunk_id TEXT NOT NULL,
            PRIMARY KEY (workspace, chunk_id)
        )""",
        """CREATE TABLE library_meta (
            workspace TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (workspace, key)
        )""",
    ]
    for statement in statements:
        conn.execute(text(statement))


def m002_api_keys(conn: Connection) -> None:
    """Keys of the HTTP API: only a SHA-256 of each token is kept; each key has one workspace."""
    conn.execute(
        text(
            """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            workspace TEXT NOT NULL,
            token_sha256 TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )"""
        )
    )


def m003_sources(conn: Connection) -> None:
    """Watched folders (``rag_core/sources``): each source of a workspace, and what it knows of
    each file it saw (its stamp, content hash, document and why it failed)."""
    statements = [
        """CREATE TABLE sources (
            workspace TEXT NOT NULL,
            name TEXT NOT NULL,
            root TEXT NOT NULL,
            include_globs TEXT NOT NULL,
            exclude_globs TEXT NOT NULL,
            every_seconds INTEGER NOT NULL,
            paused TEXT,
            paused_detail TEXT,
            accept_empty INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            last_sync_at TEXT,
            last_report TEXT,
            PRIMARY KEY (workspace, name)
        )""",
        """CREATE TABLE source_files (
            workspace TEXT NOT NULL,
            source TEXT NOT NULL,
            path TEXT NOT NULL,
            size BIGINT NOT NULL,
            mtime_ns BIGINT NOT NULL,
            ctime_ns BIGINT NOT NULL,
            hash TEXT,
            doc_id TEXT,
            error TEXT,
            PRIMARY KEY (workspace, source, path)
        )""",
    ]
    for statement in statements:
        conn.execute(text(statement))


MIGRATIONS: list[Migration] = [
    ("m001_registry", m001_registry),
    ("m002_api_keys", m002_api_keys),
    ("m003_sources", m003_sources),
]
