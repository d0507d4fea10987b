"""Browser: a question of several parts shows its route and sub-queries in the chat's trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from .pdfs import make_pdf
from .test_decompose import YEARS
from .test_e2e_browser import Server, Steps, artifacts, browser, server  # noqa: F401

pytestmark = pytest.mark.browser


def test_the_trace_shows_the_subqueries(server: Server, browser, artifacts: Path, tmp_path):  # noqa: F811
    (tmp_path / "orchard.pdf").write_bytes(make_pdf(YEARS))
    page = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000}).new_page()
    steps = Steps(page, artifacts)
    page.goto(server.url)
    page.wait_for_selector("#upload")
    page.set_input_files("#upload input[type=file]", [str(tmp_path / "orchard.pdf")])
    steps.wait_text("#upload-result", "orchard.pdf: added (4 pages", timeout=300_000)

    page.get_by_role("tab", name="Chat").click()
    steps.ask("How many tonnes did the orchard sell in 2019 and 2020?", 0)
    page.locator("#trace-box").click()
    steps.wait_text("#trace", "Sub-queries")
    trace = steps.text("#trace")
    assert "Route: decomposed" in trace
    assert "How many tonnes did the orchard sell in 2019?" in trace
    assert "How many tonnes did the orchard sell in 2020?" in trace
    steps.shot("decomposed-trace")
