"""The real loader on tiny ColQwen2 / ColPali models: shapes, patch geometry, query tokens."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from rag_core.errors import ConfigurationError
from rag_core.vision.model import ColVisionEmbedder, locate_model

from .vision_fixtures import TINY_MAX_IMAGE_TOKENS


def smart_resize(height: int, width: int, max_tokens: int, factor: int = 28) -> tuple[int, int]:
    """Qwen2-VL's resize rule (min 56*56 pixels), written out to check the grid against."""
    h, w = round(height / factor) * factor, round(width / factor) * factor
    if h * w > max_tokens * factor * factor:
        beta = math.sqrt(height * width / (max_tokens * factor * factor))
        h = math.floor(height / beta / factor) * factor
        w = math.floor(width / beta / factor) * factor
    elif h * w < 56 * 56:
        beta = math.sqrt(56 * 56 / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


@pytest.fixture(scope="module")
def qwen(tiny_colqwen2):
    return ColVisionEmbedder(
        str(tiny_colqwen2), batch_size=2, max_image_tokens=TINY_MAX_IMAGE_TOKENS
    )


@pytest.mark.parametrize(("width", "height"), [(1240, 1754), (1754, 1240), (300, 200), (90, 700)])
def test_colqwen2_patch_grid_tiles_the_page(qwen, width, height):
    [page] = qwen.embed_pages([Image.new("RGB", (width, height), "white")])
    h, w = smart_resize(height, width, TINY_MAX_IMAGE_TOKENS)
    assert page.grid == (h // 28, w // 28)
    assert int(page.patches.sum()) == page.grid[0] * page.grid[1] <= TINY_MAX_IMAGE_TOKENS
    patch_rows = np.flatnonzero(page.patches)
    assert (np.diff(patch_rows) == 1).all()  # one contiguous run of patch tokens
    assert page.vectors.shape == (len(page.patches), 16) and page.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(page.vectors, axis=1), 1.0, atol=1e-5)


def test_pages_of_a_batch_match_pages_embedded_alone(tiny_colqwen2):
    qwen = ColVisionEmbedder(
        str(tiny_colqwen2), dtype="float32", max_image_tokens=TINY_MAX_IMAGE_TOKENS
    )
    images = [Image.new("RGB", (620, 877), "white"), Image.new("RGB", (300, 120), "navy")]
    together = qwen.embed_pages(images)
    alone = [qwen.embed_pages([im])[0] for im in images]
    for a, b in zip(together, alone, strict=True):
        assert a.grid == b.grid and (a.patches == b.patches).all()
        np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-4)  # padding changes nothing


def test_query_tokens_and_their_words(qwen):
    long, short = qwen.embed_queries(["what was the apple harvest?", "pear"])
    # "Query: " + words + 10 padding tokens + "\n"; only the words are content.
    assert long.vectors.shape[1] == 16 and len(long.content) == len(long.vectors)
    assert 0 < int(short.content.sum()) < int(long.content.sum())
    assert not long.content[:2].any() and not long.content[-11:].any()
    np.testing.assert_allclose(np.linalg.norm(short.vectors, axis=1), 1.0, atol=1e-5)


def test_colpali_reads_a_square_grid(tiny_colpali):
    embedder = ColVisionEmbedder(str(tiny_colpali), batch_size=2)
    pages = embedder.embed_pages([Image.new("RGB", (620, 877)), Image.new("RGB", (100, 40))])
    assert [p.grid for p in pages] == [(4, 4), (4, 4)]
    assert [int(p.patches.sum()) for p in pages] == [16, 16]
    [query] = embedder.embed_queries(["pear frost"])
    assert query.content.any() and not query.content[0]  # <bos> is not a word


def test_missing_model_is_a_clear_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="is not available offline"):
        locate_model("vidore/colqwen2-v1.0-hf")
    with pytest.raises(ConfigurationError, match=r"has no config\.json"):
        locate_model(str(tmp_path))
    embedder = ColVisionEmbedder(str(tmp_path / "nowhere"))
    with pytest.raises(ConfigurationError, match="is not available offline"):
        embedder.embed_queries(["x"])
    assert not embedder.loaded


def test_a_model_that_is_not_colqwen2_or_colpali_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ConfigurationError, match="is a bert model"):
        ColVisionEmbedder(str(tmp_path)).load()


@pytest.mark.gpu
def test_the_embedder_runs_on_cuda_like_on_cpu(tiny_colqwen2):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    options = {"dtype": "float32", "max_image_tokens": TINY_MAX_IMAGE_TOKENS}
    cpu = ColVisionEmbedder(str(tiny_colqwen2), device="cpu", **options)
    gpu = ColVisionEmbedder(str(tiny_colqwen2), device="cuda", **options)
    image = Image.new("RGB", (620, 877), "white")
    [a], [b] = cpu.embed_pages([image]), gpu.embed_pages([image])
    assert a.grid == b.grid
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-3)
    [qa], [qb] = cpu.embed_queries(["apple harvest"]), gpu.embed_queries(["apple harvest"])
    np.testing.assert_allclose(qa.vectors, qb.vectors, atol=1e-3)
