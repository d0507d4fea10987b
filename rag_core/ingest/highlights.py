"""Pictures of where a citation is: its page with the cited lines highlighted, and a crop of
those lines, drawn from the page's rendered JPEG (``rendering``) and the citation's boxes
(``boxes``). Files are kept beside the page images, named by the boxes they show.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag_core.ingest.rendering import PageImages
from rag_core.types import Box

COLOR = (255, 196, 0)  # the highlighter's yellow ...
OPACITY = 0.4  # ... over the page
PAD = 0.003  # a highlight reaches this far (a fraction of the page) past its characters
MARGIN = 0.02  # the crop shows this much of the page's width beside the cited lines ...
LINE_MARGIN = 0.6  # ... and this much of a line's height above and below them
KEEP = 256  # pictures kept per document, newest first


def crop_region(
    boxes: Sequence[Box], margin: float = MARGIN, line_margin: float = LINE_MARGIN
) -> Box:
    """The part of the page a crop shows: the boxes' union, ``margin`` of the page wider on
    each side and ``line_margin`` of the tallest line taller (a little of the lines around,
    not half of them), moved inside the page rather than cut by its edge."""
    x0 = min(b[0] for b in boxes) - margin
    x1 = max(b[2] for b in boxes) + margin
    pad = line_margin * max(b[3] - b[1] for b in boxes)
    y0 = min(b[1] for b in boxes) - pad
    y1 = max(b[3] for b in boxes) + pad
    shift = -y0 if y0 < 0 else min(0.0, 1.0 - y1)
    return (max(0.0, x0), max(0.0, y0 + shift), min(1.0, x1), min(1.0, y1 + shift))


def pixels(box: Box, width: int, height: int, pad: float = 0.0) -> tuple[int, int, int, int]:
    """A relative box as whole pixels of a ``width`` x ``height`` image (grown by ``pad``)."""
    x0, y0, x1, y1 = box
    return (
        max(0, int((x0 - pad) * width)),
        max(0, int((y0 - pad) * height)),
        min(width, max(int((x0 - pad) * width) + 1, round((x1 + pad) * width))),
        min(height, max(int((y0 - pad) * height) + 1, round((y1 + pad) * height))),
    )


def highlighted(image: Any, boxes: Sequence[Box]) -> Any:
    """A copy of the page ``image`` (PIL, RGB) with ``boxes`` painted over translucently."""
    from PIL import Image, ImageDraw

    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    width, height = image.size
    for box in boxes:
        draw.rectangle(pixels(box, width, height, PAD), fill=(*COLOR, round(255 * OPACITY)))
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")


def citation_pictures(
    images: PageImages, doc_id: str, page: int, boxes: Sequence[Box]
) -> tuple[Path, Path] | None:
    """(the page highlighted, the crop of its cited lines), drawn once and kept; ``None``
    when the citation has no boxes or the page no image."""
    source = images.image(doc_id, page)
    if not boxes or not source.exists():
        return None
    key = hashlib.sha256(repr([tuple(round(v, 5) for v in b) for b in boxes]).encode())
    stem = f"{page:05d}-{key.hexdigest()[:20]}"
    folder = images.folder(doc_id) / "highlights"
    full, crop = folder / f"{stem}.jpg", folder / f"{stem}.crop.jpg"
    if full.exists() and crop.exists():
        return full, crop
    from PIL import Image

    with Image.open(source) as opened:
        picture = highlighted(opened, boxes)
    folder.mkdir(parents=True, exist_ok=True)
    _save(picture, full)
    _save(picture.crop(pixels(crop_region(boxes), *picture.size)), crop)
    _prune(folder, keep=KEEP)
    return full, crop


def _prune(folder: Path, keep: int) -> None:
    """Keep the ``keep`` newest pictures of a document (both of a citation go together)."""
    pictures = sorted(folder.glob("*.jpg"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in pictures[keep:]:
        old.unlink(missing_ok=True)


def _save(image: Any, path: Path) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    image.save(tmp, format="JPEG", quality=88)
    os.replace(tmp, path)
