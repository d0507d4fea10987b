"""Login in headless Chromium: ``FOLIO_LOGIN=on python app.py`` with accounts made by the CLI.

Alice (workspace a) logs in, uploads, asks and sees her cited page; bob's document (workspace b,
added with the CLI) never shows, and its page image is refused to her by URL.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO
from .pdfs import make_pdf
from .test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, LIGHTHOUSE, Steps, offline_env, run_app

pytestmark = pytest.mark.browser

PASSWORD = "correct horse"
SECRET = ["Project Nightjar\n\nThe Nightjar budget is 93 million kroner, approved in March."]


def folio(root: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "rag_core", *args],
        cwd=root,
        env=environment(root),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def environment(root: Path) -> dict[str, str]:
    return offline_env(root) | {"FOLIO_LOGIN": "on", "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("folio-login")
    folio(root, "user", "add", "alice", "--workspace", "a", "--password-stdin", stdin=PASSWORD)
    folio(root, "user", "add", "bob", "--workspace", "b", "--password-stdin", stdin=PASSWORD)
    (root / "nightjar.pdf").write_bytes(make_pdf(SECRET, title="Nightjar"))
    folio(root, "--workspace", "b", "add", str(root / "nightjar.pdf"))
    for running in run_app(root, FOLIO_LOGIN="on"):
        yield running.url, root


def log_in(page, name: str, password: str) -> None:
    page.locator("input[type=password]").wait_for()
    page.locator("input:not([type=password])").first.fill(name)
    page.locator("input[type=password]").fill(password)
    page.get_by_role("button", name=re.compile("log ?in", re.IGNORECASE)).click()


def test_alice_logs_in_and_sees_only_her_workspace(server, tmp_path: Path):
    url, root = server
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./scripts/install-system-deps.sh")
    from playwright.sync_api import sync_playwright

    folder = Path(os.environ.get("FOLIO_TEST_ARTIFACTS", REPO / "test-artifacts")) / "e2e-login"
    folder.mkdir(parents=True, exist_ok=True)
    (tmp_path / "lighthouse.pdf").write_bytes(make_pdf(LIGHTHOUSE, title="Lighthouse"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        steps = Steps(page, folder)
        page.goto(url)
        log_in(page, "alice", "wrong password")
        page.get_by_text(re.compile("incorrect credentials", re.IGNORECASE)).wait_for()
        steps.shot("login-refused")
        assert page.locator("#upload").count() == 0

        log_in(page, "alice", PASSWORD)
        page.wait_for_selector("#upload", timeout=60_000)
        steps.wait_text("#library-summary", "0 ready documents")
        steps.wait_text("#account", "Signed in as alice · workspace a")
        assert "nightjar" not in page.content().lower()
        page.set_input_files("#upload input[type=file]", [str(tmp_path / "lighthouse.pdf")])
        steps.wait_text("#upload-result", "lighthouse.pdf: added (4 pages", timeout=300_000)
        assert "nightjar" not in steps.text("#documents").lower()
        steps.shot("alice-library")

        page.get_by_role("tab", name="Chat").click()
        steps.ask("When was the Kestrel Point lighthouse rebuilt?", 0)
        thumb = page.locator("#sources .folio-thumb img").first
        thumb.wait_for(state="visible")
        page.wait_for_function(  # loaded (a logged-in request), at the thumbnail's width
            "img => img.complete && img.naturalWidth === 240", arg=thumb.element_handle()
        )
        assert "/data/pages/" not in thumb.get_attribute("src")  # a cache copy, not the path
        steps.ask("What is the Nightjar budget?", 1)
        last = page.locator("#chatbot [data-testid='bot']").last.inner_text()
        assert last.startswith("Not found in your documents") and "93 million" not in last
        steps.shot("alice-chat")

        with sqlite3.connect(root / "data" / "library.db") as db:
            (bob_doc,) = db.execute("SELECT id FROM documents WHERE workspace = 'b'").fetchone()
        bob_page = root / "data" / "pages" / "b" / bob_doc / "00000.jpg"
        assert bob_page.exists()
        assert page.request.get(f"{url}gradio_api/file={bob_page}").status == 403
        assert page.request.get(f"{url}gradio_api/user").json() == "alice"

        page.get_by_role("link", name="Log out").click()
        page.locator("input[type=password]").wait_for()
        assert page.request.get(f"{url}gradio_api/user").json() is None
        context.close()
        browser.close()
