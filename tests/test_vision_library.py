"""The vision index inside the library, with the tiny ColQwen2 loaded by the real loader.

Its weights are random, so these tests check reachability, bookkeeping and exact fusion
arithmetic, never that a page ranks well.
"""

from __future__ import annotations

import time

import pytest
from PIL import Image

from rag_core.config import Settings
from rag_core.errors import ConfigurationError
from rag_core.library import Library
from rag_core.retrieve.retriever import pages_of
from rag_core.types import Filters, page_key

from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

ORCHARD_IMAGE_PAGE = 1  # APPLES[1] is a drawing with no text layer


def open_library(settings: Settings) -> Library:
    return Library.open(settings, embedder=HashingEmbedder())


def stored(library: Library) -> set[tuple[str, int]]:
    assert library.vision is not None
    return library.vision.store.keys()


def test_without_the_model_the_index_is_off_and_everything_else_works(settings):
    library = open_library(settings)  # default model id, not on this machine
    notices = library.status().notices
    assert (
        "Vision index off: model 'vidore/colqwen2-v1.0-hf' is not available offline; download "
        "it once (huggingface-cli download vidore/colqwen2-v1.0-hf --local-dir "
        "models/colqwen2-v1.0-hf) and set FOLIO_VISION_MODEL to that folder"
    ) in notices
    doc_id = library.add([("orchard.pdf", make_pdf(APPLES))]).results[0].doc_id
    result = library.search("pear frost", k=3)
    assert [leg.leg for leg in result.trace.legs] == ["bm25", "dense", "section", "route"]
    assert result.pages == pages_of(result.hits)
    assert library.page_heatmap("pear frost", doc_id, 2) is None
    assert not library.ask("When did frost hit the pear trees?").refused
    off = open_library(settings.model_copy(update={"vision_enabled": "off"}))
    assert "Vision index off (FOLIO_VISION_ENABLED=off)" in off.status().notices


def test_auto_stays_off_on_a_cpu_and_says_why(vision_settings):
    auto = vision_settings.model_copy(update={"vision_enabled": "auto", "vision_device": "cpu"})
    library = open_library(auto)
    assert library.vision is not None and library.vision.state == "unavailable"
    notice = next(n for n in library.status().notices if n.startswith("Vision index off"))
    assert "no GPU" in notice and "FOLIO_VISION_ENABLED=on" in notice
    # "on" uses the CPU anyway (what the other tests here do with the tiny model).
    assert open_library(vision_settings).vision.state == "on"


def test_vision_on_without_the_model_refuses_to_open(settings, tmp_path):
    wanted = settings.model_copy(
        update={"vision_enabled": "on", "vision_model": str(tmp_path / "no-model")}
    )
    with pytest.raises(ConfigurationError, match=r"FOLIO_VISION_ENABLED=on.*not available"):
        open_library(wanted)


def test_indexing_follows_the_registry(vision_settings):
    library = open_library(vision_settings)
    report = library.add(
        [
            ("orchard.pdf", make_pdf(APPLES)),
            ("engine.pdf", make_pdf(ENGINES)),
            ("notes.md", b"# Notes\n\nNo page images for Markdown."),
        ]
    )
    orchard, engine, _ = (r.doc_id for r in report.results)
    assert "Vision index: 0/5 pages" in library.status().notices
    assert library.vision.run() == 5
    assert stored(library) == {(orchard, 0), (orchard, 1), (orchard, 2), (engine, 0), (engine, 1)}
    assert not any(n.startswith("Vision index") for n in library.status().notices)

    changed = [*APPLES[:2], "Pear trees recovered in May."]
    new_orchard = library.add([("orchard.pdf", make_pdf(changed))]).results[0].doc_id
    assert new_orchard != orchard
    assert {d for d, _ in stored(library)} == {engine}  # the old version's pages left at once
    library.remove(engine)
    assert stored(library) == set()
    assert library.vision.run() == 3
    assert stored(library) == {(new_orchard, p) for p in range(3)}
    stats = library.vision.store.stats()
    assert stats.pages == 3 and stats.live_rows == stats.file_rows  # dead rows compacted away


def test_a_restart_resumes_where_indexing_stopped(vision_settings):
    library = open_library(vision_settings)
    pages = [f"Page {i} about widget number {i}." for i in range(5)]
    doc_id = library.add([("widgets.pdf", make_pdf(pages))]).results[0].doc_id
    assert library.vision.indexer.step() == 2  # one batch, then the process "stops"
    reopened = open_library(vision_settings)
    assert reopened.vision.indexer.pending() == [(doc_id, 2), (doc_id, 3), (doc_id, 4)]
    assert "Vision index: 2/5 pages" in reopened.status().notices
    assert reopened.vision.run() == 3
    assert stored(reopened) == {(doc_id, p) for p in range(5)}
    stats = reopened.vision.store.stats()
    assert stats.live_rows == stats.file_rows  # nothing embedded twice


def test_a_page_without_text_is_reachable_and_fusion_is_exact(vision_settings):
    library = open_library(vision_settings)
    report = library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    orchard, engine = (r.doc_id for r in report.results)
    assert library.document(orchard).pages_without_text == 1
    library.vision.run()

    result = library.search("apple harvest", k=3)
    vision = next(leg for leg in result.trace.legs if leg.leg == "vision")
    assert vision.status == "on" and vision.weight == 1.0
    assert {key for key, _ in vision.ranked} == {
        page_key(d, p) for d, p in stored(library)
    }  # all five pages fit in the leg
    assert any(t.stage == "vision" for t in result.trace.timings)
    # The image-only page comes in through the vision leg alone.
    image_page = next(p for p in result.pages if (p.doc_id, p.page) == (orchard, 1))
    assert [lr.leg for lr in image_page.legs] == ["vision"] and image_page.doc_name == "orchard.pdf"
    assert all(h.chunk.page != ORCHARD_IMAGE_PAGE or h.chunk.doc_id != orchard for h in result.hits)

    # Page-level RRF, recomputed by hand: text pages weigh 1, the vision leg its weight.
    text_rank = {page_key(p.doc_id, p.page): r for r, p in enumerate(pages_of(result.hits), 1)}
    vision_rank = {key: r for r, (key, _) in enumerate(vision.ranked, 1)}
    expected = {}
    for key in text_rank.keys() | vision_rank.keys():
        score = 0.0
        if key in text_rank:
            score += 1.0 / (60 + text_rank[key])
        if key in vision_rank:
            score += 1.0 / (60 + vision_rank[key])
        expected[key] = score
    got = {page_key(p.doc_id, p.page): p.score for p in result.pages}
    assert got.keys() == expected.keys()
    for key, score in expected.items():
        assert got[key] == pytest.approx(score, rel=1e-12)
    assert [p.score for p in result.pages] == sorted(got.values(), reverse=True)
    assert [p.rank for p in result.pages] == list(range(1, len(result.pages) + 1))

    only_engine = library.search("apple harvest", k=3, filters=Filters(doc_ids=(engine,)))
    vision = next(leg for leg in only_engine.trace.legs if leg.leg == "vision")
    assert {key for key, _ in vision.ranked} == {page_key(engine, 0), page_key(engine, 1)}
    assert {p.doc_id for p in only_engine.pages} == {engine}


def test_vision_weight_zero_keeps_the_ranks_but_gives_no_say(vision_settings):
    library = open_library(vision_settings.model_copy(update={"vision_weight": 0.0}))
    library.add([("orchard.pdf", make_pdf(APPLES))])
    library.vision.run()
    result = library.search("pear frost", k=3)
    image_page = next(p for p in result.pages if p.page == ORCHARD_IMAGE_PAGE)
    assert image_page.score == 0.0 and image_page.legs[0].leg == "vision"
    assert result.pages[0].legs[0].leg == "text"


def test_heatmap_is_the_page_image_with_an_overlay(vision_settings):
    library = open_library(vision_settings)
    doc_id = library.add([("orchard.pdf", make_pdf(APPLES))]).results[0].doc_id
    assert library.page_heatmap("apple harvest", doc_id, 0) is None  # not indexed yet
    library.vision.run()
    path = library.page_heatmap("apple harvest", doc_id, 0)
    assert path is not None and path.suffix == ".jpg"
    page = library.page_image(doc_id, 0)
    with Image.open(path) as heat, Image.open(page) as original:
        assert heat.size == original.size and heat.mode == "RGB"
        assert heat.tobytes() != original.convert("RGB").tobytes()
    assert library.page_heatmap("apple harvest", doc_id, 0) == path  # cached
    assert library.page_heatmap("apple harvest", doc_id, 9) is None
    assert library.page_heatmap("  ", doc_id, 0) is None


def test_pause_survives_a_restart_and_the_background_worker_finishes(vision_settings):
    library = open_library(vision_settings)
    library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    library.vision.pause()
    assert library.vision.run() == 0
    assert "Vision index: 0/5 pages (paused)" in library.status().notices
    reopened = open_library(vision_settings)
    assert reopened.vision.status().progress.paused
    reopened.vision.start()
    time.sleep(0.3)
    assert stored(reopened) == set()  # paused: the worker waits
    reopened.vision.resume()
    deadline = time.monotonic() + 60
    while reopened.vision.status().progress.remaining and time.monotonic() < deadline:
        time.sleep(0.1)
    reopened.vision.stop(timeout=10)
    assert len(stored(reopened)) == 5
    assert not reopened.vision.indexer.worker.running


def test_the_background_worker_waits_for_text_indexing(vision_settings):
    library = open_library(vision_settings)
    library.add([("orchard.pdf", make_pdf(APPLES))])
    with library._ingest_lock:  # as during an upload
        library.vision.start()
        time.sleep(1.5)
        assert stored(library) == set()
    deadline = time.monotonic() + 60
    while len(stored(library)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    library.vision.stop(timeout=10)
    assert len(stored(library)) == 3


def test_a_model_that_fails_to_load_turns_the_index_off(vision_settings, tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "colqwen2"}')  # no weights
    library = open_library(vision_settings.model_copy(update={"vision_model": str(broken)}))
    library.add([("orchard.pdf", make_pdf(APPLES))])
    with pytest.raises(ConfigurationError, match=r"could not be loaded|unreadable config"):
        library.vision.run()
    assert library.vision.status().state == "failed"
    assert any(n.startswith("Vision index off: Vision model") for n in library.status().notices)
    background = open_library(vision_settings.model_copy(update={"vision_model": str(broken)}))
    background.vision.start()  # the worker loads the model first, fails, and stops
    background.vision.stop(timeout=30)  # joins the thread, which ends when the load fails
    assert background.vision.status().state == "failed"
    result = library.search("pear frost", k=3)  # text search carries on
    assert (
        result.hits
        and next(leg for leg in result.trace.legs if leg.leg == "vision").status == "off"
    )
