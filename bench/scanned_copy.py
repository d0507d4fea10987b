"""Scanned copies of PDFs: each page drawn at 150 dpi and put back as an image, no text layer.

    python bench/scanned_copy.py OUT_DIR A.pdf B.pdf ... [--dpi 150] [--pages N]
    python bench/scanned_copy.py OUT_DIR --financebench [--limit N]

``--financebench`` copies the FinanceBench PDFs (the shared data); the evaluation of the copies
is the usual one pointed at a set folder whose ``pdfs/`` are the copies (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from _common import shared_data


def scanned_copy(data: bytes, dpi: int = 150, pages: int | None = None) -> bytes:
    """The PDF ``data`` as an image-only PDF at ``dpi`` (its first ``pages`` pages)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    try:
        count = len(doc) if pages is None else min(pages, len(doc))
        images = [doc[i].render(scale=dpi / 72).to_pil().convert("RGB") for i in range(count)]
    finally:
        doc.close()
    buffer = io.BytesIO()
    images[0].save(
        buffer, format="PDF", resolution=dpi, save_all=True, append_images=images[1:], quality=85
    )
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("pdfs", nargs="*", type=Path)
    parser.add_argument("--dpi", type=int, default=150)
    parser.add_argument("--pages", type=int, default=None, help="first N pages of each")
    parser.add_argument("--financebench", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="first N FinanceBench PDFs")
    args = parser.parse_args()
    pdfs = list(args.pdfs)
    if args.financebench:
        pdfs += sorted((shared_data() / "financebench" / "pdfs").glob("*.pdf"))[: args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    for path in pdfs:
        target = args.out / path.name
        target.write_bytes(scanned_copy(path.read_bytes(), args.dpi, args.pages))
        print(f"{target}: {target.stat().st_size / 1e6:.1f} MB", flush=True)


if __name__ == "__main__":
    main()
