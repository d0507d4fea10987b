"""Document routing: which documents a question is about, from names and cover pages.

Questions often name the document rather than its content: a company, a period, a form
("FY2019 ... General Mills", "Best Buy's 10-K"). Chunks rarely repeat that, so chunk-level
retrieval over a large library drifts to the wrong report. Each document gets a short
profile (file name, title, category, tags, year, and the start of its first page, where
reports put the issuer, the form and the period); a BM25 index over the profiles ranks
documents for a question. Word pairs are also matched as compounds, because file names
glue names together ("GENERALMILLS_2019_10K" for "General Mills").
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from .bm25_index import BM25Index
from .lexical import LexicalTokenizer
from .types import Document

COVER_CHARS = 600


def profile_text(doc: Document, first_page: str) -> str:
    """What a document says about itself: name, metadata and the start of its first page."""
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", doc.name)
    name = re.sub(r"[_\-.]+", " ", stem)
    meta = doc.metadata
    parts = [name, meta.title, meta.category or "", " ".join(meta.tags)]
    if meta.year is not None:
        parts.append(str(meta.year))
    parts.append(first_page[:COVER_CHARS])
    return "\n".join(p for p in parts if p)


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def routing_terms(tokenizer: LexicalTokenizer, text: str) -> list[str]:
    """BM25 tokens of ``text`` plus each adjacent pair of words joined ("best buy" -> "bestbuy")."""
    words = [w.lower() for w in _WORD.findall(text) if w.isascii() and w.isalpha()]
    pairs = " ".join(a + b for a, b in itertools.pairwise(words))
    return tokenizer.tokenize(text) + tokenizer.tokenize(pairs)


def build_router(
    tokenizer: LexicalTokenizer, profiles: Sequence[str], method: str, k1: float, b: float
) -> BM25Index:
    return BM25Index(method, k1, b).build([routing_terms(tokenizer, p) for p in profiles])
