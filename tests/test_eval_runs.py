"""The Evaluation tab's backend: sets, saved runs, comparison, chart rows, background runs."""

from __future__ import annotations

import json

import pytest

from rag_core.config import Settings
from rag_core.errors import ConfigurationError, NotFoundError
from rag_core.eval.answers import AnswerReport, add_answers_to_report
from rag_core.eval.retrieval import EvalReport, MetricRow, write_report
from rag_core.eval.runs import (
    ChartPoint,
    EvalJob,
    EvalRequest,
    EvalSetInfo,
    MetricDelta,
    chart_points,
    compare,
    compare_with_previous,
    list_runs,
    list_sets,
    load_run,
    previous_run,
    start_evaluation,
)

from .test_answer_eval import make_set


def test_list_sets_finds_beir_and_pdfqa_folders(tmp_path):
    beir = tmp_path / "scifact"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text('{"_id": "1"}\n{"_id": "2"}\n\n')
    (beir / "queries.jsonl").write_text('{"_id": "q"}\n{"_id": "train-only"}\n')
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\t1\t1\nq\t2\t1\n")
    pdfqa = make_set(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "README.md").write_text("not a set")
    assert list_sets(tmp_path) == [
        EvalSetInfo("scifact", beir, "beir", 1, 2, False),
        EvalSetInfo("tiny", pdfqa, "pdfqa", 3, 2, True),
    ]
    with pytest.raises(ConfigurationError, match="FOLIO_EVAL_ROOT"):
        list_sets(tmp_path / "missing")


def write_run(folder, started_at, hit5, correct=None, name="tiny"):
    report = EvalReport(
        name,
        "pdfqa",
        (MetricRow("own document", "hybrid", {"hit@5": hit5, "mrr": 0.5}, 3, 12.0),),
        {"embed_model": "m"},
        started_at,
        2.0,
    )
    json_path, md_path = write_report(report, folder)
    if correct is not None:
        answers = AnswerReport(
            name,
            "offline",
            "extractive",
            "extractive",
            (MetricRow("own document", "extractive", {"correct": correct}, 3, 40.0),),
            (),
            1.0,
        )
        add_answers_to_report(answers, json_path, md_path)
    return json_path


def test_runs_load_in_order_and_compare_with_the_previous_one(tmp_path):
    runs_dir = tmp_path / "runs"
    first = write_run(runs_dir, "2025-01-01T10:00:00+00:00", 0.4)
    second = write_run(runs_dir, "2025-01-02T10:00:00+00:00", 0.6, correct=0.5)
    write_run(runs_dir, "2025-01-03T10:00:00+00:00", 0.9, name="other")
    (runs_dir / "judge-agreement-offline-x.json").write_text('{"judge": "offline"}')
    (runs_dir / "broken.json").write_text("{")
    runs = list_runs(runs_dir, "tiny")
    assert [r.path for r in runs] == [first, second]
    current = load_run(second)
    assert current.answer_rows[0].metrics == {"correct": 0.5}
    assert current.answer_judge == "offline" and current.label == "2025-01-02 10:00"
    before = previous_run(list_runs(runs_dir), current)
    assert before is not None and before.path == first
    assert previous_run(runs, runs[0]) is None
    deltas = compare(current, before)
    assert deltas == [
        MetricDelta("retrieval", "own document", "hybrid", "hit@5", 0.4, 0.6),
        MetricDelta("retrieval", "own document", "hybrid", "mrr", 0.5, 0.5),
        MetricDelta("answers", "own document", "extractive", "correct", None, 0.5),
    ]
    assert deltas[0].delta == pytest.approx(0.2) and deltas[2].delta is None
    assert [d.previous for d in compare(current, None)] == [None, None, None]
    assert compare_with_previous(current, runs_dir) == deltas


def test_chart_points_are_tidy_rows(tmp_path):
    runs = [
        load_run(write_run(tmp_path, "2025-01-01T10:00:00+00:00", 0.4)),
        load_run(write_run(tmp_path, "2025-01-02T10:00:00+00:00", 0.6, correct=0.5)),
    ]
    assert chart_points(runs) == [
        ChartPoint("2025-01-01 10:00", "tiny", "retrieval", "own document", "hybrid", "hit@5", 0.4),
        ChartPoint("2025-01-01 10:00", "tiny", "retrieval", "own document", "hybrid", "mrr", 0.5),
        ChartPoint("2025-01-02 10:00", "tiny", "retrieval", "own document", "hybrid", "hit@5", 0.6),
        ChartPoint("2025-01-02 10:00", "tiny", "retrieval", "own document", "hybrid", "mrr", 0.5),
        ChartPoint(
            "2025-01-02 10:00", "tiny", "answers", "own document", "extractive", "correct", 0.5
        ),
    ]


def test_a_job_reports_progress_and_its_run(tmp_path):
    def task(say):
        say("indexed 1/1")
        return write_run(tmp_path, "2025-01-01T10:00:00+00:00", 0.4)

    status = EvalJob.start(task).wait(10)
    assert (status.state, status.messages, status.error) == ("done", ("indexed 1/1",), None)
    assert status.run is not None and status.run.rows[0].metrics["hit@5"] == 0.4
    assert status.last == "indexed 1/1" and status.seconds >= 0


def test_a_failed_job_keeps_the_message():
    def refused(say):
        raise NotFoundError("engine.pdf of question q3 is not indexed")

    def crashed(say):
        say("started")
        raise ValueError("bad row")

    failed = EvalJob.start(refused).wait(10)
    assert (failed.state, failed.error) == ("failed", "engine.pdf of question q3 is not indexed")
    crash = EvalJob.start(crashed).wait(10)
    assert (crash.state, crash.error, crash.messages) == (
        "failed",
        "ValueError: bad row",
        ("started",),
    )


def test_a_claude_judge_without_a_key_fails_before_the_job_starts(tmp_path):
    request = EvalRequest(make_set(tmp_path), answers=True, judge="claude")
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        start_evaluation(request, Settings(data_dir=tmp_path / "data"))


@pytest.mark.slow
def test_a_real_evaluation_in_the_background(tmp_path):
    """The real pipeline: MiniLM, retrieval rows for two legs, then offline answer rows."""
    settings = Settings(data_dir=tmp_path / "data", db=tmp_path / "feedback.db")
    request = EvalRequest(make_set(tmp_path), legs=("bm25", "hybrid"), answers=True)
    status = start_evaluation(request, settings).wait(300)
    assert status.state == "done", status.error
    run = status.run
    assert run is not None and run.set_name == "tiny"
    assert [(r.setting, r.leg) for r in run.rows if "·" not in r.setting] == [
        ("own document", "bm25"),
        ("own document", "hybrid"),
        ("shared store", "bm25"),
        ("shared store", "hybrid"),
    ]  # and a row per question type after each
    assert ("own document · metrics", "bm25") in [(r.setting, r.leg) for r in run.rows]
    assert [r.setting for r in run.answer_rows] == ["own document", "shared store"]
    assert run.answer_rows[0].metrics["correct"] == 1.0  # two answers right, one declined
    assert any(m.startswith("indexed 2/2 PDFs") for m in status.messages)
    payload = json.loads(run.path.read_text())
    assert len(payload["answers"]["items"]) == 6


def test_two_runs_in_one_second_keep_both_reports_in_order(tmp_path):
    first = write_run(tmp_path, "2025-01-01T10:00:00+00:00", 0.4)
    second = write_run(tmp_path, "2025-01-01T10:00:00+00:00", 0.6)
    assert (first.name, second.name) == (
        "tiny-20250101T100000+0000.json",
        "tiny-20250101T100000+0000_2.json",
    )
    runs = list_runs(tmp_path, "tiny")
    assert [r.rows[0].metrics["hit@5"] for r in runs] == [0.4, 0.6]
    assert previous_run(runs, runs[1]) == runs[0]
