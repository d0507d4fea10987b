"""``python -m rag_core vision status|run|pause|resume`` and the vision notices in ``status``."""

from __future__ import annotations

import io

import pytest

from rag_core.cli.commands import main

from .pdfs import make_pdf
from .test_library import APPLES
from .vision_fixtures import TINY_MAX_IMAGE_TOKENS


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_status_says_why_the_vision_index_is_off(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "lib"))
    code, out, _ = run("status")
    assert code == 0
    assert (
        "notice: Vision index off: model 'vidore/colqwen2-v1.0-hf' is not available offline"
    ) in out
    code, out, _ = run("vision", "status")
    assert code == 0 and out.startswith("vision index: unavailable, model vidore/colqwen2-v1.0-hf")
    code, _, err = run("vision", "run")
    assert code == 1 and err.startswith("error: Vision index off: model 'vidore/colqwen2-v1.0-hf'")


@pytest.mark.slow
def test_vision_commands_with_the_tiny_model(tmp_path, monkeypatch, tiny_colqwen2):
    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("FOLIO_VISION_MODEL", str(tiny_colqwen2))
    monkeypatch.setenv("FOLIO_VISION_MAX_IMAGE_TOKENS", str(TINY_MAX_IMAGE_TOKENS))
    monkeypatch.setenv("FOLIO_VISION_ENABLED", "on")  # auto stays off on a CPU
    (tmp_path / "orchard.pdf").write_bytes(make_pdf(APPLES))
    assert run("add", str(tmp_path / "orchard.pdf"))[0] == 0
    code, out, _ = run("status")
    assert "notice: Vision index: 0/3 pages" in out
    assert run("vision", "pause") == (0, "vision indexing paused\n", "")
    code, out, _ = run("vision", "run")
    assert out == "vision indexing is paused (python -m rag_core vision resume)\n"
    assert run("vision", "status")[1].splitlines()[1].startswith("0/3 pages indexed (paused)")
    assert run("vision", "resume") == (0, "vision indexing resumed\n", "")
    code, out, _ = run("vision", "run")
    lines = out.splitlines()
    assert (
        code == 0 and lines[-1] == "indexed 3 pages" and lines[-2].startswith("vision index: 3/3")
    )
    code, out, _ = run("vision", "status")
    assert out.splitlines()[1].startswith("3/3 pages indexed; ") and "KB per page" in out
    code, out, _ = run("search", "apple harvest", "-k", "2", "--pages")
    assert code == 0 and any(line.startswith("p 1. orchard.pdf") for line in out.splitlines())
    assert any("vision#" in line for line in out.splitlines() if line.startswith("p"))
    code, out, _ = run("ask", "How many tonnes of apples were harvested in 2020?")
    assert code == 0 and "(page image)" in out and "[1] orchard.pdf, page 1:" in out
