"""In headless Chromium: a claim the documents do not hold is visibly marked in the chat.

``python app.py`` answers with Claude through ``tests/fake_anthropic.py`` (a real local
server speaking the Messages API), scripted to add a cited sentence that its passage does not
support; the offline claim check (the default) labels it, and the chat shows it underlined
with ⚠ and a legend under the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .fake_anthropic import FakeAnthropic
from .pdfs import make_pdf
from .test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, LIGHTHOUSE, Server, Steps, run_app

pytestmark = pytest.mark.browser

FABRICATED = "Pirates painted the tower purple in 1850."


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake: FakeAnthropic) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("folio-e2e-claims")
    yield from run_app(
        root,
        ANTHROPIC_API_KEY="test-key",
        ANTHROPIC_BASE_URL=fake.url,
        FOLIO_EMBED_BACKEND="torch",  # no int8 quantization at start: this test is not about it
    )


def test_an_unsupported_sentence_is_marked_in_the_chat(
    server: Server, fake: FakeAnthropic, tmp_path: Path
):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./scripts/install-system-deps.sh")
    from playwright.sync_api import sync_playwright

    pdf = ("lighthouse.pdf", make_pdf(LIGHTHOUSE), "application/pdf")
    added = httpx.post(f"{server.url}api/v1/documents", files={"files": pdf}, timeout=300)
    assert added.json()["results"][0]["status"] == "added", added.text
    fake.additions.append(FABRICATED)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
        page = page.new_page()
        steps = Steps(page, tmp_path)
        page.goto(server.url)
        page.get_by_role("tab", name="Chat").click()
        steps.ask("When was the Kestrel Point lighthouse rebuilt?", 0)
        answer = page.locator("#chatbot [data-testid='bot']").last
        flagged = answer.locator(".folio-claim-unsupported")
        flagged.wait_for(state="visible", timeout=60_000)
        steps.shot("unsupported-claim")
        assert flagged.count() == 1
        assert FABRICATED in flagged.inner_text() and "⚠" in flagged.inner_text()
        assert flagged.get_attribute("title") == "Not supported by the passages it cites"
        style = page.evaluate(
            "e => getComputedStyle(e).textDecorationStyle", flagged.element_handle()
        )
        assert style == "wavy"
        # The supported sentence is not marked, and its citation is still a link.
        assert "rebuilt in 1987" in answer.inner_text()
        assert "rebuilt in 1987" not in flagged.inner_text()
        assert answer.locator("a[href^='#cite-']").count() >= 1
        legend = answer.locator(".folio-claim-legend")
        assert legend.is_visible()
        assert legend.inner_text() == (
            "⚠ not supported by its cited passages · ◐ only partly supported"
        )
        page.locator("#trace-box").click()
        steps.wait_text("#trace", "Sentences checked against their citations")
        assert "unsupported" in steps.text("#trace")
        browser.close()
