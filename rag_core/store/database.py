"""SQL engines for SQLite (default) and PostgreSQL, and the migration runner.

Migrations are small named functions applied, in order and once each, when a database is
opened (never at import). Each runs in its own transaction with the name recorded in
``_migrations``; concurrent openers are serialised (SQLite write lock, PostgreSQL advisory
lock), so two processes opening a new database do not both apply the same step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rag_core.store.locks import LockKey

Migration = tuple[str, Callable[[Connection], None]]


def create_engine(url: str, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> Engine:
    """An engine for ``url``. SQLite files run in WAL mode with ``synchronous`` (FULL also
    makes each commit durable across a power cut, not only consistent)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=8
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Take the write lock at BEGIN so concurrent writers queue instead of failing.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Writers take the lock up front (they queue on busy_timeout instead of
            # failing on upgrade); readers use a deferred transaction and never wait in WAL.
            immediate = conn.get_execution_options().get("folio_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on error.

    Writers are serialised on both engines, so read-then-write steps (the generation
    counter, meta keys, document replacement) never race: SQLite by ``BEGIN IMMEDIATE``,
    PostgreSQL (whose READ COMMITTED would let two writers both insert a missing row or
    both bump a counter from the same value) by a transaction-level advisory lock.
    """
    with engine.connect().execution_options(folio_write=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(LockKey.WRITE)})
        yield conn


def blob_type(conn: Connection) -> str:
    return "BYTEA" if conn.dialect.name == "postgresql" else "BLOB"


def apply_migrations(engine: Engine, migrations: Sequence[Migration], lock_key: int) -> list[str]:
    """Apply the migrations not yet recorded; returns the names applied now.

    ``lock_key`` (a ``LockKey``) serialises the openers of this set of tables on PostgreSQL.
    """
    applied_now: list[str] = []
    with writing(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(lock_key)})
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
            )
        )
        done = {row[0] for row in conn.execute(sa.text("SELECT name FROM _migrations"))}
        for name, migrate in migrations:
            if name in done:
                continue
            migrate(conn)
            conn.execute(
                sa.text("INSERT INTO _migrations (name, applied_at) VALUES (:n, :t)"),
                {"n": name, "t": utcnow()},
            )
            applied_now.append(name)
    return applied_now


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def in_batches(
    column: str, values: Iterable[Any], prefix: str, size: int = 500
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``in_clause`` over the distinct ``values`` (sorted), ``size`` at a time: the clauses of
    one lookup too long for one statement's parameters."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield in_clause(column, ordered[start : start + size], prefix)


def in_clause(column: str, values: Sequence[Any], prefix: str) -> tuple[str, dict[str, Any]]:
    """``column IN (:p0, :p1 ...)`` with its parameters (portable across dialects)."""
    if not values:
        return "1=0", {}
    names = [f"{prefix}{i}" for i in range(len(values))]
    clause = f"{column} IN ({', '.join(':' + n for n in names)})"
    return clause, dict(zip(names, values, strict=True))
