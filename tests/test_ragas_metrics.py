"""ragas metrics: the offline ones on inline samples, the Claude-judged ones against the
local Messages API server (which answers ragas' structured-output requests by fixed rules)."""

from __future__ import annotations

import numpy as np
import pytest

from rag_core.config import Settings
from rag_core.errors import AnswerError, ConfigurationError
from rag_core.eval.ragas_metrics import (
    AnswerSample,
    ClaudeJudge,
    claude_grades,
    claude_scores,
    offline_scores,
)

from .fake_anthropic import FakeAnthropic
from .fakes import HashingEmbedder

GOLD_PAGE = "Apple harvest rose to 120 tonnes in 2020. The orchard hired six pickers."
OTHER_PAGE = "Engine manual: change the oil every 5000 kilometres; grade 5W-30 is best."


def sample(**changes) -> AnswerSample:
    values = {
        "id": "q1",
        "question": "Where was Einstein born?",
        "gold_answer": "Einstein was born in Germany.",
        "answer": "Einstein was born in Germany. He liked cats.",
        "refused": False,
        "contexts": ("Albert Einstein was born in Ulm, Germany.",),
        "retrieved_pages": (OTHER_PAGE, GOLD_PAGE),
        "cited_pages": (),
        "reference_pages": (GOLD_PAGE,),
    }
    return AnswerSample(**{**values, **changes})


def test_offline_metrics_exact_values():
    [scores] = offline_scores(
        [sample(gold_answer="kitten", answer="sitting", cited_pages=(GOLD_PAGE,))]
    )
    v = scores.values
    assert v["string_similarity"] == pytest.approx(1 - 3 / 7)  # Levenshtein 3 over 7
    assert v["rouge_l"] == 0.0
    # The gold page is the second of two retrieved pages: found (recall 1), precision@2 = 1/2.
    assert v["context_recall"] == 1.0
    assert v["context_precision"] == pytest.approx(0.5, abs=1e-9)
    assert v["citation_recall"] == 1.0
    assert v["citation_precision"] == pytest.approx(1.0, abs=1e-9)


def test_offline_rouge_and_missing_contexts():
    [scores] = offline_scores(
        [
            sample(
                gold_answer="the cat sat",
                answer="the cat sat on the mat",
                retrieved_pages=(OTHER_PAGE,),
                reference_pages=(GOLD_PAGE,),
            )
        ]
    )
    assert scores.values["rouge_l"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)  # P 3/6, R 3/3
    assert scores.values["context_recall"] == 0.0
    assert scores.values["context_precision"] == pytest.approx(0.0, abs=1e-9)
    assert scores.values["citation_recall"] == 0.0  # nothing cited
    [no_gold] = offline_scores([sample(reference_pages=(), gold_answer="")])
    assert no_gold.values == {}  # nothing to compare with


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


def judge_for(fake: FakeAnthropic) -> ClaudeJudge:
    return ClaudeJudge("test-key", "claude-judge-1", base_url=fake.url, concurrency=2)


def test_claude_metrics_through_ragas_against_the_fake_server(fake):
    embedder = HashingEmbedder()
    refused = sample(id="q2", answer="", refused=True)
    scored, skipped = claude_scores([sample(), refused], judge_for(fake), embedder)
    # Two statements, one supported by the context.
    assert scored.values["faithfulness"] == 0.5
    # The fake "generates" the answer itself as the question: cosine of question and answer.
    q, a = embedder.embed_query(["Where was Einstein born?", sample().answer])
    assert scored.values["answer_relevancy"] == pytest.approx(float(np.dot(q, a)), abs=1e-6)
    # Claims: answer -> 1 of 2 in the gold answer; gold -> 1 of 1 in the answer: F1 2/3.
    assert scored.values["factual_correctness"] == 0.67
    assert scored.errors == ()
    assert skipped.values == {} and skipped.errors == ()  # refusals have no claims to judge


def test_what_ragas_sends_claude(fake):
    claude_scores([sample()], judge_for(fake), HashingEmbedder())
    tools = sorted({body["tool_choice"]["name"] for body in fake.requests})
    assert tools == [
        "AnswerRelevanceOutput",
        "ClaimDecompositionOutput",
        "NLIStatementOutput",
        "StatementGeneratorOutput",
    ]
    for body in fake.requests:
        assert body["model"] == "claude-judge-1" and body["max_tokens"] == 2048
        assert body["tool_choice"]["type"] == "tool"
        assert [t["name"] for t in body["tools"]] == [body["tool_choice"]["name"]]
        assert "temperature" not in body and "top_p" not in body
        assert isinstance(body["messages"][-1]["content"], str)
    # 1 faithfulness statement split + 1 NLI; 3 relevance questions; 2 x (claims + NLI).
    assert len(fake.requests) == 9


def test_claude_correctness_labels(fake):
    grades = claude_grades(
        [
            ("How much?", "120 tonnes", "Apple harvest rose to 120 tonnes in 2020."),
            ("How much?", "120 tonnes", "It was 90 tonnes."),
            ("How much?", "120 tonnes", "Not found in your documents."),
        ],
        judge_for(fake),
    )
    assert [g.label for g in grades] == ["correct", "incorrect", "refusal"]
    prompts = sorted(body["messages"][0]["content"] for body in fake.requests)  # concurrent
    assert all("Question: How much?\nGold answer: 120 tonnes\n" in p for p in prompts)
    assert [p.rsplit("Answer to grade: ", 1)[1] for p in prompts] == [
        "Apple harvest rose to 120 tonnes in 2020.",
        "It was 90 tonnes.",
        "Not found in your documents.",
    ]


def test_a_rejected_key_stops_the_run(fake):
    fake.fail_with = (401, "authentication_error")
    with pytest.raises(AnswerError, match="ANTHROPIC_API_KEY"):
        claude_grades([("q", "1", "1")], judge_for(fake))


def test_failed_calls_are_named_not_fatal(fake):
    judge = ClaudeJudge("test-key", "claude-judge-1", base_url=fake.url, concurrency=1)
    fake.fail_with = (529, "overloaded_error")  # once: the SDK's retry gets through
    [retried] = claude_grades([("q", "1", "1")], judge)
    assert retried.label == "correct"
    fake.fail_with, fake.fail_count = (529, "overloaded_error"), 3  # the call and 2 retries
    [failed, ok] = claude_grades([("q", "1", "1"), ("q", "1", "1")], judge)
    assert failed.label is None and "529" in failed.reason
    assert ok.label == "correct"


def test_the_claude_judge_needs_a_key():
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        ClaudeJudge.from_settings(Settings())
    judge = ClaudeJudge.from_settings(
        Settings(anthropic_api_key="k", claude_model="claude-a", judge_model="claude-b")
    )
    assert judge.model == "claude-b"
