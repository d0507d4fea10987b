"""What OCR read, per workspace: ``<data>/ocr/<workspace>/ocr.db`` (SQLite).

One row per page OCR has finished: its text and lines (with boxes), what the recognizer read
before any repair, or why it failed. A row is committed as soon as its page is read, so a
crash loses at most the page in hand. The rows follow the registry: the OCR backlog deletes
those of documents that left it. When the repair changes (``REPAIR_VERSION``), ``rederive``
makes each page again from what was read; pages stored before the recognizer's own lines
were kept are made again from their stored lines.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag_core.ocr.engine import OcrLine, OcrPage, page_from_lines
from rag_core.types import Box

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pages ("
    " doc_id TEXT NOT NULL, page INTEGER NOT NULL, status TEXT NOT NULL,"
    " text TEXT NOT NULL DEFAULT '', lines TEXT NOT NULL DEFAULT '[]',"
    " error TEXT NOT NULL DEFAULT '', seconds REAL NOT NULL DEFAULT 0,"
    " raw TEXT NOT NULL DEFAULT '[]',"
    " PRIMARY KEY (doc_id, page))",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class OcrFailure:
    doc_id: str
    page: int
    error: str


class OcrStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "ocr.db"
        self._lock = threading.Lock()
        self._ready = False

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if not self._ready:
                self.folder.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=30)) as db:
                if not self._ready:
                    db.execute("PRAGMA journal_mode=WAL")
                    for statement in SCHEMA:
                        db.execute(statement)
                    columns = {r[1] for r in db.execute("PRAGMA table_info(pages)")}
                    if "raw" not in columns:  # a store from before the raw lines were kept
                        db.execute("ALTER TABLE pages ADD COLUMN raw TEXT NOT NULL DEFAULT '[]'")
                    self._ready = True
                with db:  # one transaction
                    yield db

    # Reading ------------------------------------------------------------------------------
    def keys(self) -> set[tuple[str, int]]:
        with self._db() as db:
            return {(r[0], r[1]) for r in db.execute("SELECT doc_id, page FROM pages")}

    def doc_ids(self) -> set[str]:
        with self._db() as db:
            return {r[0] for r in db.execute("SELECT DISTINCT doc_id FROM pages")}

    def texts(self, doc_id: str) -> dict[int, str]:
        """The OCR text of each page of ``doc_id`` OCR read (failed pages are not in it)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT page, text FROM pages WHERE doc_id = ? AND status = 'done'", (doc_id,)
            )
            return {r[0]: r[1] for r in rows}

    def done_pages(self, doc_ids: Sequence[str]) -> set[tuple[str, int]]:
        """The pages of ``doc_ids`` OCR read."""
        with self._db() as db:
            return {
                (d, r[0])
                for d in set(doc_ids)
                for r in db.execute(
                    "SELECT page FROM pages WHERE doc_id = ? AND status = 'done'", (d,)
                )
            }

    def page(self, doc_id: str, page: int) -> OcrPage | None:
        """What OCR read on a page (``None``: it has not read it, or failed on it)."""
        with self._db() as db:
            row = db.execute(
                "SELECT text, lines FROM pages WHERE doc_id = ? AND page = ? AND status = 'done'",
                (doc_id, page),
            ).fetchone()
        if row is None:
            return None
        lines = tuple(
            OcrLine(text, start, end, _box(box)) for text, start, end, box in json.loads(row[1])
        )
        return OcrPage(row[0], lines)

    def lines(self, doc_id: str, page: int) -> tuple[OcrLine, ...]:
        read = self.page(doc_id, page)
        return read.lines if read is not None else ()

    def failures(self) -> list[OcrFailure]:
        with self._db() as db:
            rows = db.execute(
                "SELECT doc_id, page, error FROM pages WHERE status = 'failed' "
                "ORDER BY doc_id, page"
            )
            return [OcrFailure(*r) for r in rows]

    def stats(self) -> tuple[int, float]:
        """Pages read and the seconds they took."""
        with self._db() as db:
            pages, seconds = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(seconds), 0) FROM pages WHERE status = 'done'"
            ).fetchone()
            return int(pages), float(seconds)

    def paused(self) -> bool:
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'paused'").fetchone()
            return row is not None and row[0] == "1"

    # Writing ------------------------------------------------------------------------------
    def put(self, doc_id: str, page: int, read: OcrPage, seconds: float) -> None:
        raw = json.dumps([[text, list(box)] for text, box in read.raw])
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO pages (doc_id, page, status, text, lines, seconds, raw) "
                "VALUES (?, ?, 'done', ?, ?, ?, ?)",
                (doc_id, page, read.text, _lines_json(read), seconds, raw),
            )

    def rederive(self, version: int) -> int:
        """Make every page again with today's ``page_from_lines`` unless the store already
        holds pages of repair ``version``; returns how many pages changed. A document at a
        time, so readers wait for one document's rows at most."""
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'repair'").fetchone()
        if row is not None and row[0] == str(version):
            return 0
        changed = 0
        for doc_id in sorted(self.doc_ids()):
            with self._db() as db:
                rows = db.execute(
                    "SELECT page, text, lines, raw FROM pages WHERE doc_id = ? AND status = 'done'",
                    (doc_id,),
                ).fetchall()
                for page, text, lines, raw in rows:
                    found: list[tuple[str, Box]] = [(t, _box(b)) for t, b in json.loads(raw)]
                    if not found:  # stored before the raw lines were: its repaired lines
                        found = [(t, _box(b)) for t, _s, _e, b in json.loads(lines)]
                    made = page_from_lines(found)
                    made_lines = _lines_json(made)
                    if made.text != text or made_lines != lines:
                        db.execute(
                            "UPDATE pages SET text = ?, lines = ? WHERE doc_id = ? AND page = ?",
                            (made.text, made_lines, doc_id, page),
                        )
                        changed += 1
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('repair', ?)", (str(version),)
            )
        return changed

    def fail(self, doc_id: str, page: int, error: str) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO pages (doc_id, page, status, error) "
                "VALUES (?, ?, 'failed', ?)",
                (doc_id, page, error),
            )

    def delete_docs(self, doc_ids: Sequence[str]) -> int:
        with self._db() as db:
            return sum(
                db.execute("DELETE FROM pages WHERE doc_id = ?", (d,)).rowcount for d in doc_ids
            )

    def set_paused(self, paused: bool) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('paused', ?)",
                ("1" if paused else "0",),
            )


def _lines_json(read: OcrPage) -> str:
    return json.dumps([[ln.text, ln.start, ln.end, list(ln.box)] for ln in read.lines])


def _box(values: list[float]) -> Box:
    return (values[0], values[1], values[2], values[3])
