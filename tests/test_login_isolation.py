"""Login on: alice (workspace a) and bob (workspace b) through the app's own handlers.

The handlers are the functions ``ui.app.build_app`` wires to the page, called with the
``gr.Request`` Gradio builds for a logged-in user; the library, Chroma and feedback.db are real.
Bob tries to reach alice's documents, pages and ratings, also with her ids in hand.
"""

from __future__ import annotations

import csv
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest

from rag_core.answer.conversation import RuleRewriter
from rag_core.auth.accounts import Accounts
from rag_core.config import Settings
from rag_core.errors import NotFoundError
from rag_core.workspaces import Workspaces
from ui import chat
from ui.app import build_app, launch_options, workspace_resolver

from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, ENGINES
from .test_ui_handlers import served_files

PASSWORD = "correct horse"
PEAR = "Why did pear output fall?"
OIL = "How often should the engine oil be changed?"
ORCHARD = make_pdf(APPLES)  # the same bytes each time: the same document id


def user(name: str | None) -> gr.Request:
    """The request Gradio hands a handler for a logged-in user's page."""
    return gr.Request(username=name, session_hash=f"session-{name}")


@dataclass
class Site:
    workspaces: Workspaces
    accounts: Accounts
    demo: gr.Blocks
    handlers: dict[str, Callable[..., Any]]
    files: Path

    def upload(self, name: str, *files: tuple[str, bytes]) -> tuple[Any, ...]:
        paths = []
        for file_name, data in files:
            path = self.files / name / file_name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            paths.append(str(path))
        return self.handlers["on_upload"](paths, user(name))

    def ask(
        self, name: str, question: str, state: chat.ChatState | None = None, doc_ids=None
    ) -> tuple[Any, ...]:
        updates = list(
            self.handlers["on_chat"](state or chat.ChatState(), question, doc_ids, user(name))
        )
        return updates[-1]

    def doc_id(self, workspace: str, name: str) -> str:
        return self.workspaces.library(workspace).find(name).id


@pytest.fixture
def site(settings: Settings, upload_folder: Path) -> Site:
    accounts = Accounts.open(settings.registry_url)
    accounts.add("alice", PASSWORD, "a")
    accounts.add("bob", PASSWORD, "b")
    workspaces = Workspaces(settings, embedder=HashingEmbedder())
    demo = build_app(workspaces, RuleRewriter(), workspace_of=workspace_resolver(accounts))
    handlers = {fn.fn.__name__: fn.fn for fn in demo.fns.values() if fn.fn is not None}
    s = Site(workspaces, accounts, demo, handlers, upload_folder)
    s.upload("alice", ("orchard.pdf", ORCHARD))
    s.upload("bob", ("engine.pdf", make_pdf(ENGINES)))
    return s


def test_each_user_lists_only_their_workspace(site: Site):
    loaded = site.handlers["on_load"](user("bob"))
    table, row_ids, selected, doc_filter, summary, _, account = loaded
    assert account["value"] == (
        "Signed in as <b>bob</b> · workspace <code>b</code> · "
        '<a href="logout" target="_self">Log out</a>'
    )
    assert table.values[:, 0].tolist() == ["engine.pdf"]
    assert row_ids == (site.doc_id("b", "engine.pdf"),)
    assert [label for label, _ in selected["choices"]] == ["engine.pdf"]
    assert [value for _, value in doc_filter["choices"]] == [site.doc_id("b", "engine.pdf")]
    assert summary.startswith("1 ready documents · 2 chunks · 2 pages")
    table, row_ids, *_ = site.handlers["on_load"](user("alice"))
    assert table.values[:, 0].tolist() == ["orchard.pdf"]
    assert site.workspaces.opened() == ["a", "b"]


def test_bob_never_retrieves_or_cites_alice_even_with_her_ids(site: Site):
    orchard = site.doc_id("a", "orchard.pdf")
    mine = site.ask("alice", PEAR)
    [turn] = mine[1].turns
    assert turn.answer.citations and {c.doc_id for c in turn.answer.citations} == {orchard}
    assert "orchard.pdf" in mine[3] and mine[4]  # her sources and page images

    for doc_ids in (None, [orchard]):
        messages, state, _, sources, gallery, trace, _ = site.ask("bob", PEAR, doc_ids=doc_ids)
        answer = state.turns[-1].answer
        assert state.workspace == "b"
        assert orchard not in {h.chunk.doc_id for h in answer.hits}
        assert orchard not in {c.doc_id for c in answer.citations}
        assert orchard not in {p.doc_id for p in answer.pages}
        shown = str(messages) + sources + trace + str(gallery)
        assert "orchard" not in shown and "This answer cites no passage." in sources
        bob_pages = {
            p.read_bytes()
            for p in site.workspaces.library("b").images.root.rglob("*")
            if p.is_file()
        }
        assert all(Path(path).read_bytes() in bob_pages for path, _ in gallery)  # his, copied
    assert answer.refused and answer.hits == ()  # filtered to alice's id: nothing of his matches

    bob = site.workspaces.library("b")  # the page calls behind sources and the gallery
    assert bob.page_image(orchard, 2) is None and bob.page_image(orchard, 2, True) is None
    with pytest.raises(NotFoundError):
        bob.page_text(orchard, 2)


def test_bob_cannot_open_or_rate_alice_conversation(site: Site):
    """Even handed alice's chat state (a stolen session), bob's handlers start afresh."""
    alice_state = site.ask("alice", PEAR)[1]
    assert site.handlers["on_select"](alice_state, select(1), user("bob")) == (gr.skip(),) * 3
    with pytest.warns(UserWarning, match="no answer to rate"):
        state, *_ = site.handlers["on_like"](alice_state, like(1, False), user("bob"))
    assert state.turns == () and state.workspace == "b"
    with pytest.raises(gr.Error, match="no answer to rate"):
        site.handlers["on_comment"](alice_state, "steal", user("bob"))
    assert site.workspaces.feedback("a").records() == []
    assert site.workspaces.feedback("b").records() == []
    sources, gallery, _ = site.handlers["on_select"](alice_state, select(1), user("alice"))
    assert "orchard.pdf" in sources and gallery


def test_bob_cannot_delete_or_reindex_alice_documents(site: Site):
    orchard = site.doc_id("a", "orchard.pdf")
    images = site.workspaces.library("a").images.folder(orchard)
    with pytest.raises(gr.Error, match="No document with id"):
        site.handlers["on_delete"](orchard, user("bob"))
    with pytest.raises(gr.Error, match="No document with id"):
        site.handlers["on_reindex"](orchard, user("bob"))
    for action in ("delete", "reindex"):
        with pytest.raises(gr.Error, match="No document with id"):
            site.handlers["on_confirm"](action, orchard, user("bob"))
    assert [d.id for d in site.workspaces.library("a").documents()] == [orchard]
    assert sorted(p.name for p in images.iterdir())[:2] == ["00000.jpg", "00000.thumb.jpg"]

    # The same file in both workspaces has the same id; deleting bob's copy leaves hers.
    site.upload("bob", ("orchard.pdf", ORCHARD))
    assert site.doc_id("b", "orchard.pdf") == orchard
    _, _, text, table, *_ = site.handlers["on_confirm"]("delete", orchard, user("bob"))
    assert text == "orchard.pdf was deleted." and table.values[:, 0].tolist() == ["engine.pdf"]
    assert [d.id for d in site.workspaces.library("a").documents()] == [orchard]
    assert (images / "00002.jpg").exists()
    assert site.ask("alice", PEAR)[1].turns[0].answer.citations


def test_feedback_analytics_and_csv_are_per_workspace(site: Site, tmp_path: Path):
    alice_state = site.ask("alice", PEAR)[1]
    alice_state, *_ = site.handlers["on_like"](alice_state, like(1, False), user("alice"))
    site.handlers["on_comment"](alice_state, "pears only", user("alice"))
    bob_state = site.ask("bob", OIL)[1]
    site.handlers["on_like"](bob_state, like(1, True), user("bob"))

    bob_view = site.handlers["on_analytics"](user("bob"))
    assert (
        bob_view[0] == "**1** rated answers · **1** liked · **0** disliked · satisfaction **100%**"
    )
    assert bob_view[7].empty  # no disliked questions of his (6: answers by support)
    alice_view = site.handlers["on_analytics"](user("alice"))
    assert alice_view[0].startswith("**1** rated answers · **0** liked · **1** disliked")
    alice_disliked = alice_view[8]
    assert alice_disliked and [row[0] for row in alice_view[7].values.tolist()] == [PEAR]

    pick = site.handlers["on_disliked"](alice_disliked, select(0), user("bob"))
    assert pick == site.handlers["on_disliked"]((), select(0), user("bob"))  # "pick one"
    assert PEAR not in pick
    assert PEAR in site.handlers["on_disliked"](alice_disliked, select(0), user("alice"))

    def exported(name: str) -> list[dict[str, str]]:
        path = Path(site.handlers["on_export"](user(name)))
        with path.open(encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))

    assert [(r["question"], r["vote"]) for r in exported("bob")] == [(OIL, "1")]
    assert [(r["question"], r["comment"]) for r in exported("alice")] == [(PEAR, "pears only")]


def test_requests_without_a_live_account_are_refused(site: Site):
    with pytest.raises(gr.Error, match="log in again"):
        site.handlers["on_load"](user(None))
    site.accounts.remove("bob")
    with pytest.raises(gr.Error, match="log in again"):
        site.handlers["on_load"](user("bob"))
    with pytest.raises(gr.Error, match="log in again"):
        list(site.handlers["on_chat"](chat.ChatState(), OIL, None, user("bob")))
    with pytest.raises(gr.Error, match="log in again"):
        site.handlers["on_export"](user("bob"))


def test_login_off_everyone_uses_the_default_workspace(settings: Settings):
    workspaces = Workspaces(settings, embedder=HashingEmbedder())
    workspaces.library("default").add([("engine.pdf", make_pdf(ENGINES))])
    workspaces.library("other").add([("orchard.pdf", make_pdf(APPLES))])
    demo = build_app(workspaces, RuleRewriter())
    handlers = {fn.fn.__name__: fn.fn for fn in demo.fns.values() if fn.fn is not None}
    for request in (gr.Request(), user("anyone")):
        assert handlers["on_load"](request)[0].values[:, 0].tolist() == ["engine.pdf"]
    assert handlers["on_load"](gr.Request())[-1] == {
        "__type__": "update",
        "value": "",
        "visible": False,
    }


def test_page_files_are_not_served_by_path(site: Site):
    """Through Gradio's real routes: login required; no data-folder path is served to anyone."""
    sources = site.ask("alice", PEAR)[3]
    [served, *_] = served_files(sources)
    orchard = site.doc_id("a", "orchard.pdf")
    engine = site.doc_id("b", "engine.pdf")
    alice_page = site.workspaces.library("a").page_image(orchard, 2)
    bob_page = site.workspaces.library("b").page_image(engine, 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site.demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_options(site.accounts),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as anonymous:
            assert anonymous.get(f"/gradio_api/file={served}").status_code == 401
            refused = anonymous.post("/login", data={"username": "bob", "password": "wrong"})
            assert refused.status_code == 400
        with httpx.Client(base_url=base, timeout=30) as bob:
            login = bob.post("/login", data={"username": "bob", "password": PASSWORD})
            assert login.status_code == 200
            assert bob.get("/gradio_api/user").json() == "bob"
            assert bob.get(f"/gradio_api/file={alice_page}").status_code == 403
            assert bob.get(f"/gradio_api/file={bob_page}").status_code == 403  # not even his own
            # What remains: a cache copy's URL works for any logged-in user who has it.
            assert bob.get(f"/gradio_api/file={served}").content == served.read_bytes()
    finally:
        site.demo.close()


def select(index: int) -> gr.SelectData:
    return gr.SelectData(None, {"index": index, "value": None, "selected": True})


def like(index: int, liked: bool) -> gr.LikeData:
    return gr.LikeData(None, {"index": index, "value": None, "liked": liked})
