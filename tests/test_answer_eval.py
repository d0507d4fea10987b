"""Answer quality on a pdfqa set: real library (hashing embedder), generated PDFs, the
extractive answerer offline, Claude (answers and judge) against the local Messages API."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from rag_core.answer.claude import ClaudeAnswerer
from rag_core.cli.commands import main
from rag_core.config import Settings
from rag_core.errors import ConfigurationError
from rag_core.eval.answers import (
    AnsweredQuestion,
    add_answers_to_report,
    plain_answer,
    run_answer_eval,
    score_answers,
)
from rag_core.eval.retrieval import EvalReport, write_report
from rag_core.library import Library

from .fake_anthropic import FakeAnthropic
from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

QUESTIONS = [
    {
        "id": "q1",
        "question": "How many tonnes was the apple harvest in 2020?",
        "answer": "120 tonnes",
        "doc": "orchard",
        "pages": [0],
        "answerable": True,
        "type": "metrics",
    },
    {
        "id": "q2",
        "question": "How often should the engine oil be changed?",
        "answer": "Change the engine oil every 5000 kilometres.",
        "doc": "engine",
        "pages": [0],
        "answerable": True,
        "type": "text",
    },
    {
        "id": "q3",
        "question": "Who won the 1998 football world cup?",
        "answer": "",
        "doc": "engine",
        "pages": [],
        "answerable": False,
        "type": "unanswerable",
    },
]


def make_set(root: Path) -> Path:
    folder = root / "tiny"
    (folder / "pdfs").mkdir(parents=True)
    (folder / "pdfs" / "orchard.pdf").write_bytes(make_pdf(APPLES))
    (folder / "pdfs" / "engine.pdf").write_bytes(make_pdf(ENGINES))
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return folder


def test_plain_answer_drops_markers_and_the_extractive_lead():
    assert plain_answer("From your documents:\n\nOil every 5000 km. [1] Grade 5W-30.[2]") == (
        "Oil every 5000 km. Grade 5W-30."
    )
    assert plain_answer("Answer: 120 [1]\n\nFrom your documents:\n\nRose to 120 t. [1]") == (
        "120\n\nRose to 120 t."
    )
    assert plain_answer(
        "None of the passages found states the date asked for. The closest passages:\n\n"
        "Every two years. [1]"
    ) == ("Every two years.")
    assert plain_answer("找到的段落中没有所问的日期。最接近的段落：\n\n每两年一次。[1]") == (
        "每两年一次。"
    )


def test_offline_answer_eval(tmp_path, settings, library):
    report = run_answer_eval(make_set(tmp_path), settings, library=library)
    assert (report.set_name, report.judge, report.answer_mode) == ("tiny", "offline", "extractive")
    by = {(i.setting, i.id): i for i in report.items}
    assert len(by) == 6
    q1 = by[("own document", "q1")]
    assert q1.answer == (
        "Answer: 120 [1]\n\nFrom your documents:\n\nApple harvest rose to 120 tonnes in 2020. [1]"
    )
    assert (q1.verdict, q1.verdict_basis, q1.cited_pages, q1.gold_pages) == (
        "correct",
        "numbers",
        ("orchard.pdf p.1",),
        ("orchard.pdf p.1",),
    )
    v = q1.values
    assert v["numbers"] == v["correct"] == v["context_recall"] == v["citation_recall"] == 1.0
    assert v["refused"] == 0.0
    assert v["rouge_l"] == pytest.approx(4 / 11)  # "120 tonnes" in "120" + an 8-token sentence
    q3 = by[("shared store", "q3")]
    assert q3.refused and (q3.verdict, q3.verdict_reason) == (
        "correct",
        "unanswerable: declined",
    )
    assert q3.values == {"correct": 1.0, "refused": 1.0}
    [own, shared] = report.rows
    assert (own.setting, own.leg, own.queries) == ("own document", "extractive", 3)
    assert (shared.setting, shared.metrics) == ("shared store", own.metrics)
    assert own.metrics["correct"] == 1.0 and own.metrics["refused"] == pytest.approx(1 / 3)
    assert own.metrics["numbers"] == 1.0  # over the two questions with numbers
    assert "| own document | extractive |" in report.table()


def test_an_unanswerable_question_is_declined_by_the_flag_or_by_the_words(library):
    library.add([("engine.pdf", make_pdf(ENGINES))])
    asked = library.ask("How often should the engine oil be changed?")
    assert not asked.refused
    question = "Who won the 1998 football world cup?"
    texts = {
        # a model that declines in its own words, not through Folio's gate
        "words": (False, "The documents do not state who won the 1998 football world cup."),
        "flag": (
            True,
            "None of the passages found states the name asked for. The closest "
            "passages:\n\nChange the engine oil every 5000 kilometres. [1]",
        ),
        "answered": (False, "France won it. [1]"),
    }
    answered = [
        AnsweredQuestion(
            key,
            replace(asked, question=question, text=text, refused=refused),
            "",
            (),
            "own document",
            answerable=False,
        )
        for key, (refused, text) in texts.items()
    ]
    verdicts = {i.id: (i.verdict, i.verdict_reason) for i in score_answers(library, answered)}
    assert verdicts == {
        "words": ("correct", "unanswerable: declined"),
        "flag": ("correct", "unanswerable: declined"),
        "answered": ("incorrect", "unanswerable: answered anyway"),
    }


def test_limit_indexes_only_the_pdfs_asked_about(tmp_path, settings, library):
    report = run_answer_eval(
        make_set(tmp_path), settings, limit=1, settings_to_run=("own document",), library=library
    )
    assert [d.name for d in library.documents()] == ["orchard.pdf"]
    assert [i.id for i in report.items] == ["q1"]


def test_answers_are_added_to_the_written_report(tmp_path, settings, library):
    answers = run_answer_eval(make_set(tmp_path), settings, library=library)
    retrieval = EvalReport("tiny", "pdfqa", (), {}, "2025-01-01T00:00:00+00:00", 1.0)
    json_path, md_path = write_report(retrieval, tmp_path / "runs")
    add_answers_to_report(answers, json_path, md_path)
    payload = json.loads(json_path.read_text())
    assert payload["set_name"] == "tiny" and payload["rows"] == []
    assert [r["setting"] for r in payload["answers"]["rows"]] == ["own document", "shared store"]
    assert len(payload["answers"]["items"]) == 6
    assert "## Answer quality (offline judge; answers: extractive, extractive)" in (
        md_path.read_text()
    )


def test_answer_quality_needs_a_pdfqa_set(tmp_path, settings, library):
    beir = tmp_path / "beir"
    beir.mkdir()
    (beir / "corpus.jsonl").write_text("")
    (beir / "queries.jsonl").write_text("")
    with pytest.raises(ConfigurationError, match="needs a pdfqa set"):
        run_answer_eval(beir, settings, library=library)


def test_claude_judge_without_a_key_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "lib"))
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["eval", str(make_set(tmp_path)), "--answers", "--judge", "claude"], out=out, err=err
    )
    assert code == 1 and "ANTHROPIC_API_KEY" in err.getvalue()
    assert not (tmp_path / "lib").exists()  # nothing indexed
    code = main(["eval", str(tmp_path / "tiny"), "--judge", "claude"], out=out, err=err)
    assert code == 1 and "add --answers" in err.getvalue()


def test_claude_answers_judged_by_claude(tmp_path):
    with FakeAnthropic() as fake:
        settings = Settings(
            data_dir=tmp_path / "data",
            db=tmp_path / "feedback.db",
            anthropic_api_key="test-key",
            anthropic_base_url=fake.url,
            judge_model="claude-judge-1",
        )
        answerer = ClaudeAnswerer("test-key", model="claude-test-1", base_url=fake.url)
        library = Library.open(settings, embedder=HashingEmbedder(), answerer=answerer)
        report = run_answer_eval(
            make_set(tmp_path),
            settings,
            judge="claude",
            settings_to_run=("own document",),
            library=library,
        )
        judge_calls = [b for b in fake.requests if "tools" in b]
    assert report.judge == "claude (claude-judge-1)" and report.answer_mode == "claude"
    q1, q2, q3 = report.items
    assert q1.answer == "According to the documents, Apple harvest rose to 120 tonnes in 2020.[1]"
    # Every sentence of the answer is in the chunk it cites; the gold words are in the answer.
    assert q1.values["faithfulness"] == 1.0
    assert q1.claude_verdict == "correct" and q1.values["claude_correct"] == 1.0
    assert 0.0 < q1.values["answer_relevancy"] <= 1.0
    assert q2.values["factual_correctness"] == 1.0
    assert q3.refused and q3.claude_verdict == "refusal" and q3.values["claude_correct"] == 1.0
    assert "faithfulness" not in q3.values  # refusals have no claims
    assert all(i.errors == () for i in report.items)
    assert {b["model"] for b in judge_calls} == {"claude-judge-1"}


def test_retrieval_rows_leave_unanswerables_out_break_down_by_type_and_write_each_question(
    tmp_path, settings, library
):
    from rag_core.answer.gate import GateModel
    from rag_core.eval.gate_data import OUT_OF_SCOPE, add_gate_to_report, run_gate_eval
    from rag_core.eval.retrieval import run_eval

    folder = make_set(tmp_path)
    report = run_eval(folder, settings, legs=("hybrid",), library=library)
    assert [(r.setting, r.leg, r.queries) for r in report.rows] == [
        ("own document", "hybrid", 2),
        ("own document · metrics", "hybrid", 1),
        ("own document · text", "hybrid", 1),
        ("shared store", "hybrid", 2),
        ("shared store · metrics", "hybrid", 1),
        ("shared store · text", "hybrid", 1),
    ]
    assert report.notes == (
        "1 unanswerable questions left out of the retrieval rows (the evidence gate section "
        "measures refusing them)",
    )
    assert report.settings["candidates"] == settings.candidates  # what the app uses
    json_path, md_path = write_report(report, tmp_path / "runs")
    lines = [
        json.loads(x) for x in json_path.with_suffix(".questions.jsonl").read_text().splitlines()
    ]
    assert [(x["id"], x["setting"]) for x in lines] == [
        ("q1", "own document"), ("q2", "own document"), ("q1", "shared store"), ("q2", "shared store"),
    ]  # fmt: skip
    assert lines[0]["gold"] == ["orchard#0"] and lines[0]["top"][0] == "orchard#0"
    assert lines[0]["hit@5"] == 1.0 and "questions" not in json.loads(json_path.read_text())

    gate = run_gate_eval(folder, library, GateModel.load())
    kinds = {k: v["questions"] for k, v in gate["by_kind"].items()}
    assert kinds == {
        "answerable": 2,
        "other document": 2,
        "n/a": 1,
        "out of scope": len(OUT_OF_SCOPE),
    }
    assert gate["by_kind"]["out of scope"]["refused"] == 1.0
    assert gate["by_kind"]["answerable"]["refused"] == 0.0
    add_gate_to_report(gate, json_path, md_path)
    assert len(json.loads(json_path.read_text())["gate"]["samples"]) == 5 + len(OUT_OF_SCOPE)
    assert "## Evidence gate" in md_path.read_text()
