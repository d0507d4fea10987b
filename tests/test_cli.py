import io

import pytest

from rag_core.cli.commands import main
from rag_core.config import Settings
from rag_core.library import Library

from .fakes import HashingEmbedder
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


@pytest.mark.security
def test_read_only_commands_leave_an_ingest_in_progress_alone(tmp_path, monkeypatch):
    """The attack: any CLI command, even ``list``, repaired "crashed" ingests, so it re-ingested
    a document that a running server was still ingesting."""
    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("FOLIO_EMBED_MODEL", "builtin:all-MiniLM-L6-v2")
    settings = Settings(data_dir=tmp_path / "lib")
    # The server's ingest has its registry row, pending chunks and stored file, no vectors yet.
    server = Library.open(settings, embedder=HashingEmbedder(), check_model=False)
    orchard = b"Orchard Report\n\nApple harvest rose to 120 tonnes in 2020."
    prepared = server.ingestor.prepare("orchard.md", orchard)
    ingesting = server.document(prepared.doc.id)
    assert ingesting.status == "indexing"

    for command in (
        ["list"],
        ["status"],
        ["search", "apple harvest"],
        ["ask", "How big was the apple harvest?"],
        ["vision", "status"],
    ):
        code, out, err = run(*command)
        assert code == 0, err
        assert server.document(ingesting.id) == ingesting, command
    code, out, _ = run("list")
    assert out == f"{ingesting.id[:12]}  indexing orchard.md  1 pages, 0 chunks, 0 without text\n"

    # A command that writes still repairs what it finds (here: it finishes the ingest).
    (tmp_path / "engine.md").write_text(ENGINES[0])
    code, _, err = run("add", str(tmp_path / "engine.md"))
    assert code == 0, err
    assert server.document(ingesting.id).status == "ready"
