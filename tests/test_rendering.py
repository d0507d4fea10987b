"""Page images: every page once, in order, encoded beside pdfium, errors never lost."""

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from rag_core.ingest.rendering import PageImages, render_pdf

from .pdfs import make_pdf

# Pages with very different amounts of ink, so a page's image can be told from its neighbours'.
PAGES = ["\n\n".join(["Some words on a line of this page. " * 3] * n) for n in (1, 8, 3, 16)]


def ink(image: Image.Image) -> float:
    return float(255 - np.asarray(image.convert("L"), dtype=np.float32).mean())


def test_every_page_gets_its_own_image_and_thumbnail_once(tmp_path):
    data = make_pdf(PAGES)
    images = PageImages(tmp_path)
    seen: list[tuple[int, int]] = []
    total = render_pdf(
        data, "doc", images, dpi=72, thumb_width=60, on_page=lambda d, t: seen.append((d, t))
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
    render_pdf(data, "doc", images, dpi=72, thumb_width=60)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.jpg")} == before


def test_an_encoding_failure_reaches_the_caller(tmp_path):
    with pytest.raises(ZeroDivisionError):  # thumb_width 0: the encoder thread fails
        render_pdf(make_pdf(PAGES), "doc", PageImages(tmp_path), dpi=72, thumb_width=0)
