"""Regression tests of the attacks run against the live web app, each sent the way the attack
sent it: Gradio events and uploads over HTTP to ``python app.py`` on a free port, headless
Chromium for what a page renders, the CLI for account changes. The handler-level checks that
back Gradio's own are also tested as plain functions.

The CSV export and the Evaluation tab's admin rule have their plain tests beside the others of
their kind (``test_feedback.py``, ``test_ui_evaluation.py``).
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gradio as gr
import httpx
import pytest
from gradio.context import LocalContext

from rag_core.auth.accounts import Accounts
from rag_core.config import Settings
from rag_core.errors import DocumentError
from rag_core.ingest.readers import KINDS, detect_kind
from rag_core.library import Library
from ui import documents
from ui import formatting as fmt
from ui.access import AccountSessions

from .fakes import HashingEmbedder
from .gradio_events import file_data, new_session, send_event
from .pdfs import make_pdf
from .test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, Server, Steps, run_app
from .test_e2e_login import folio
from .test_ui_evaluation import make_beir

pytestmark = pytest.mark.security

PASSWORD = "correct horse"
LIMIT_MB = 1  # FOLIO_MAX_UPLOAD_MB of the server under attack


def no_progress(fraction: float, description: str) -> None:
    pass


def documents_of(url: str) -> list[str]:
    """The names in the ``default`` workspace, through the HTTP API."""
    listed = httpx.get(f"{url}api/v1/documents", timeout=30).json()["documents"]
    return sorted(d["name"] for d in listed)


def upload_route(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    """What the page does first: the file to Gradio's upload route (it answers the path)."""
    return client.post("/gradio_api/upload", files={"files": (name, data)})


# The upload handler (plain functions) ----------------------------------------------------
def test_the_upload_handler_reads_only_files_the_upload_route_wrote(
    library: Library, upload_folder: Path, tmp_path: Path
):
    planted = tmp_path / "ops_notes.txt"
    planted.write_text("The ops root password is hunter2.")
    link = upload_folder / "0a1b" / "notes.txt"
    link.parent.mkdir()
    link.symlink_to(planted)
    for path in (str(planted), str(link), f"{upload_folder}/../ops_notes.txt"):
        with pytest.raises(gr.Error) as refused:
            documents.upload(library, [path], "en", no_progress)
        name = Path(path).name
        assert refused.value.message == (
            f"{name} was refused: it is not a file uploaded through this page."
        )
    assert library.documents() == []

    # While Gradio runs the event: only a file that this app's upload route wrote, even in
    # the upload folder (Gradio copies a named server file there when its own check is off).
    copied = upload_folder / "2c3d" / "pears.txt"
    copied.parent.mkdir()
    copied.write_text("The warehouse stores pears.")
    demo = gr.Blocks()
    running = LocalContext.blocks.set(demo)
    try:
        with pytest.raises(gr.Error, match=r"pears\.txt was refused"):
            documents.upload(library, [str(copied)], "en", no_progress)
        assert library.documents() == []
        demo.upload_file_set.add(str(copied))
        summary, view = documents.upload(library, [str(copied)], "en", no_progress)
    finally:
        LocalContext.blocks.reset(running)
    assert summary == "✓ pears.txt: added \\(1 pages, 1 chunks\\)"
    assert view.table.values[:, 0].tolist() == ["pears.txt"]


def test_a_file_over_the_limit_fails_by_its_size_unread(library: Library, upload_folder: Path):
    huge = upload_folder / "9f" / "huge.txt"
    huge.parent.mkdir()
    with huge.open("wb") as f:
        f.truncate(300 * 2**20)  # sparse: 300 MB on paper, nothing on disk
    small = upload_folder / "9f" / "small.md"
    small.write_text("# Pears\n\nThe warehouse stores pears.")
    tracemalloc.start()
    try:
        with pytest.warns(UserWarning, match="1 of 2 files could not be added"):
            summary, view = documents.upload(library, [str(huge), str(small)], "en", no_progress)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20  # reading it would have taken 300 MB
    assert summary.split("  \n") == [
        "✗ not added: huge.txt: is 300.0 MB, over the upload limit of 200 MB "
        "\\(FOLIO\\_MAX\\_UPLOAD\\_MB\\)",  # FOLIO_MAX_UPLOAD_MB=200 (the default): 200 MB
        "✓ small.md: added \\(1 pages, 1 chunks\\)",
    ]
    assert view.table.values[:, 0].tolist() == ["small.md"]


def test_the_limit_is_shown_in_the_unit_of_its_setting(settings: Settings, upload_folder: Path):
    half = Library.open(
        settings.model_copy(update={"max_upload_mb": 0.5}), embedder=HashingEmbedder()
    )
    big = upload_folder / "7e" / "big.md"
    big.parent.mkdir()
    big.write_bytes(b"a" * (2**19 + 1))  # 0.5 MB and one byte
    with pytest.warns(UserWarning):
        summary, _ = documents.upload(half, [str(big)], "zh", no_progress)
    assert summary == (
        "✗ 未添加：big.md: 大小为 0.5 MB，超过上传上限 0.5 MB（FOLIO\\_MAX\\_UPLOAD\\_MB）"
    )


def test_the_upload_box_offers_exactly_what_the_core_reads():
    assert documents.FILE_TYPES == list(KINDS) == [".pdf", ".md", ".markdown", ".txt", ".docx"]
    with pytest.raises(DocumentError, match="unsupported file type"):
        detect_kind("notes.text", b"plain text")  # what the box used to offer


# Sessions (plain) ------------------------------------------------------------------------
def test_a_session_ends_with_its_account_password(settings: Settings):
    accounts = Accounts.open(settings.registry_url)
    accounts.add("carol", PASSWORD, "a")
    accounts.add("dave", PASSWORD, "b")
    sessions = AccountSessions(accounts)
    sessions["t1"] = "carol"
    sessions["t2"] = "dave"
    assert (sessions.get("t1"), sessions.get("t2")) == ("carol", "dave")
    assert (sessions.get("nope"), sessions.get(None), len(sessions)) == (None, None, 2)

    accounts.set_password("carol", "a new password")
    assert sessions.get("t1") is None and "t1" not in sessions  # dropped
    assert sessions.get("t2") == "dave"  # another account's session is untouched
    sessions["t3"] = "carol"  # logged in with the new password
    assert sessions.get("t3") == "carol"

    accounts.remove("dave")
    accounts.add("dave", PASSWORD, "b")  # the same name and password: a new account
    assert sessions.get("t2") is None and sorted(sessions) == ["t3"]


# Markup in answers (plain) ---------------------------------------------------------------
def test_markup_in_an_answer_or_question_is_shown_as_text():
    text = (
        'Kept by the porter <img src="http://127.0.0.1:9/p"> & <form><input type=password>'
        "</form> [1] <style>#chatbot{display:none} ![x](http://127.0.0.1:9/i) `code` \\ [2]"
    )
    shown = fmt.answer_markdown(text, "m1", {1: 'vault "<b>".md, page 1'})
    assert shown == (
        'Kept by the porter &lt;img src="http://127.0.0.1:9/p"&gt; &amp; &lt;form&gt;&lt;input '
        "type=password&gt;&lt;/form&gt; [[1]](#cite-m1-1 \"vault '<b>'.md, page 1\") "
        "&lt;style&gt;#chatbot{display:none} !\\[x\\](http://127.0.0.1:9/i) \\`code\\` \\\\ "
        "\\[2\\]"
    )
    assert fmt.literal_markdown("<b>bold</b> [link](x)") == "&lt;b&gt;bold&lt;/b&gt; \\[link\\](x)"


# The live server, login off --------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``python app.py`` with a 1 MB upload limit and its upload folder inspectable; planted:
    a server file, and a PDF where the core stores another workspace's uploads."""
    root = tmp_path_factory.mktemp("folio-attack")
    (root / "ops_notes.txt").write_text("Ops notes: the root password is hunter2.")
    stored = root / "data" / "files" / "other"  # where the core keeps workspace other's files
    stored.mkdir(parents=True)
    (stored / "5ec2e7.pdf").write_bytes(make_pdf(["Secret\n\nThe merger closes on 9 May."]))
    yield from run_app(
        root, FOLIO_MAX_UPLOAD_MB=str(LIMIT_MB), GRADIO_TEMP_DIR=str(root / "uploads")
    )


def test_an_upload_event_naming_a_server_file_is_refused(server: Server):
    [stored] = (server.root / "data" / "files" / "other").glob("*.pdf")  # another workspace's
    before = documents_of(server.url)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for planted in (server.root / "ops_notes.txt", stored):
            forged = send_event(client, "upload", [[file_data(str(planted), planted.name)]])
            assert not forged.success
            assert forged.error == (
                f"Cannot move {planted} to the gradio cache dir because it was not uploaded "
                "by a user."
            )
        assert documents_of(server.url) == before
        assert not list((server.root / "uploads").rglob("ops_notes.txt"))  # not even copied

        # The same event with a file the upload route wrote goes in.
        [path] = upload_route(client, "forged-control.md", b"# Pears\n\nPears keep.").json()
        real = send_event(client, "upload", [[file_data(path, "forged-control.md")]])
    assert real.success and real.data[0] == "✓ forged-control.md: added \\(1 pages, 1 chunks\\)"
    assert documents_of(server.url) == sorted([*before, "forged-control.md"])


def test_an_upload_over_the_limit_is_refused_and_not_kept(server: Server):
    uploads = server.root / "uploads"
    before = sorted(uploads.rglob("*")) if uploads.exists() else []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        over = upload_route(client, "big.txt", b"a" * (LIMIT_MB * 2**20 + 1))
        assert over.status_code == 413
        assert over.text == "File size exceeded maximum allowed size of 1048576 bytes."
        assert sorted(uploads.rglob("*")) == before  # nothing left in the upload folder
        at_limit = upload_route(client, "limit.txt", b"a" * (LIMIT_MB * 2**20))
    assert at_limit.status_code == 200  # 1 MB is FOLIO_MAX_UPLOAD_MB=1: 2**20 bytes


def test_the_upload_event_refuses_types_the_core_cannot_read(server: Server):
    before = documents_of(server.url)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        [path] = upload_route(client, "notes.text", b"The warehouse stores apples.").json()
        result = send_event(client, "upload", [[file_data(path, "notes.text")]])
    assert not result.success
    assert result.error == (
        "Invalid file type. Please upload a file that is one of these formats: "
        "['.pdf', '.md', '.markdown', '.txt', '.docx']"
    )
    assert documents_of(server.url) == before


class Listener:
    """A local HTTP server that records every request: what an injected tag would fetch."""

    def __init__(self) -> None:
        requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()
                self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.requests = requests
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.mark.browser
def test_markup_in_a_document_is_shown_as_text_never_run(server: Server, tmp_path: Path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./scripts/install-system-deps.sh")
    from playwright.sync_api import sync_playwright

    listener = Listener()
    outside = f"http://127.0.0.1:{listener.port}"
    vault = tmp_path / "vault.md"
    vault.write_text(
        "# Vault code\n\n"
        f"The vault code is kept by the night porter <style>#chatbot{{display:none}} in the "
        f'lodge <img src="{outside}/pixel"> safe. The night porter types the vault code on the '
        f'keypad <form action="{outside}/form"><input type="password" name="pw"></form> at '
        "the lodge desk.\n"
    )
    # A name with markup, as the HTTP API takes it (the page's own uploads strip < and >).
    name = "<b id=injected-name>keys.pdf"
    keys = make_pdf(["Spare keys\n\nThe spare keys hang in the lodge safe behind the desk."])
    added = httpx.post(f"{server.url}api/v1/documents", files={"files": (name, keys)}, timeout=300)
    assert added.json()["results"][0]["status"] == "added"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            steps = Steps(page, tmp_path)
            page.goto(server.url)
            page.set_input_files("#upload input[type=file]", [str(vault)])
            steps.wait_text("#upload-result", "vault.md: added", timeout=300_000)
            assert name in steps.text("#documents")  # the name as text, not a tag

            page.get_by_role("tab", name="Chat").click()
            steps.ask("Where does the night porter keep the vault code?", 0)
            answer = page.locator("#chatbot [data-testid='bot']").last
            shown = answer.inner_text()
            assert f'<img src="{outside}/pixel">' in shown and "<form action=" in shown
            assert "<style>#chatbot{display:none}" in shown
            assert "at the lodge desk." in shown  # the rest after the unclosed <style
            assert page.locator("#chatbot").is_visible() and answer.is_visible()
            assert page.locator("input[type=password]").count() == 0
            assert "vault.md" in steps.text("#sources")

            steps.ask("Where do the spare keys hang?", 1)
            heads = page.locator("#sources .folio-card-head").all_inner_texts()
            assert any(name in head for head in heads), heads
            page.locator("#pages img").first.wait_for(state="visible")
            assert name in steps.text("#pages")  # the gallery's caption
            page.locator("#trace-box").click()
            steps.wait_text("#trace", "keys.pdf")
            assert page.locator("#injected-name").count() == 0  # nowhere a tag
            page.wait_for_timeout(1000)  # time for any fetch an injected tag would make

            # The page refuses a file over the limit before sending it, in the setting's unit.
            page.get_by_role("tab", name="Library").click()
            big = tmp_path / "big.txt"
            big.write_bytes(b"a" * (LIMIT_MB * 2**20 + 1))
            page.set_input_files("#upload input[type=file]", [str(big)])
            steps.wait_text("body", 'File(s) exceed the maximum allowed size of 1.0 Mb: "big.txt"')
            browser.close()
    finally:
        listener.close()
    assert listener.requests == []


# The live server, login on ---------------------------------------------------------------
@pytest.fixture(scope="module")
def login_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("folio-attack-login")
    for user, workspace in (("alice", "a"), ("bob", "b"), ("carol", "c"), ("dave", "d")):
        folio(
            root, "user", "add", user, "--workspace", workspace, "--password-stdin", stdin=PASSWORD
        )
    make_beir(root / "sets")
    yield from run_app(
        root, FOLIO_LOGIN="on", FOLIO_EVAL_ADMINS="alice", FOLIO_EVAL_ROOT=str(root / "sets")
    )


def logged_in(url: str, user: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    login = client.post("/login", data={"username": user, "password": password})
    assert login.status_code == 200, login.text
    return client


def test_a_password_change_or_removal_ends_the_account_sessions(login_server: Server):
    url, root = login_server.url, login_server.root
    carol, dave, bob = logged_in(url, "carol"), logged_in(url, "dave"), logged_in(url, "bob")
    [cached] = upload_route(carol, "notes.md", b"# Notes\n\nPears keep.").json()
    file_url = f"/gradio_api/file={cached}"
    for client in (carol, dave, bob):
        assert client.get("/config").status_code == 200
    assert carol.get(file_url).status_code == 200

    folio(root, "user", "passwd", "carol", "--password-stdin", stdin="a new password")
    assert carol.get("/config").status_code == 401
    assert carol.get(file_url).status_code == 401
    assert carol.get("/gradio_api/user").json() is None
    assert carol.post("/gradio_api/upload", files={"files": ("x.md", b"x")}).status_code == 401
    assert bob.get("/config").status_code == 200  # other accounts stay logged in
    again = logged_in(url, "carol", "a new password")
    assert again.get("/config").status_code == 200 and again.get(file_url).status_code == 200
    refused = httpx.post(f"{url}login", data={"username": "carol", "password": PASSWORD})
    assert refused.status_code == 400

    folio(root, "user", "remove", "dave")
    assert dave.get("/config").status_code == 401
    assert dave.get("/gradio_api/user").json() is None
    assert bob.get("/config").status_code == 200
    for client in (carol, dave, bob, again):
        client.close()


def test_only_an_evaluation_admin_starts_the_app_wide_run(login_server: Server):
    for user, admin in (("bob", False), ("alice", True)):
        with closing(logged_in(login_server.url, user)) as client:
            session = new_session()
            opened = send_event(client, "on_eval_tab", [None], session)  # the set choices
            assert opened.success and opened.data[0]["value"] == "tinybeir"
            run = send_event(
                client, "on_eval_run", ["tinybeir", ["bm25"], 1, False, "offline"], session
            )
            if admin:
                assert run.success and run.data[0].startswith("Evaluating **tinybeir** …")
            else:
                assert not run.success
                assert run.error == (
                    "Only an evaluation administrator (FOLIO_EVAL_ADMINS) can start a run; "
                    "the saved runs stay open to everyone."
                )
