"""Thumbs-down answers as a pdfqa question set: ``python -m rag_core export-feedback --out DIR``.

Each disliked answer becomes a line of ``questions.jsonl`` in the pdfqa format of
``eval_sets`` (id, question, answer, doc, pages, answerable, type) plus what was said and
why: ``given_answer``, ``comment`` and ``trace`` (searched query, answer mode and model,
cited pages, retrieved pages with each leg's rank, vote, time, session). ``doc`` and
``pages`` come from the cited pages (else from the best retrieved pages) so the question can
be asked again; ``answer`` is empty, ``answerable`` null and ``type`` "feedback" until a
person writes the right answer and confirms the pages. The PDFs can be copied next to it
(``pdfs/``) from the library, which makes the folder a set ``eval`` runs as it is.

The exporter takes the feedback store's ``FeedbackRecord``s (``rag_core.feedback.store``);
``read_feedback`` reads the thumbs-down ones of a workspace through ``FeedbackStore``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag_core.errors import NotFoundError
from rag_core.feedback.store import FeedbackRecord, FeedbackStore


@dataclass(frozen=True, slots=True)
class ExportReport:
    questions: Path
    exported: int
    duplicates: int  # the same question and answer rated down again
    pdfs_copied: tuple[str, ...] = ()
    pdfs_missing: tuple[str, ...] = field(default=())


def _doc_stem(name: str) -> str:
    return name.removesuffix(".pdf")


def evidence_pages(record: FeedbackRecord) -> tuple[str, tuple[int, ...], str]:
    """(document, pages, where from): the most cited document and its cited pages; without
    citations the best retrieved document and its retrieved pages; else nothing."""
    for source, pages in (
        ("citations", [(c.doc_name, c.page) for c in record.citations]),
        ("retrieved", [(h.doc_name, h.page) for h in sorted(record.hits, key=lambda h: h.rank)]),
    ):
        if pages:
            counts: dict[str, int] = {}
            for name, _ in pages:
                counts[name] = counts.get(name, 0) + 1
            best = max(counts, key=lambda n: (counts[n], -[p[0] for p in pages].index(n)))
            chosen = sorted(dict.fromkeys(p for n, p in pages if n == best))
            return best, tuple(chosen[:5] if source == "retrieved" else chosen), source
    return "", (), "none"


def question_item(record: FeedbackRecord) -> dict[str, Any]:
    """One ``questions.jsonl`` line for a rated answer (pure)."""
    doc, pages, source = evidence_pages(record)
    key = f"{record.session_id}\n{record.created_at.isoformat()}\n{record.question}"
    return {
        "id": "feedback-" + hashlib.sha256(key.encode()).hexdigest()[:12],
        "question": record.question,
        "answer": "",
        "doc": _doc_stem(doc),
        "pages": list(pages),
        "answerable": None,
        "type": "feedback",
        "given_answer": record.answer,
        "comment": record.comment,
        "trace": {
            "searched_query": record.searched_query,
            "mode": record.mode,
            "model": record.model,
            "vote": record.vote,
            "created_at": record.created_at.isoformat(),
            "session": record.session_id,
            "pages_from": source,
            "citations": [{"doc": c.doc_name, "page": c.page} for c in record.citations],
            "hits": [
                {
                    "doc": h.doc_name,
                    "page": h.page,
                    "rank": h.rank,
                    "legs": {lr.leg: lr.rank for lr in h.legs},
                }
                for h in record.hits
            ],
        },
    }


README = """# Questions from thumbs-down feedback

Exported by `python -m rag_core export-feedback` on {when}: {count} answers people rated down.

`questions.jsonl` is in the pdfqa format (`rag_core/eval_sets.py`), one question per line:
`id`, `question`, `answer` (empty: write the right answer), `doc` and `pages` (0-based; taken
from the pages the answer cited, or the best retrieved pages when it cited none: see
`trace.pages_from`), `answerable` (null: set true or false), `type` "feedback", and what was
said: `given_answer`, `comment`, `trace` (searched query, mode, model, citations, retrieved
pages with each leg's rank, vote, time, session).

To grow the regression set: fix `answer`, `pages` and `answerable` by hand, drop lines that
are not worth keeping, and put the documents in `pdfs/` ({pdfs}). Then
`python -m rag_core eval {folder} --answers`.
"""


def export_feedback(
    records: Iterable[FeedbackRecord],
    out_dir: Path,
    pdf_source: Callable[[str], Path | None] | None = None,
) -> ExportReport:
    """Write the thumbs-down records as ``out_dir/questions.jsonl`` and a README; copy each
    named PDF into ``out_dir/pdfs`` when ``pdf_source`` finds its stored file."""
    items: dict[tuple[str, str], dict[str, Any]] = {}
    duplicates = 0
    for record in sorted(records, key=lambda r: r.created_at):
        if record.vote >= 0:
            continue
        key = (" ".join(record.question.lower().split()), record.answer.strip())
        duplicates += key in items
        items[key] = question_item(record)  # the latest rating of the same answer wins
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "questions.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for item in items.values():
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    copied, missing = [], []
    names = sorted({f"{i['doc']}.pdf" for i in items.values() if i["doc"]})
    if pdf_source is not None:
        (out_dir / "pdfs").mkdir(exist_ok=True)
        for name in names:
            source = pdf_source(name)
            if source is None:
                missing.append(name)
                continue
            shutil.copyfile(source, out_dir / "pdfs" / name)
            copied.append(name)
    pdfs_note = (
        f"copied: {', '.join(copied) or 'none'}; not found in the library: "
        f"{', '.join(missing) or 'none'}"
        if pdf_source is not None
        else f"needed: {', '.join(names) or 'none'}"
    )
    (out_dir / "README.md").write_text(
        README.format(
            when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            count=len(items),
            pdfs=pdfs_note,
            folder=out_dir,
        ),
        encoding="utf-8",
    )
    return ExportReport(path, len(items), duplicates, tuple(copied), tuple(missing))


def read_feedback(url: str, workspace: str) -> list[FeedbackRecord]:
    """The thumbs-down answers of ``workspace`` in the feedback database at ``url``."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            raise NotFoundError(f"No feedback database at {path} (FOLIO_DB): nothing rated yet")
    return [r for r in FeedbackStore.open(url, workspace).records() if r.vote < 0]
