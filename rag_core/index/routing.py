"""Document routing: which documents a question is about, from names and cover pages.

Questions often name the document rather than its content: a company, a period, a form
("FY2019 ... General Mills", "Best Buy's 10-K"). Chunks rarely repeat that, so chunk-level
retrieval over a large library drifts to the wrong report. Each document gets a profile in
two fields: its name (file name, category, tags, year) and its cover (its title and the start
of its first page, where reports put the issuer, the form and the period). A BM25 index per
field ranks documents for a question, the cover counting a fraction of the name
(``RetrievalConfig.route_cover_weight``): a cover or a title is also full of ordinary words
("cash flow", "net income", a paper's subject) that questions share with many documents,
while a name says only which document it is. Routing happens only when the question names
a document by its name (below); a question matching covers alone is about their subject,
which the chunk legs already rank (routing by a distinctive cover word was tried and lost:
docs/benchmarks.md, "Routing by evidence"). Word pairs are also matched as compounds,
because file names glue names together ("GENERALMILLS_2019_10K" for "General Mills").

Routing decides from evidence (issue 21, ``named_documents``): a question is routed only when
it names documents distinctly, by a term of few documents' names (a company, a title) that
the library's text uses mostly inside those documents, never by a year, a period ("FY2019",
"2023Q4") or a word that says what kind of document it is ("annual", "report", "10-K"), and
only when all its distinctive terms point at the same documents (a question naming two
companies is about neither alone). Names that are hashes or ids carry no words
(``readable_name``): a library named by content hash never routes. A year never says which
name, but among one name's documents it says which one: of the named documents whose names
carry a year the question asks, the latest such year's are routed (``of_latest_year``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
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


_RUN = re.compile(r"[^\W_]+", re.UNICODE)
_HEX = re.compile(r"[0-9a-f]+")


def id_like(run: str) -> bool:
    """A run of letters and digits that is an identifier, not a word: a hash or a random
    string ("e3b0c442...", "a2019b44298f", "x7k2m9q4z1"), a long number ("0000764478").
    Names glued with numbers ("Q3FY2024Results") and words in other scripts are words."""
    run = run.lower()
    if not run.isascii():
        return False
    digits = sum(c.isdigit() for c in run)
    if digits == len(run):
        return len(run) >= 5 and not YEAR.fullmatch(run)
    if len(run) >= 8 and digits and _HEX.fullmatch(run):
        return True  # hex with digits: a hash or a part of one
    switches = sum(a.isdigit() != b.isdigit() for a, b in itertools.pairwise(run))
    return len(run) >= 8 and switches >= 5  # letters and digits interleaved: random


def readable_name(stem: str) -> str:
    """The words of a file name: its runs of letters and digits that are not ids, "" where
    none has a letter (a hash, "1909.00754": such a name says nothing, not even a year)."""
    runs = [r for r in _RUN.findall(stem) if not id_like(r)]
    if not any(any(c.isalpha() for c in r) for r in runs):
        return ""
    return " ".join(runs)


def profile_of(doc: Document, first_page: str) -> Profile:
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", doc.name)
    name = readable_name(stem)
    meta = doc.metadata
    parts = [name, meta.category or "", " ".join(meta.tags)]
    # A year says which of a name's documents, never which name: kept beside words only (the
    # year a hashed name yields by chance, "a2019b...", is not kept).
    if meta.year is not None and any(parts):
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


# Words that say what kind of document a name is, or of which period, not which document:
# many names share them, and a question using them names nothing.
_GENERIC = """annual report reports form 10k 10q 8k 20f 40f k q fy quarter quarterly earnings
    financial financials statement statements filing filings results presentation transcript
    proxy letter release paper article document doc draft final version copy scan summary
    list page pages inc corp corporation company co ltd llc plc group holdings sa ag nv
    international global the of and"""
GENERIC_NAME_WORDS = frozenset(_GENERIC.split())
MIN_TEXT_SHARE = 0.5
_GENERIC_CACHE: dict[bool, frozenset[str]] = {}


def generic_terms(tokenizer: LexicalTokenizer) -> frozenset[str]:
    """``GENERIC_NAME_WORDS`` and their glued pairs as the tokenizer writes them."""
    key = tokenizer.stem
    if key not in _GENERIC_CACHE:
        words = sorted(GENERIC_NAME_WORDS)
        terms = set(tokenizer.tokenize(" ".join(words)))
        terms.update(tokenizer.tokenize(" ".join(a + b for a in words for b in words)))
        _GENERIC_CACHE[key] = frozenset(terms)
    return _GENERIC_CACHE[key]


def period_like(term: str) -> bool:
    """A number, or a year with a letter or two ("2019", "fy2019", "2023q4", "q42023")."""
    digits = sum(c.isdigit() for c in term)
    return digits == len(term) or (digits >= 4 and len(term) - digits <= 2)


def max_name_df(n_docs: int) -> int:
    """The most documents whose names a distinctive term may occur in: two, or a tenth of a
    large library; always fewer than all of them."""
    return min(max(2, n_docs // 10), n_docs - 1)


def distinctive(term: str, df: int, n_docs: int, generic: frozenset[str]) -> bool:
    """Whether a question term matching ``df`` documents' names can say which document."""
    return (
        0 < df <= max_name_df(n_docs)
        and len(term) >= 2
        and not period_like(term)
        and term not in generic
    )


def named_documents(
    term_docs: Mapping[str, frozenset[int]],
    n_docs: int,
    generic: frozenset[str],
    share: Callable[[str, frozenset[int]], float] | None = None,
) -> frozenset[int]:
    """The documents a question names distinctly, from ``term_docs``: each question term
    that occurs in some document's name -> the documents (rows) whose names hold it.

    Empty (do not route) when no matched term is distinctive (a year, "annual report", a
    word of many names), or when the distinctive terms point at different documents (two
    companies): only the documents holding every distinctive term are named. ``share``:
    of the term's occurrences in the library's text, the part inside those documents; a
    term of one name that the text of many documents uses ("actor", "date") is an ordinary
    word, not a name, where it is under ``MIN_TEXT_SHARE``."""
    sets = [
        docs
        for term, docs in term_docs.items()
        if distinctive(term, len(docs), n_docs, generic)
        and (share is None or share(term, docs) >= MIN_TEXT_SHARE)
    ]
    if not sets:
        return frozenset()
    return frozenset.intersection(*sets)


def asked_years(terms: Sequence[str]) -> list[str]:
    """The years among a question's routing terms, latest first ("FY2021 and FY2022" ->
    2022, 2021)."""
    return sorted({t for t in terms if YEAR.fullmatch(t)}, reverse=True)


def of_latest_year(
    named: frozenset[int], years: Sequence[str], holding: Callable[[str], frozenset[int]]
) -> frozenset[int]:
    """Of the documents a question names, those whose names carry the latest of its
    ``years`` that any of them carries; all of them where none carries one.

    A question about FY2022 is about the 2022 report, not the 2018 one of the same company,
    and a report covers the years before its own ("between FY2021 and FY2022": the 2022
    report). ``holding(year)``: the documents whose names hold ``year``."""
    for year in years:
        held = named & holding(year)
        if held:
            return held
    return named
