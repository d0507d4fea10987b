"""Pure text helpers: scripts, sentence spans (English and Chinese), headings, normalisation."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePath

from rag_core.hanzi import traditional_share
from rag_core.types import Span

# Scripts written without spaces, as ranges for a regex character class. Each widens the one
# before it; modules pick the one their behaviour was built on, so keep these as they are.
HAN_UNIFIED = r"\u3400-\u4dbf\u4e00-\u9fff"  # CJK Unified Ideographs, and Extension A
HAN = HAN_UNIFIED + r"\uf900-\ufaff"  # ... and the CJK Compatibility Ideographs
CJK = HAN + r"\u3040-\u30ff\uac00-\ud7af"  # ... and Japanese kana and Hangul syllables
CJK_CHAR = re.compile(f"[{CJK}]")

# A year of the last and this century, not part of a longer number ("FY2019", not "120194").
YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")

# Sentence ends in Chinese need no space after them.
_CJK_END = "。！？；!?…"
_CLOSERS = "”’」』）)】》\"'"
_WEST_END = ".!?"
_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "vs",
        "al",
        "fig",
        "figs",
        "no",
        "nos",
        "inc",
        "corp",
        "co",
        "ltd",
        "llc",
        "plc",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "approx",
        "est",
        "dept",
        "u.s",
        "u.k",
        "e.u",
    ]
)
_BULLET = re.compile(
    r"^\s*(?:[-•*·▪●○◦]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)]|[一二三四五六七八九十]+[、.])\s"
)
_NUMBER = re.compile(r"[-(]?\$?\d[\d,.]*%?\)?")
_NUMERIC_WORD = re.compile(r"[-–—(]*[$€£¥]?[\d,.]*\d[\d,.]*%?\)?|[$€£¥%—–-]")


def cjk_ratio(text: str) -> float:
    """Share of CJK characters among the letters and CJK characters of ``text``."""
    letters = sum(1 for ch in text if ch.isalpha())
    if not letters:
        return 0.0
    return len(CJK_CHAR.findall(text)) / letters


def language_of(text: str) -> str:
    """'zh' when the text is mostly Chinese (or Japanese/Korean script), else 'en'."""
    return "zh" if cjk_ratio(text) >= 0.3 else "en"


def answer_language(question: str) -> str:
    """The language to answer ``question`` in: 'en', 'zh' (Simplified Chinese) or 'zh-Hant'
    (Traditional: most of its characters that differ between the scripts are Traditional)."""
    if language_of(question) != "zh":
        return "en"
    return "zh-Hant" if traditional_share(question) > 0.5 else "zh"


def normalize_page_text(raw: str) -> str:
    """Clean extracted page text; spans of chunks and citations refer to the result."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = text.replace("\ufffe", "").replace("\u00ad", "")  # pdfium's soft hyphens
    text = text.replace("\x02", "")
    lines = [line.rstrip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _wrap_width(text: str) -> int:
    """The length of a full line in this text (80th percentile), to tell wraps from breaks."""
    lengths = sorted(len(line.strip()) for line in text.split("\n") if line.strip())
    if not lengths:
        return 0
    return lengths[int(0.8 * (len(lengths) - 1))]


def is_table_row(line: str) -> bool:
    """A line of a table: two or more numbers, which dominate it or end it."""
    stripped = line.strip()
    numbers = _NUMBER.findall(stripped)
    if len(numbers) < 2 or stripped.endswith((".", "!", "?", "。", ";", ":")):
        return False
    return len(numbers) * 2 >= len(stripped.split()) - 2 or stripped.endswith(numbers[-1])


def _line_is_structural(line: str, wrap_width: int) -> bool:
    """A line that stands on its own: a table row, a heading, a list item, a short last line."""
    stripped = line.strip()
    if not stripped:
        return True
    if _BULLET.match(line) or stripped.endswith(":") or stripped.endswith("："):
        return True
    if is_table_row(stripped):
        return True
    if looks_like_heading(stripped):
        return True
    return len(stripped) < 0.7 * wrap_width and stripped[-1] not in ",;-，、"


def _is_abbreviation(text: str, dot: int) -> bool:
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot].lower()
    if not word:
        return False
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _sentence_ends(text: str) -> list[int]:
    """Offsets just past each sentence end (exclusive ends), in order."""
    ends: list[int] = []
    n = len(text)
    wrap_width = _wrap_width(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch in _CJK_END or (ch in _WEST_END and _western_end(text, i)):
            j = i + 1
            while j < n and (text[j] in _CLOSERS or text[j] in _CJK_END or text[j] in _WEST_END):
                j += 1
            if ch in _CJK_END or j >= n or text[j].isspace():
                ends.append(j)
            i = j
            continue
        if ch == "\n":
            line_start = text.rfind("\n", 0, i) + 1
            next_end = text.find("\n", i + 1)
            next_line = text[i + 1 : next_end if next_end != -1 else n]
            line = text[line_start:i]
            if (
                not next_line.strip()
                or (_line_is_structural(line, wrap_width) and not _runs_on(line, next_line))
                or _BULLET.match(next_line)
            ):
                ends.append(i)
        i += 1
    return ends


def _runs_on(line: str, next_line: str) -> bool:
    """A line of prose that only looks like a table row because a wrap left a figure at
    its end ("... fiscal 2022 totaled $1.6" / "billion compared to $1.5 billion ..."): one
    figure ends it (or a comma: "... since January 29, 2022,"), its words outnumber its
    figures, and the next line goes on in lower case. A table row ends in its columns'
    figures, or its figures dominate it."""
    following = next_line.lstrip()
    if not following or not following[0].islower():
        return False
    words = line.split()
    trailing = 0
    for word in reversed(words):
        if not _NUMERIC_WORD.fullmatch(word):
            break
        trailing += 1
    ends_mid_sentence = trailing == 1 or line.rstrip().endswith(",")
    return ends_mid_sentence and len(_NUMBER.findall(line)) * 2 < len(words) - 2


def _western_end(text: str, i: int) -> bool:
    ch = text[i]
    if ch == "." and _is_abbreviation(text, i):
        return False
    if ch == "." and i + 1 < len(text) and text[i + 1].isdigit():
        return False  # decimal point
    # Look past closers and spaces at the next visible character.
    j = i + 1
    while j < len(text) and text[j] in _CLOSERS:
        j += 1
    if j < len(text) and not text[j].isspace():
        return False
    while j < len(text) and text[j].isspace():
        j += 1
    if j >= len(text):
        return True
    nxt = text[j]
    return nxt.isupper() or nxt.isdigit() or nxt in "\"'“‘(([" or CJK_CHAR.match(nxt) is not None


def split_sentences(text: str) -> list[Span]:
    """Sentence spans of ``text`` (English and Chinese), whitespace trimmed, none empty.

    Table rows, headings and list items count as sentences of their own; soft line
    wraps inside a paragraph do not end a sentence.
    """
    spans: list[Span] = []
    start = 0
    for end in [*_sentence_ends(text), len(text)]:
        span = _trim(text, start, end)
        if span is not None:
            spans.append(span)
        start = end
    return spans


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


MINOR_WORDS = frozenset(
    {
        *("of", "and", "the", "for", "in", "on", "to", "a", "an", "or", "by", "with", "at"),
        *("from", "as", "into", "per", "over", "under", "upon", "via", "than", "vs"),
    }
)
"""Words a title leaves in lower case ("Statement of Cash Flows")."""


def looks_like_heading(line: str) -> bool:
    """Short, unpunctuated lines in title/upper case (or short Chinese lines)."""
    stripped = line.strip().strip("#").strip()
    if not stripped or len(stripped) > 90:
        return False
    if line.lstrip().startswith("#"):
        return True
    if stripped[-1] in ".,;:!?。，；：！？" or _NUMBER.fullmatch(stripped):
        return False
    if CJK_CHAR.search(stripped):
        return len(stripped) <= 24 and not re.search(r"[，。；]", stripped)
    # A lone lower-case letter is a word a PDF's spacing split ("Balance Shee t").
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'&-]*", stripped) if len(w) > 1 or w.isupper()]
    if not words or len(words) > 12:
        return False
    if len(_NUMBER.findall(stripped)) > 1:
        return False
    if not any(w[0].isupper() for w in words):  # "and", "of the": a line wrapped mid-phrase
        return False
    capitalised = sum(1 for w in words if w[0].isupper() or w.lower() in MINOR_WORDS)
    return capitalised == len(words)


def repeated_lines(pages: Sequence[str], min_share: float = 0.3) -> frozenset[str]:
    """Lines that recur on many pages (running headers, footers, 'Table of Contents' links)."""
    if len(pages) < 4:
        return frozenset()
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({line.strip() for line in page.split("\n") if line.strip()})
    threshold = max(3, int(min_share * len(pages)))
    return frozenset(line for line, count in counts.items() if count >= threshold)


# Chunk contexts: ``Title — Heading › Subheading`` (written by the chunker, read by the
# index's section leg and the registry).
CONTEXT_SEPARATOR = " — "  # between a chunk context's title and its headings


def document_title(title: str | None, name: str) -> str:
    """The title a document's chunk contexts begin with: its title, else its file name's stem."""
    return title or PurePath(name).stem


def section_of(context: str, title: str) -> str:
    """The section part of a chunk's context (``Title — Heading › Subheading`` as
    ``_context`` wrote it for a document titled ``title``): what the chunk's headings say,
    without the document's title. Empty where the chunk lies under no heading."""
    title = title.strip()
    if title and context.startswith(title):
        rest = context[len(title) :]
        if not rest:
            return ""
        if rest.startswith(CONTEXT_SEPARATOR):
            return rest[len(CONTEXT_SEPARATOR) :]
    if not title:
        return context
    # The title changed since the chunk was made: its first separator still ends it.
    _, separator, section = context.partition(CONTEXT_SEPARATOR)
    return section if separator else ""
