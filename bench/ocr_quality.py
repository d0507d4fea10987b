"""OCR (issue 16): the page rule, quality, speed, and what it costs documents that need none.

    python bench/ocr_quality.py rule [--docs 20]       # text layers of FinanceBench + UDA PDFs
    python bench/ocr_quality.py english [--pages 6]    # CER and word recall vs the text layer
    python bench/ocr_quality.py chinese [--pages 3]    # CER on generated Chinese PDFs (CMRC2018)
    python bench/ocr_quality.py upload [--pages 10]    # scanned 10-K: upload to searchable
    python bench/ocr_quality.py ingest [--pages 40]    # a text PDF: add with OCR on vs off

Pages are scanned as ``bench/scanned_copy.py`` does (drawn at 150 dpi, put back as an image)
and OCR'd as the library does (drawn at FOLIO_OCR_DPI, RapidOCR, word repair). CER ignores
whitespace; word recall (English) is the share of the text layer's words (letters, 2+) that
are tokens of the OCR text, before and after word repair: what BM25 can match word by word.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from _common import shared_data
from scanned_copy import scanned_copy

WORD = re.compile(r"[a-z]{2,}")


def _extract(path: Path):  # type: ignore[no-untyped-def]
    from rag_core.assemble import ingest_config
    from rag_core.config import Settings
    from rag_core.ingest.readers import read_document

    return read_document(path.name, path.read_bytes(), 5000, ingest_config(Settings()).read_limits)


def rule(args: argparse.Namespace) -> None:
    from rag_core.ocr.rule import MAX_UNREADABLE, MIN_READABLE, needs_ocr, text_layer

    data = shared_data()
    pdfs = sorted((data / "financebench" / "pdfs").glob("*.pdf"))[: args.docs]
    pdfs += sorted((data / "uda_ex" / "pdfs").glob("*.pdf"))[: args.docs]
    pages = flagged = empty = 0
    near: list[tuple[int, float, str]] = []
    for path in pdfs:
        for page in _extract(path).pages:
            pages += 1
            layer = text_layer(page.text)
            if needs_ocr(page.text):
                flagged += 1
                empty += layer.readable == 0
                if layer.readable:
                    near.append((layer.readable, layer.unreadable_share, page.text[:60]))
            elif layer.readable < 4 * MIN_READABLE or layer.unreadable_share > MAX_UNREADABLE / 3:
                near.append((layer.readable, layer.unreadable_share, "(kept) " + page.text[:60]))
    print(f"{len(pdfs)} PDFs, {pages} pages: {flagged} need OCR ({empty} with no text at all)")
    print("pages near the thresholds (readable chars, unreadable share, text):")
    for readable, share, text in sorted(near)[:40]:
        print(f"  {readable:4d} {share:.2f} {text!r}")


def _ocr_scan(pdf: bytes, dpi: int) -> tuple[list[list[str]], list[float]]:
    """Raw OCR lines of each page of the scanned copy of ``pdf``, and seconds per page."""
    import numpy as np
    import pypdfium2 as pdfium

    from rag_core.ocr import OcrEngine

    model = OcrEngine(threads=2).load()
    doc = pdfium.PdfDocument(scanned_copy(pdf, 150))
    lines, seconds = [], []
    try:
        for i in range(len(doc)):
            started = time.perf_counter()
            image = doc[i].render(scale=dpi / 72).to_pil().convert("RGB")
            result, _ = model(np.asarray(image)[:, :, ::-1])
            seconds.append(time.perf_counter() - started)
            lines.append([str(text) for _box, text, _score in result or ()])
    finally:
        doc.close()
    return lines, seconds


def _one_page(path: Path, page: int) -> bytes:
    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(path.read_bytes())
    out = pdfium.PdfDocument.new()
    out.import_pages(src, [page])
    import io

    buffer = io.BytesIO()
    out.save(buffer)
    return buffer.getvalue()


def _recall(reference: str, text: str) -> float:
    words = WORD.findall(reference.lower())
    have = set(WORD.findall(text.lower()))
    return sum(w in have for w in words) / len(words) if words else 1.0


def english(args: argparse.Namespace) -> None:
    from rag_core.ocr import needs_ocr, repair_words
    from rag_core.ocr.quality import cer

    pdfs = sorted((shared_data() / "financebench" / "pdfs").glob("*.pdf"))
    rng = random.Random(args.seed)
    rows = []
    while len(rows) < args.pages:
        path = rng.choice(pdfs)
        extracted = _extract(path)
        page = rng.randrange(len(extracted.pages))
        reference = extracted.pages[page].text
        if needs_ocr(reference):
            continue
        [raw], [seconds] = _ocr_scan(_one_page(path, page), args.dpi)
        raw_text = "\n".join(raw)
        fixed = "\n".join(repair_words(line) for line in raw)
        tokens = re.findall(r"[A-Za-z]+", raw_text)
        joined = sum(1 for t in tokens if repair_words(t) != t)
        rows.append(
            (
                cer(reference, fixed),
                _recall(reference, raw_text),
                _recall(reference, fixed),
                joined / max(1, len(tokens)),
                seconds,
            )
        )
        print(
            f"{path.name} p.{page + 1}: CER {rows[-1][0]:.3f}, word recall raw {rows[-1][1]:.3f}"
            f" repaired {rows[-1][2]:.3f}, run-together tokens {rows[-1][3]:.1%}, "
            f"{seconds:.1f} s",
            flush=True,
        )
    cers, raw_r, fixed_r, joined_r, secs = zip(*rows, strict=True)
    print(
        f"English, {len(rows)} pages: CER mean {statistics.mean(cers):.3f} median "
        f"{statistics.median(cers):.3f}; word recall raw {statistics.mean(raw_r):.3f} -> "
        f"repaired {statistics.mean(fixed_r):.3f}; run-together tokens "
        f"{statistics.mean(joined_r):.1%}; {len(secs) / sum(secs):.3f} pages/s "
        f"({statistics.mean(secs):.1f} s/page)"
    )


def _chinese_pdf(paragraphs: list[str], pages: int) -> tuple[bytes, list[str]]:
    """A PDF of ``pages`` pages of Chinese body text (11 pt, embedded WenQuanYi Micro Hei when
    the system has it), and the text drawn on each page."""
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    ttc = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    if ttc.exists():
        pdfmetrics.registerFont(TTFont("wqy", str(ttc), subfontIndex=0))
        font = "wqy"
    else:
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        font = "STSong-Light"
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4)
    width, height = A4
    per_line = int((width - 144) // 11)
    texts, source = [], iter(paragraphs)
    for _ in range(pages):
        y, drawn = height - 72, []
        while y > 90:
            paragraph = next(source)
            for i in range(0, len(paragraph), per_line):
                if y <= 90:
                    break
                line = paragraph[i : i + per_line]
                c.setFont(font, 11)
                c.drawString(72, y, line)
                drawn.append(line)
                y -= 16
            y -= 8
        texts.append("\n".join(drawn))
        c.showPage()
    c.save()
    return buffer.getvalue(), texts


def chinese(args: argparse.Namespace) -> None:
    import json

    from rag_core.ocr import repair_words
    from rag_core.ocr.quality import cer

    corpus = shared_data() / "cmrc2018" / "corpus.jsonl"
    paragraphs = [json.loads(line)["text"] for line in corpus.open(encoding="utf-8")][:400]
    pdf, texts = _chinese_pdf(paragraphs, args.pages)
    lines, seconds = _ocr_scan(pdf, args.dpi)
    cers = []
    for i, (reference, raw) in enumerate(zip(texts, lines, strict=True)):
        cers.append(cer(reference, "\n".join(repair_words(line) for line in raw)))
        print(f"page {i + 1}: {len(reference)} chars, CER {cers[-1]:.4f}, {seconds[i]:.1f} s")
    print(
        f"Chinese, {len(cers)} pages: CER mean {statistics.mean(cers):.4f} max {max(cers):.4f}; "
        f"{len(seconds) / sum(seconds):.3f} pages/s"
    )


def _library(root: Path, ocr: str, **overrides: object):  # type: ignore[no-untyped-def]
    from rag_core.config import Settings
    from rag_core.library import Library

    models = Path(tempfile.gettempdir()) / "folio-bench-models"  # the int8 model, once
    settings = Settings(  # type: ignore[call-arg]
        data_dir=root / "data", db=root / "f.db", ocr=ocr, model_cache=models, **overrides
    )
    return Library.open(settings)


def upload(args: argparse.Namespace) -> None:
    path = shared_data() / "financebench" / "pdfs" / args.pdf
    scan = scanned_copy(path.read_bytes(), 150, args.pages)
    reference = _extract(path).pages[args.pages - 1].text
    with tempfile.TemporaryDirectory() as tmp:
        library = _library(Path(tmp), "on")
        library.warm_up()
        started = time.perf_counter()
        cpu = time.process_time()
        library.add([(f"scan-{args.pdf}", scan)])
        added = time.perf_counter() - started
        library.run_ocr()
        total = time.perf_counter() - started
        cpu = time.process_time() - cpu
        words = [w for w in WORD.findall(reference.lower()) if len(w) > 6][:5]
        hits = [(h.chunk.page for h in library.search(w, k=3).hits) for w in words]
        found = sum(args.pages - 1 in set(h) for h in hits)
    print(
        f"{args.pages} scanned pages of {args.pdf}: added in {added:.1f} s, searchable after "
        f"{total:.1f} s ({args.pages / (total - added):.3f} pages/s of OCR); 50 pages at this "
        f"rate: {added / args.pages * 50 + 50 * (total - added) / args.pages:.0f} s; "
        f"{found}/{len(words)} words of the last page found on it (top 3); process CPU "
        f"{cpu:.1f} s"
    )


def ingest(args: argparse.Namespace) -> None:
    import io

    import pypdfium2 as pdfium

    path = shared_data() / "financebench" / "pdfs" / args.pdf
    src = pdfium.PdfDocument(path.read_bytes())
    part = pdfium.PdfDocument.new()
    part.import_pages(src, list(range(min(args.pages, len(src)))))
    buffer = io.BytesIO()
    part.save(buffer)
    data = buffer.getvalue()
    times: dict[str, list[float]] = {"off": [], "on": []}
    for _round in range(args.rounds):
        for ocr in ("off", "on"):
            with tempfile.TemporaryDirectory() as tmp:
                library = _library(Path(tmp), ocr)
                library.warm_up()
                started = time.perf_counter()
                library.add([(args.pdf, data)])
                times[ocr].append(time.perf_counter() - started)
                if ocr == "on":
                    status = library.ocr_status()
                    backlog = status.progress.total if status and status.progress else 0
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    print(
        f"{args.pages} pages of {args.pdf}: add with OCR off {off:.2f} s, on {on:.2f} s "
        f"(on/off {on / off:.2f}; medians of {args.rounds}); pages OCR would read: {backlog}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("rule")
    p.add_argument("--docs", type=int, default=20, help="PDFs of each set")
    for name, pages in (("english", 6), ("chinese", 3)):
        p = sub.add_parser(name)
        p.add_argument("--pages", type=int, default=pages)
        p.add_argument("--dpi", type=int, default=200, help="FOLIO_OCR_DPI")
        p.add_argument("--seed", type=int, default=16)
    for name, pages in (("upload", 10), ("ingest", 40)):
        p = sub.add_parser(name)
        p.add_argument("--pages", type=int, default=pages)
        p.add_argument("--pdf", default="3M_2018_10K.pdf")
        p.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    {"rule": rule, "english": english, "chinese": chinese, "upload": upload, "ingest": ingest}[
        args.what
    ](args)


if __name__ == "__main__":
    main()
