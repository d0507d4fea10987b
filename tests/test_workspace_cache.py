"""The embedding cache is per workspace: an upload never learns what another workspace holds."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from rag_core.config import Settings
from rag_core.embed.embeddings import EmbeddingCache
from rag_core.store.database import writing
from rag_core.workspaces import Workspaces

from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, assert_consistent


@pytest.mark.security
def test_an_upload_never_reports_vectors_another_workspace_computed(settings: Settings):
    embedder = HashingEmbedder()
    workspaces = Workspaces(settings, embedder=embedder)
    pdf = make_pdf(APPLES)
    alpha, beta = workspaces.library("alpha"), workspaces.library("beta")
    (first,) = alpha.add([("orchard.pdf", pdf)]).results
    assert (first.status, first.embedded, first.reused) == ("added", first.chunks, 0)

    before = embedder.embedded_count
    made = beta.ingestor.sentences.computed if beta.ingestor.sentences else 0
    (second,) = beta.add([("orchard.pdf", pdf)]).results
    assert (second.status, second.chunks, second.embedded, second.reused) == (
        "added",
        first.chunks,
        first.chunks,
        0,
    )
    # computed, not read from alpha's (chunks, and the extractive answerer's sentences)
    sentences = (beta.ingestor.sentences.computed if beta.ingestor.sentences else 0) - made
    assert sentences > 0
    assert embedder.embedded_count - before == first.chunks + sentences

    # Within a workspace the cache still serves: removed, then uploaded again.
    beta.remove(second.doc_id)
    before = embedder.embedded_count
    (again,) = beta.add([("orchard.pdf", pdf)]).results
    assert (again.status, again.embedded, again.reused) == ("added", 0, first.chunks)
    assert embedder.embedded_count == before
    assert beta.search("apple harvest", k=1).hits[0].chunk.doc_id == again.doc_id
    assert_consistent(alpha)
    assert_consistent(beta)


@pytest.mark.security
def test_a_shared_entry_from_before_serves_only_a_workspace_holding_its_text(
    settings: Settings,
):
    workspaces = Workspaces(settings, embedder=HashingEmbedder())
    alpha = workspaces.library("alpha")
    alpha.add([("orchard.pdf", make_pdf(APPLES))])
    hashes = [row.text_hash for row in alpha.registry.iter_ready_chunks()]
    engine = alpha.registry.engine
    model = alpha.embedder.name
    vectors = EmbeddingCache(engine, "alpha").get(model, hashes)
    with writing(engine) as conn:  # the cache as it was: entries by text hash, no workspace
        conn.execute(text("DELETE FROM embedding_cache"))
        conn.execute(
            text("INSERT INTO embedding_cache (model, text_hash, vector) VALUES (:m, :h, :v)"),
            [{"m": model, "h": h, "v": v.astype("float16").tobytes()} for h, v in vectors.items()],
        )
    assert set(EmbeddingCache(engine, "alpha").get(model, hashes)) == set(hashes)
    assert EmbeddingCache(engine, "beta").get(model, hashes) == {}
