"""Claim checks: each sentence of an answer labelled ``supported``, ``partial`` or
``unsupported`` against the passages it cites, offline (no language model).

A sentence's citations are the ``[n]`` markers in it or right after it (markers that open
the next sentence belong to this one). A connective (a heading, or a lead such as "From your
documents:": no number, at most a few words) makes no claim and is not checked. A sentence
without a citation is ``unsupported``, unless it is Folio's refusal. A cited sentence is
looked up in its passages: the cited text and the text (with headings) of the chunk it lies in.

- **Numbers** (amounts, percentages, years) must occur in a passage. "1,234.5", "1234.5" and
  "$1.2 billion" are values; a value matches a passage's number at the precision the
  sentence writes it ("$1.2 billion" matches "1,234" in a table of millions: the passage
  number is also tried times 1,000, 1,000,000 and 1,000,000,000 and their inverses; a
  percentage only as written). Signs and brackets are ignored ("(3.2)%" is 3.2%). A number
  one step of arithmetic away from two numbers the sentence states and the passage holds
  ("grew 12% from $1.0 billion to $1.12 billion"), or their total or mean, counts as found.
  A sentence none of whose numbers occur is ``unsupported``; one with some missing is at
  best ``partial``: a wrong number is never ``supported``.
- **Names**: runs of capitalised words (not the sentence's first word alone, not units such
  as USD, not words with digits) must have all their words in a passage or the question,
  else the sentence is at best ``partial``. Chinese has no capitals: its words count through
  the content-word overlap (jieba).
- **Words**: the share of the sentence's content words (stemmed; stopwords, numbers, scale
  and currency words left out) found in its passages; with an embedder
  (``FOLIO_CLAIM_SIMILARITY``), the larger of that and its mean with the embedding similarity
  of the sentence and its closest passage (one ``embed`` call per answer). Under
  ``PARTIAL_SCORE`` the sentence is ``unsupported``, from ``SUPPORTED_SCORE`` it may be
  ``supported``.

A page cited by its image (``[P1]`` in Claude's reply) cannot be read offline: a sentence
citing only pages is ``partial`` ("cites a page image"), and one its text passages do not
support is ``partial`` rather than ``unsupported`` when it also cites a page.
"""

from __future__ import annotations

import functools
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag_core.answer.common import VALUE_LABEL, no_value_lead, refusal_text
from rag_core.answer.values import asked_kind
from rag_core.embed.embeddings import Embedder, readable_unknown_ratio
from rag_core.index.lexical import ENGLISH_STOPWORDS, LexicalTokenizer
from rag_core.text import YEAR, looks_like_heading, split_sentences
from rag_core.types import SUPPORT_LABELS, Answer, SearchResult, SentenceCheck, SupportLabel

PARTIAL_SCORE = 0.3
SUPPORTED_SCORE = 0.6
# Embedding cosine mapped to [0, 1]: at or below LOW nothing in common, at or above HIGH the same.
SIMILARITY_LOW = 0.3
SIMILARITY_HIGH = 0.8
CONNECTIVE_WORDS = 4
NOT_FOUND = "NOT_FOUND"  # the reply Folio asks a model for when it finds no answer

_MARKER = re.compile(r"\[(\d{1,3})\]")
_COMPUTATION = re.compile(
    r"\bthe (?:total|sum|average|mean|(?:percentage )?change|compound annual growth"
    r"(?: over \d+ years)?) (?:of|from)\b",
    re.IGNORECASE,
)
_MARKUP = re.compile(r"^\s*(?:[-•*·▪●○◦>#]+|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])(?:\s+|$)|[*_`#]+")


# Sentences and their markers -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of an answer: its text without markers, its citations, its span."""

    text: str
    citations: tuple[int, ...]
    start: int
    end: int


def answer_sentences(text: str) -> list[Sentence]:
    """The sentences of an answer's text (English and Chinese) with their ``[n]`` markers.

    Sentences are split with the markers blanked out ("costs 5.[1] Next" ends after "5."); a
    marker belongs to the sentence it is in or that it follows, whose span it extends. A
    sentence without a marker takes those of the next cited sentence of its paragraph: Claude
    marks a cited block of several sentences once, after its last one, and models write
    "X rose. It reached 5 [1]." for one source."""
    masked = _MARKER.sub(lambda m: " " * len(m.group(0)), text)
    spans = split_sentences(masked)
    markers = [(m.start(), m.end(), int(m.group(1))) for m in _MARKER.finditer(text)]
    found: list[Sentence] = []
    for i, span in enumerate(spans):
        first = 0 if i == 0 else span.start
        limit = spans[i + 1].start if i + 1 < len(spans) else len(text)
        mine = [m for m in markers if first <= m[0] < limit]
        end = max([span.end, *(m[1] for m in mine)])
        numbers = _unique(tuple(m[2] for m in mine))
        found.append(Sentence(squeeze(masked[span.start : span.end]), numbers, span.start, end))
    return _inherit_markers(found, text)


def _inherit_markers(sentences: list[Sentence], text: str) -> list[Sentence]:
    """Uncited sentences given the markers of the next cited one in the same paragraph."""
    out: list[Sentence] = []
    carry: tuple[int, ...] = ()
    for i in range(len(sentences) - 1, -1, -1):
        sentence = sentences[i]
        following = sentences[i + 1] if i + 1 < len(sentences) else None
        if following is not None and "\n\n" in text[sentence.end : following.start]:
            carry = ()  # a paragraph ends here
        if sentence.citations:
            carry = sentence.citations
        elif carry:
            sentence = replace(sentence, citations=carry)
        out.append(sentence)
    return out[::-1]


def squeeze(text: str) -> str:
    """Whitespace collapsed, and none before punctuation ("costs [1]." -> "costs.")."""
    return re.sub(r"\s+([.,;:!?。，；：！？])", r"\1", " ".join(text.split()))


def _unique(numbers: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(numbers))


def plain(sentence: str) -> str:
    """A sentence without list bullets, Markdown emphasis, the extractive answerer's "Answer:"
    label and the words that name a computation ("the total of", "the percentage change
    from": its result is checked as a number computed from the cited ones), as it is checked."""
    text = VALUE_LABEL.sub("", _MARKUP.sub(" ", sentence).strip())
    return _COMPUTATION.sub(" ", text)


# Numbers -----------------------------------------------------------------------------------
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.,])(?P<currency>[$€£¥])?\s?"
    r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
)
_AFTER = re.compile(
    r"(?P<suffix>bn|mn|m|k|b)?(?![A-Za-z0-9_])\)?\s*"
    r"(?:(?P<percent>%|％|percent\b|per cent\b)|(?P<scale>thousand|million|billion|trillion"
    r"|bn\b|mn\b|千|万|百万|亿)|)",
    re.IGNORECASE,
)
SCALES = {
    "k": 1e3,
    "thousand": 1e3,
    "千": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "百万": 1e6,
    "万": 1e4,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
    "亿": 1e8,
    "trillion": 1e12,
}
_PASSAGE_SCALES = np.array([1.0, 1e3, 1e6, 1e9, 1e-3, 1e-6, 1e-9])


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number as written: its value (scale applied), the step of its last digit, whether
    it is a percentage or a year."""

    shown: str
    value: float
    step: float
    percent: bool = False
    year: bool = False


def quantities(text: str) -> list[Quantity]:
    """The numbers of ``text`` with their scale ("$1.2 billion" is 1.2e9, step 1e8).

    A number glued to letters ("3M", "10-K", "Q4") is a name, not a quantity; a bare
    1900-2099 integer is a year."""
    found: list[Quantity] = []
    for match in _NUMBER.finditer(text):
        after = _AFTER.match(text, match.end())
        if after is None or _glued(text, match.end(), after):
            continue
        number = match.group("number")
        suffix = (after.group("suffix") or "").lower()
        if suffix and not match.group("currency"):
            continue  # "5m" may be metres; "$5m" is money
        scale = SCALES.get(suffix or (after.group("scale") or "").lower(), 1.0)
        percent = after.group("percent") is not None
        digits = number.replace(",", "")
        decimals = len(digits.partition(".")[2])
        value = float(digits) * scale
        year = (
            scale == 1.0
            and not (percent or decimals or match.group("currency") or "," in number)
            and YEAR.fullmatch(digits) is not None
        )
        shown = text[match.start() : after.end()].strip()
        found.append(Quantity(shown, value, 10.0**-decimals * scale, percent, year))
    return found


def _glued(text: str, end: int, after: re.Match[str]) -> bool:
    """The number runs on into a word or code ("3M", "10-K", "5W-30")."""
    if after.group("suffix"):
        return False
    return end < len(text) and text[end] == "-" and end + 1 < len(text) and text[end + 1].isalpha()


def number_found(quantity: Quantity, values: np.ndarray) -> bool:
    """Whether a passage's numbers hold ``quantity`` at the precision it is written."""
    if not len(values):
        return False
    tolerance = quantity.step / 2 * (1 + 1e-9) + 1e-12
    scales = _PASSAGE_SCALES[:1] if quantity.percent else _PASSAGE_SCALES
    return bool(np.any(np.abs(np.outer(values, scales) - quantity.value) <= tolerance))


def computed_from(quantity: Quantity, stated: Sequence[float]) -> bool:
    """Whether ``quantity`` is one step of arithmetic on two numbers the same sentence states
    and its passage holds: a sum, difference, product or ratio, a percentage (a / b x 100) or
    a percentage change; or the total or the mean of them all ("grew 12% from $1.0 billion to $1.12
    billion"). A sentence's numbers only, so that a wrong number is not found by chance."""
    if len(stated) < 2:
        return False
    values = [abs(v) for v in stated]
    results = [sum(values), sum(values) / len(values)]
    for a in values:
        for b in values:
            if a is b:
                continue
            results += [a + b, a - b, a * b]
            if b:
                results += [a / b, a / b * 100, (a - b) / b * 100]
    tolerance = quantity.step / 2 * (1 + 1e-9)
    return any(abs(abs(r) - quantity.value) <= tolerance for r in results)


# Names -------------------------------------------------------------------------------------
_NAME_WORD = r"[A-Z][A-Za-z0-9&'’.\-]*"
_NAME = re.compile(
    rf"(?<![\w&'’.\-]){_NAME_WORD}(?:\s+(?:(?:of|and|the|for|&|de|du|van|von)\s+)*{_NAME_WORD})*"
)
NOT_NAMES = frozenset(
    {"usd", "us", "u.s", "u.s.", "eur", "gbp", "jpy", "cny", "rmb", "i", "fy", "q1", "q2", "q3"}
    | {"q4", "yes", "no", "note", "total", "answer"}
)


def names(sentence: str) -> list[str]:
    """Runs of capitalised words that name something ("Safety and Industrial"). The
    sentence's first word alone is not a name (every sentence starts with a capital), nor are
    stopwords or units at a run's ends, nor words with digits ("FY2022", "3M": their numbers
    are checked as numbers)."""
    found = []
    for match in _NAME.finditer(sentence):
        words = [w.rstrip(".") for w in match.group(0).split()]
        if not sentence[: match.start()].strip() and not words[0].isupper():
            words.pop(0)  # the capital every sentence starts with
        words = [w for w in words if not any(ch.isdigit() for ch in w)]
        while words and _minor(words[0]):
            words.pop(0)
        while words and _minor(words[-1]):
            words.pop()
        if words:
            found.append(" ".join(words))
    return list(dict.fromkeys(found))


def _minor(word: str) -> bool:
    return word.lower() in ENGLISH_STOPWORDS or word.lower() in NOT_NAMES or word == "&"


# Passages ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Passage:
    """What a citation lets a sentence be checked against."""

    number: int
    kind: str  # "text" or "page" (a page found by its image: nothing to read offline)
    text: str  # the cited text and the text (with headings) of the chunk it lies in
    cited: str  # the cited text itself, or the chunk's where none was given


@dataclass(frozen=True, slots=True)
class PassageFacts:
    tokens: frozenset[str]
    values: np.ndarray
    years: frozenset[str]


def cited_passages(answer: Answer) -> dict[int, Passage]:
    """The answer's citations by number, with the text of the chunk each one cites."""
    chunks = {hit.chunk.id: hit.chunk for hit in answer.hits}
    passages = {}
    for citation in answer.citations:
        chunk = chunks.get(citation.chunk_id)
        around = chunk.indexed_text if chunk is not None else ""
        cited = citation.cited_text or (chunk.text if chunk is not None else "")
        text = cited if cited in around else f"{cited}\n{around}".strip()
        passages[citation.number] = Passage(citation.number, citation.kind, text or around, cited)
    return passages


def passage_facts(text: str, tokenizer: LexicalTokenizer) -> PassageFacts:
    return PassageFacts(
        tokens=frozenset(tokenizer.tokenize(text)),
        values=np.array([q.value for q in quantities(text)], dtype=np.float64),
        years=frozenset(YEAR.findall(text)),
    )


def merged(facts: Sequence[PassageFacts]) -> PassageFacts:
    if len(facts) == 1:
        return facts[0]
    return PassageFacts(
        tokens=frozenset().union(*(f.tokens for f in facts)),
        values=np.concatenate([f.values for f in facts]) if facts else np.zeros(0),
        years=frozenset().union(*(f.years for f in facts)),
    )


# Labels ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Evidence:
    """What a sentence's passages hold of it."""

    numbers: int
    numbers_missing: tuple[str, ...]
    names_missing: tuple[str, ...]
    overlap: float  # share of its content words found
    similarity: float | None = None  # embedding similarity mapped to [0, 1], if measured
    numbers_computed: tuple[str, ...] = ()  # not in the passage, but computed from ones that are

    @property
    def score(self) -> float:
        if self.similarity is None:
            return self.overlap
        return max(self.overlap, (self.overlap + self.similarity) / 2)


def evidence(
    sentence: str,
    facts: PassageFacts,
    tokenizer: LexicalTokenizer,
    similarity: float | None = None,
    given: frozenset[str] = frozenset(),
) -> Evidence:
    """Look a sentence's numbers, names and words up in its passages (pure).

    ``given``: the question's words. An answer restates its question, so a name the question
    uses need not be in the passage (a filing's page rarely names its company)."""
    text = plain(sentence)
    numbers = quantities(text)
    found = [
        str(int(q.value)) in facts.years if q.year else number_found(q, facts.values)
        for q in numbers
    ]
    stated = [q.value for q, ok in zip(numbers, found, strict=True) if ok and not q.year]
    computed = [
        q.shown
        for q, ok in zip(numbers, found, strict=True)
        if not ok and not q.year and computed_from(q, stated)
    ]
    missing = [
        q.shown for q, ok in zip(numbers, found, strict=True) if not ok and q.shown not in computed
    ]
    # Years written inside a code ("FY2018") are numbers too.
    glued_years = [y for y in YEAR.findall(text) if not any(y in q.shown for q in numbers)]
    missing += [y for y in glued_years if y not in facts.years]
    names_missing = tuple(
        name for name in names(text) if not set(tokenizer.tokenize(name)) <= facts.tokens | given
    )
    words = {w for w in tokenizer.tokenize(text) if not _is_number(w)} - _units(tokenizer)
    overlap = len(words & facts.tokens) / len(words) if words else 1.0
    return Evidence(
        numbers=len(numbers) + len(glued_years),
        numbers_missing=tuple(missing),
        numbers_computed=tuple(computed),
        names_missing=names_missing,
        overlap=overlap,
        similarity=similarity,
    )


UNITS = (
    "thousand thousands million millions billion billions trillion bn mn percent per cent "
    "usd dollar dollars eur euro euros rmb yuan 元 万元 亿元"
)


@functools.lru_cache(maxsize=4)
def _units(tokenizer: LexicalTokenizer) -> frozenset[str]:
    """Scale and currency words: part of a number, not content words."""
    return frozenset(tokenizer.tokenize(UNITS))


def support_of(found: Evidence) -> tuple[SupportLabel, str]:
    """The label a sentence's evidence earns, and why (pure)."""
    if found.numbers and len(found.numbers_missing) == found.numbers:
        return "unsupported", f"{_listed(found.numbers_missing)} not in the cited passage"
    if found.score < PARTIAL_SCORE:
        return "unsupported", f"few of its words are in the cited passage ({found.score:.2f})"
    if found.numbers_missing:
        return "partial", f"{_listed(found.numbers_missing)} not in the cited passage"
    if found.names_missing:
        return "partial", f"{_listed(found.names_missing)} not in the cited passage"
    if found.score < SUPPORTED_SCORE:
        return "partial", f"only some of its words are in the cited passage ({found.score:.2f})"
    computed = (
        f"; {_listed(found.numbers_computed)} computed from its cited numbers"
        if found.numbers_computed
        else ""
    )
    return (
        "supported",
        f"its numbers, names and words are in the cited passage ({found.score:.2f}){computed}",
    )


def _listed(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(f"“{item}”" for item in items[:3])
    return shown + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def _is_number(token: str) -> bool:
    return token.replace(".", "", 1).isdigit()


def is_connective(sentence: str, tokenizer: LexicalTokenizer) -> bool:
    """A heading or a lead ("From your documents:", "In short,"): no number, few words."""
    text = plain(sentence)
    if quantities(text) or YEAR.search(text):
        return False
    words = tokenizer.tokenize(text)
    if not words:
        return True
    short = len(words) <= CONNECTIVE_WORDS
    return short and (text.endswith((":", "：", ",", "，")) or looks_like_heading(text))


def refusal_sentences(answer: Answer) -> str:
    """Folio's refusal text as this answer would have it, and the lead of an answer that
    found no value of the asked kind (empty unless refused)."""
    if not answer.refused:
        return ""
    text = refusal_text(answer.question, SearchResult(answer.hits, answer.trace, answer.pages))
    kind = asked_kind(answer.question)
    return f"{text}\n{no_value_lead(answer.question, kind)}" if kind else text


# The checkers ------------------------------------------------------------------------------
class ClaimCheck(ABC):
    """Labels every sentence of an answer against the passages it cites."""

    name: str

    @abstractmethod
    def check(self, answer: Answer) -> tuple[SentenceCheck, ...]:
        """One check per sentence of ``answer.text``, in order."""


class OfflineClaimCheck(ClaimCheck):
    """Numbers, names and words looked up in the cited passages; with an embedder, also
    their embedding similarity (one ``embed`` call per answer)."""

    name = "offline"

    def __init__(
        self,
        tokenizer: LexicalTokenizer,
        embedder: Embedder | None = None,
        *,
        max_unknown_ratio: float = 0.3,
    ) -> None:
        self.tokenizer = tokenizer
        self.embedder = embedder
        self.max_unknown_ratio = max_unknown_ratio

    def check(self, answer: Answer) -> tuple[SentenceCheck, ...]:
        return self.check_sentences(
            answer_sentences(answer.text),
            cited_passages(answer),
            refusal_sentences(answer),
            f"{answer.question}\n{answer.trace.searched_query}",
        )

    def check_sentences(
        self,
        sentences: Sequence[Sentence],
        passages: Mapping[int, Passage],
        refusal: str = "",
        question: str = "",
    ) -> tuple[SentenceCheck, ...]:
        """Label ``sentences`` against ``passages`` (by citation number); ``refusal``: the
        answer's refusal text, whose sentences need no citation; ``question``: what was
        asked, whose words a sentence may restate."""
        given = frozenset(self.tokenizer.tokenize(question))
        facts = {
            n: passage_facts(p.text, self.tokenizer)
            for n, p in passages.items()
            if p.kind == "text"
        }
        checked = [self._unchecked(s, passages, refusal) for s in sentences]
        todo = [i for i, c in enumerate(checked) if c is None]
        similarity = self.similarities([sentences[i] for i in todo], passages)
        for i, sim in zip(todo, similarity, strict=True):
            sentence = sentences[i]
            cited = [facts[n] for n in sentence.citations if n in facts]
            found = evidence(sentence.text, merged(cited), self.tokenizer, sim, given)
            label, reason = support_of(found)
            if label == "unsupported" and any(
                passages[n].kind == "page" for n in sentence.citations if n in passages
            ):
                label, reason = "partial", f"cites a page image too; text: {reason}"
            checked[i] = _result(sentence, label, reason)
        return tuple(c for c in checked if c is not None)

    def _unchecked(
        self, sentence: Sentence, passages: Mapping[int, Passage], refusal: str
    ) -> SentenceCheck | None:
        """The label of a sentence that makes no claim to look up, or has no text passage to
        look it up in; None for the others."""
        if is_connective(sentence.text, self.tokenizer):
            return _result(sentence, "supported", "a heading or connective, no claim")
        kinds = {passages[n].kind for n in sentence.citations if n in passages}
        if "text" in kinds:
            return None
        if kinds:
            return _result(sentence, "partial", "cites a page image, which cannot be read offline")
        if sentence.text == NOT_FOUND or (refusal and sentence.text in squeeze(refusal)):
            return _result(sentence, "supported", "Folio's refusal")
        return _result(sentence, "unsupported", "no citation")

    def similarities(
        self, sentences: Sequence[Sentence], passages: Mapping[int, Passage]
    ) -> list[float | None]:
        """Per sentence: its embedding similarity to its closest cited passage, mapped to
        [0, 1]; None without an embedder or where the model cannot read the text."""
        if self.embedder is None or not sentences:
            return [None] * len(sentences)
        texts = [s.text for s in sentences]
        numbers = sorted({n for s in sentences for n in s.citations if n in passages})
        texts += [passages[n].cited for n in numbers]
        readable = [
            r <= self.max_unknown_ratio for r in readable_unknown_ratio(self.embedder, texts)
        ]
        vectors = self.embedder.embed(texts)
        row = {n: len(sentences) + i for i, n in enumerate(numbers)}
        out: list[float | None] = []
        for i, sentence in enumerate(sentences):
            rows = [row[n] for n in sentence.citations if n in row and readable[row[n]]]
            if not readable[i] or not rows:
                out.append(None)
                continue
            cosine = float(np.max(vectors[rows] @ vectors[i]))
            mapped = (cosine - SIMILARITY_LOW) / (SIMILARITY_HIGH - SIMILARITY_LOW)
            out.append(min(1.0, max(0.0, mapped)) if math.isfinite(mapped) else None)
        return out


def _result(sentence: Sentence, label: SupportLabel, reason: str) -> SentenceCheck:
    return SentenceCheck(
        text=sentence.text,
        citations=sentence.citations,
        support=label,
        reason=reason,
        start=sentence.start,
        end=sentence.end,
    )


def worst_support(checks: Sequence[SentenceCheck]) -> SupportLabel | None:
    """The weakest label among an answer's sentences (None when none was checked)."""
    labels = {c.support for c in checks}
    return next((label for label in reversed(SUPPORT_LABELS) if label in labels), None)
