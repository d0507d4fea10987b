"""Several processes on one registry: one ingest writer, read replicas with their own snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_core.config import Settings
from rag_core.errors import ConfigurationError
from rag_core.library import Library

from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_crash import PAGES, crash_ingest
from .test_library import APPLES, ENGINES


def replica_settings(writer: Settings, index_dir: Path) -> Settings:
    return writer.model_copy(update={"ingest_writer": False, "index_dir": index_dir})


def test_a_read_replica_sees_each_new_generation_and_refuses_to_write(tmp_path):
    writer_settings = Settings(data_dir=tmp_path / "data", db=tmp_path / "feedback.db")
    writer = Library.open(writer_settings, embedder=HashingEmbedder())
    replica = Library.open(
        replica_settings(writer_settings, tmp_path / "replica-index"), embedder=HashingEmbedder()
    )
    assert replica.search("pear frost").hits == ()

    engine_pdf = make_pdf(ENGINES)
    report = writer.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", engine_pdf)])
    hit = replica.search("pear frost", k=1).hits[0]
    assert (hit.doc_name, hit.chunk.page) == ("orchard.pdf", 2)
    generation = writer.registry.generation()
    assert replica.retriever.snapshot().generation == generation
    # The replica built its own snapshot, beside the writer's.
    assert (tmp_path / "replica-index" / "default" / "SEGMENTS").exists()
    assert (writer_settings.data_dir / "index" / "default" / "SEGMENTS").exists()

    pages = [ENGINES[0], "The turbocharger was replaced by a supercharger in 2021."]
    replaced = writer.add([("engine.pdf", make_pdf(pages))]).results[0]
    assert replica.search("supercharger", k=1).hits[0].chunk.doc_id == replaced.doc_id
    writer.remove(report.results[0].doc_id)
    assert all(h.doc_name != "orchard.pdf" for h in replica.search("pear frost", k=5).hits)
    assert replica.retriever.snapshot().generation == writer.registry.generation() > generation

    for write in (
        lambda: replica.add([("engine.pdf", engine_pdf)]),
        lambda: replica.remove(replaced.doc_id),
        lambda: replica.reindex(replaced.doc_id),
        replica.reembed,
    ):
        with pytest.raises(ConfigurationError, match="FOLIO_INGEST_WRITER=false"):
            write()
    assert [d.id for d in writer.documents()] == [replaced.doc_id]


@pytest.mark.slow
def test_a_read_replica_leaves_an_interrupted_ingest_to_the_writer(tmp_path):
    data = tmp_path / "data"
    crash_ingest(data, "widgets.pdf", make_pdf(PAGES), "embed", 0.5, tmp_path)
    writer_settings = Settings(
        data_dir=data, db=data / "feedback.db", chunk_tokens=24, chunk_overlap=0
    )
    replica = Library.open(
        replica_settings(writer_settings, tmp_path / "replica-index"), embedder=HashingEmbedder()
    )
    assert [d.status for d in replica.documents()] == ["indexing"]
    assert any((data / "files" / "default").iterdir())  # the upload is kept for the writer
    writer = Library.open(writer_settings, embedder=HashingEmbedder())
    assert [d.status for d in writer.documents()] == ["ready"]
    assert replica.search("widget7 gadget3", k=1).hits[0].chunk.page == 7
