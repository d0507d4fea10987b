"""OCR word repair and row joining, measured against the text layer (issue 16).

    python bench/ocr_words.py sample OUT.jsonl [--seed 31] [--exclude NAME ...]  # random pages
        [--sets financebench:40,erc2:35,uda_ex:35]
    python bench/ocr_words.py pages OUT.jsonl A.pdf B.pdf ...     # every page of these PDFs
    python bench/ocr_words.py score OUT.jsonl                     # the rules compared
    python bench/ocr_words.py grid OUT.jsonl                      # the repair's costs swept

``sample`` and ``pages`` draw text-layer pages as a scan (150 dpi, as ``scanned_copy.py``),
OCR them as the library does (200 dpi, RapidOCR) and keep, per page, what the recognizer read
box by box (before any repair) and the page's text layer, so rules can be compared without
reading again. ``score`` reports for the previous rule (``legacy``: split a run when every
``wordninja`` piece is a common word) and today's (``rag_core/ocr/words.py``):

- word recall: the share of the text layer's words (2+ letters, case ignored, each page's set
  of words) that are words of the repaired OCR text, plain and weighted by idf over the pages
  (a company name counts more than "the");
- false splits: runs OCR read as one word that the text layer has as that word, split anyway;
- splits of correct text: the rule run over the text layer's own words (the share it changes);
- word pairs: the share of the text layer's adjacent word pairs (within a line) that are
  adjacent within a line of the OCR text, with one line per box and with a visual row's
  boxes on one line (``page_from_lines``).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from _common import shared_data

WORD = re.compile(r"[A-Za-z]{2,}")
PAIR_TOKEN = re.compile(r"[A-Za-z]+|\d[\d,.]*")
Rule = Callable[[str], Sequence[str]]


def _ocr(model, pdf_page) -> list[list[object]]:  # type: ignore[no-untyped-def]
    """What the recognizer reads on ``pdf_page`` drawn as a 150 dpi scan, box by box."""
    import numpy as np
    import pypdfium2 as pdfium

    from rag_core.ocr.engine import relative_box

    image = pdf_page.render(scale=150 / 72).to_pil().convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PDF", resolution=150, quality=85)
    scan = pdfium.PdfDocument(buffer.getvalue())
    drawn = scan[0].render(scale=200 / 72).to_pil().convert("RGB")  # FOLIO_OCR_DPI
    result, _ = model(np.asarray(drawn)[:, :, ::-1])
    width, height = drawn.size
    return [[str(text), list(relative_box(q, width, height))] for q, text, _s in result or ()]


def _model():  # type: ignore[no-untyped-def]
    from rag_core.ocr.engine import OcrEngine

    return OcrEngine(threads=2).load()


def sample(args: argparse.Namespace) -> None:
    import pypdfium2 as pdfium

    rng = random.Random(args.seed)
    model = _model()
    exclude = set(args.exclude)
    with args.out.open("w") as out:
        for spec in args.sets.split(","):
            name, count = spec.split(":")
            pdfs = sorted(
                p for p in (shared_data() / name / "pdfs").glob("*.pdf") if p.stem not in exclude
            )
            got = 0
            while got < int(count):
                path = rng.choice(pdfs)
                try:
                    doc = pdfium.PdfDocument(path.read_bytes())
                except Exception:
                    continue
                page = rng.randrange(len(doc))
                layer = doc[page].get_textpage().get_text_range()
                # English text-layer pages with some body: the measure needs a reference.
                if len(layer.split()) < 80 or sum(c.isascii() for c in layer) < 0.9 * len(layer):
                    continue
                raw = _ocr(model, doc[page])
                row = {"doc": f"{name}/{path.stem}", "page": page, "raw": raw, "layer": layer}
                out.write(json.dumps(row) + "\n")
                out.flush()
                got += 1
            print(f"{name}: {got} pages", flush=True)


def pages(args: argparse.Namespace) -> None:
    import pypdfium2 as pdfium

    model = _model()
    with args.out.open("w") as out:
        for path in args.pdfs:
            doc = pdfium.PdfDocument(path.read_bytes())
            started = time.perf_counter()
            for page in range(len(doc)):
                layer = doc[page].get_textpage().get_text_range()
                raw = _ocr(model, doc[page])
                row = {"doc": path.stem, "page": page, "raw": raw, "layer": layer}
                out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"{path.stem}: {len(doc)} pages, {time.perf_counter() - started:.0f} s")


# The rules ------------------------------------------------------------------------------------
def legacy_split(run: str) -> tuple[str, ...]:
    """The repair before 2026-12-04: ``wordninja``'s split, kept when every piece is a word
    among the 100,000 most frequent (one letter only ``a``/``i``) and the run is no word."""
    import wordninja

    from rag_core.ocr.words import MAX_RANK, MIN_RUN, _ranks

    ranks = _ranks()
    if len(run) < MIN_RUN or run.lower() in ranks:
        return (run,)
    pieces = wordninja.split(run)
    if len(pieces) < 2 or "".join(pieces) != run:
        return (run,)
    if any(
        (len(p) < 2 and p.lower() not in {"a", "i"}) or ranks.get(p.lower(), MAX_RANK) >= MAX_RANK
        for p in pieces
    ):
        return (run,)
    return tuple(pieces)


def current_split(run: str) -> tuple[str, ...]:
    from rag_core.ocr.words import split_run

    return split_run(run)


def _runs(line: str) -> list[str]:
    from rag_core.ocr.words import DIGITS_THEN_WORD, RUN

    return RUN.findall(DIGITS_THEN_WORD.sub(" ", line))


def _load(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.open()]


def word_scores(rows: list[dict], rule: Rule) -> dict[str, float]:  # type: ignore[type-arg]
    """Word recall (plain and idf-weighted) and false splits of ``rule`` on the OCR'd pages."""
    layers = [{w.lower() for w in WORD.findall(r["layer"])} for r in rows]
    df = Counter(w for layer in layers for w in layer)
    n = len(rows)
    idf = {w: math.log(1 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}
    found = total = weighted = weight = 0.0
    false_splits: Counter[str] = Counter()
    for row, layer in zip(rows, layers, strict=True):
        words: set[str] = set()
        for text, _box in row["raw"]:
            for run in _runs(text):
                pieces = rule(run)
                words.update(p.lower() for p in pieces)
                if len(pieces) > 1 and run.lower() in layer:
                    false_splits[run] += 1
        for w in layer:
            found += w in words
            total += 1
            weighted += idf[w] * (w in words)
            weight += idf[w]
    return {
        "recall": found / total,
        "idf_recall": weighted / weight,
        "false_splits": sum(false_splits.values()),
        "top": false_splits.most_common(8),  # type: ignore[dict-item]
    }


def layer_splits(rows: list[dict], rule: Rule) -> tuple[float, list[tuple[str, int]]]:  # type: ignore[type-arg]
    """The share of the text layer's own runs ``rule`` would split (all of them are right)."""
    changed: Counter[str] = Counter()
    runs = 0
    for row in rows:
        for run in _runs(row["layer"]):
            runs += 1
            if len(rule(run)) > 1:
                changed[run] += 1
    return sum(changed.values()) / max(runs, 1), changed.most_common(8)


def pair_recall(rows: list[dict], rows_joined: bool) -> float:  # type: ignore[type-arg]
    from rag_core.ocr.engine import page_from_lines

    def pairs(lines: Sequence[str]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for line in lines:
            tokens = [t.lower() for t in PAIR_TOKEN.findall(line)]
            found.update(itertools.pairwise(tokens))
        return found

    hit = total = 0
    for row in rows:
        read = page_from_lines([(t, tuple(b)) for t, b in row["raw"]])  # type: ignore[misc]
        lines = read.text.split("\n") if rows_joined else [ln.text for ln in read.lines]
        reference = pairs(row["layer"].splitlines())
        hit += len(reference & pairs(lines))
        total += len(reference)
    return hit / max(total, 1)


def score(args: argparse.Namespace) -> None:
    rows = _load(args.file)
    print(f"{args.file}: {len(rows)} pages")
    for name, rule in (("legacy", legacy_split), ("current", current_split)):
        s = word_scores(rows, rule)
        share, top = layer_splits(rows, rule)
        print(
            f"{name:8} word recall {s['recall']:.4f}, idf-weighted {s['idf_recall']:.4f}, "
            f"false splits {s['false_splits']} {s['top']}"
        )
        print(f"{'':8} splits of correct text {share:.2%} {top}")
    print(
        f"word pairs: one line per box {pair_recall(rows, False):.4f}, "
        f"a visual row per line {pair_recall(rows, True):.4f}"
    )


def grid(args: argparse.Namespace) -> None:
    from rag_core.ocr import words

    rows = _load(args.file)
    for base in (2.0, 4.0, 6.0, 8.0, 10.0):
        for per_letter in (1.5, 2.0, 2.5, 3.0):
            for short in (0.0, 3.0):
                words.UNKNOWN_BASE, words.UNKNOWN_PER_LETTER = base, per_letter
                words.SHORT_PENALTY = short
                words.split_run.cache_clear()
                words._word_cost.cache_clear()
                s = word_scores(rows, words.split_run)
                print(
                    f"base {base} per letter {per_letter} short {short}: idf-weighted recall "
                    f"{s['idf_recall']:.4f}, false splits {s['false_splits']}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sample")
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=31)
    p.add_argument("--sets", default="financebench:40,erc2:35,uda_ex:35")
    p.add_argument("--exclude", nargs="*", default=[], help="PDF names (no .pdf) to leave out")
    p.set_defaults(run=sample)
    p = sub.add_parser("pages")
    p.add_argument("out", type=Path)
    p.add_argument("pdfs", nargs="+", type=Path)
    p.set_defaults(run=pages)
    for name, run in (("score", score), ("grid", grid)):
        p = sub.add_parser(name)
        p.add_argument("file", type=Path)
        p.set_defaults(run=run)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
