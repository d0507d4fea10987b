"""The Evaluation tab's handlers without a browser: tiny generated beir and pdfqa sets, the real
Library with the hashing embedder, real runs in the background thread, real run files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import gradio as gr
import pytest

from rag_core.config import Settings
from rag_core.eval.retrieval import MetricRow
from rag_core.eval.runs import EvalRun, MetricDelta
from ui import evaluation
from ui.i18n import EN, ZH

from .fakes import HashingEmbedder
from .test_answer_eval import make_set

SKIP = gr.skip()
CORPUS = [
    ("d1", "Apple harvest", "The apple harvest rose to 120 tonnes in 2020 after a mild spring."),
    ("d2", "Pear frost", "A late frost cut pear output by a third in the northern orchards."),
    ("d3", "Engine oil", "Change the engine oil every 5000 km and use grade 5W-30."),
    ("d4", "Tyre pressure", "Check tyre pressure monthly; the front tyres take 2.2 bar."),
    ("d5", "Cherry bloom", "Cherry trees bloomed two weeks early because of warm weather."),
]
QUERIES = [
    ("q1", "How many tonnes of apples were harvested in 2020?", "d1"),
    ("q2", "Why did pear output fall?", "d2"),
    ("q3", "How often should the engine oil be changed?", "d3"),
    ("q4", "What tyre pressure for the front tyres?", "d4"),
]


def make_beir(root: Path, name: str = "tinybeir") -> Path:
    """A beir set as /work/shared/data/README.md describes it (one query without judgements)."""
    folder = root / name
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in CORPUS)
    )
    queries = [*QUERIES, ("train", "Not judged in the test split", "d5")]
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": text}) + "\n" for q, text, _ in queries)
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, _, d in QUERIES)
    )
    return folder


@pytest.fixture
def sets(tmp_path: Path) -> Path:
    root = tmp_path / "sets"
    make_beir(root)
    make_set(root)  # "tiny": two generated PDFs, three questions with answers and pages
    return root


@pytest.fixture
def evaluations(tmp_path: Path, sets: Path) -> evaluation.Evaluations:
    settings = Settings(data_dir=tmp_path / "data", db=tmp_path / "feedback.db", eval_root=sets)
    return evaluation.Evaluations(settings, HashingEmbedder())


def finish(evaluations: evaluation.Evaluations, timeout: float = 120) -> tuple:
    """Tick the tab's timer until it switches itself off; returns the last tick's outputs."""
    deadline = time.monotonic() + timeout
    ticks = 0
    while time.monotonic() < deadline:
        outputs = evaluation.poll(evaluations, "en")
        ticks += 1
        if not outputs[-1].active:
            return outputs
        assert outputs[1:6] == (SKIP,) * 5  # nothing but progress while it runs
        time.sleep(0.2)
    raise AssertionError(f"the evaluation did not finish in {timeout} s ({ticks} ticks)")


def test_the_tab_lists_beir_and_pdfqa_sets(evaluations):
    dropdown, status, timer = evaluation.open_tab(evaluations, None, "en")
    assert dropdown["choices"] == [
        ("tiny · pdfqa · 3 questions · 2 documents", "tiny"),
        ("tinybeir · beir · 4 questions · 5 documents", "tinybeir"),
    ]
    assert (dropdown["value"], status, timer.active) == ("tiny", "", False)
    dropdown, _, _ = evaluation.open_tab(evaluations, "tinybeir", "zh")
    assert dropdown["value"] == "tinybeir"
    assert dropdown["choices"][1][0] == "tinybeir · beir · 4 个问题 · 5 个文档"
    table, chart, history, comparison, compared = evaluation.show_set(evaluations, "tiny", "en")
    assert compared == "No saved runs of **tiny** yet: press *Run evaluation*."
    assert table.empty and chart.empty and history.empty and comparison.empty
    assert (chart["value"].dtype, history["value"].dtype) == ("float64", "float64")


def test_two_beir_runs_give_table_chart_history_and_comparison(evaluations):
    status, timer = evaluation.run(
        evaluations, "tinybeir", ["bm25", "hybrid"], 2, False, "offline", "en", None
    )
    assert status.startswith("Evaluating **tinybeir** …") and timer.active
    text, table, chart, history, comparison, compared, timer = finish(evaluations)
    assert text.startswith("**tinybeir**: finished in ") and "saved as `tinybeir-" in text
    assert "- indexed 5/5 documents of tinybeir" in text and not timer.active
    metrics = ["ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "mrr"]
    assert list(table.columns) == ["Setting", "Metric", "bm25", "hybrid"]
    assert list(table["Metric"]) == [*metrics, "questions", "ms per question"]
    assert set(table["Setting"]) == {"all"}
    assert table.iloc[6].tolist() == ["all", "questions", "2", "2"]
    # The two questions name their document's words: both legs rank it first.
    assert table.iloc[1].tolist() == ["all", "recall@1", "1.000", "1.000"]
    assert list(chart["bar"]) == [f"{m} · {leg}" for leg in ("bm25", "hybrid") for m in metrics]
    assert chart["value"].between(0, 1).all() and list(chart.columns[-1:]) == ["series"]
    assert history["series"].tolist() == ["ndcg@10 · bm25", "ndcg@10 · hybrid"]
    assert compared == "First run of **tinybeir**: nothing to compare with yet."
    assert set(comparison["Change"]) == {"new"} and set(comparison["Previous"]) == {""}

    # The second run, with all legs and every question: compared with the first.
    evaluation.run(
        evaluations, "tinybeir", ["bm25", "dense", "hybrid"], 0, False, "offline", "en", None
    )
    text, table, chart, history, comparison, compared, _ = finish(evaluations)
    assert list(table.columns) == ["Setting", "Metric", "bm25", "dense", "hybrid"]
    assert table.iloc[6].tolist() == ["all", "questions", "4", "4", "4"]
    runs = evaluations.runs("tinybeir")
    assert len(runs) == 2 and runs[0].path != runs[1].path  # both kept, even in one second
    assert compared == (
        f"Run of {runs[1].label} compared with the previous run of **tinybeir** ({runs[0].label})."
    )
    by = {(r["Leg"], r["Metric"]): r for r in comparison.to_dict("records")}
    assert by[("dense", "mrr")]["Change"] == "new"
    first = {(r.leg, m): v for r in runs[0].rows for m, v in r.metrics.items()}
    second = {(r.leg, m): v for r in runs[1].rows for m, v in r.metrics.items()}
    for key in first:
        row = by[key]
        assert (row["Previous"], row["This run"]) == (f"{first[key]:.3f}", f"{second[key]:.3f}")
        assert row["Change"] == evaluation.change_text(
            MetricDelta("retrieval", "all", *key, first[key], second[key]), "en"
        )
    assert history[["run", "series"]].values.tolist() == [
        ["#1", "ndcg@10 · bm25"],
        ["#1", "ndcg@10 · hybrid"],
        ["#2", "ndcg@10 · bm25"],
        ["#2", "ndcg@10 · dense"],
        ["#2", "ndcg@10 · hybrid"],
    ]
    assert list(history["value"]) == [r.metrics["ndcg@10"] for run in runs for r in run.rows]
    # Choosing the set again shows its latest run, compared the same way.
    shown = evaluation.show_set(evaluations, "tinybeir", "en")
    assert shown[0].equals(table) and shown[4] == compared


def test_a_pdfqa_run_with_answers_shows_both_settings_and_the_answer_rows(evaluations):
    evaluation.run(evaluations, "tiny", ["bm25"], 2, True, "offline", "en", None)
    text, table, chart, _, comparison, _, _ = finish(evaluations)
    assert text.startswith("**tiny**: finished"), text
    assert list(table.columns) == ["Setting", "Metric", "bm25", "extractive"]
    settings = list(dict.fromkeys(table["Setting"]))
    assert settings == [
        "own document",
        "own document · metrics",  # the set's question types, each a row of its own
        "own document · text",
        "shared store",
        "shared store · metrics",
        "shared store · text",
        "own document (answers)",
        "shared store (answers)",
    ]
    answers = table[table["Setting"] == "own document (answers)"]
    assert set(answers["bm25"]) == {""} and "correct" in set(answers["Metric"])
    retrieval = table[table["Setting"] == "own document"]
    assert set(retrieval["extractive"]) == {""} and "hit@5" in set(retrieval["Metric"])
    assert "hit@5 · own document · bm25" in set(chart["bar"])
    assert "correct · own document (answers) · extractive" in set(chart["bar"])
    assert set(comparison["Change"]) == {"new"}


def test_bad_choices_are_errors_naming_the_set_and_the_reason(evaluations, sets):
    def run(name, legs=("bm25",), limit=0, answers=False, judge="offline"):
        return evaluation.run(evaluations, name, list(legs), limit, answers, judge, "en", None)

    with pytest.raises(gr.Error, match="Choose an evaluation set first"):
        run(None)
    with pytest.raises(gr.Error, match="at least one retrieval leg"):
        run("tinybeir", legs=())
    with pytest.raises(gr.Error, match=r"whole number, 0 or more \(got -1\)"):
        run("tinybeir", limit=-1)
    with pytest.raises(gr.Error, match="tinybeir: answer quality needs a pdfqa set"):
        run("tinybeir", answers=True)
    with pytest.raises(gr.Error, match=r"Evaluation set .+gone.+ is not in .*sets"):
        run("gone")
    with pytest.raises(gr.Error, match="ANTHROPIC_API_KEY"):
        run("tiny", answers=True, judge="claude")
    (sets / "unjudged" / "qrels").mkdir(parents=True)
    (sets / "unjudged" / "corpus.jsonl").write_text('{"_id": "1", "text": "x"}\n')
    (sets / "unjudged" / "queries.jsonl").write_text('{"_id": "q", "text": "x"}\n')
    with pytest.raises(gr.Error, match=r"unjudged: no questions to ask \(qrels/test.tsv"):
        run("unjudged")
    assert evaluations.current() is None  # nothing was started


def test_missing_data_fails_the_run_with_the_set_and_the_line(evaluations, sets):
    bad = make_beir(sets, "broken")
    with (bad / "corpus.jsonl").open("a") as handle:
        handle.write('{"title": "no id"}\n')
    evaluation.run(evaluations, "broken", ["bm25"], 0, False, "offline", "en", None)
    with pytest.warns(UserWarning, match="Evaluation of broken failed: .*line 6: no _id field"):
        text, *views, timer = finish(evaluations)
    assert text.startswith("Evaluation of broken failed: ") and not timer.active
    assert "corpus.jsonl, line 6: no \\_id field" in text
    assert views == [SKIP] * 5 and evaluations.runs("broken") == []


@pytest.mark.security
def test_with_the_login_on_only_evaluation_admins_start_runs(tmp_path: Path, sets: Path):
    settings = Settings(
        data_dir=tmp_path / "data",
        db=tmp_path / "feedback.db",
        eval_root=sets,
        login="on",
        eval_admins=" Alice, carol ,",
    )
    assert settings.eval_admin_names == frozenset({"alice", "carol"})
    evaluations = evaluation.Evaluations(settings, HashingEmbedder())
    for user, lang, message in [
        ("bob", "en", EN["ev_not_admin"]),
        (None, "en", EN["ev_not_admin"]),
        ("", "zh", ZH["ev_not_admin"]),
    ]:
        with pytest.raises(gr.Error) as refused:
            evaluation.run(evaluations, "tinybeir", ["bm25"], 1, False, "offline", lang, user)
        assert refused.value.message == message
    assert EN["ev_not_admin"] == (
        "Only an evaluation administrator (FOLIO_EVAL_ADMINS) can start a run; the saved runs "
        "stay open to everyone."
    )
    assert evaluations.current() is None  # nothing started
    status, timer = evaluation.run(
        evaluations, "tinybeir", ["bm25"], 1, False, "offline", "en", "ALICE"
    )
    assert status.startswith("Evaluating **tinybeir** …") and timer.active
    assert finish(evaluations)[0].startswith("**tinybeir**: finished in ")

    nobody = Settings(data_dir=tmp_path / "data", db=tmp_path / "f.db", eval_root=sets, login="on")
    assert not evaluation.Evaluations(nobody).may_start("alice")  # unset: no account may
    anyone = Settings(data_dir=tmp_path / "data", db=tmp_path / "f.db", eval_root=sets)
    assert evaluation.Evaluations(anyone).may_start(None)  # the login off: everyone


def test_a_missing_root_is_a_warning_and_an_empty_list(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", eval_root=tmp_path / "nowhere")
    with pytest.warns(UserWarning, match="FOLIO_EVAL_ROOT"):
        dropdown, status, _ = evaluation.open_tab(evaluation.Evaluations(settings), None, "en")
    assert dropdown["choices"] == [] and dropdown["value"] is None
    assert status == f"No evaluation sets (beir or pdfqa folders) in `{tmp_path / 'nowhere'}`."


def test_views_are_exact_for_a_saved_run(tmp_path):
    def saved(name: str, started: str, hit5: float) -> EvalRun:
        rows = (MetricRow("own document", "hybrid", {"hit@5": hit5, "mrr": 0.5}, 3, 12.04),)
        return EvalRun(tmp_path / name, "tiny", "pdfqa", started, 1.0, {}, rows)

    first = saved("a.json", "2025-01-01T10:00:00+00:00", 0.4)
    second = saved("b.json", "2025-01-02T10:00:00+00:00", 0.6)
    view = evaluation.run_view(second, [first, second], "zh")
    assert view.table.values.tolist() == [
        ["own document", "hit@5", "0.600"],
        ["own document", "mrr", "0.500"],
        ["own document", "问题数", "3"],
        ["own document", "每个问题的毫秒数", "12.0"],
    ]
    assert view.comparison.values.tolist() == [
        ["own document", "hybrid", "hit@5", "0.400", "0.600", "▲ +0.200"],
        ["own document", "hybrid", "mrr", "0.500", "0.500", "= 0.000"],
    ]
    assert view.history.values.tolist() == [
        ["#1", "2025-01-01 10:00", 0.4, "hit@5 · hybrid"],
        ["#2", "2025-01-02 10:00", 0.6, "hit@5 · hybrid"],
    ]
    down = evaluation.change_text(MetricDelta("retrieval", "all", "bm25", "mrr", 0.5, 0.25), "en")
    gone = evaluation.change_text(MetricDelta("retrieval", "all", "bm25", "mrr", 0.5, None), "en")
    assert (down, gone) == ("▼ -0.250", "no longer measured")
