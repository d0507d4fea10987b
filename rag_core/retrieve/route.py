"""The router: which path a question takes, and how a decomposed search's results merge
(pure functions).

Routes, cheapest first: ``single`` (one search: most questions), ``decomposed`` (one search
per part of a multi-part question, merged), ``agentic`` (a model that searches in a loop:
when one is configured and the first search's evidence is weak or the question is
multi-part), ``visual`` (page images to a vision-capable model, when the vision leg found
most of the best pages).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from typing import Literal, TypeVar

from rag_core.retrieve.fusion import reciprocal_rank_fusion
from rag_core.types import Hit, PageHit, page_key

Route = Literal["single", "decomposed", "agentic", "visual"]
ROUTES: tuple[Route, ...] = ("single", "decomposed", "agentic", "visual")

T = TypeVar("T")
# The question's own best pages that keep their places in a decomposed search's merge: with
# 5, hit@5 of single-page questions did not move on any set measured (docs/benchmarks.md).
OWN_HEAD = 5


def choose_route(
    parts: int,
    *,
    agentic_available: bool = False,
    evidence_score: float | None = None,
    gate_threshold: float = 0.0,
    vision_dominates: bool = False,
    reads_images: bool = False,
) -> Route:
    """The cheapest route that can answer a question of ``parts`` sub-queries (0 or 1: one).

    ``agentic_available``: an agentic answerer is configured (a language model that calls
    tools); ``evidence_score``: the evidence gate's score of the first search (None before
    it); ``vision_dominates``: the vision leg found most of the first search's best pages;
    ``reads_images``: the answering model reads page images (Claude, FOLIO_LLM_VISION).
    """
    if vision_dominates and reads_images:
        return "visual"
    weak = evidence_score is not None and evidence_score < gate_threshold
    if agentic_available and (weak or parts >= 2):
        return "agentic"
    return "decomposed" if parts >= 2 else "single"


def vision_dominates(pages: Sequence[PageHit], hits: Sequence[Hit], top_k: int) -> bool:
    """Whether most of the best ``top_k`` pages were found by the vision leg and by no text
    hit (so the answer is in the page images, not in the passages)."""
    best = list(pages[:top_k])
    if not best:
        return False
    covered = {(h.chunk.doc_id, h.chunk.page) for h in hits}
    visual = [
        p
        for p in best
        if (p.doc_id, p.page) not in covered and any(leg.leg == "vision" for leg in p.legs)
    ]
    return 2 * len(visual) > len(best)


def keep_parts(
    rankings: Sequence[Sequence[T]], key: Callable[[T], Hashable], window: int
) -> list[T]:
    """One list from the question's own ranking (first) and its parts' rankings.

    The question's ranking stays as it is, except that every part's best item that is not in
    its first ``window`` takes a place at the end of that window, so no part is crowded out
    and the question's best items keep their places. After the window: the rest of the
    question's ranking, then the parts' in turn, each item only where it first comes.
    """
    own, parts = list(rankings[0]) if rankings else [], rankings[1:]
    top = {key(x) for x in own[:window]}
    missing: dict[Hashable, T] = {}
    for part in parts:
        if part and key(part[0]) not in top:
            missing.setdefault(key(part[0]), part[0])
    head = own[: max(0, window - len(missing))]
    return interleave([[*head, *missing.values(), *own, *interleave(parts, key)]], key)


def interleave(rankings: Sequence[Sequence[T]], key: Callable[[T], Hashable]) -> list[T]:
    """One list from several rankings, best first: round robin over them (the first ranking
    first in each round), an item only where it first comes."""
    seen: set[Hashable] = set()
    merged: list[T] = []
    for position in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if position < len(ranking):
                item = ranking[position]
                if key(item) not in seen:
                    seen.add(key(item))
                    merged.append(item)
    return merged


def fuse_parts(
    rankings: Sequence[Sequence[T]], key: Callable[[T], str], window: int, head: int = OWN_HEAD
) -> list[T]:
    """One list from the question's own ranking (first) and its parts' rankings.

    The question's first ``head`` items keep their places; the rest follow in the order of
    reciprocal rank fusion over every ranking (an item several parts found rises), and every
    part's best item is within the first ``window`` (``keep_parts``).
    """
    own, parts = list(rankings[0]) if rankings else [], rankings[1:]
    if not parts:
        return own
    items: dict[str, T] = {}
    for ranking in rankings:
        for item in ranking:
            items.setdefault(key(item), item)
    fused = reciprocal_rank_fusion(
        {str(i): [(key(x), 0.0) for x in ranking] for i, ranking in enumerate(rankings)}
    )
    headed = interleave([[*own[:head], *(items[f.key] for f in fused)]], key)
    return keep_parts([headed, *parts], key, window)


def merge_pages(rankings: Sequence[Sequence[PageHit]], window: int) -> tuple[PageHit, ...]:
    """The pages of several searches (the question's own first) fused by ``fuse_parts``,
    ranked again."""
    merged = fuse_parts(rankings, lambda p: page_key(p.doc_id, p.page), window)
    return tuple(replace(p, rank=rank) for rank, p in enumerate(merged, start=1))


def merge_hits(rankings: Sequence[Sequence[Hit]], k: int) -> tuple[Hit, ...]:
    """The first ``k`` chunks of several searches (the question's own first), each part's
    best chunk among them (``keep_parts``)."""
    merged = keep_parts(rankings, lambda h: h.chunk.id, k)[:k]
    return tuple(replace(h, rank=rank) for rank, h in enumerate(merged, start=1))
