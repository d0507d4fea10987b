"""Embedding backends: OpenVINO gives the PyTorch model's vectors; int8 gives close ones, under
its own model name, quantized once and cached; other layouts stay on PyTorch or fail clearly."""

from pathlib import Path

import numpy as np
import pytest

from rag_core.assemble import text_embedder_for
from rag_core.config import BUILTIN_EMBEDDER
from rag_core.embed import openvino as openvino_backend
from rag_core.embed.embeddings import SentenceTransformerEmbedder, resolve_model_path
from rag_core.errors import ConfigurationError
from rag_core.library import Library

TEXTS = [
    "Purchases of property, plant and equipment rose in 2018.",
    "公司本年度的营业收入和净利润均显著增长。",
    "x",
    # longer than the model's 256 tokens: truncated exactly as PyTorch truncates it
    " ".join(
        f"Segment {i} reported higher operating income than a year earlier." for i in range(60)
    ),
    "Net cash provided by operating activities",
]


@pytest.fixture(scope="module")
def float32() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(backend="torch", dtype="float32")


def test_openvino_documents_are_the_float32_model_vectors_in_the_callers_order(float32):
    embedder = SentenceTransformerEmbedder(backend="openvino")
    assert embedder.runtime == "openvino" and embedder.name == BUILTIN_EMBEDDER
    assert float32.runtime == "torch"
    got, want = embedder.embed(TEXTS), float32.embed(TEXTS)
    assert got.shape == (len(TEXTS), embedder.dimension) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * want).sum(axis=1).min() > 0.9995
    # each row is its own text's vector, not its length-sorted neighbour's
    assert np.array_equal(np.argmax(got @ want.T, axis=1), np.arange(len(TEXTS)))
    # batches of one, and nothing at all
    single = np.vstack([embedder.embed([t]) for t in TEXTS])
    assert (single * got).sum(axis=1).min() > 0.9995
    assert embedder.embed([]).shape == (0, embedder.dimension)
    # queries run on PyTorch (one short text: latency, not throughput)
    query = embedder.embed_query([TEXTS[0]])
    assert float(query[0] @ want[0]) > 0.999


def test_the_default_is_int8_under_its_own_name_with_vectors_close_to_float32(minilm, float32):
    assert minilm.runtime == "openvino-int8"
    assert minilm.name == BUILTIN_EMBEDDER + "+int8"  # never mixed with float32 vectors
    got, want = minilm.embed(TEXTS), float32.embed(TEXTS)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosine = (got * want).sum(axis=1)
    assert cosine.min() > 0.98 and cosine.mean() > 0.99
    assert np.array_equal(np.argmax(got @ want.T, axis=1), np.arange(len(TEXTS)))
    # queries go through the same int8 model, so a query meets documents of its own kind
    assert np.allclose(minilm.embed_query(TEXTS[:1]), got[:1], atol=1e-6)
    # what a search sees: the same nearest document for each question as float32 gives
    corpus = [
        "Net cash provided by operating activities was $6.4 billion in 2018.",
        "Purchases of property, plant and equipment were $1.6 billion.",
        "The board declared a quarterly dividend of $1.36 per share.",
        "Photosynthesis turns light into chemical energy in chloroplasts.",
    ]
    questions = ["How much cash did operations generate?", "What were capital expenditures?"]
    questions += ["What dividend was declared?", "How do plants use sunlight?"]
    int8_top = np.argmax(minilm.embed_query(questions) @ minilm.embed(corpus).T, axis=1)
    f32_top = np.argmax(float32.embed_query(questions) @ float32.embed(corpus).T, axis=1)
    assert list(int8_top) == list(f32_top) == [0, 1, 2, 3]


@pytest.mark.slow  # quantizes twice (about 20 s each)
def test_queries_embedded_together_get_the_vectors_each_gets_alone(model_cache):
    # A decomposed search embeds its question and parts in one call; padded into one batch,
    # each text's vector would change in its last bits (up to 1.5e-5 here) and with it the
    # search's ranking. No query memory: every call embeds.
    embedder = SentenceTransformerEmbedder(cache_dir=model_cache, query_memory=0)
    queries = [TEXTS[0], TEXTS[4], TEXTS[3], "capex of Amazon in 2019"]
    together = embedder.embed_query(queries)
    alone = np.vstack([embedder.embed_query([q]) for q in queries])
    assert embedder.runtime == "openvino-int8"
    assert np.array_equal(together, alone)


def test_the_int8_model_is_quantized_once_then_read_from_the_cache(tmp_path, minilm, monkeypatch):
    first = SentenceTransformerEmbedder(cache_dir=tmp_path)
    want = first.embed(TEXTS)
    entries = list(tmp_path.glob("int8-*/model.xml"))
    assert len(entries) == 1 and entries[0].with_suffix(".bin").stat().st_size > 1_000_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    # the same quantization everywhere: this one (fresh) equals the session's (cached)
    assert np.array_equal(want, minilm.embed(TEXTS))

    def no_quantizing(*args, **kwargs):
        raise AssertionError("quantized again despite the cache")

    monkeypatch.setattr(openvino_backend, "quantize_int8", no_quantizing)
    second = SentenceTransformerEmbedder(cache_dir=tmp_path)
    assert np.array_equal(second.embed(TEXTS), want)

    # a damaged entry is quantized again, not trusted
    monkeypatch.undo()
    entries[0].write_text("<not a model")
    third = SentenceTransformerEmbedder(cache_dir=tmp_path)
    assert np.array_equal(third.embed(TEXTS), want)
    assert entries[0].read_text().startswith("<?xml")  # and the entry is whole again


def test_switching_between_int8_and_float_vectors_needs_a_reembed(settings):
    Library.open(settings)  # built (cheaply: no model loads) under the int8 name
    torch_settings = settings.model_copy(update={"embed_backend": "torch"})
    with pytest.raises(ConfigurationError, match=r"\+int8.*FOLIO_EMBED_BACKEND.*reembed"):
        Library.open(torch_settings)


def test_the_backend_setting_reaches_the_embedder(settings):
    embedder = text_embedder_for(settings.model_copy(update={"embed_backend": "torch"}))
    assert embedder.backend == "torch" and embedder.runtime == "torch"


@pytest.fixture(scope="module")
def max_pooled_model(tmp_path_factory) -> Path:
    """MiniLM with max pooling: a layout the OpenVINO backend does not convert."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    model = SentenceTransformer(resolve_model_path("builtin:all-MiniLM-L6-v2"), device="cpu")
    folder = tmp_path_factory.mktemp("max-pooled")
    SentenceTransformer(modules=[model[0], Pooling(384, pooling_mode="max")]).save(str(folder))
    return folder


def test_a_layout_openvino_cannot_take_stays_on_pytorch_or_fails_clearly(max_pooled_model):
    auto = SentenceTransformerEmbedder(str(max_pooled_model))
    assert auto.name == str(max_pooled_model)  # int8 by default only for the built-in model
    assert auto.runtime == "torch"
    assert auto.embed(TEXTS[:2]).shape == (2, 384)
    for backend in ("openvino", "openvino-int8"):
        forced = SentenceTransformerEmbedder(str(max_pooled_model), backend=backend)
        with pytest.raises(ConfigurationError, match=r"OpenVINO.*pooling 'max'.*=torch"):
            forced.embed(TEXTS[:1])
