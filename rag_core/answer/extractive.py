"""The answerer used without an API key: the best-supported sentences of the top hits, cited.

A sentence's support mixes how much of the question's vocabulary it contains (terms
weighted by how rare they are among the candidate sentences) with its embedding
similarity to the question when the embedder can read the question. The answer is
refused when no sentence reaches ``min_support``.

A question that asks for a quantity, a date or a name (``values.asked_kind``) is answered
with that value first, taken from the best-supported sentence or table row that states one
(rows stay whole); when none of the close candidates states one, the answer says it shows
the closest passages instead of pretending to answer.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Iterator, Sequence, Set

import numpy as np

from rag_core.answer.common import (
    VALUE_LABELS,
    Answerer,
    Unit,
    citation_for,
    no_value_lead,
    page_pointers,
    sentence_units,
    stream_refusal,
)
from rag_core.answer.periods import (
    Amount,
    Ask,
    Result,
    asked,
    compute,
    row_values,
    sentence_values,
    share_in_table,
)
from rag_core.answer.values import (
    Kind,
    Value,
    answer_values,
    asked_kind,
    fits,
    organisations,
    values_in,
)
from rag_core.embed.embeddings import Embedder, readable_unknown_ratio
from rag_core.embed.sentences import SentenceVectors, is_quotable
from rag_core.index.lexical import LexicalTokenizer
from rag_core.text import (
    CONTEXT_SEPARATOR,
    answer_language,
    looks_like_heading,
    split_sentences,
)
from rag_core.types import (
    Answer,
    AnswerDone,
    AnswerEvent,
    Citation,
    CitationEvent,
    Hit,
    PageImage,
    SearchResult,
    TextDelta,
    Timing,
)

MAX_SENTENCES = 3
HITS_CONSIDERED = 5
BACKGROUND_SHARE = 0.8  # a term in the name or context of this share of the passages
# Words that say which kind of figure or which time a question asks for, not what it is a
# figure of: no passage is about the question for having them.
GENERIC_WORDS = (
    "how much many whose get got value values number numbers total amount amounts year years "
    "end period periods annual report fiscal quarter date current last data according listed "
    "available return give provide based shown"
)
VALUE_POOL = 0.5  # a value may come from a unit with at least this share of the best support


def weighted_coverage(
    question_tokens: set[str], sentences: Sequence[set[str]], background: Set[str] = frozenset()
) -> list[float]:
    """Per sentence: the IDF-weighted share of the question's terms it contains (pure).
    ``background`` terms (the name of the document every passage is from) weigh the least."""
    if not question_tokens or not sentences:
        return [0.0 for _ in sentences]
    n = len(sentences)
    weights = {
        t: (
            0.0
            if t in background
            else math.log(1.0 + n / (1.0 + sum(1 for s in sentences if t in s)))
        )
        + 0.1
        for t in question_tokens
    }
    total = sum(weights.values())
    return [sum(w for t, w in weights.items() if t in s) / total for s in sentences]


def select_units(
    units: Sequence[Unit], support: Sequence[float], min_support: float
) -> list[tuple[Unit, float]]:
    """Up to MAX_SENTENCES units close to the best one, in reading order (pure)."""
    if not units:
        return []
    best = max(support)
    if best < min_support:
        return []
    ranked = sorted(range(len(units)), key=lambda i: (-support[i], i))
    chosen = [i for i in ranked[:MAX_SENTENCES] if support[i] >= max(min_support, 0.6 * best)]
    chosen.sort(key=lambda i: (units[i].hit_index, units[i].span.start))
    return [(units[i], support[i]) for i in chosen]


def in_pool(
    support: Sequence[float], min_support: float, grounded: Sequence[bool] = ()
) -> list[int]:
    """The units a value may come from, best-supported first: those with at least
    ``VALUE_POOL`` of the best support (and ``min_support``), and with ``grounded``, only
    those it marks (they name what the question asks about) (pure)."""
    if not support:
        return []
    floor = max(min_support, VALUE_POOL * max(support))
    ranked = sorted(range(len(support)), key=lambda i: (-support[i], i))
    return [i for i in ranked if support[i] >= floor and (not grounded or grounded[i])]


def value_unit(
    units: Sequence[Unit],
    support: Sequence[float],
    kind: Kind,
    question: str,
    min_support: float,
    grounded: Sequence[bool] = (),
) -> tuple[int, Value] | None:
    """The best-supported unit that states a value of ``kind`` the question does not state
    itself, and that value (pure). Only units close to the best support are considered
    (``in_pool``)."""
    for i in in_pool(support, min_support, grounded):
        found = answer_values(question, values_in(units[i].text, kind), units[i].text)
        if found:
            return i, found[0]
    return None


HEADER_LOOKBACK = 12  # sentences before a table row searched for its header of years


def _above(unit: Unit, hit: Hit, others: Sequence[Hit] = ()) -> list[str]:
    """The sentences above ``unit``, closest first, in reach: of its chunk, and of the chunk
    before it on its page when that one was found too (a table's header of years is often in
    the chunk before the row's)."""
    chunk = hit.chunk
    before = chunk.text[: max(0, unit.span.start - chunk.start)]
    earlier = [
        o.chunk
        for o in others
        if (o.chunk.doc_id, o.chunk.page) == (chunk.doc_id, chunk.page)
        and o.chunk.start < chunk.start
    ]
    if earlier:
        previous = max(earlier, key=lambda c: c.start)
        before = previous.text[: chunk.start - previous.start] + "\n" + before
    above = [before[s.start : s.end] for s in split_sentences(before)][-HEADER_LOOKBACK:]
    return above[::-1]


def _below(unit: Unit, hit: Hit) -> list[str]:
    """The sentences of ``unit``'s chunk below it, in reading order, in reach."""
    chunk = hit.chunk
    after = chunk.text[unit.span.end - chunk.start :]
    return [after[s.start : s.end] for s in split_sentences(after)][:HEADER_LOOKBACK]


def period_values(unit: Unit, hit: Hit, others: Sequence[Hit] = ()) -> dict[str, Amount]:
    """The figures ``unit`` states for years: a table row matched to the nearest header of
    years above it (``_above``), else a sentence that ties figures to years (pure)."""
    return row_values(unit.text, _above(unit, hit, others)) or sentence_values(unit.text)


def period_result(unit: Unit, hit: Hit, ask: Ask, others: Sequence[Hit] = ()) -> Result | None:
    """What ``ask`` asks, from ``unit`` (a share: the unit's row over its table's total)."""
    if ask.op == "share":
        return share_in_table(ask, unit.text, _above(unit, hit, others), _below(unit, hit))
    return compute(ask, period_values(unit, hit, others))


def period_unit(
    units: Sequence[Unit],
    support: Sequence[float],
    hits: Sequence[Hit],
    question: str,
    ask: Ask,
    min_support: float,
    others: Sequence[Hit] = (),
    grounded: Sequence[bool] = (),
) -> tuple[int, Result] | None:
    """The best-supported unit that states a figure for every period ``ask`` reads, and what
    the question asks computed from them (pure). Only units close to the best support."""
    for i in in_pool(support, min_support, grounded):
        result = period_result(units[i], hits[units[i].hit_index], ask, others)
        if result is None:
            continue
        texts = [result.text] if result.value is not None else [a.text for _, a in result.inputs]
        shown = [Value("quantity", t, 0, len(t)) for t in texts]
        if all(fits(question, v) for v in shown):
            return i, result
    return None


def with_unit(
    chosen: list[tuple[Unit, float]], unit: Unit, score: float
) -> list[tuple[Unit, float]]:
    """``chosen`` with ``unit`` in it (dropping the weakest if full), in reading order (pure)."""
    if any(u == unit for u, _ in chosen):
        return chosen
    kept = sorted(chosen, key=lambda c: -c[1])[: MAX_SENTENCES - 1]
    kept.append((unit, score))
    return sorted(kept, key=lambda c: (c[0].hit_index, c[0].span.start))


LEADS = {
    "en": "From your documents:\n\n",
    "zh": "根据您的文档：\n\n",
    "zh-Hant": "根據您的文件：\n\n",
}


class ExtractiveAnswerer(Answerer):
    mode = "extractive"

    def __init__(
        self,
        tokenizer: LexicalTokenizer,
        embedder: Embedder | None = None,
        *,
        min_support: float = 0.2,
        max_unknown_ratio: float = 0.3,
        sentences: SentenceVectors | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.embedder = embedder
        # Sentence vectors embedded once and kept; without it every answer embeds its
        # candidate sentences (0.5-3 s of CPU here, issue 17).
        self.sentences = sentences
        self.min_support = min_support
        self.max_unknown_ratio = max_unknown_ratio
        self.model = "extractive"

    def support(
        self,
        question: str,
        units: Sequence[Unit],
        hits: Sequence[Hit],
        tokens: Sequence[set[str]],
    ) -> list[float]:
        """Each unit's support for the question; ``tokens``: each unit's terms."""
        q_tokens = set(self.tokenizer.tokenize(question))
        background = self._background(hits)
        lexical = weighted_coverage(q_tokens, tokens, background)
        semantic = self._semantic(question, units)
        prior = [1.0 - 0.04 * u.hit_index for u in units]
        if semantic is None:
            return [lex * p for lex, p in zip(lexical, prior, strict=True)]
        return [
            (0.5 * lex + 0.5 * sem) * p
            for lex, sem, p in zip(lexical, semantic, prior, strict=True)
        ]

    def _background(self, hits: Sequence[Hit], titles_only: bool = False) -> set[str]:
        """Terms in the name or context (title, headings; with ``titles_only`` the title) of
        nearly every passage: they say which document the passages are from, not which of
        its sentences answers."""
        if len(hits) < 2:
            return set()
        counts: dict[str, int] = {}
        for hit in hits:
            context = hit.chunk.context
            if titles_only:
                context = context.split(CONTEXT_SEPARATOR, 1)[0]
            for t in set(self.tokenizer.tokenize(f"{hit.doc_name} {context}")):
                counts[t] = counts.get(t, 0) + 1
        return {t for t, c in counts.items() if c >= BACKGROUND_SHARE * len(hits)}

    def grounded(
        self,
        question: str,
        units: Sequence[Unit],
        hits: Sequence[Hit],
        tokens: Sequence[set[str]],
    ) -> list[bool]:
        """Whether each unit names what the question asks a value of: one of the question's
        focus terms in its text or its headings. Focus terms leave out words that say which
        kind of figure or which time is asked ("the value of", "the total number of", "at
        year-end"), an organisation named with its legal form ("HCA Healthcare, Inc.") and
        words in the name or title of nearly every passage: they say whose figure or which
        document, not which of its sentences."""
        common = self._background(hits, titles_only=True)
        named = set(self.tokenizer.tokenize(" ".join(organisations(question))))
        focus = set(self.tokenizer.tokenize(question)) - self._generic - common - named
        if not focus:
            return [True] * len(units)
        headings = [
            set(self.tokenizer.tokenize(h.chunk.context.partition(CONTEXT_SEPARATOR)[2]))
            for h in hits
        ]
        return [
            bool(focus & (terms | headings[unit.hit_index]))
            for unit, terms in zip(units, tokens, strict=True)
        ]

    @functools.cached_property
    def _generic(self) -> frozenset[str]:
        """The terms of ``GENERIC_WORDS``, tokenized once."""
        return frozenset(self.tokenizer.tokenize(GENERIC_WORDS))

    def _semantic(self, question: str, units: Sequence[Unit]) -> list[float] | None:
        if self.embedder is None or not units:
            return None
        if readable_unknown_ratio(self.embedder, [question])[0] > self.max_unknown_ratio:
            return None
        q = self.embedder.embed_query([question])[0]
        texts = [u.text for u in units]
        vectors = (
            self.sentences.vectors(texts)
            if self.sentences is not None
            else self.embedder.embed(texts)
        )
        cosine = vectors @ q
        return [float(v) for v in np.clip((cosine - 0.15) / 0.5, 0.0, 1.0)]

    def stream(
        self, question: str, result: SearchResult, images: Sequence[PageImage] = ()
    ) -> Iterator[AnswerEvent]:
        """The best-supported sentences, cited; pages found only by their image are listed as
        "see page N of X" (Folio cannot read an image without a language model)."""
        started = time.perf_counter()
        hits = result.hits[:HITS_CONSIDERED]
        units = [u for per_hit in sentence_units(hits) for u in per_hit if is_quotable(u.text)]
        # a heading ("Westwater Resources, Inc.", "Audit Fees") states nothing to quote
        units = [u for u in units if not looks_like_heading(u.text)]
        tokens = [set(self.tokenizer.tokenize(u.text)) for u in units]
        support = self.support(question, units, hits, tokens) if units else []
        chosen = select_units(units, support, self.min_support) if units else []
        kind = asked_kind(question) if chosen else None
        ask = asked(question) if kind == "quantity" else None
        # an amount must come from a passage about what is asked (a row or sentence that
        # names it); names and dates are left to support alone ("who determines the size of
        # the court": "Congress ... the number of justices" shares no word with it)
        grounded = self.grounded(question, units, hits, tokens) if kind == "quantity" else []
        computed = (
            period_unit(
                units, support, hits, question, ask, self.min_support, result.hits, grounded
            )
            if ask
            else None
        )
        found = (
            value_unit(units, support, kind, question, self.min_support, grounded)
            if kind and computed is None
            else None
        )
        lead = computed or found
        if lead is not None:
            chosen = with_unit(chosen, units[lead[0]], support[lead[0]])
        timings = (Timing("answer", (time.perf_counter() - started) * 1000),)
        if not chosen:
            yield from stream_refusal(question, result, "extractive", self.model, timings, images)
            return
        language = answer_language(question)
        parts: list[str] = []
        # asked for a value and none found: the answer declines, with the closest passages
        declined = kind is not None and lead is None
        for piece in self._lead(question, language, kind, found, chosen, units, computed):
            parts.append(piece)
            yield TextDelta(piece)
        citations: list[Citation] = []
        for number, (unit, _) in enumerate(chosen, start=1):
            sentence = re.sub(r"\s+", " ", unit.text).strip()
            for piece in re.findall(r"\S+\s*", sentence + " "):
                parts.append(piece)
                yield TextDelta(piece)
            marker = f"[{number}] " if number < len(chosen) else f"[{number}]"
            parts.append(marker)
            yield TextDelta(marker)
            citation = citation_for(number, hits[unit.hit_index], unit.span, unit.text)
            citations.append(citation)
            yield CitationEvent(citation)
        pointers, pages = page_pointers(question, images, len(citations) + 1)
        if pointers:
            parts.append(f"\n\n{pointers}")
            yield TextDelta(f"\n\n{pointers}")
            for citation in pages:
                citations.append(citation)
                yield CitationEvent(citation)
        yield AnswerDone(
            Answer(
                question=question,
                text="".join(parts).rstrip(),
                citations=tuple(citations),
                mode="extractive",
                model=self.model,
                refused=declined,
                hits=result.hits,
                trace=result.trace,
                timings=timings,
                pages=result.pages,
            )
        )

    @staticmethod
    def _lead(
        question: str,
        language: str,
        kind: Kind | None,
        found: tuple[int, Value] | None,
        chosen: Sequence[tuple[Unit, float]],
        units: Sequence[Unit],
        computed: tuple[int, Result] | None = None,
    ) -> list[str]:
        """The value asked for first, cited (with what it was computed from, where it was);
        or, when none states one, that none does and the closest passages follow."""
        if kind is None:
            return [LEADS[language]]
        if computed is not None:
            how = computed[1].explanation()
            how = f" ({how})" if how and computed[1].ask.op != "value" else ""
            index, value = computed[0], f"{computed[1].text}{how}"
        elif found is not None:
            index, value = found[0], found[1].text
        else:
            return [no_value_lead(question, kind)]
        number = next(n for n, (u, _) in enumerate(chosen, start=1) if u == units[index])
        return [f"{VALUE_LABELS[language]}{value} [{number}]\n\n", LEADS[language]]
