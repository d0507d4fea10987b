"""The dense leg on a real Chroma server (``chroma run``) instead of the embedded store."""

from __future__ import annotations

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from rag_core.config import Settings
from rag_core.index.dense import collection_name
from rag_core.library import Library

from .chroma_server import chroma_server
from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, ENGINES, assert_consistent, ready_dense_ids

pytestmark = pytest.mark.slow


def test_library_on_a_chroma_server(tmp_path):
    with chroma_server(folder=tmp_path / "chroma-server") as server:
        settings = Settings(
            data_dir=tmp_path / "data",
            db=tmp_path / "feedback.db",
            chroma_host=server.host,
            chroma_port=server.port,
            exact_dense_max=0,  # the server's HNSW searches the whole library, not a scan
        )
        embedder = HashingEmbedder()
        library = Library.open(settings, embedder=embedder)
        report = library.add(
            [("orchard_2020.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))]
        )
        remote = chromadb.HttpClient(
            host=server.host,
            port=server.port,
            settings=ChromaSettings(anonymized_telemetry=False),
        ).get_collection(collection_name("default", embedder.name))
        assert [r.status for r in report.results] == ["added", "added"]
        assert not (settings.data_dir / "chroma").exists()  # nothing embedded locally
        assert set(remote.get(include=[])["ids"]) == ready_dense_ids(library)
        assert remote.count() == sum(d.chunks for d in library.documents()) > 0

        result = library.search("pear frost", k=3)
        top = result.hits[0]
        assert (top.doc_name, top.chunk.page) == ("orchard_2020.pdf", 2)
        [dense] = [leg for leg in result.trace.legs if leg.leg == "dense"]
        assert dense.status == "on" and top.chunk.id in {cid for cid, _ in dense.ranked}
        assert_consistent(library)

        # Replace: the old version's vectors leave the server.
        old_id = report.results[1].doc_id
        before = set(remote.get(include=[])["ids"])
        pages = [*ENGINES[:1], "The turbocharger was replaced by a supercharger in 2021."]
        replaced = library.add([("engine.pdf", make_pdf(pages))]).results[0]
        assert replaced.status == "replaced" and replaced.doc_id != old_id
        server_ids = set(remote.get(include=[])["ids"])
        assert server_ids == ready_dense_ids(library)
        assert before - server_ids  # the rewritten page's old vector is gone
        assert library.search("supercharger", k=1).hits[0].chunk.doc_id == replaced.doc_id
        assert_consistent(library)

        # Remove: nothing of the document is left on the server.
        library.remove(report.results[0].doc_id)
        assert set(remote.get(include=[])["ids"]) == ready_dense_ids(library)
        assert remote.count() == library.document(replaced.doc_id).chunks
        assert_consistent(library)

        # A second process (a replica) reading the same server and registry sees it all.
        again = Library.open(settings, embedder=HashingEmbedder())
        assert again.search("supercharger", k=1).hits[0].chunk.doc_id == replaced.doc_id
        assert not (settings.data_dir / "chroma").exists()
        served = library.search("supercharger turbocharger", k=3)

    # The server is gone: queries still answer, the dense leg by exact search over the
    # snapshot's vectors (same ranking), and the trace says so.
    down = library.search("supercharger turbocharger", k=3)
    [dense_down] = [leg for leg in down.trace.legs if leg.leg == "dense"]
    assert dense_down.note.startswith("vector store unavailable") and dense_down.status == "on"
    assert [h.chunk.id for h in down.hits] == [h.chunk.id for h in served.hits]
    [dense_up] = [leg for leg in served.trace.legs if leg.leg == "dense"]
    assert [cid for cid, _ in dense_down.ranked] == [cid for cid, _ in dense_up.ranked]

    # Uploads fail with the server named; a removal goes through, its vectors stay queued.
    (failed,) = library.add([("orchard.pdf", make_pdf(APPLES))]).results
    assert failed.status == "failed" and f"Chroma server at 127.0.0.1:{server.port}" in (
        failed.error or ""
    )
    library.remove(replaced.doc_id)
    assert library.documents()[0].status == "failed" and len(library.documents()) == 1
    assert library.registry.pending_deletes()

    # The server is back (same data, same port): the next upload drains the queue first.
    with chroma_server(folder=tmp_path / "chroma-server", port=server.port):
        (added,) = library.add([("orchard.pdf", make_pdf(APPLES))]).results
        assert added.status == "added"
        assert library.search("pear frost", k=1).hits[0].chunk.doc_id == added.doc_id
        assert_consistent(library)


def test_unreachable_chroma_server_fails_the_upload_with_the_reason(tmp_path):
    from .chroma_server import free_port

    port = free_port()  # nothing listens there
    settings = Settings(
        data_dir=tmp_path / "data",
        db=tmp_path / "feedback.db",
        chroma_host="127.0.0.1",
        chroma_port=port,
    )
    library = Library.open(settings, embedder=HashingEmbedder())
    (result,) = library.add([("engine.pdf", make_pdf(ENGINES))]).results
    assert result.status == "failed" and f"127.0.0.1:{port}" in (result.error or "")
    [doc] = library.documents()
    assert doc.status == "failed" and f"127.0.0.1:{port}" in (doc.error or "")
    assert "CHROMA_HOST" in (doc.error or "")


def test_vectors_embedded_again_wait_for_a_chroma_server_that_is_down(tmp_path):
    """The once-after-an-upgrade re-embedding (dense text version 2) with the Chroma server
    down: the library still opens and searches (exact scan), and the work is done at the
    next open with the server back."""
    from rag_core.embed.embeddings import text_hash
    from rag_core.ingest.chunking import DENSE_TEXT_VERSION, dense_text
    from rag_core.store.registry import DENSE_TEXT_KEY

    from .test_library import OUTLOOK_MD, REPORT_MD, make_version_1

    folder = tmp_path / "chroma-server"
    embedder = HashingEmbedder()
    with chroma_server(folder=folder) as server:
        settings = Settings(
            data_dir=tmp_path / "data",
            db=tmp_path / "feedback.db",
            chroma_host=server.host,
            chroma_port=server.port,
        )
        library = Library.open(settings, embedder=embedder)
        library.add([("report.md", REPORT_MD), ("outlook.md", OUTLOOK_MD)])
        changed = make_version_1(library)
    down = Library.open(settings, embedder=embedder)  # the server is stopped
    assert down.registry.meta(DENSE_TEXT_KEY) is None  # not done, not marked done
    assert down.search("capital spending", k=1).hits
    with chroma_server(folder=folder, port=server.port):
        before = embedder.embedded_count
        back = Library.open(settings, embedder=embedder)
        assert back.registry.meta(DENSE_TEXT_KEY) == DENSE_TEXT_VERSION
        assert embedder.embedded_count - before <= len(changed)  # cached by the failed try
        for doc in back.documents():
            for r in back.registry.chunk_rows(doc.id):
                assert r.text_hash == text_hash(dense_text(r.chunk.context, r.chunk.text))
        assert_consistent(back)
