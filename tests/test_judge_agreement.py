"""Judge agreement with human labels: kappa, confusion matrix, loading, the report files."""

from __future__ import annotations

import io
import json

import pytest

from rag_core.cli.commands import main
from rag_core.errors import AnswerError, ConfigurationError
from rag_core.eval.judge_agreement import (
    agreement,
    claude_judge_fn,
    cohen_kappa,
    confusion_matrix,
    load_results,
    offline_judge,
    results_dir,
    run_agreement,
    write_agreement,
)
from rag_core.eval.ragas_metrics import ClaudeJudge

from .fake_anthropic import FakeAnthropic


def test_cohen_kappa_matches_the_textbook_example():
    # 50 items: both say yes 20, both no 15, rater A yes/B no 5, A no/B yes 10.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    # p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5 -> kappa 0.4
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa(["x", "x"], ["x", "x"]) == 1.0
    assert cohen_kappa([], []) == 0.0


def test_confusion_matrix_and_accuracy():
    human = ["correct", "correct", "incorrect", "refusal"]
    judge = ["correct", "incorrect", "incorrect", "correct"]
    assert confusion_matrix(human, judge) == {
        "correct": {"correct": 1, "incorrect": 1, "refusal": 0},
        "incorrect": {"correct": 0, "incorrect": 1, "refusal": 0},
        "refusal": {"correct": 1, "incorrect": 0, "refusal": 0},
    }
    assert agreement(human, judge).accuracy == 0.5


def _write_results(folder):
    folder.mkdir(parents=True)
    rows = [
        ("q1", "What was capex in FY2018?", 1577, "Capex was $1,577 million.", "Correct Answer"),
        ("q2", "What was capex in FY2018?", 1577, "Capex was $1,200 million.", "Incorrect Answer"),
        ("q3", "Was debt lower?", "No, it rose.", "The context does not say.", "Refusal"),
        ("q4", "Was debt lower?", "No, it rose.", "Yes, it fell.", "Correct Answer"),
    ]
    with (folder / "model-a_oracle.jsonl").open("w") as handle:
        for fid, q, gold, answer, label in rows:
            handle.write(
                json.dumps(
                    {
                        "financebench_id": fid,
                        "model_name": "model-a",
                        "eval_mode": "oracle",
                        "question": q,
                        "gold_answer": gold,
                        "model_answer": answer,
                        "label": label,
                    }
                )
                + "\n"
            )
    return folder


def test_run_and_write_agreement(tmp_path):
    folder = _write_results(tmp_path / "financebench" / "results")
    assert results_dir(tmp_path) == folder
    report = run_agreement(folder, "offline", offline_judge)
    assert [j.predicted for j in report.judgements] == [
        "correct",
        "incorrect",
        "refusal",
        "incorrect",
    ]
    assert report.overall.n == 4 and report.overall.accuracy == 0.75
    assert report.correct_or_not.accuracy == 0.75
    assert report.correct_or_not.kappa == pytest.approx(0.5)
    assert report.correct_or_not.confusion == {
        "correct": {"correct": 1, "not correct": 1},
        "not correct": {"correct": 0, "not correct": 2},
    }
    assert report.per_file["model-a_oracle"].accuracy == 0.75
    assert set(report.per_basis) == {"numbers", "refusal", "yes/no"}
    json_path, md_path = write_agreement(report, tmp_path / "out")
    payload = json.loads(json_path.read_text())
    assert payload["overall"]["accuracy"] == 0.75
    assert payload["judgements"][3] == {
        "file": "model-a_oracle",
        "financebench_id": "q4",
        "human": "correct",
        "judge": "incorrect",
        "basis": "yes/no",
        "reason": "gold no, answer yes",
    }
    text = md_path.read_text()
    assert "| model-a_oracle | 4 | 0.750 |" in text and "| correct | 1 | 1 | 0 |" in text


def test_limit_takes_the_first_answers_of_each_file(tmp_path):
    folder = _write_results(tmp_path / "results")
    report = run_agreement(folder, "offline", offline_judge, limit=2)
    assert [j.item.financebench_id for j in report.judgements] == ["q1", "q2"]


def test_bad_rows_and_folders_are_named(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "broken.jsonl").write_text('{"financebench_id": "q1", "label": "Maybe"}\n')
    with pytest.raises(ConfigurationError, match=r"broken\.jsonl line 1"):
        load_results(folder)
    with pytest.raises(ConfigurationError, match="no FinanceBench results folder"):
        results_dir(tmp_path / "nowhere")


def test_judge_agreement_command(tmp_path):
    folder = _write_results(tmp_path / "results")
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["judge-agreement", "--results", str(folder), "--out", str(tmp_path / "runs")],
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[2] == "| model-a_oracle | 4 | 0.750 | 0.636 |"
    [written] = sorted((tmp_path / "runs").glob("judge-agreement-offline-*.json"))
    assert json.loads(written.read_text())["overall"]["n"] == 4
    code = main(
        ["judge-agreement", "--judge", "claude", "--results", str(folder)], out=out, err=err
    )
    assert code == 1 and "ANTHROPIC_API_KEY" in err.getvalue()


def test_claude_judge_agreement_against_the_fake_server(tmp_path):
    folder = _write_results(tmp_path / "results")
    with FakeAnthropic() as fake:
        judge = ClaudeJudge("test-key", "claude-judge-1", base_url=fake.url)
        report = run_agreement(folder, "claude", claude_judge_fn(judge))
        prompts = [b["messages"][0]["content"] for b in fake.requests]
    # The fake grades by word containment: "1577" is not a word of "$1,577 million".
    assert [j.predicted for j in report.judgements] == [
        "incorrect",
        "incorrect",
        "refusal",
        "incorrect",
    ]
    assert {j.basis for j in report.judgements} == {"claude"}
    assert report.overall.accuracy == 0.5 and report.notes == ()
    assert any("Answer to grade: Capex was $1,577 million." in p for p in prompts)


def test_claude_judge_that_cannot_judge_anything_says_so(tmp_path):
    folder = _write_results(tmp_path / "results")
    with FakeAnthropic() as fake:
        fake.fail_with, fake.fail_count = (500, "api_error"), 100
        judge = ClaudeJudge("test-key", "claude-judge-1", base_url=fake.url)
        with pytest.raises(AnswerError, match="could not judge any answer"):
            run_agreement(folder, "claude", claude_judge_fn(judge), limit=1)
