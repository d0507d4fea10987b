"""Evaluation sets in the two formats of shared/data: ``beir`` and ``pdfqa``.

beir: corpus.jsonl ({_id, title, text}), queries.jsonl ({_id, text}), qrels/test.tsv
(query-id, corpus-id, score; header line). pdfqa: pdfs/*.pdf and questions.jsonl
({id, question, answer, doc, pages (0-based), answerable, type}).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag_core.errors import ConfigurationError

Say = Callable[[str], None]  # how an evaluation reports its progress, one line at a time


@dataclass(frozen=True, slots=True)
class CorpusDoc:
    id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class BeirQuery:
    id: str
    text: str
    relevance: dict[str, int]


@dataclass(frozen=True, slots=True)
class BeirSet:
    name: str
    corpus: tuple[CorpusDoc, ...]
    queries: tuple[BeirQuery, ...]


@dataclass(frozen=True, slots=True)
class PdfQuestion:
    id: str
    question: str
    answer: str
    doc: str
    pages: tuple[int, ...]
    answerable: bool
    type: str


@dataclass(frozen=True, slots=True)
class PdfQaSet:
    name: str
    pdfs: tuple[Path, ...]
    questions: tuple[PdfQuestion, ...]


def detect_format(folder: Path) -> str:
    if (folder / "corpus.jsonl").exists() and (folder / "queries.jsonl").exists():
        return "beir"
    if (folder / "questions.jsonl").exists() and (folder / "pdfs").is_dir():
        return "pdfqa"
    raise ConfigurationError(
        f"{folder}: not an evaluation set (expected corpus.jsonl + queries.jsonl + qrels/ for "
        "beir, or questions.jsonl + pdfs/ for pdfqa)"
    )


def _jsonl(path: Path, fields: tuple[str, ...] = ()) -> list[dict]:
    """The JSON objects of a JSON Lines file; a bad line or a missing field names the line."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ConfigurationError(f"{path}, line {number}: not JSON ({exc})") from exc
            missing = [f for f in fields if not isinstance(row, dict) or f not in row]
            if missing:
                raise ConfigurationError(f"{path}, line {number}: no {', '.join(missing)} field")
            rows.append(row)
    return rows


def load_beir(folder: Path, split: str = "test") -> BeirSet:
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        raise ConfigurationError(f"{folder}: missing qrels/{split}.tsv")
    relevance: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader, None)
        for row in reader:
            if len(row) >= 3:
                relevance.setdefault(row[0], {})[row[1]] = int(row[2])
    corpus = tuple(
        CorpusDoc(str(d["_id"]), d.get("title") or "", d.get("text") or "")
        for d in _jsonl(folder / "corpus.jsonl", ("_id",))
    )
    queries = tuple(
        BeirQuery(str(q["_id"]), q["text"], relevance[str(q["_id"])])
        for q in _jsonl(folder / "queries.jsonl", ("_id", "text"))
        if str(q["_id"]) in relevance
    )
    return BeirSet(folder.name, corpus, queries)


def load_pdfqa(folder: Path) -> PdfQaSet:
    questions = tuple(
        PdfQuestion(
            id=str(q["id"]),
            question=q["question"],
            answer=str(q.get("answer", "")),
            doc=q["doc"],
            pages=tuple(int(p) for p in q.get("pages", [])),
            answerable=bool(q.get("answerable", True)),
            type=str(q.get("type", "")),
        )
        for q in _jsonl(folder / "questions.jsonl", ("id", "question", "doc"))
    )
    pdfs = tuple(sorted((folder / "pdfs").glob("*.pdf")))
    available = {p.stem for p in pdfs}
    questions = tuple(q for q in questions if q.doc in available)
    return PdfQaSet(folder.name, pdfs, questions)
