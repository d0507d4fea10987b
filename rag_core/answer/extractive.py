"""The answerer used without an API key: the best-supported sentences of the top hits, cited.

A sentence's support mixes how much of the question's vocabulary it contains (terms
weighted by how rare they are among the candidate sentences) with its embedding
similarity to the question when the embedder can read the question. The answer is
refused when no sentence reaches ``min_support``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Sequence

import numpy as np

from rag_core.answer.common import (
    Answerer,
    Unit,
    citation_for,
    page_pointers,
    sentence_units,
    stream_refusal,
)
from rag_core.embed.embeddings import Embedder, readable_unknown_ratio
from rag_core.index.lexical import LexicalTokenizer
from rag_core.text import language_of
from rag_core.types import (
    Answer,
    AnswerDone,
    AnswerEvent,
    Citation,
    CitationEvent,
    PageImage,
    SearchResult,
    TextDelta,
    Timing,
)

MAX_SENTENCES = 3
HITS_CONSIDERED = 5


def weighted_coverage(question_tokens: set[str], sentences: Sequence[set[str]]) -> list[float]:
    """Per sentence: the IDF-weighted share of the question's terms it contains (pure)."""
    if not question_tokens or not sentences:
        return [0.0 for _ in sentences]
    n = len(sentences)
    weights = {
        t: math.log(1.0 + n / (1.0 + sum(1 for s in sentences if t in s))) + 0.1
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


class ExtractiveAnswerer(Answerer):
    mode = "extractive"

    def __init__(
        self,
        tokenizer: LexicalTokenizer,
        embedder: Embedder | None = None,
        *,
        min_support: float = 0.2,
        max_unknown_ratio: float = 0.3,
    ) -> None:
        self.tokenizer = tokenizer
        self.embedder = embedder
        self.min_support = min_support
        self.max_unknown_ratio = max_unknown_ratio
        self.model = "extractive"

    def support(self, question: str, units: Sequence[Unit]) -> list[float]:
        q_tokens = set(self.tokenizer.tokenize(question))
        lexical = weighted_coverage(q_tokens, [set(self.tokenizer.tokenize(u.text)) for u in units])
        semantic = self._semantic(question, units)
        prior = [1.0 - 0.04 * u.hit_index for u in units]
        if semantic is None:
            return [lex * p for lex, p in zip(lexical, prior, strict=True)]
        return [
            (0.5 * lex + 0.5 * sem) * p
            for lex, sem, p in zip(lexical, semantic, prior, strict=True)
        ]

    def _semantic(self, question: str, units: Sequence[Unit]) -> list[float] | None:
        if self.embedder is None or not units:
            return None
        if readable_unknown_ratio(self.embedder, [question])[0] > self.max_unknown_ratio:
            return None
        q = self.embedder.embed_query([question])[0]
        vectors = self.embedder.embed([u.text for u in units])
        cosine = vectors @ q
        return [float(v) for v in np.clip((cosine - 0.15) / 0.5, 0.0, 1.0)]

    def stream(
        self, question: str, result: SearchResult, images: Sequence[PageImage] = ()
    ) -> Iterator[AnswerEvent]:
        """The best-supported sentences, cited; pages found only by their image are listed as
        "see page N of X" (Folio cannot read an image without a language model)."""
        started = time.perf_counter()
        hits = result.hits[:HITS_CONSIDERED]
        units = [u for per_hit in sentence_units(hits) for u in per_hit if _is_sentence(u.text)]
        chosen = (
            select_units(units, self.support(question, units), self.min_support) if units else []
        )
        timings = (Timing("answer", (time.perf_counter() - started) * 1000),)
        if not chosen:
            yield from stream_refusal(question, result, "extractive", self.model, timings, images)
            return
        lead = "根据您的文档：\n\n" if language_of(question) == "zh" else "From your documents:\n\n"
        parts = [lead]
        yield TextDelta(lead)
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
                refused=False,
                hits=result.hits,
                trace=result.trace,
                timings=timings,
                pages=result.pages,
            )
        )


def _is_sentence(text: str) -> bool:
    return sum(ch.isalnum() for ch in text) >= 8
