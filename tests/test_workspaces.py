"""Workspaces: separate libraries and ratings in one registry, sharing one embedder."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rag_core.config import Settings
from rag_core.errors import ConfigurationError, NotFoundError
from rag_core.feedback.store import Rating
from rag_core.workspaces import Workspaces, check_workspace
from tests.fakes import HashingEmbedder
from tests.pdfs import make_pdf


@pytest.fixture
def workspaces(settings: Settings) -> Workspaces:
    return Workspaces(settings, embedder=HashingEmbedder())


def test_names_are_checked() -> None:
    assert check_workspace("team-a_1") == "team-a_1"
    for bad in ["", "../etc", "A", "a/b", "a" * 41, "-x", "a b"]:
        with pytest.raises(ConfigurationError, match="workspace"):
            check_workspace(bad)


def test_libraries_are_isolated_and_share_the_embedder(workspaces: Workspaces) -> None:
    a, b = workspaces.library("alpha"), workspaces.library("beta")
    assert workspaces.library("alpha") is a
    assert a.embedder is b.embedder is workspaces.embedder
    pdf = make_pdf(["Zeppelins are filled with helium gas."], title="airships")
    (added,) = a.add([("airships.pdf", pdf)]).results
    assert added.status == "added" and added.doc_id is not None
    assert [d.name for d in a.documents()] == ["airships.pdf"]
    assert b.documents() == []
    assert b.search("zeppelins helium").hits == ()
    assert a.search("zeppelins helium").hits[0].chunk.doc_id == added.doc_id
    with pytest.raises(NotFoundError):
        b.remove(added.doc_id)
    assert [d.name for d in a.documents()] == ["airships.pdf"]
    assert workspaces.opened() == ["alpha", "beta"]


def test_feedback_is_per_workspace(workspaces: Workspaces) -> None:
    library = workspaces.library("alpha")
    library.add([("a.pdf", make_pdf(["Zeppelins are filled with helium gas."]))])
    answer = library.ask("What are zeppelins filled with?")
    a, b = workspaces.feedback("alpha"), workspaces.feedback("beta")
    rating = Rating(
        session_id="s", message_id="m", vote=-1, answer=answer, asked_at=datetime.now(UTC)
    )
    a.rate(rating)
    assert [r.question for r in a.records()] == ["What are zeppelins filled with?"]
    assert b.records() == [] and b.get("s", "m") is None
