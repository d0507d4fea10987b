"""Document routing: which documents a question is about, from names and cover pages.

Questions often name the document rather than its content: a company, a period, a form
("FY2019 ... General Mills", "Best Buy's 10-K"). Chunks rarely repeat that, so chunk-level
retrieval over a large library drifts to the wrong report. Each document gets a profile in
two fields: its name (file name, category, tags, year) and its cover (its title and the start
of its first page, where reports put the issuer, the form and the period). A BM25 index per
field ranks documents for a question, the cover counting a fraction of the name
(``RetrievalConfig.route_cover_weight``): a cover or a title is also full of ordinary words
("cash flow", "net income", a paper's subject) that questions share with many documents,
while a name says only which document it is. Routing happens only when the question matches
some document's name; a question matching covers alone is about their subject, which the
chunk legs already rank. Word pairs are also matched as compounds, because file names glue
names together ("GENERALMILLS_2019_10K" for "General Mills").
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from rag_core.index.lexical import LexicalTokenizer
from rag_core.text import YEAR
from rag_core.types import Document

COVER_CHARS = 600


@dataclass(frozen=True, slots=True)
class Profile:
    """What a document says about itself: ``name`` and ``cover`` fields."""

    name: str
    cover: str


def profile_of(doc: Document, first_page: str) -> Profile:
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", doc.name)
    name = re.sub(r"[_\-.]+", " ", stem)
    meta = doc.metadata
    parts = [name, meta.category or "", " ".join(meta.tags)]
    if meta.year is not None:
        parts.append(str(meta.year))
    cover = "\n".join(p for p in (meta.title, first_page[:COVER_CHARS]) if p)
    return Profile("\n".join(p for p in parts if p), cover)


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def routing_terms(tokenizer: LexicalTokenizer, text: str) -> list[str]:
    """BM25 tokens of ``text`` plus each adjacent pair of words joined ("best buy" -> "bestbuy")."""
    words = [w.lower() for w in _WORD.findall(text) if w.isascii() and w.isalpha()]
    pairs = " ".join(a + b for a, b in itertools.pairwise(words))
    return tokenizer.tokenize(text) + tokenizer.tokenize(pairs)


def name_terms(tokenizer: LexicalTokenizer, name: str) -> list[str]:
    """Routing terms of a document's name field. Of its numbers only years count: the others
    are sequence numbers and ids ("a33_p4.txt"), which numbers in questions match by chance."""
    return [t for t in routing_terms(tokenizer, name) if not t.isdigit() or YEAR.fullmatch(t)]
