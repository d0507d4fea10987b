"""The library, workspaces and crash recovery with the registry on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag_core.config import Settings
from rag_core.errors import NotFoundError
from rag_core.feedback.store import Rating
from rag_core.library import Library
from rag_core.store.database import create_engine
from rag_core.workspaces import Workspaces

from . import postgres
from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_crash import PAGES, crash_ingest
from .test_crash import settings_for as crash_settings
from .test_library import APPLES, CHINESE, ENGINES, assert_consistent


def test_missing_postgresql_skips_or_fails_when_required(monkeypatch, tmp_path):
    monkeypatch.setattr(postgres, "BIN", tmp_path / "no-postgres")
    monkeypatch.setattr(postgres, "REQUIRED", False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL binaries not installed"):
        postgres.require()
    monkeypatch.setattr(postgres, "REQUIRED", True)
    with pytest.raises(pytest.fail.Exception, match="FOLIO_REQUIRE_POSTGRES=1 but PostgreSQL"):
        postgres.require()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    postgres.require()
    with postgres.postgres_server() as url:
        yield url


@pytest.fixture
def database_url(server: str) -> str:
    return postgres.create_database(server, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def pg_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", db=tmp_path / "feedback.db", database_url=database_url
    )


@pytest.mark.slow
def test_library_on_postgresql(pg_settings: Settings):
    library = Library.open(pg_settings, embedder=HashingEmbedder())
    assert library.registry.engine.dialect.name == "postgresql"
    engine_pdf = make_pdf(ENGINES)
    report = library.add(
        [
            ("orchard_2020.pdf", make_pdf(APPLES)),
            ("engine.pdf", engine_pdf),
            ("report_zh.pdf", make_pdf(CHINESE)),
        ]
    )
    assert [(r.name, r.status, r.pages) for r in report.results] == [
        ("orchard_2020.pdf", "added", 3),
        ("engine.pdf", "added", 2),
        ("report_zh.pdf", "added", 2),
    ]
    assert not (pg_settings.data_dir / "library.db").exists()  # nothing in SQLite
    top = library.search("pear frost", k=3).hits[0]
    assert (top.doc_name, top.chunk.page) == ("orchard_2020.pdf", 2)
    assert library.page_text(top.chunk.doc_id, 2)[top.chunk.start : top.chunk.end] == top.chunk.text
    assert library.search("净利润", k=1).hits[0].doc_name == "report_zh.pdf"
    assert library.find("engine.pdf").pages == 2
    assert_consistent(library)

    # The same file again changes nothing; a changed file replaces the old version.
    again = library.add([("engine.pdf", engine_pdf)]).results[0]
    assert again.status == "unchanged"
    pages = [ENGINES[0], "The turbocharger was replaced by a supercharger in 2021."]
    replaced = library.add([("engine.pdf", make_pdf(pages))]).results[0]
    assert replaced.status == "replaced" and replaced.embedded == 1
    assert library.search("supercharger", k=1).hits[0].chunk.doc_id == replaced.doc_id
    assert_consistent(library)

    library.remove(report.results[0].doc_id)
    assert sorted(d.name for d in library.documents()) == ["engine.pdf", "report_zh.pdf"]
    assert all(h.doc_name != "orchard_2020.pdf" for h in library.search("apple pear", k=10).hits)
    with pytest.raises(NotFoundError):
        library.remove(report.results[0].doc_id)
    assert_consistent(library)

    # Another process opening the same database and data folder sees the same library.
    other = Library.open(pg_settings, embedder=HashingEmbedder())
    assert [d.id for d in other.documents()] == [d.id for d in library.documents()]
    assert other.search("supercharger", k=1).hits[0].chunk.doc_id == replaced.doc_id


@pytest.mark.slow
def test_sources_on_postgresql(pg_settings: Settings, tmp_path: Path):
    from .test_sources import FILES, in_line, write

    folder = tmp_path / "docs"
    write(folder, "apples.md", "# Apples\n\nThe apple harvest rose to 120 tonnes in 2020.")
    write(folder, "notes/pears.txt", "Pear trees suffered from frost in April.")
    write(folder, "engine.pdf", make_pdf(ENGINES))
    write(folder, "broken.pdf", b"%PDF-1.4 not really")
    settings = pg_settings.model_copy(update={"source_settle_seconds": 0})
    library = Library.open(settings, embedder=HashingEmbedder())
    library.sources.add(folder, roots=None)
    report = library.sources.sync("docs")
    assert (report.added, [f.path for f in report.failed]) == (3, ["broken.pdf"])
    in_line(library, folder, FILES)
    os.rename(folder / "apples.md", folder / "notes/apples.md")
    (folder / "notes/pears.txt").unlink()
    write(folder, "engine.pdf", make_pdf([ENGINES[0], "A supercharger since 2021."]))
    report = library.sources.sync("docs")
    assert (report.renamed, report.removed, report.updated) == (1, 1, 1)
    in_line(library, folder, ["engine.pdf", "notes/apples.md"])
    status = library.sources.status("docs")
    assert status.files == 3 and [f.path for f in status.failures] == ["broken.pdf"]
    assert library.sources.remove("docs", keep_documents=False) == 2
    assert library.documents() == [] and library.sources.statuses() == []


@pytest.mark.slow
def test_concurrent_first_opens_migrate_once(pg_settings: Settings):
    errors: list[BaseException] = []

    def open_library() -> None:
        try:
            Library.open(pg_settings, embedder=HashingEmbedder())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_library) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = create_engine(pg_settings.registry_url)
    with engine.connect() as conn:
        names = [row[0] for row in conn.execute(sa.text("SELECT name FROM _migrations"))]
    engine.dispose()
    assert len(names) == len(set(names)) > 0


@pytest.mark.slow
def test_workspaces_are_isolated_on_postgresql(pg_settings: Settings):
    workspaces = Workspaces(pg_settings, embedder=HashingEmbedder())
    a, b = workspaces.library("alpha"), workspaces.library("beta")
    pdf = make_pdf(["Zeppelins are filled with helium gas."])
    (added,) = a.add([("airships.pdf", pdf)]).results
    (same,) = b.add([("airships.pdf", pdf)]).results  # same file, second workspace
    assert added.status == same.status == "added"
    b.remove(same.doc_id)
    assert [d.name for d in a.documents()] == ["airships.pdf"] and b.documents() == []
    assert b.search("zeppelins helium").hits == ()
    assert a.search("zeppelins helium").hits[0].chunk.doc_id == added.doc_id
    assert_consistent(a)
    assert_consistent(b)

    answer = a.ask("What are zeppelins filled with?")
    rating = Rating(
        session_id="s", message_id="m", vote=1, answer=answer, asked_at=datetime.now(UTC)
    )
    workspaces.feedback("alpha").rate(rating)
    assert [r.question for r in workspaces.feedback("alpha").records()] == [
        "What are zeppelins filled with?"
    ]
    assert workspaces.feedback("beta").records() == []


@pytest.mark.slow
def test_killed_ingest_is_finished_on_next_start_on_postgresql(tmp_path, database_url: str):
    data = tmp_path / "data"
    crash_ingest(data, "widgets.pdf", make_pdf(PAGES), "embed", 0.5, tmp_path, database_url)
    settings = crash_settings(data, database_url)
    half = Library.open(settings, embedder=HashingEmbedder(), recover=False)
    assert [d.status for d in half.documents()] == ["indexing"]

    library = Library.open(settings, embedder=HashingEmbedder())
    [doc] = library.documents()
    assert doc.status == "ready" and doc.pages == 12
    assert library.search("widget7 gadget3", k=1).hits[0].chunk.page == 7
    assert_consistent(library)
