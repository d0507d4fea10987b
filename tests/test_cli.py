import io

import pytest

from rag_core.cli.commands import main

from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

pytestmark = pytest.mark.slow


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_add_list_search_ask_remove(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("FOLIO_EMBED_MODEL", "builtin:all-MiniLM-L6-v2")
    (tmp_path / "orchard.pdf").write_bytes(make_pdf(APPLES))
    (tmp_path / "engine.pdf").write_bytes(make_pdf(ENGINES))
    (tmp_path / "bad.pdf").write_bytes(b"nope")
    code, out, _ = run(
        "add",
        str(tmp_path / "orchard.pdf"),
        str(tmp_path / "engine.pdf"),
        str(tmp_path / "bad.pdf"),
    )
    assert code == 1  # one file failed, the others went in
    lines = out.splitlines()
    assert lines[0].startswith("added      orchard.pdf: 3 pages (1 without text), ")
    assert lines[2] == "failed     bad.pdf: is named .pdf but is not a PDF (no %PDF header)"

    code, out, _ = run("search", "pear frost", "-k", "2")
    first = out.splitlines()[0]
    assert code == 0 and first.startswith(" 1. orchard.pdf  page 3  score ")

    code, out, _ = run("search", "oil", "--doc", "engine.pdf")
    assert code == 0 and all(" engine.pdf " in f" {line}" for line in out.splitlines())

    code, out, _ = run("ask", "How often should the engine oil be changed?")
    assert code == 0 and "[1] engine.pdf, page 1:" in out and "(extractive answer" in out

    code, out, _ = run("list")
    assert [line.split()[2] for line in out.splitlines()] == [
        "orchard.pdf",
        "engine.pdf",
        "bad.pdf",
    ]

    code, out, _ = run("remove", "orchard.pdf")
    assert (code, out) == (0, "removed orchard.pdf\n")
    code, _, err = run("remove", "orchard.pdf")
    assert code == 1 and err == "error: No single document matches 'orchard.pdf'\n"
