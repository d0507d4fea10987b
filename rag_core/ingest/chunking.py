"""Page-aware, sentence-aware chunking (pure functions).

A chunk lies on one page and records its span in that page's text, so a citation can be
highlighted. Chunks are packed from whole sentences up to ``max_tokens`` tokens of the
embedding model, overlapping by up to ``overlap_tokens`` tokens of whole sentences; a
sentence longer than a chunk is cut between words (or between characters in Chinese).
Each chunk carries a short context (document title and the innermost two headings of the
document's outline at the chunk) that is indexed with it, because a table row or a
paragraph alone rarely says which company, year or section it belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag_core.text import (
    CJK_CHAR,
    CONTEXT_SEPARATOR,
    HAN,
    HAN_UNIFIED,
    MINOR_WORDS,
    is_table_row,
    looks_like_heading,
    repeated_lines,
    split_sentences,
)
from rag_core.types import PageText, Span

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    page: int
    ordinal: int
    start: int
    end: int
    context: str


def pack_spans(
    spans: Sequence[Span], tokens: Sequence[int], max_tokens: int, overlap_tokens: int
) -> list[Span]:
    """Greedily pack consecutive spans into chunks of at most ``max_tokens`` tokens.

    Each span must already fit (``tokens[i] <= max_tokens``). A new chunk starts with the
    trailing spans of the previous one whose tokens add up to at most ``overlap_tokens``.
    """
    chunks: list[Span] = []
    first = 0
    while first < len(spans):
        last = first
        total = tokens[first]
        while last + 1 < len(spans) and total + tokens[last + 1] <= max_tokens:
            last += 1
            total += tokens[last]
        chunks.append(Span(spans[first].start, spans[last].end))
        if last + 1 >= len(spans):
            break
        nxt = last + 1
        carried = 0
        while nxt - 1 > first and carried + tokens[nxt - 1] <= overlap_tokens:
            nxt -= 1
            carried += tokens[nxt]
        if carried + tokens[last + 1] > max_tokens:
            nxt = last + 1  # the overlap would not leave room for the next sentence
        first = nxt
    return chunks


# A Han character, or a run of anything else but spaces. The run stops only at unified
# ideographs (compatibility ones join a word run they follow): chunk boundaries depend on it.
_PIECE = re.compile(rf"[{HAN}]|[^\s{HAN_UNIFIED}]+")


def split_long(text: str, span: Span, n_tokens: int, max_tokens: int) -> list[Span]:
    """Cut one over-long sentence into pieces of about ``max_tokens`` tokens.

    Cuts fall between words, or between characters in Chinese; the token count of each
    piece is estimated from the sentence's tokens per word.
    """
    pieces = [m.span() for m in _PIECE.finditer(text, span.start, span.end)]
    if not pieces:
        return [span]
    per_piece = n_tokens / len(pieces)
    size = max(1, int(max_tokens / max(per_piece, 1e-9) * 0.9))
    return [
        Span(pieces[i][0], pieces[min(i + size, len(pieces)) - 1][1])
        for i in range(0, len(pieces), size)
    ]


def chunk_page(
    text: str, count_tokens: TokenCounter, max_tokens: int, overlap_tokens: int
) -> list[Span]:
    """Chunk spans of one page's text."""
    sentences = split_sentences(text)
    if not sentences:
        return []
    counts = count_tokens([text[s.start : s.end] for s in sentences])
    spans: list[Span] = []
    tokens: list[int] = []
    for sentence, n in zip(sentences, counts, strict=True):
        if n <= max_tokens:
            spans.append(sentence)
            tokens.append(n)
            continue
        parts = split_long(text, sentence, n, max_tokens)
        part_counts = count_tokens([text[p.start : p.end] for p in parts])
        for part, m in zip(parts, part_counts, strict=True):
            spans.append(part)
            tokens.append(min(m, max_tokens))
    return pack_spans(spans, tokens, max_tokens, min(overlap_tokens, max_tokens // 2))


def chunk_document(
    pages: Sequence[PageText],
    count_tokens: TokenCounter,
    *,
    title: str,
    max_tokens: int,
    overlap_tokens: int,
) -> list[ChunkSpec]:
    """Chunk every page; each chunk's context names the section it lies in.

    The section is the document's outline at the chunk: the headings in force, of which
    the context keeps the innermost two. A heading closes the open headings of its level
    and below (``heading_level``), so "Net Sales" then "Operating Expenses" are siblings,
    not parent and child. A page that opens with headings (a financial statement's, a
    slide's, a chapter's) starts the outline afresh with that title above everything on
    the page; the same title on the next page (a running header) continues it. A page
    that opens with running text continues the outline in force.
    """
    furniture = repeated_lines([p.text for p in pages])
    outline: Outline = ()  # the headings in force, outermost first, carried across pages
    specs: list[ChunkSpec] = []
    for page in pages:
        if not page.has_text:
            continue
        top, headings = page_headings(page.text, furniture)
        if top:
            # The page's title governs the page: every heading on it nests under it.
            same = bool(outline) and outline[0][1] == top
            outline = ((_PAGE_TITLE, top), *outline[1:]) if same else ((_PAGE_TITLE, top),)
        states: list[tuple[int, Outline]] = []  # the outline from each heading on
        current = outline
        for pos, heading in headings:
            current = nest(current, heading)
            states.append((pos, current))
        spans = chunk_page(page.text, count_tokens, max_tokens, overlap_tokens)
        for ordinal, span in enumerate(spans):
            before = [state for pos, state in states if pos <= span.start]
            inside = [state for pos, state in states if span.start < pos < span.end]
            if before:
                state = before[-1]
            elif inside and not top:  # the chunk runs into the page's first heading
                state = inside[0]
            else:
                state = outline
            specs.append(
                ChunkSpec(
                    page.index,
                    ordinal,
                    span.start,
                    span.end,
                    _context(title, [h for _, h in state[-2:]]),
                )
            )
        outline = states[-1][1] if states else outline
        if outline and outline[0][0] == _PAGE_TITLE:
            # After its page, the title is a heading like any other.
            outline = ((heading_level(outline[0][1]), outline[0][1]), *outline[1:])
    return specs


Outline = tuple[tuple[int, str], ...]  # (level, heading), outermost first
_PAGE_TITLE = 0  # a page title's level on its page: above every heading


def heading_level(heading: str) -> int:
    """How high a heading sits in its document's outline (1 is the highest): a Markdown
    heading's ``#`` count; a Chinese heading's numbering (第一章 above 第一节 above 第一条;
    一、 above （一） above 1、 above （1）); otherwise upper case ("RESULTS OF OPERATIONS")
    above mixed case ("Net Sales"), the usual typography of reports."""
    stripped = heading.strip()
    hashes = len(stripped) - len(stripped.lstrip("#"))
    if hashes:
        return hashes
    if CJK_CHAR.search(stripped):
        for pattern, level in _CHINESE_NUMBERING:
            if pattern.match(stripped):
                return level
    letters = [c for c in stripped if c.isalpha() and not CJK_CHAR.match(c)]
    return 1 if len(letters) > 1 and not any(c.islower() for c in letters) else 2


_NUMERAL = "[一二三四五六七八九十百零〇两0-9０-９]+"
_CHINESE_NUMBERING = [
    (re.compile(f"第{_NUMERAL}(编|部分)"), 1),
    (re.compile(f"第{_NUMERAL}章"), 2),
    (re.compile(f"第{_NUMERAL}节"), 3),
    (re.compile(f"第{_NUMERAL}条"), 4),
    (re.compile("[一二三四五六七八九十]+、"), 2),
    (re.compile("[（(][一二三四五六七八九十]+[）)]"), 3),
    (re.compile("[0-9０-９]+[、．]"), 4),
    (re.compile("[（(][0-9０-９]+[）)]"), 5),
]


def nest(outline: Outline, heading: str) -> Outline:
    """``outline`` after ``heading``: the open headings of its level and below close."""
    level = heading_level(heading)
    name = heading.lstrip("#").strip()
    kept = tuple(entry for entry in outline if entry[0] < level)
    return (*kept, (level, name))


def page_headings(text: str, furniture: frozenset[str]) -> tuple[str, list[tuple[int, str]]]:
    """A page's title (the heading lines it opens with, joined) and its other headings
    with their offsets (Markdown ones with their ``#`` marks: their level). Running
    headers and footers (``furniture``) are skipped, and so are heading-like lines between
    two table rows (row labels such as "Inventories")."""
    lines: list[tuple[int, str]] = []
    pos = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and stripped not in furniture:
            lines.append((pos, stripped))
        pos += len(line) + 1
    rows = [is_table_row(line) for _, line in lines]
    top: list[str] = []
    found: list[tuple[int, str]] = []
    opening = True
    for i, (start, line) in enumerate(lines):
        heading = looks_like_heading(line)
        # The opening: the short lines above the page's first sentence or table row
        # (a company name, a statement's title, "(In millions)", "Years ended ...").
        # A Markdown heading says its level itself: it is a heading, never a page title.
        markdown = line.startswith("#")
        opening = opening and i < _OPENING_LINES and not rows[i] and not _prose(line)
        opening = opening and not markdown
        if opening:
            if heading and len(top) < _TITLE_LINES:
                top.append(line)
            continue
        in_table = 0 < i < len(lines) - 1 and rows[i - 1] and rows[i + 1]
        if heading and not in_table:
            found.append((start, line))
    return " ".join(top), found


_TITLE_LINES = 2  # at most this many opening heading lines make a page's title
_OPENING_LINES = 5


def _prose(line: str) -> bool:
    """A sentence, which ends a page's opening. A short line that ends with a full stop
    but has no lower-case word is a name ("AMAZON.COM, INC.", "Walmart Inc."), not one:
    the statement title under it is still the page's title."""
    if len(line) > 80:
        return True
    if not line.endswith((".", "!", "?", ";", "。", "！", "？", "；")):
        return False
    words = re.findall(r"[^\W\d_][\w'&.-]*", line)
    if len(words) == 1:
        return not words[0].rstrip(".").isupper()  # "None." is a sentence, "INC." a name
    return CJK_CHAR.search(line) is not None or any(
        w[0].islower() and w.lower() not in MINOR_WORDS for w in words
    )


def _context(title: str, headings: Sequence[str]) -> str:
    """``Title — Heading › Subheading``, leaving out headings the title already says."""
    title = title.strip()
    kept = [
        h
        for h in dict.fromkeys(h.strip() for h in headings)
        if h and h.lower() not in title.lower()
    ]
    section = " › ".join(kept)
    return CONTEXT_SEPARATOR.join(p for p in (title, section) if p)


# The version of ``dense_text``: a library whose vectors embed another one has them embedded
# again when it opens (``Library.recover``). 1: table numbers left out; 2: kept.
DENSE_TEXT_VERSION = "2"


def dense_text(context: str, text: str) -> str:
    """What the embedder sees: the context, then the text's lines, table rows whole (blank
    lines left out, as the embedder reads them: the same text as before version 2 for a
    chunk without a table).

    Table numbers stay: their years, units and magnitudes tell the embedder which rows a
    question is about (docs/benchmarks.md, "The dense leg keeps table numbers"). Changing
    what this returns changes stored vectors: bump ``DENSE_TEXT_VERSION``."""
    body = "\n".join(line for line in text.split("\n") if line.strip())
    return f"{context}\n{body}" if context else body
