"""The Library tab's Sources panel in headless Chromium: ``python app.py`` (real MiniLM) watches a
folder, syncs it, follows a change on disk, pauses, resumes and is removed with its documents.

Screenshots go to ``test-artifacts/e2e-sources/`` (or ``$FOLIO_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO
from .pdfs import corrupt, make_pdf
from .test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, Server, Steps, run_app
from .test_sources import write

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("folio-e2e-sources")
    yield from run_app(root, FOLIO_SOURCE_SETTLE_SECONDS="0")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./scripts/install-system-deps.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("FOLIO_TEST_ARTIFACTS", REPO / "test-artifacts")) / "e2e-sources"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def cells(steps: Steps, selector: str) -> str:
    """A table's text with its cells joined by single spaces."""
    return re.sub(r"\s+", " ", steps.text(selector))


def test_sources_panel_adds_syncs_pauses_and_removes_a_folder(
    server: Server, browser, artifacts: Path
):
    folder = server.root / "team-docs"
    write(
        folder, "lighthouse.md", "# Lighthouse\n\nThe Kestrel Point lighthouse was rebuilt in 1987."
    )
    write(folder, "notes/volunteers.txt", "Forty volunteers painted the towers this year.")
    write(folder, "broken.pdf", corrupt(make_pdf(["A page that will not parse."])))

    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    steps = Steps(page, artifacts)
    page.goto(server.url)
    steps.wait_text("#source-details", "No folder is synced yet")

    page.fill("#source-folder textarea", str(folder))
    page.fill("#source-every input", "0")
    page.locator("#source-add").click()
    steps.wait_text("#source-result", "added as team-docs")
    steps.wait_text("#source-table", "when asked")
    steps.shot("folder-added")

    page.locator("#source-sync").click()
    steps.wait_text("#source-result", "team-docs synced: 3 files, 2 added", timeout=300_000)
    row = cells(steps, "#source-table")
    assert "team-docs" in row and str(folder) in row
    assert re.search(r"\b3 2 0 0 1\b", row), row  # files, added, updated, removed, failed
    steps.wait_text("#source-details", "failed: broken.pdf: is not a readable PDF")
    steps.wait_text("#documents", "team-docs/notes/volunteers.txt")
    assert "team-docs/lighthouse.md" in steps.text("#documents")
    steps.shot("synced")

    # The folder changes on disk: a file goes, one comes; the next sync follows.
    (folder / "notes/volunteers.txt").unlink()
    write(folder, "finances.md", "# Finances\n\nDonations covered the running costs.")
    page.locator("#source-sync").click()
    steps.wait_text("#source-result", "1 added, 0 updated, 0 renamed, 1 removed", timeout=300_000)
    steps.wait_text("#documents", "team-docs/finances.md")
    assert "volunteers" not in steps.text("#documents")
    steps.shot("resynced")

    page.locator("#source-pause").click()
    steps.wait_text("#source-result", "team-docs is paused.")
    steps.wait_text("#source-table", "paused")
    page.locator("#source-resume").click()
    steps.wait_text("#source-result", "team-docs syncs again.")

    page.locator("#source-remove").click()
    steps.wait_text("#source-confirm-row", "Stop syncing team-docs (3 files)?")
    steps.shot("confirm-remove")
    page.locator("#source-remove-all").click()
    steps.wait_text("#source-result", "its 2 documents were removed")
    steps.wait_text("#source-details", "No folder is synced yet")
    page.wait_for_function(
        "() => !document.querySelector('#documents').innerText.includes('team-docs/')",
        timeout=60_000,
    )
    steps.shot("removed")
    assert not errors, errors
    assert "Traceback" not in page.content()
    context.close()
