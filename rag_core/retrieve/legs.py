"""The chunk legs of retrieval as values, declared in one place.

A leg ranks the snapshot's chunks one way: ``bm25`` over their text, ``dense`` by vector,
``section`` over the headings above them. A routed leg (``Leg("bm25", routed=True)``, named
``bm25@route`` in traces) ranks again inside the documents the question names. Adding a
leg is a new entry in ``CHUNK_LEGS`` (and its scorer in the retriever).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

LegKind = Literal["bm25", "dense", "section"]

CHUNK_LEGS: tuple[LegKind, ...] = ("bm25", "dense", "section")  # all used by default
ROUTED_LEGS: tuple[LegKind, ...] = ("bm25", "dense")  # also searched in the named documents


@dataclass(frozen=True, slots=True)
class Leg:
    kind: LegKind
    routed: bool = False

    @property
    def name(self) -> str:
        """The leg's name in traces, the API and feedback: ``dense`` or ``dense@route``."""
        return f"{self.kind}@route" if self.routed else self.kind

    @property
    def dense(self) -> bool:
        return self.kind == "dense"


def chunk_legs(wanted: Collection[str], routed: bool) -> tuple[Leg, ...]:
    """Every chunk leg in trace order, then the routed ones when the query names documents;
    legs not ``wanted`` are still listed (their trace says off)."""
    legs = tuple(Leg(kind) for kind in CHUNK_LEGS)
    if routed:
        legs += tuple(Leg(kind, routed=True) for kind in ROUTED_LEGS if kind in wanted)
    return legs
