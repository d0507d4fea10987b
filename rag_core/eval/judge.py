"""The offline answer judge: numbers, yes/no and word overlap against a gold answer (pure).

FinanceBench gold answers are mostly numbers ("$1577.00", "0.042", "AES has converted
inventory 9.5 times in FY 2022"), so the judge reads quantities with their sign, percent and
scale word ("$8.7 billion", "(1,577)", "4.19%", "USD 12 mn") and compares them with a
relative tolerance that also forgives the gold answer's own rounding. Its verdicts use the
labels of FinanceBench's human graders: correct, incorrect, refusal.

What it looks at, in order:

1. An explicit yes or no opening both the gold answer and the answer: they must agree.
2. *Key numbers* of the gold answer: its quantities less years, dates, durations and numbers
   the question already states. Correct when at least half appear in the answer, compared as
   magnitudes, up to a power of 1000 when one side gives no scale ("1,577" in a table in
   millions vs "$1.577 billion") and as a fraction or in points for percentages ("4.19%" vs
   0.042). When they do not, a gold answer whose first sentence has enough words is still
   matched on those words (its later sentences explain or qualify).
3. Otherwise the share of the gold answer's words (Folio's BM25 tokens, less the question's
   words) found in the answer: correct from one half.

An answer that declines ("not found in your documents", "the context does not provide")
and does not state the key numbers is a refusal. Agreement with FinanceBench's human labels is
measured by ``judge_agreement`` (docs/benchmarks.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

Label = Literal["correct", "incorrect", "refusal"]
Basis = Literal["numbers", "yes/no", "overlap", "refusal", "empty"]
LABELS: tuple[Label, ...] = ("correct", "incorrect", "refusal")

SCALES: dict[str, float] = {
    "thousand": 1e3,
    "thousands": 1e3,
    "k": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "mn": 1e6,
    "mm": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "trillions": 1e12,
    "tn": 1e12,
    "万": 1e4,
    "亿": 1e8,
}
_DIGITS = re.compile(r"(?<![A-Za-z0-9_.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")
_SCALE_AFTER = re.compile(
    r"(\s?)(thousands?|millions?|billions?|trillions?|mn|mm|bn|tn|k|m|b|万|亿)(?![A-Za-z])",
    re.IGNORECASE,
)
_PERCENT_AFTER = re.compile(r"\s?(?:%|percent\b|per cent\b|pct\b)", re.IGNORECASE)
_WORD_AFTER = re.compile(r"-?[A-Za-z]")  # "10-K", "3rd", "2Q": part of a name
# Single letters count as scales only right after the digits ("$8.7B", "12m").
_SHORT_SCALES = {"k", "m", "b"}
_YES_NO = re.compile(r"\b(yes|no)\b(?=[,.;:!)]|\s*$)|^\s*(yes|no)\b", re.IGNORECASE)
_PERIOD_AFTER = re.compile(r"\s?(?:months?|years?|weeks?|days?|quarters?)\b", re.IGNORECASE)
_MONTH_BEFORE = re.compile(
    r"\b(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\.?\s$",
    re.IGNORECASE,
)
_REFUSAL = re.compile(
    r"not found in your documents|在您的文[档件]中未找到|"
    r"\b(?:does|do|did) not (?:contain|provide|include|mention|specify|give|state|say|disclose)"
    r"|\b(?:is|are|was|were) not (?:provided|available|given|included|mentioned|specified|"
    r"disclosed|explicitly)|\bthere is no (?:specific |explicit |direct )?(?:information|data|"
    r"mention)|\b(?:cannot|can't|can not|unable to) (?:be )?(?:determine|calculate|answer|"
    r"provide|find|compute|confirm|determined|calculated|found|confirmed)"
    r"|\bnot (?:possible|able) to (?:determine|calculate|answer)|\bi(?:'m| am) sorry"
    r"|\b(?:i|we) (?:do not|don't) (?:have|know)"
    r"|\byou (?:would|will) need to (?:look|refer|check|consult|access|review|obtain)"
    r"|\binsufficient (?:information|data)",
    re.IGNORECASE,
)
REFUSAL_WINDOW = 400  # a refusal says so at the start or in the conclusion
TEXT_WORDS = 6  # a gold answer with this many words is judged on words when numbers miss


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number read from text. ``value`` is the magnitude times the scale word; signs and
    brackets are ignored ("a decrease of 1.7%" and "-1.7%" state the same number);
    percentages stay in points."""

    value: float
    text: str
    scale: float  # 1.0 without a scale word
    scaled: bool
    percent: bool
    decimals: int  # digits after the decimal point, as written
    period: bool = False  # a duration or a day of a date ("12 months", "January 28")

    @property
    def is_year(self) -> bool:
        return (
            not self.scaled
            and not self.percent
            and self.decimals == 0
            and "," not in self.text
            and "$" not in self.text
            and 1900 <= self.value <= 2100
        )

    @property
    def rounding(self) -> float:
        """Half a unit in the last written digit, in the units of ``value``."""
        return 0.5 * 10.0 ** (-self.decimals) * self.scale if self.decimals else 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    label: Label
    basis: Basis
    reason: str
    score: float  # the share of key numbers / gold words found (1.0 or 0.0 for yes/no)


def extract_quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` with its scale word and percent sign (pure)."""
    found = []
    for m in _DIGITS.finditer(text):
        tail = text[m.end() : m.end() + 24]
        scale_m = _SCALE_AFTER.match(tail)
        if scale_m and scale_m.group(2).lower() in _SHORT_SCALES and scale_m.group(1):
            scale_m = None  # "8 m", "5 b": not a scale
        rest = tail[scale_m.end() :] if scale_m else tail
        pct_m = _PERCENT_AFTER.match(rest)
        if not (scale_m or pct_m) and _WORD_AFTER.match(tail):
            continue
        number = m.group(1)
        scale = SCALES[scale_m.group(2).lower()] if scale_m else 1.0
        end = m.end() + (scale_m.end() if scale_m else 0) + (pct_m.end() if pct_m else 0)
        begin = m.start() - 1 if m.start() and text[m.start() - 1] in "$€£¥" else m.start()
        found.append(
            Quantity(
                value=float(number.replace(",", "")) * scale,
                text=text[begin:end],
                scale=scale,
                scaled=scale_m is not None,
                percent=pct_m is not None,
                decimals=len(number.split(".")[1]) if "." in number else 0,
                period=bool(
                    _PERIOD_AFTER.match(tail) or _MONTH_BEFORE.search(text[: m.start()][-12:])
                ),
            )
        )
    return found


def _forms(q: Quantity) -> tuple[float, ...]:
    """The values a quantity may be compared as: percentages as fractions and as points."""
    return (q.value / 100.0, q.value) if q.percent else (q.value,)


def quantities_match(gold: Quantity, answer: Quantity, rel_tol: float = 0.01) -> bool:
    """Whether ``answer`` states ``gold``: within ``rel_tol`` or the gold's own rounding, as a
    fraction or in points for percentages, and up to a power of 1000 when either side gives
    no scale word ("1,577" in a table in millions vs "$1.577 billion")."""
    powers = (0,) if gold.scaled and answer.scaled else range(-4, 5)
    for g in _forms(gold):
        ratio = g / gold.value if gold.value else 1.0  # the gold's rounding, in this form
        tolerance = max(rel_tol * g, gold.rounding * ratio) * (1 + 1e-9)  # float noise
        for a in _forms(answer):
            if any(abs(a * 1000.0**k - g) <= tolerance for k in powers) and (a or not g):
                return True
    return False


def first_sentence(text: str) -> str:
    """The text up to its first sentence end ("36%. The answer here assumes..." -> "36%.")."""
    from rag_core.text import split_sentences

    spans = split_sentences(text)
    return text[spans[0].start : spans[0].end] if spans else text


def key_quantities(gold: str, question: str = "") -> list[Quantity]:
    """The gold answer's numbers that carry the answer: not years, dates or durations, not
    restated from the question ("FY2018", "the 12 months ended January 28" give nothing)."""
    asked = {q.value for q in extract_quantities(question)}
    keys: list[Quantity] = []
    for q in extract_quantities(gold):
        if q.is_year or q.period or (q.value in asked and not q.percent and not q.decimals):
            continue
        if not any(q.value == k.value and q.percent == k.percent for k in keys):
            keys.append(q)
    return keys


def number_recall(question: str, gold: str, answer: str, rel_tol: float = 0.01) -> float | None:
    """Share of the gold answer's key numbers the answer states; None when it has none."""
    keys = key_quantities(gold, question)
    if not keys:
        return None
    stated = [q for q in extract_quantities(answer) if not (q.is_year or q.period)]
    return sum(any(quantities_match(k, a, rel_tol) for a in stated) for k in keys) / len(keys)


def is_refusal(answer: str) -> bool:
    """Whether the answer declines, judged on its opening and its conclusion."""
    text = answer.strip()
    if len(text) > 2 * REFUSAL_WINDOW:
        text = text[:REFUSAL_WINDOW] + "\n" + text[-REFUSAL_WINDOW:]
    return bool(_REFUSAL.search(text))


def yes_no(text: str) -> str | None:
    """An explicit yes or no opening a text ("Yes.", "No, ...", "Based on ..., yes,")."""
    m = _YES_NO.search(text.strip()[:120])
    if m is None:
        return None
    return (m.group(1) or m.group(2)).lower()


Tokenize = Callable[[str], Sequence[str]]
_tokenizer_lock = threading.Lock()
_default_tokenize: list[Tokenize] = []


def default_tokenize(text: str) -> Sequence[str]:
    """Folio's BM25 tokens: stemmed English without stopwords, jieba words for Chinese."""
    with _tokenizer_lock:
        if not _default_tokenize:
            from rag_core.index.lexical import LexicalTokenizer

            _default_tokenize.append(LexicalTokenizer().tokenize)
    return _default_tokenize[0](text)


def word_recall(
    gold: str, answer: str, question: str = "", tokenize: Tokenize = default_tokenize
) -> float:
    """Share of the gold answer's distinct words found in the answer, leaving out words the
    question already has (unless that leaves none)."""
    wanted = set(tokenize(gold))
    wanted = (wanted - set(tokenize(question))) or wanted
    if not wanted:
        return 0.0
    return len(wanted & set(tokenize(answer))) / len(wanted)


def judge_answer(
    question: str,
    gold: str,
    answer: str,
    *,
    rel_tol: float = 0.01,
    min_overlap: float = 0.5,
    tokenize: Tokenize = default_tokenize,
) -> Verdict:
    """Correct, incorrect or refusal, with the evidence for it (pure apart from tokenizing)."""
    if not answer.strip():
        return Verdict("refusal", "empty", "the answer is empty", 0.0)
    polarity, said = yes_no(gold), yes_no(answer)
    if polarity and said:
        ok = polarity == said
        label: Label = "correct" if ok else "incorrect"
        return Verdict(label, "yes/no", f"gold {polarity}, answer {said}", float(ok))
    refused = is_refusal(answer)
    keys = key_quantities(gold, question)
    overlap = word_recall(gold, answer, question, tokenize)
    if keys:
        stated = [q for q in extract_quantities(answer) if not (q.is_year or q.period)]
        found = [k for k in keys if any(quantities_match(k, a, rel_tol) for a in stated)]
        share = len(found) / len(keys)
        if share >= 0.5:
            return Verdict("correct", "numbers", f"{len(found)}/{len(keys)} gold numbers", share)
        if refused:
            reason = f"declines; states {len(found)}/{len(keys)} gold numbers"
            return Verdict("refusal", "refusal", reason, share)
        lead = first_sentence(gold)  # the answer; what follows explains or qualifies it
        lead_overlap = word_recall(lead, answer, question, tokenize)
        if len(set(tokenize(lead))) >= TEXT_WORDS and lead_overlap >= min_overlap:
            return Verdict(
                "correct", "overlap", f"{lead_overlap:.0%} of the gold words", lead_overlap
            )
        missing = ", ".join(k.text for k in keys if k not in found)
        return Verdict("incorrect", "numbers", f"missing {missing}", share)
    if refused:
        return Verdict("refusal", "refusal", "declines to answer", overlap)
    # As with numbers: the gold's first sentence is the answer, what follows explains or
    # qualifies it ("... The answer here assumes FY2023 refers to ..."), and an answer that
    # states the lead is right though it leaves the caveat out. Only a lead that says more
    # than the question asked: one restating it matches any answer that does.
    lead = first_sentence(gold)
    words = set(tokenize(lead))
    new = words - set(tokenize(question))
    if lead.strip() != gold.strip() and len(words) >= TEXT_WORDS and new:
        overlap = max(overlap, word_recall(lead, answer, question, tokenize))
    label = "correct" if overlap >= min_overlap else "incorrect"
    return Verdict(label, "overlap", f"{overlap:.0%} of the gold words", overlap)
