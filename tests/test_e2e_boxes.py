"""In headless Chromium: a cited page's source card shows where the cited lines are.

``python app.py`` (extractive answers, the real embedder) answers from a real PDF; the card
shows the thumbnail with the cited lines marked, a crop of those lines highlighted, and
clicking the crop opens the full page with the same highlight. Screenshots go to
``test-artifacts/e2e-boxes/`` (or ``$FOLIO_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from .conftest import REPO
from .pdfs import make_pdf
from .test_e2e_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LIGHTHOUSE,
    Server,
    Steps,
    loaded,
    run_app,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from run_app(tmp_path_factory.mktemp("folio-e2e-boxes"), FOLIO_EMBED_BACKEND="torch")


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("FOLIO_TEST_ARTIFACTS", REPO / "test-artifacts")) / "e2e-boxes"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def highlighted_share(picture: bytes) -> float:
    """The share of a picture's pixels in the highlighter's yellow (none on a plain page)."""
    with Image.open(io.BytesIO(picture)) as image:
        pixels = list(image.convert("RGB").getdata())
    yellow = sum(1 for r, g, b in pixels if r > 200 and 180 < g < 245 and b < 190)
    return yellow / len(pixels)


def test_the_cited_lines_are_highlighted_on_the_card_and_the_full_page(
    server: Server, artifacts: Path
):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./scripts/install-system-deps.sh")
    from playwright.sync_api import sync_playwright

    pdf = ("lighthouse.pdf", make_pdf(LIGHTHOUSE), "application/pdf")
    added = httpx.post(f"{server.url}api/v1/documents", files={"files": pdf}, timeout=300)
    assert added.json()["results"][0]["status"] == "added", added.text
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        steps = Steps(page, artifacts)
        page.goto(server.url)
        page.get_by_role("tab", name="Chat").click()
        steps.ask("When was the Kestrel Point lighthouse rebuilt?", 0)
        card = page.locator("#sources .folio-card", has=page.locator("mark", has_text="in 1987"))
        assert "page 3" in card.locator(".folio-card-head").inner_text()

        # The thumbnail marks the cited line: one box in the top part of the page.
        [mark] = card.locator(".folio-thumb .folio-box").all()
        style = mark.get_attribute("style") or ""
        left, top = (float(v) for v in re.findall(r"(?:left|top):([\d.]+)%", style))
        assert 11 < left < 13 and 5 < top < 25, style  # 72 points in on A4, near the top

        # The crop of the cited lines, readable at card size: wider than the thumbnail.
        crop = card.locator(".folio-crop img")
        crop.wait_for(state="visible")
        loaded(page, crop)
        shown = crop.bounding_box()
        assert shown is not None and shown["width"] > 240 and shown["height"] > 20
        assert page.evaluate("img => img.naturalWidth", crop.element_handle()) > 400
        fetched = context.request.get(page.evaluate("img => img.src", crop.element_handle()))
        assert highlighted_share(fetched.body()) > 0.05
        steps.shot("cited-crop")

        # Clicking it opens the full page with the same highlight.
        crop.click()
        full = page.locator(".folio-lightbox:target img")
        full.wait_for(state="visible")
        loaded(page, full)
        assert page.evaluate("img => img.naturalWidth", full.element_handle()) > 1000
        fetched = context.request.get(page.evaluate("img => img.src", full.element_handle()))
        assert 0 < highlighted_share(fetched.body()) < 0.05  # one line of a whole page
        steps.shot("cited-full-page")
        browser.close()
