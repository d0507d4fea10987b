from pathlib import Path

import pytest
from pydantic import ValidationError

from rag_core.config import Settings


def test_plain_settings_ignore_the_environment(monkeypatch):
    monkeypatch.setenv("FOLIO_DATA_DIR", "/elsewhere")
    assert Settings().data_dir == Path("data")
    assert Settings().registry_url == "sqlite:///data/library.db"
    assert Settings().feedback_url == "sqlite:///feedback.db"


def test_from_env_reads_prefixed_conventional_and_dotenv(monkeypatch, tmp_path):
    monkeypatch.setenv("FOLIO_DATA_DIR", "/srv/folio")
    monkeypatch.setenv("FOLIO_CHUNK_TOKENS", "128")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@h/db")
    (tmp_path / ".env").write_text("FOLIO_RRF_K=30\nCHROMA_HOST=chroma.local\n")
    s = Settings.from_env(tmp_path / ".env")
    assert (s.data_dir, s.chunk_tokens, s.rrf_k) == (Path("/srv/folio"), 128, 30)
    assert s.anthropic_api_key == "sk-test" and s.has_claude
    assert s.chroma_host == "chroma.local"
    assert s.registry_url == s.feedback_url == "postgresql+psycopg://u@h/db"
    assert "sk-test" not in repr(s)


def test_bad_values_are_refused_with_the_field_named(monkeypatch):
    monkeypatch.setenv("FOLIO_CHUNK_TOKENS", "4")
    with pytest.raises(ValidationError, match="chunk_tokens"):
        Settings.from_env(None)
