"""The web app end to end in headless Chromium: ``python app.py`` on a free loopback port with
an empty data folder, the real MiniLM embedder and extractive answers (no API key).

Screenshots of every step go to ``test-artifacts/e2e/`` (or ``$FOLIO_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .app_process import inherited_env
from .conftest import REPO, shared_data
from .pdfs import corrupt, make_pdf
from .test_library import APPLES
from .test_ui_evaluation import make_beir

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LIGHTHOUSE = [
    "Coastal Lighthouse Trust\n\nAnnual report of the trust that keeps the coastal lights.",
    "Volunteers\n\nForty volunteers painted the towers and cleaned the lenses this year.",
    "Kestrel Point\n\nThe Kestrel Point lighthouse was rebuilt in 1987. "
    "The rebuilding cost 4.2 million euros and took two summers.",
    "Finances\n\nDonations covered most of the running costs of the trust.",
]
PEPSICO = "PEPSICO_2023_8K_dated-2023-05-05.pdf"
PEPSICO_QUESTION = (
    "At the Pepsico AGM held on May 3, 2023, what was the outcome of the shareholder vote on "
    "the shareholder proposal for a congruency report by Pepsico on net-zero emissions policies?"
)


@dataclass(frozen=True)
class Server:
    url: str
    root: Path
    log: Path

    @property
    def feedback_db(self) -> Path:
        return self.root / "feedback.db"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("folio-e2e")
    make_beir(root / "sets")  # the Evaluation tab's one set
    yield from run_app(root, FOLIO_EVAL_ROOT=str(root / "sets"))


@pytest.fixture(scope="module")
def vision_server(tmp_path_factory: pytest.TempPathFactory, tiny_colqwen2: Path):
    """The app with the vision index on, reading pages with the tiny random ColQwen2."""
    from .vision_fixtures import TINY_MAX_IMAGE_TOKENS

    root = tmp_path_factory.mktemp("folio-e2e-vision")
    yield from run_app(
        root,
        FOLIO_VISION_MODEL=str(tiny_colqwen2),
        FOLIO_VISION_ENABLED="on",
        FOLIO_VISION_MAX_IMAGE_TOKENS=str(TINY_MAX_IMAGE_TOKENS),
        FOLIO_VISION_BATCH="2",
    )


def offline_env(root: Path) -> dict[str, str]:
    """This environment without Folio's own settings (see ``inherited_env``), offline, with
    the data under ``root``."""
    return inherited_env() | {
        "FOLIO_DATA_DIR": str(root / "data"),
        "FOLIO_DB": str(root / "feedback.db"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }


def run_app(root: Path, **settings: str) -> Iterator[Server]:
    """``python app.py`` in ``root`` on a free port with ``settings`` (FOLIO_*) until closed."""
    port = free_port()
    env = offline_env(root) | settings | {"FOLIO_HOST": "127.0.0.1", "FOLIO_PORT": str(port)}
    log = root / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "app.py")], cwd=root, env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not answer on {url}:\n{log.read_text()}")
            time.sleep(0.5)
        yield Server(url, root, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run ./scripts/install-system-deps.sh (make system-deps)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("FOLIO_TEST_ARTIFACTS", REPO / "test-artifacts")) / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


class Steps:
    """A page plus numbered screenshots."""

    def __init__(self, page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.count = 0

    def shot(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def wait_text(self, selector: str, text: str, timeout: float = 120_000) -> None:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(
                "([s, t]) => { const e = document.querySelector(s); return !!e && e.innerText.includes(t); }",
                arg=[selector, text],
                timeout=timeout,
            )
        except PlaywrightTimeout:
            self.shot("timed-out")
            found = self.page.locator(selector).all_inner_texts()
            raise AssertionError(f"{selector} never showed {text!r}; it shows {found!r}") from None

    def ask(self, question: str, answers_before: int) -> None:
        self.page.fill("#question textarea", question)
        self.page.press("#question textarea", "Enter")
        self.page.wait_for_function(
            "n => document.querySelectorAll('#chatbot [data-testid=\"bot\"]').length > n",
            arg=answers_before,
            timeout=120_000,
        )
        self.wait_text("#sources", question[:40], timeout=120_000)


def loaded(page, image, timeout: float = 30_000) -> None:
    """Wait until ``image`` (a locator of an <img>) has loaded its picture."""
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=timeout
    )


def test_upload_ask_cite_rate_and_analyse(server: Server, browser, artifacts: Path, tmp_path):
    files = tmp_path / "upload"
    files.mkdir()
    (files / "lighthouse.pdf").write_bytes(make_pdf(LIGHTHOUSE, title="Coastal Lighthouse Trust"))
    (files / "broken.pdf").write_bytes(corrupt(make_pdf(LIGHTHOUSE)))
    uploads = [files / "lighthouse.pdf", files / "broken.pdf"]
    data = shared_data()
    pepsico = data / "financebench" / "pdfs" / PEPSICO if data else None
    if pepsico is not None and pepsico.exists():
        uploads.append(pepsico)

    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    steps = Steps(page, artifacts)
    page.goto(server.url)
    page.wait_for_selector("#upload")
    steps.shot("empty-library")

    # Library: a batch with a broken file; the others still go in, the failure shows why.
    page.set_input_files("#upload input[type=file]", [str(p) for p in uploads])
    steps.wait_text("#documents", "broken.pdf", timeout=300_000)
    steps.wait_text("#upload-result", "lighthouse.pdf: added (4 pages")
    table = steps.text("#documents")
    assert "lighthouse.pdf" in table and "is not a readable PDF" in table
    assert "failed" in table and table.count("ready") == len(uploads) - 1
    steps.shot("library-after-upload")

    page.set_input_files("#upload input[type=file]", [str(files / "lighthouse.pdf")])
    steps.wait_text("#upload-result", "lighthouse.pdf: already in the library")
    assert "Error" not in steps.text("#upload-result")
    steps.shot("same-file-again")

    # Chat: a cited, streamed answer whose source is page 3, with its page image.
    page.get_by_role("tab", name="Chat").click()
    steps.wait_text("#notices", "Extractive answers")
    steps.ask("When was the Kestrel Point lighthouse rebuilt?", 0)
    answer = page.locator("#chatbot [data-testid='bot']").last
    assert "rebuilt in 1987" in answer.inner_text()
    card = page.locator("#sources .folio-card", has=page.locator("mark", has_text="in 1987"))
    head = card.locator(".folio-card-head").inner_text()
    assert "lighthouse.pdf" in head and "page 3" in head
    thumb = card.locator(".folio-thumb img")
    thumb.wait_for(state="visible")
    loaded(page, thumb)  # visible is laid out, not loaded: wait for the image itself
    assert page.evaluate("img => img.naturalWidth", thumb.element_handle()) == 240
    assert page.locator("#pages img").count() >= 1  # the gallery of retrieved pages
    steps.shot("answer-with-sources")

    answer.locator("a", has_text="[1]").first.click()  # a marker leads to its card
    assert page.evaluate("location.hash").startswith("#cite-")
    thumb.click()  # full size
    full = page.locator(".folio-lightbox:target img")
    full.wait_for(state="visible")
    loaded(page, full)  # loading="lazy": it starts loading only once shown
    assert page.evaluate("img => img.naturalWidth", full.element_handle()) > 1000
    steps.shot("full-page")
    page.locator(".folio-lightbox:target").click()

    # A follow-up is searched with the conversation; the trace shows what was searched.
    steps.ask("How much did it cost?", 1)
    page.locator("#trace-box").click()
    steps.wait_text("#trace", "rewritten from the conversation (rule)")
    assert "How much did it cost? Kestrel Point lighthouse rebuilt" in steps.text("#trace")
    assert "4.2 million euros" in page.locator("#chatbot [data-testid='bot']").last.inner_text()
    steps.shot("follow-up-trace")

    if len(uploads) == 3:  # a real filing: the answer is on page 4
        steps.ask(PEPSICO_QUESTION, 2)
        heads = page.locator("#sources .folio-card-head").all_inner_texts()
        assert any(PEPSICO in h and "page 4" in h for h in heads), heads
        steps.shot("financebench-answer")

    # Thumbs down on the last answer, with a comment.
    page.locator("#chatbot button[aria-label='Dislike']").last.click()
    page.locator("#comment-row textarea").wait_for(state="visible")
    page.fill("#comment-row textarea", "missing detail")
    page.press("#comment-row textarea", "Enter")
    page.locator("#comment-row").wait_for(state="hidden")
    steps.shot("thumbs-down")

    # The analytics tab counts it, and so does feedback.db.
    page.get_by_role("tab", name="Feedback analytics").click()
    steps.wait_text("#analytics-summary", "1 rated answers")
    assert "0 liked · 1 disliked" in steps.text("#analytics-summary")
    assert "Cited but wrong\n1" in steps.text("#causes").replace("\t", "")
    steps.shot("analytics")
    page.get_by_role("button", name="Export CSV").click()
    steps.wait_text("#csv-export", ".csv")
    with sqlite3.connect(server.feedback_db) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM feedback").fetchall()
    assert len(rows) == 1
    row = rows[0]
    assert (row["vote"], row["comment"], row["mode"]) == (-1, "missing detail", "extractive")
    citations, hits = json.loads(row["citations"]), json.loads(row["hits"])
    expected_page = 3 if len(uploads) == 3 else 2  # 0-based page of the last answer
    assert citations and citations[0]["page"] == expected_page
    assert hits and {leg["leg"] for leg in hits[0]["legs"]} >= {"bm25"}
    assert row["searched_query"] and json.loads(row["timings"])

    # Delete the failed document, confirming first.
    page.get_by_role("tab", name="Library").click()
    page.locator("#documents").get_by_text("broken.pdf").click()
    page.get_by_role("button", name="Delete…").click()
    steps.wait_text("#confirm-row", "Delete broken.pdf?")
    page.locator("#confirm").click()
    steps.wait_text("#action-result", "broken.pdf was deleted.")
    assert "broken.pdf" not in steps.text("#documents")
    steps.shot("deleted")
    assert not errors, errors
    assert "Traceback" not in page.content()
    context.close()


def test_the_interface_follows_a_chinese_browser(server: Server, browser, artifacts: Path):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    steps = Steps(page, artifacts)
    page.goto(server.url)
    page.wait_for_selector("#upload")
    for name in ("文档库", "问答", "反馈分析", "评测"):
        assert page.get_by_role("tab", name=name).is_visible()
    steps.wait_text("#library-summary", "个就绪文档")
    page.get_by_role("tab", name="问答").click()
    steps.wait_text("#notices", "摘录式回答")
    assert page.get_by_role("button", name="发送").is_visible()
    steps.shot("zh-chat")
    context.close()


def test_the_interface_follows_a_taiwan_browser_in_traditional_chinese(
    server: Server, browser, artifacts: Path
):
    context = browser.new_context(locale="zh-TW", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    steps = Steps(page, artifacts)
    page.goto(server.url)
    page.wait_for_selector("#upload")
    for name in ("文件庫", "問答", "反饋分析", "評測"):  # labels (the browser's table)
        assert page.get_by_role("tab", name=name).is_visible()
    steps.wait_text("#library-summary", "個就緒文件")  # text the server writes
    page.get_by_role("tab", name="問答").click()
    steps.wait_text("#notices", "摘錄式回答")
    assert page.get_by_role("button", name="傳送").is_visible()
    steps.shot("zh-hant-chat")
    context.close()


def test_the_evaluation_tab_runs_a_set_and_compares_with_the_previous_run(
    server: Server, browser, artifacts: Path
):
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    steps = Steps(page, artifacts)
    page.goto(server.url)
    page.wait_for_selector("#upload")
    page.get_by_role("tab", name="Evaluation").click()
    # The only set is chosen; it has no runs yet.
    steps.wait_text("#eval-compared", "No saved runs of tinybeir yet")
    assert page.locator("#eval-set input").input_value().startswith("tinybeir · beir · 4 questions")
    page.fill("#eval-limit input", "2")
    page.locator("#eval-legs").get_by_label("dense").uncheck()
    page.get_by_role("button", name="Run evaluation").click()
    steps.wait_text("#eval-status", "Evaluating tinybeir", timeout=30_000)
    steps.wait_text("#eval-status", "finished in", timeout=180_000)
    assert "indexed 5/5 documents of tinybeir" in steps.text("#eval-status")
    steps.wait_text("#eval-compared", "First run of tinybeir")
    table = steps.text("#eval-table")
    assert "ndcg@10" in table and "bm25" in table and "hybrid" in table and "dense" not in table
    page.locator("#eval-chart canvas, #eval-chart svg").first.wait_for(state="visible")
    page.locator("#eval-history canvas, #eval-history svg").first.wait_for(state="visible")
    steps.shot("evaluation-first-run")

    # A second run with every leg: the change since the first is shown, signed.
    page.locator("#eval-legs").get_by_label("dense").check()
    page.get_by_role("button", name="Run evaluation").click()
    steps.wait_text("#eval-compared", "compared with the previous run of tinybeir", 180_000)
    comparison = steps.text("#eval-comparison")
    assert "new" in comparison and (
        "= 0.000" in comparison or "▲" in comparison or "▼" in comparison
    )
    assert "dense" in steps.text("#eval-table")
    steps.wait_text("#eval-history", "#2")  # both runs on the history chart, legs in its legend
    steps.wait_text("#eval-history", "ndcg@10 · dense")
    steps.wait_text("#eval-chart", "mrr · dense")
    steps.shot("evaluation-second-run")
    # Gradio's own plot (its ResizeObserver reads the chart element's offsetWidth after a
    # re-render has removed it) throws this on a loaded machine; the charts render all the
    # same (checked above). Any other page error fails the test.
    gradio_plot = "Cannot read properties of null (reading 'offsetWidth')"
    assert not [e for e in errors if e != gradio_plot], errors
    context.close()


def test_visual_citations_show_the_heatmap_and_page_cards(
    vision_server: Server, browser, artifacts: Path, tmp_path
):
    pdf = tmp_path / "orchard.pdf"
    pdf.write_bytes(make_pdf(APPLES))  # page 2 is a drawing without a text layer
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    steps = Steps(page, artifacts)
    page.goto(vision_server.url)
    page.set_input_files("#upload input[type=file]", [str(pdf)])
    steps.wait_text("#upload-result", "orchard.pdf: added (3 pages", timeout=300_000)
    # The page images are indexed in the background; the chat's notices say how far it is.
    deadline = time.monotonic() + 120
    while True:
        page.goto(vision_server.url)
        page.get_by_role("tab", name="Chat").click()
        steps.wait_text("#notices", "Extractive answers")
        notices = steps.text("#notices")
        if "Vision index" not in notices:
            break
        assert "Page images: Vision index: " in notices, notices
        assert time.monotonic() < deadline, f"the vision index never caught up: {notices}"
        time.sleep(1)

    steps.ask("How many tonnes of apples were harvested in 2020?", 0)
    overlay = page.locator("#sources .folio-overlay img").first
    overlay.wait_for(state="visible")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=overlay.element_handle()
    )
    src = str(overlay.get_attribute("src"))  # a copy in Gradio's cache, not the data folder
    assert src.startswith("gradio_api/file=") and "/data/" not in src
    cards = page.locator("#sources .folio-card-page")
    assert cards.count() >= 1
    first = cards.first
    assert "orchard.pdf" in first.locator(".folio-card-head").inner_text()
    assert "Found by the page's image" in first.inner_text()
    assert first.locator("mark").count() == 0
    captions = steps.text("#pages")
    assert "Where on the page" in captions, captions
    steps.shot("visual-citations")
    assert not errors, errors
    context.close()
