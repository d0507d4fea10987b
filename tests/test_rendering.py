"""Page images: every page once, in order, encoded beside pdfium, errors never lost."""

import math
import re
import time

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from rag_core.errors import DocumentError
from rag_core.ingest.rendering import (
    MAX_JPEG_SIDE,
    PageImages,
    RenderLimits,
    check_pixels,
    page_pixels,
    page_scale,
    render_pdf,
)

from .hostile_files import FULL_PAGE_FILL, content_pdf, page_of_size
from .pdfs import make_pdf

# Pages with very different amounts of ink, so a page's image can be told from its neighbours'.
PAGES = ["\n\n".join(["Some words on a line of this page. " * 3] * n) for n in (1, 8, 3, 16)]


def limits(dpi: int = 72, thumb_width: int = 60, **overrides: float) -> RenderLimits:
    values = {
        "max_page_pixels": 40_000_000,
        "max_document_pixels": 12_000_000_000,
        "max_page_seconds": 10.0,
        "max_document_seconds": 600.0,
        **overrides,
    }
    return RenderLimits(dpi=dpi, thumb_width=thumb_width, **values)  # type: ignore[arg-type]


def ink(image: Image.Image) -> float:
    return float(255 - np.asarray(image.convert("L"), dtype=np.float32).mean())


def test_every_page_gets_its_own_image_and_thumbnail_once(tmp_path):
    data = make_pdf(PAGES)
    images = PageImages(tmp_path)
    seen: list[tuple[int, int]] = []
    total = render_pdf(
        "pages.pdf", data, "doc", images, limits(), on_page=lambda d, t: seen.append((d, t))
    )
    assert total == len(PAGES) and seen == [(i + 1, len(PAGES)) for i in range(len(PAGES))]

    pdf = pdfium.PdfDocument(data)
    for index in range(len(PAGES)):
        direct = pdf[index].render(scale=1).to_pil()
        with Image.open(images.image("doc", index)) as full:
            assert full.format == "JPEG" and full.size == direct.size
            assert abs(ink(full) - ink(direct)) < 0.3  # this page, not another one
        with Image.open(images.thumbnail("doc", index)) as thumb:
            assert thumb.width == 60
    assert not list(tmp_path.rglob("*.tmp"))

    # a second run keeps what exists
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.jpg")}
    render_pdf("pages.pdf", data, "doc", images, limits())
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.jpg")} == before


def test_an_encoding_failure_reaches_the_caller(tmp_path):
    with pytest.raises(ZeroDivisionError):  # thumb_width 0: the encoder thread fails
        render_pdf("pages.pdf", make_pdf(PAGES), "doc", PageImages(tmp_path), limits(thumb_width=0))


@pytest.mark.security
def test_page_scale_keeps_a_page_within_the_pixel_budget():
    letter, a0 = (612, 792), (2384, 3370)
    assert page_scale(*letter, 150, 40_000_000) == 150 / 72
    assert page_scale(*a0, 150, 40_000_000) == 150 / 72  # 4967 x 7022 px: every paper size
    poster = page_pixels(14400, 14400, page_scale(14400, 14400, 150, 40_000_000))
    assert 39_900_000 < math.prod(poster) <= 40_000_000 and poster[0] == poster[1]
    strip = page_pixels(72, 14400, page_scale(72, 14400, 600, 40_000_000))
    assert max(strip) <= MAX_JPEG_SIDE and math.prod(strip) <= 40_000_000


@pytest.mark.security
def test_a_huge_page_is_drawn_smaller_within_the_pixel_budget(tmp_path):
    images = PageImages(tmp_path)
    # 200 x 200 inches at 150 dpi would be 30,000 x 30,000 px (900 megapixels, 2.7 GB)
    render_pdf(
        "banner.pdf",
        page_of_size(200, 200),
        "doc",
        images,
        limits(150, 240, max_page_pixels=4_000_000),
    )
    with Image.open(images.image("doc", 0)) as full:
        assert full.width == full.height and 3_990_000 < full.width * full.height <= 4_000_000
        assert ink(full) > 0  # the text is there, smaller
    with Image.open(images.thumbnail("doc", 0)) as thumb:
        assert thumb.size == (240, 240)


@pytest.mark.security
def test_a_thumbnail_is_never_larger_than_its_page_image(tmp_path):
    images = PageImages(tmp_path)
    render_pdf("ribbon.pdf", page_of_size(0.5, 100), "doc", images, limits(72, 60))
    with (
        Image.open(images.image("doc", 0)) as full,
        Image.open(images.thumbnail("doc", 0)) as thumb,
    ):
        assert full.size == (36, 7200) and thumb.size == (36, 7200)


@pytest.mark.security
def test_a_document_over_its_pixel_budget_is_refused_before_a_page_is_drawn(tmp_path):
    letter = (612.0, 792.0)  # 1275 x 1650 px at 150 dpi
    with pytest.raises(DocumentError) as info:
        check_pixels("pages.pdf", [letter] * 3, limits(150, 240, max_document_pixels=5_000_000))
    assert str(info.value) == (
        "pages.pdf: its 3 pages come to 6 megapixels at up to 150 dpi, over the limit of 5 "
        "(FOLIO_MAX_DOCUMENT_PIXELS)"
    )
    check_pixels("pages.pdf", [letter] * 2, limits(150, 240, max_document_pixels=5_000_000))
    with pytest.raises(DocumentError):
        render_pdf(
            "pages.pdf",
            make_pdf(PAGES[:3]),
            "doc",
            PageImages(tmp_path),
            limits(150, 240, max_document_pixels=5_000_000),
        )
    assert not list(tmp_path.rglob("*.jpg"))


@pytest.mark.security
def test_drawing_a_page_stops_at_its_cpu_time_limit(tmp_path):
    # 3,000 fills of the whole page: about 7 s to draw at 150 dpi (0.5 MB of them: 66 s)
    data = content_pdf(FULL_PAGE_FILL * 3000)
    started = time.thread_time()
    with pytest.raises(DocumentError) as info:
        render_pdf(
            "fills.pdf", data, "doc", PageImages(tmp_path), limits(150, 240, max_page_seconds=0.3)
        )
    assert time.thread_time() - started < 2.0
    assert str(info.value) == (
        "fills.pdf: page 1 takes more than 0.3 s to draw, the limit for one page "
        "(FOLIO_MAX_PAGE_RENDER_SECONDS)"
    )
    with pytest.raises(DocumentError) as info:
        render_pdf(
            "atlas.pdf",
            content_pdf(FULL_PAGE_FILL * 300, pages=5),
            "doc2",
            PageImages(tmp_path),
            limits(150, 240, max_document_seconds=0.5),
        )
    assert re.fullmatch(
        r"atlas\.pdf: its pages take more than 0\.5 s to draw \(by page [1-5]\), the limit for "
        r"one document \(FOLIO_MAX_DOCUMENT_RENDER_SECONDS\)",
        str(info.value),
    ), str(info.value)
