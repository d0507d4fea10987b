"""Which pages need OCR: a pure rule over a page's text layer.

A page needs OCR when its text layer holds too little readable text, or when most of what it
holds is unreadable: U+FFFD replacement characters, private-use code points (a font without a
Unicode map), control characters, or ``(cid:NN)`` runs that some extractors write for glyphs
they cannot map. The thresholds were measured on the text layers of the FinanceBench and UDA
PDFs (``bench/ocr_quality.py --rule``, docs/benchmarks.md): no page a person can read falls
under them, while an image-only page scores 0 readable characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CID_RUN = re.compile(r"\(cid:\d+\)")
MIN_READABLE = 16  # readable characters (letters, digits, CJK) below which a page needs OCR
MAX_UNREADABLE = 0.3  # share of unreadable characters above which it needs OCR


@dataclass(frozen=True, slots=True)
class TextLayer:
    """What a page's text layer holds, counted over its non-space characters."""

    readable: int  # letters and digits (CJK included) outside (cid:NN) runs
    unreadable: int  # replacement, private-use, control characters and (cid:NN) runs
    other: int  # punctuation and symbols

    @property
    def unreadable_share(self) -> float:
        total = self.readable + self.unreadable + self.other
        return self.unreadable / total if total else 0.0


def _unreadable(ch: str) -> bool:
    if ch == "\ufffd":
        return True
    category = unicodedata.category(ch)
    return category in ("Co", "Cs", "Cn") or (category == "Cc" and ch not in "\t\n\r")


def text_layer(text: str) -> TextLayer:
    """Count a text layer's readable and unreadable characters; each ``(cid:NN)`` run counts
    as one unreadable character."""
    cids = len(CID_RUN.findall(text))
    rest = CID_RUN.sub("", text)
    readable = unreadable = other = 0
    for ch in rest:
        if ch.isspace():
            continue
        if _unreadable(ch):
            unreadable += 1
        elif ch.isalnum():
            readable += 1
        else:
            other += 1
    return TextLayer(readable, unreadable + cids, other)


def needs_ocr(text: str) -> bool:
    """True when a page's text layer is missing or unusable (module docstring)."""
    layer = text_layer(text)
    return layer.readable < MIN_READABLE or layer.unreadable_share > MAX_UNREADABLE
