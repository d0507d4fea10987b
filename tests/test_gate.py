"""The evidence gate: its features (exact), its fit and threshold, its file, and the library
refusing through it."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from rag_core.answer.gate import (
    FEATURES,
    SHIPPED,
    GateModel,
    Sample,
    asked_part,
    curve,
    fit,
    gate_features,
    leave_one_set_out,
    question_terms,
    refusal_rates,
    threshold_for,
)
from rag_core.cli.commands import main
from rag_core.config import Settings
from rag_core.eval.gate_data import OUT_OF_SCOPE, load_samples
from rag_core.index.lexical import LexicalTokenizer
from rag_core.library import Library
from rag_core.types import Chunk, Hit, LegRank

from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

TOKENIZER = LexicalTokenizer()


def hit(text: str, rank: int, bm25: tuple[int, float] | None, dense: tuple[int, float] | None):
    legs = []
    if bm25:
        legs.append(LegRank("bm25", *bm25))
    if dense:
        legs.append(LegRank("dense", *dense))
    chunk = Chunk(f"c{rank}", "d", 0, rank, 0, len(text), text)
    return Hit(chunk, "doc.pdf", 1.0 / rank, rank, tuple(legs))


def test_features_are_exact_for_a_known_result():
    hits = [
        hit("Apple harvest rose to 120 tonnes in 2020.", 1, (1, 6.0), (1, 0.7)),
        hit("The orchard hired six pickers.", 2, (3, 2.0), (12, 0.4)),
        hit("Pear output fell by half.", 3, None, (2, 0.5)),
    ]
    f = dict(
        zip(
            FEATURES,
            gate_features("How many tonnes of apples?", hits, TOKENIZER, True),
            strict=True,
        )
    )
    # Terms "mani", "tonn", "appl": the last two in one hit of three (weight log(1 + 4/2)),
    # "mani" in none (log(1 + 4/1)), and the first hit holds both of those two.
    expected = 2 * math.log(3) / (2 * math.log(3) + math.log(5))
    assert f["coverage_best"] == pytest.approx(expected)
    assert f["coverage_union"] == pytest.approx(expected)
    assert f["dense_best"] == 0.7 and f["dense_margin"] == pytest.approx(0.7 - 0.4)
    assert (f["dense_on"], f["lexical_gap"]) == (1.0, 0.0)  # the gap is read with dense off
    off = dict(zip(FEATURES, gate_features("Why?", hits, TOKENIZER, False), strict=True))
    assert (off["dense_best"], off["dense_margin"], off["dense_on"], off["lexical_gap"]) == (
        0,
        0,
        0,
        0,  # "why" is a stopword: no term, no coverage, no gap
    )
    assert gate_features("anything", [], TOKENIZER, True) == (0.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def test_the_lexical_gap_is_how_far_the_best_hit_stands_above_the_others_with_dense_off():
    hits = [
        hit("Apple harvest rose to 120 tonnes in 2020.", 1, (1, 6.0), (1, 0.7)),
        hit("The orchard hired six pickers.", 2, (3, 2.0), (12, 0.4)),
        hit("Pear output fell by half.", 3, None, (2, 0.5)),
    ]
    question = "Which orchard harvest rose in 2020?"  # each term in one hit: equal weights
    off = dict(zip(FEATURES, gate_features(question, hits, TOKENIZER, False), strict=True))
    # Coverage 3/4, 1/4 and 0: the best stands 3/4 - (1/4 + 0) / 2 above the others' mean.
    assert (off["coverage_best"], off["coverage_union"]) == (0.75, 1.0)
    assert off["lexical_gap"] == pytest.approx(0.625)
    on = dict(zip(FEATURES, gate_features(question, hits, TOKENIZER, True), strict=True))
    assert on["lexical_gap"] == 0.0 and on["coverage_best"] == 0.75  # dense margin's job
    assert gate_features(question, hits[:1], TOKENIZER, False)[-1] == 0.0  # one hit: no gap


def test_coverage_reads_the_asked_sentences_without_glued_words():
    asked = "What drove margin change in FY2022 for 3M?"
    instruction = " If margin is not a useful metric, then please state that and explain why."
    assert asked_part(asked + instruction, TOKENIZER) == asked
    assert asked_part("You are an analyst at a bank. What was the gross margin?", TOKENIZER) == (
        "What was the gross margin?"
    )
    company = "Did Bionano Genomics, Inc. mention any acquisitions in the annual report?"
    assert asked_part(f"{company} If there is no mention, return False.", TOKENIZER) == company
    for whole in (
        "What did Mr. Costa claim against ENEL?",  # "Mr." and "U.S." end no sentence
        "What U.S. entity said that corporal punishment was constitutional?",
        "Hello! What is the margin?",  # "Hello!" is too short to be a sentence of its own
        "Cytosolic proteins bind iron. They code for DMT1.",  # nothing asks: all of it
        "What was the margin? What was the revenue?",  # every sentence asks
        "《停止！！ 云雀》是谁的漫画作品？",
    ):
        assert asked_part(whole, TOKENIZER) == whole
    # "fy2022" and "q2" are also written as their parts: only the parts count.
    assert question_terms("How much cash in FY2022 and Q2?", TOKENIZER) == {
        "much",
        "cash",
        "fy",
        "2022",
        "q",
        "2",
    }
    # The instruction's words ("pleas", "explain", "metric") are not looked for.
    hits = [hit("Operating margin change in 2022 was driven by 3M's pricing.", 1, (1, 5.0), None)]
    with_instruction = gate_features(asked + instruction, hits, TOKENIZER, False)
    assert with_instruction == gate_features(asked, hits, TOKENIZER, False)


def test_a_question_whose_words_are_missing_covers_nothing():
    hits = [hit("Change the engine oil every 5000 kilometres.", 1, (1, 3.0), (1, 0.2))]
    f = dict(
        zip(
            FEATURES,
            gate_features("Who painted the Mona Lisa?", hits, TOKENIZER, True),
            strict=True,
        )
    )
    assert f["coverage_best"] == 0.0 and f["coverage_union"] == 0.0


def samples(name: str, good: float, bad: float, n: int = 40) -> list[Sample]:
    """Answerable samples around ``good`` coverage, unanswerable around ``bad``."""
    out = []
    for i in range(n):
        jitter = (i % 10) / 50
        base = (0.0,) * (len(FEATURES) - 1)
        out.append(Sample(name, True, (good - jitter, *base)))
        out.append(Sample(name, False, (bad + jitter, *base)))
    return out


def test_fit_separates_and_its_threshold_refuses_at_most_the_allowed_answerable_share():
    data = samples("a", 0.9, 0.1) + samples("b", 0.8, 0.2, n=10)
    model = fit(data, max_answerable_refusal=0.10)
    assert model.weights[0] > 0 and model.fitted_on == ("a (80)", "b (20)")
    rates = refusal_rates(model, data, "a")
    assert rates.answerable <= 0.10 and rates.unanswerable == 1.0
    assert (rates.n_answerable, rates.n_unanswerable) == (40, 40)
    held = leave_one_set_out(data)
    assert [r.set_name for r in held] == ["a", "b"]
    assert (held[0].unanswerable, held[0].answerable) == (1.0, 0.0)
    # Fitted on "a" alone, whose answerable questions cover more, the threshold refuses 6 of
    # "b"'s 10 answerable ones: leaving a set out shows how a threshold transfers.
    assert (held[1].unanswerable, held[1].answerable) == (1.0, 0.6)
    points = curve(model, data, (0.0, 1.01))
    assert points == [(0.0, 0.0, 0.0), (1.01, 1.0, 1.0)]
    with pytest.raises(ValueError, match="answerable and unanswerable"):
        fit([s for s in data if s.answerable])


def test_threshold_for_refuses_at_most_the_share():
    scores = [0.1 * i for i in range(1, 11)]  # 0.1 .. 1.0
    assert threshold_for(scores, 0.10) == pytest.approx(0.2)  # refuses 0.1 only
    assert threshold_for(scores, 0.0) == pytest.approx(0.1)  # refuses nothing
    assert threshold_for(scores, 0.25) == pytest.approx(0.3)


def test_model_file_round_trips_and_bad_files_name_the_file(tmp_path: Path):
    model = fit(samples("a", 0.9, 0.1) + samples("b", 0.8, 0.2))
    path = tmp_path / "gate.json"
    path.write_text(model.to_json())
    assert GateModel.load(path) == model
    path.write_text("{}")
    with pytest.raises(ValueError, match=r"gate.json: not an evidence gate model"):
        GateModel.load(path)
    data = json.loads(model.to_json())
    data["features"] = ["coverage_best"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="refit it with python -m rag_core calibrate"):
        GateModel.load(path)


def test_the_shipped_model_is_fitted_on_several_sets():
    model = GateModel.load(SHIPPED)
    assert len(model.fitted_on) >= 3 and 0.0 < model.threshold < 1.0
    assert all(math.isfinite(w) for w in model.weights)


def test_the_library_refuses_out_of_scope_questions_and_answers_in_scope_ones(library: Library):
    library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    answered = library.ask("How often should the engine oil be changed?")
    assert not answered.refused and answered.evidence_score is not None
    assert answered.evidence_score >= library.gate.threshold
    assert [t.stage for t in answered.timings][:2] == ["retrieve", "gate"]
    refused = [library.ask(q) for q in OUT_OF_SCOPE[:6]]
    assert all(a.refused and not a.evidence_found for a in refused), [a.text for a in refused]
    assert all(a.evidence_score < library.gate.threshold for a in refused)


def test_a_gate_file_in_the_settings_is_used_and_a_bad_one_is_a_clear_error(
    settings: Settings, embedder, tmp_path: Path
):
    strict = GateModel.load(SHIPPED)
    path = tmp_path / "strict.json"
    path.write_text(GateModel(**{**json.loads(strict.to_json()), "threshold": 1.0}).to_json())
    library = Library.open(settings.model_copy(update={"gate_model": path}), embedder=embedder)
    library.add([("engine.pdf", make_pdf(ENGINES))])
    assert library.ask("How often should the engine oil be changed?").refused
    path.write_text("not json")
    with pytest.raises(Exception, match=r"FOLIO_GATE_MODEL: .*strict\.json: not an evidence gate"):
        Library.open(settings.model_copy(update={"gate_model": path}), embedder=embedder)


def test_calibrate_fits_from_run_files_and_reports_leave_one_set_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "data"))
    runs = tmp_path / "runs"
    runs.mkdir()
    for name, good, bad in (("a", 0.9, 0.1), ("b", 0.8, 0.2), ("c", 0.85, 0.15)):
        gate = {
            "samples": [
                {"set": s.set_name, "answerable": s.answerable, "features": list(s.features)}
                for s in samples(name, good, bad, n=20)
            ]
        }
        for started in ("2026-01-01", "2026-02-01"):  # an older run of the set is ignored
            payload = {"set_name": name, "started_at": started, "gate": gate}
            (runs / f"{name}-{started}.json").write_text(json.dumps(payload))
    (runs / "agreement.json").write_text(json.dumps({"rows": []}))  # not a run: skipped
    assert len(load_samples([runs])) == 3 * 40
    target = tmp_path / "gate.json"
    out, err = io.StringIO(), io.StringIO()
    assert main(["calibrate", str(runs), "--out", str(target)], out, err) == 0
    assert GateModel.load(target).fitted_on == ("a (40)", "b (40)", "c (40)")
    assert "| a | 20 | 20 | 1.000 |" in out.getvalue() and "The curve" in out.getvalue()
    assert main(["calibrate", str(runs)], out, err) == 0  # default: FOLIO_DATA_DIR/gate.json
    assert (tmp_path / "data" / "gate.json").is_file()
    (runs / "broken.json").write_text("{")
    assert main(["calibrate", str(runs)], out, err) == 1
    assert f"{runs / 'broken.json'}: is not a run's JSON" in err.getvalue()
    assert main(["calibrate", str(tmp_path / "nowhere")], out, err) == 1
    assert "nowhere: no such run file or folder" in err.getvalue()
