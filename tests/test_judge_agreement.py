"""Judge agreement with human labels: kappa, confusion matrix, loading, the report files."""

from __future__ import annotations

import json

import pytest

from rag_core.errors import ConfigurationError
from rag_core.judge_agreement import (
    agreement,
    cohen_kappa,
    confusion_matrix,
    load_results,
    offline_judge,
    results_dir,
    run_agreement,
    write_agreement,
)


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
