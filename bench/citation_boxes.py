"""Citation boxes (issue 16): do a citation's boxes cover its cited characters, and what do
they cost?

Citations are sampled as the answerers make them: each PDF is read with Folio's reader (the
stored page text), cut into chunks by Folio's chunker, and a random sentence of a random
chunk is cited (``answer.common.sentence_units``, the extractive answerer's and the span a
Claude or local-model citation maps to). ``CitationBoxes`` gives its boxes; pdfium then reads
the page's text back inside each box (``get_text_bounded``) and the characters found are
compared with the cited ones, white space aside, in order (difflib's matching blocks; as
multisets too, on which a wrong line of the same length also scores well):

- coverage: the share of the cited characters found inside the boxes (target >= 95%);
- precision: the share of the characters inside the boxes that are cited;
- a control: each sentence's boxes moved two line heights down should score low.

Cost: a cited page read the first time (open the stored PDF, every character's box, the
alignment) and again (cached), against reading every page's boxes at ingest.

    python bench/citation_boxes.py [--citations 400] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from difflib import SequenceMatcher
from pathlib import Path

from _common import shared_data, summary

from rag_core.answer.common import sentence_units
from rag_core.ingest.boxes import CitationBoxes, pdf_span_boxes
from rag_core.ingest.chunking import chunk_document
from rag_core.ingest.readers import read_document
from rag_core.types import Box, Chunk, Citation, Hit

CHUNK_TOKENS = 200  # FOLIO_CHUNK_TOKENS' default


def pdfs(data: Path, financebench: int) -> list[Path]:
    uda = sorted((data / "uda_ex" / "pdfs").glob("*.pdf"))
    fin = sorted((data / "financebench" / "pdfs").glob("*.pdf"))[:financebench]
    return uda + fin


def sample(
    paths: list[Path], count: int, rng: random.Random, texts: dict[tuple[str, int], str]
) -> list[tuple[Path, Citation]]:
    """``count`` citations, spread evenly over the files, three in four a sentence (the
    extractive answerer's, Claude's), one in four a whole chunk; ``texts`` gets the stored
    text of every page."""
    chosen: list[tuple[Path, Citation]] = []
    per_file = max(1, count // len(paths))
    for path in paths:
        doc = read_document(path.name, path.read_bytes(), max_pages=2000)
        texts.update({(path.stem, p.index): p.text for p in doc.pages})
        pages = [p for p in doc.pages if p.has_text]
        specs = chunk_document(
            pages, _words, title=path.stem, max_tokens=CHUNK_TOKENS, overlap_tokens=0
        )
        text = {p.index: p.text for p in pages}
        chunks = [
            Chunk(f"{path.stem}:{i}", path.stem, s.page, s.ordinal, s.start, s.end,
                  text[s.page][s.start : s.end])
            for i, s in enumerate(specs)
        ]  # fmt: skip
        if not chunks:
            continue
        for n in range(per_file):
            chunk = rng.choice(chunks)
            if n % 4 == 3:  # every fourth a whole chunk: a local model's marker, no sentence
                chosen.append((path, _citation(chunk, chunk.start, chunk.end, "chunk")))
                continue
            units = [u for u in sentence_units([_hit(chunk)])[0] if len(u.text.strip()) >= 10]
            if units:
                unit = rng.choice(units)
                chosen.append((path, _citation(chunk, unit.span.start, unit.span.end, "sentence")))
    return chosen[:count]


def _citation(chunk: Chunk, start: int, end: int, kind: str) -> Citation:
    """A citation of ``[start, end)`` of the chunk's page; ``chunk_id`` says its kind."""
    text = chunk.text[start - chunk.start : end - chunk.start]
    return Citation(1, kind, chunk.doc_id, chunk.doc_id, chunk.page, text, start, end)


def _words(texts: Sequence[str]) -> list[int]:
    """Tokens counted as words and a third (the chunker needs a count, not a model's)."""
    return [len(t.split()) * 4 // 3 for t in texts]


def _hit(chunk: Chunk) -> Hit:
    return Hit(chunk, chunk.doc_id, 1.0, 1)


def read_back(path: Path, page: int, boxes: tuple[Box, ...]) -> str | None:
    """The page's text inside ``boxes`` (None for a turned page: not measured)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        sheet = pdf[page]
        if sheet.get_rotation() != 0:
            return None
        left, bottom, right, top = sheet.get_bbox()
        width, height = right - left, top - bottom
        textpage = sheet.get_textpage()
        found = "".join(
            textpage.get_text_bounded(
                left + x0 * width, top - y1 * height, left + x1 * width, top - y0 * height
            )
            for x0, y0, x1, y1 in boxes
        )
        textpage.close()
        sheet.close()
    finally:
        pdf.close()
    return found


def letters(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace())


def in_order(want: str, got: str) -> int:
    """How many characters of ``want`` ``got`` has, in the same order (difflib's blocks)."""
    blocks = SequenceMatcher(None, want, got, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citations", type=int, default=400)
    parser.add_argument("--financebench", type=int, default=10, help="filings to include")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    paths = pdfs(shared_data(), args.financebench)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    texts: dict[tuple[str, int], str] = {}
    cited = sample(paths, args.citations, rng, texts)
    seconds = time.perf_counter() - started
    print(f"{len(cited)} citations from {len(paths)} PDFs ({seconds:.0f} s to sample)")
    work = Path(tempfile.mkdtemp(prefix="folio-boxes-"))
    try:
        stored = {p.stem: shutil.copy(p, work / f"{p.stem}.pdf") for p in paths}
        boxes = CitationBoxes(lambda d: Path(stored[d]), lambda d, page: texts.get((d, page)))
        measure(cited, boxes, paths)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(cited: list[tuple[Path, Citation]], boxes: CitationBoxes, paths: list[Path]) -> None:
    coverage: list[float] = []
    precision: list[float] = []
    first_ms: list[float] = []
    again_ms: list[float] = []
    seen: set[tuple[str, int]] = set()
    no_boxes = turned = 0
    kinds: list[str] = []
    control: list[float] = []
    as_bags: list[float] = []
    for path, citation in cited:
        t = time.perf_counter()
        found_boxes = boxes.boxes(citation)
        ms = (time.perf_counter() - t) * 1000
        key = (citation.doc_id, citation.page)
        (again_ms if key in seen else first_ms).append(ms)
        seen.add(key)
        if not found_boxes:
            no_boxes += 1
            coverage.append(0.0)
            kinds.append(citation.chunk_id)
            continue
        found = read_back(path, citation.page, found_boxes)
        if found is None:
            turned += 1
            continue
        want, got = letters(citation.cited_text), letters(found)
        shared = in_order(want, got)
        coverage.append(shared / max(1, len(want)))
        kinds.append(citation.chunk_id)
        precision.append(shared / max(1, len(got)))
        as_bags.append(sum((Counter(want) & Counter(got)).values()) / max(1, len(want)))
        if citation.chunk_id == "sentence":  # the control: two line heights lower must miss
            moved = tuple(
                (x0, y0 + 2 * (y1 - y0), x1, y1 + 2 * (y1 - y0)) for x0, y0, x1, y1 in found_boxes
            )
            missed = letters(read_back(path, citation.page, moved) or "")
            control.append(in_order(want, missed) / max(1, len(want)))
    n = len(coverage)
    print(f"measured {n} citations ({no_boxes} without boxes, {turned} on turned pages skipped)")
    for kind in ("sentence", "chunk"):
        mine = [c for c, k in zip(coverage, kinds, strict=True) if k == kind]
        if mine:
            print(f"  {kind}: {len(mine)}, coverage mean {100 * sum(mine) / len(mine):.2f}%")
    print(f"coverage:  mean {100 * sum(coverage) / n:.2f}%  "
          f">= 95%: {100 * sum(c >= 0.95 for c in coverage) / n:.1f}% of citations  "
          f"min {100 * min(coverage):.1f}%")  # fmt: skip
    print(f"precision: mean {100 * sum(precision) / len(precision):.2f}%  "
          f">= 95%: {100 * sum(p >= 0.95 for p in precision) / len(precision):.1f}%")  # fmt: skip
    bags = 100 * sum(as_bags) / len(as_bags)
    print(f"coverage counting characters as a multiset (in any order): mean {bags:.2f}%")
    moved = 100 * sum(control) / len(control)
    print(f"control, sentences' boxes moved two lines down: coverage mean {moved:.2f}%")
    print(f"boxes, page read the first time: {summary(first_ms)}")
    print(f"boxes, page cached:              {summary(again_ms)}")
    ingest_cost(paths[:3])


def ingest_cost(paths: list[Path]) -> None:
    """What reading every page's character boxes at ingest would cost instead."""
    for path in paths:
        doc = read_document(path.name, path.read_bytes(), 2000)
        t = time.perf_counter()
        chars = 0
        for page in doc.pages:  # every character of the page, as a citation of it all
            pdf_span_boxes(path, page.index, page.text, (0, len(page.text)))
            chars += len(page.text)
        ms = (time.perf_counter() - t) * 1000
        print(f"  every page at ingest: {path.name}: {len(doc.pages)} pages, {chars} characters, "
              f"{ms:.0f} ms ({ms / len(doc.pages):.1f} ms a page)")  # fmt: skip


if __name__ == "__main__":
    main()
