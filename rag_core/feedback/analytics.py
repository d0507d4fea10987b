"""What the ratings say: pure functions over ``FeedbackRecord`` rows, so every number can be
checked against the rows of ``feedback.db``.

Definitions (also in the README):

- **Satisfaction** is thumbs up / (thumbs up + thumbs down) over rated answers.
- **Over time**: answers are counted on the UTC day they were given (``asked_at``).
- **By document**: a rated answer counts once for each distinct document it cites; answers
  citing nothing count once under ``NO_CITATION``.
- **By answer mode**: ``claude`` or ``extractive``.
- **Where dislikes come from** (every thumbs-down gets exactly one cause):
  ``no_evidence`` — retrieval found nothing the answerer could use (no hit, or no hit sharing
  enough of the question's words), so Folio refused before any answerer ran;
  ``not_cited`` — evidence was retrieved and passed that check, but the answer cites none of
  it as an answer (the answerer declined, even when it showed the closest passages, or
  answered without a citation);
  ``cited_wrong`` — the answer cites passages and was still disliked: the cited passages or
  what the answer made of them were wrong.
- **By support**: each rated answer counts once, under the weakest label of its sentences
  (``rag_core.answer.claims``): ``unsupported`` (at least one unsupported sentence),
  ``partial`` (none unsupported, at least one partly supported), ``supported`` (every
  sentence supported) or ``unchecked`` (rated before the check existed, or with it off).
  The dislike rate is thumbs down / rated answers of the group.
- **Most disliked questions** group answers by their question, compared case-insensitively
  with whitespace and final punctuation ignored.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from rag_core.answer.claims import worst_support
from rag_core.feedback.store import FeedbackRecord
from rag_core.retrieve.route import ROUTES

SupportGroup = Literal["unsupported", "partial", "supported", "unchecked"]
SUPPORT_GROUPS: tuple[SupportGroup, ...] = ("unsupported", "partial", "supported", "unchecked")
DislikeCause = Literal["no_evidence", "not_cited", "cited_wrong"]
DISLIKE_CAUSES: tuple[DislikeCause, ...] = ("no_evidence", "not_cited", "cited_wrong")
NO_CITATION = "(no citation)"


@dataclass(frozen=True, slots=True)
class Tally:
    up: int = 0
    down: int = 0

    @property
    def total(self) -> int:
        return self.up + self.down

    @property
    def rate(self) -> float | None:
        """Share of thumbs up, or None when nothing was rated."""
        return self.up / self.total if self.total else None

    @property
    def dislike_rate(self) -> float | None:
        """Share of thumbs down, or None when nothing was rated."""
        return self.down / self.total if self.total else None

    def add(self, record: FeedbackRecord) -> Tally:
        return Tally(self.up + record.liked, self.down + (not record.liked))


@dataclass(frozen=True, slots=True)
class DislikedQuestion:
    question: str  # as last asked
    dislikes: int
    likes: int
    records: tuple[FeedbackRecord, ...]  # latest first


def tally(records: Iterable[FeedbackRecord]) -> Tally:
    result = Tally()
    for record in records:
        result = result.add(record)
    return result


def _grouped(pairs: Iterable[tuple[str, FeedbackRecord]]) -> dict[str, Tally]:
    groups: dict[str, Tally] = {}
    for key, record in pairs:
        groups[key] = groups.get(key, Tally()).add(record)
    return groups


def by_day(records: Sequence[FeedbackRecord]) -> list[tuple[date, Tally]]:
    """Satisfaction per UTC day of the answer, oldest first."""
    groups: dict[date, Tally] = {}
    for record in records:
        day = record.asked_at.date()
        groups[day] = groups.get(day, Tally()).add(record)
    return sorted(groups.items())


def cited_documents(record: FeedbackRecord) -> list[str]:
    """The distinct document names an answer cites, in citation order."""
    return list(dict.fromkeys(c.doc_name for c in record.citations))


def by_document(records: Sequence[FeedbackRecord]) -> list[tuple[str, Tally]]:
    """Satisfaction per cited document (most rated first); uncited answers under NO_CITATION."""
    groups = _grouped(
        (name, record) for record in records for name in (cited_documents(record) or [NO_CITATION])
    )
    return sorted(groups.items(), key=lambda item: (-item[1].total, item[0]))


def by_mode(records: Sequence[FeedbackRecord]) -> list[tuple[str, Tally]]:
    groups = _grouped((record.mode, record) for record in records)
    return sorted(groups.items())


def by_route(records: Sequence[FeedbackRecord]) -> list[tuple[str, Tally]]:
    """Satisfaction per route (single, decomposed, agentic, visual), in the router's order;
    only routes that were rated."""
    groups = _grouped((record.route, record) for record in records)
    order: dict[str, int] = {route: i for i, route in enumerate(ROUTES)}
    return sorted(groups.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def support_group(record: FeedbackRecord) -> SupportGroup:
    """The weakest support label among the answer's sentences (see the module docstring)."""
    return worst_support(record.sentences) or "unchecked"


def by_support(records: Sequence[FeedbackRecord]) -> list[tuple[SupportGroup, Tally]]:
    """Likes and dislikes per support group, every group listed, weakest first."""
    groups = _grouped((support_group(record), record) for record in records)
    return [(group, groups.get(group, Tally())) for group in SUPPORT_GROUPS]


def dislike_cause(record: FeedbackRecord) -> DislikeCause:
    """Why an answer may have been disliked, from its trace (see the module docstring)."""
    if not record.evidence_found or not record.hits:
        return "no_evidence"
    if record.refused or not record.citations:
        return "not_cited"
    return "cited_wrong"


def dislike_causes(records: Sequence[FeedbackRecord]) -> list[tuple[DislikeCause, int]]:
    """How many thumbs-down each cause explains, every cause listed."""
    counts = dict.fromkeys(DISLIKE_CAUSES, 0)
    for record in records:
        if not record.liked:
            counts[dislike_cause(record)] += 1
    return list(counts.items())


def question_key(question: str) -> str:
    text = re.sub(r"\s+", " ", question).strip().casefold()
    return text.rstrip("?？.。!！ ")


def most_disliked(records: Sequence[FeedbackRecord], limit: int = 10) -> list[DislikedQuestion]:
    """Questions with the most thumbs-down (ties: the most recent first), with their rows."""
    groups: dict[str, list[FeedbackRecord]] = {}
    for record in records:
        groups.setdefault(question_key(record.question), []).append(record)
    result = []
    for group in groups.values():
        group.sort(key=lambda r: (r.asked_at, r.id), reverse=True)
        dislikes = sum(1 for r in group if not r.liked)
        if dislikes:
            result.append(
                DislikedQuestion(group[0].question, dislikes, len(group) - dislikes, tuple(group))
            )
    result.sort(key=lambda q: (-q.dislikes, -q.records[0].asked_at.timestamp()))
    return result[:limit]


CSV_COLUMNS = (
    "id",
    "asked_at",
    "updated_at",
    "session_id",
    "message_id",
    "vote",
    "comment",
    "question",
    "searched_query",
    "rewrite",
    "mode",
    "model",
    "refused",
    "evidence_found",
    "dislike_cause",
    "support",
    "cited_documents",
    "cited_pages",
    "citations",
    "hits",
    "total_ms",
    "first_token_ms",
    "answer",
)


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` as a CSV cell a spreadsheet shows as text: a string that starts like a
    formula gets a leading ``'``; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(records: Sequence[FeedbackRecord]) -> str:
    """One line per rating, oldest answer first (dislike_cause empty for thumbs up).

    Text that users and documents wrote (questions, comments, answers, names) is kept from
    running as a formula in a spreadsheet (``csv_cell``)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in records:
        cells = [
            r.id,
            r.asked_at.isoformat(),
            r.updated_at.isoformat(),
            r.session_id,
            r.message_id,
            r.vote,
            r.comment,
            r.question,
            r.searched_query,
            r.rewrite,
            r.mode,
            r.model,
            int(r.refused),
            int(r.evidence_found),
            "" if r.liked else dislike_cause(r),
            support_group(r),
            "; ".join(cited_documents(r)),
            "; ".join(f"{c.doc_name} p.{c.page_number}" for c in r.citations),
            len(r.citations),
            len(r.hits),
            _fmt_ms(r.timing("ui.total")),
            _fmt_ms(r.timing("ui.first_token")),
            r.answer,
        ]
        writer.writerow([csv_cell(cell) for cell in cells])
    return out.getvalue()


def _fmt_ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"
