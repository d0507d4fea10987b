"""Follow-up questions: the rule, and Claude's rewrite against the local Messages API server."""

from __future__ import annotations

import pytest

from rag_core.answer.conversation import (
    ClaudeRewriter,
    Rewrite,
    RuleRewriter,
    Turn,
    is_follow_up,
    rewrite_request,
    rule_rewrite,
)
from rag_core.library import Library

from .fake_anthropic import FakeAnthropic
from .pdfs import make_pdf

HARVEST = Turn("What was the apple harvest in 2020?", "What was the apple harvest in 2020?")
REVENUE_ZH = Turn("公司2020年的营业收入增长了多少？", "公司2020年的营业收入增长了多少？")


@pytest.mark.parametrize(
    ("question", "follow_up"),
    [
        ("And in 2019?", True),
        ("What about pears?", True),
        ("How many pickers did it hire?", True),
        ("What does that mean?", True),
        ("Why?", True),
        ("2019?", True),
        ("What is BM25?", False),
        ("In 2019?", True),
        ("For the engine?", True),
        ("Why did pear output fall?", False),
        ("In which year did the orchard hire six pickers?", False),
        ("Who is the CEO of Apple?", False),
        ("Which policy says that employees may work remotely?", False),
        ("那2019年呢？", True),
        ("它的净利润是多少？", True),
        ("那么董事会呢", True),
        ("董事会决定了什么？", False),
        ("", False),
    ],
)
def test_follow_up_detection(question, follow_up):
    assert is_follow_up(question) is follow_up


def test_rule_adds_the_previous_subject_and_replaces_the_year():
    assert rule_rewrite("And in 2019?", [HARVEST]) == Rewrite("And in 2019? apple harvest", "rule")
    assert rule_rewrite("How many pickers did it hire?", [HARVEST]) == Rewrite(
        "How many pickers did it hire? apple harvest 2020", "rule"
    )
    assert rule_rewrite("那2019年呢？", [REVENUE_ZH]) == Rewrite(
        "那2019年呢？ 公司 营业 收入 增长", "rule"
    )


def test_rule_leaves_standalone_questions_and_first_questions_alone():
    assert rule_rewrite("Who is the CEO of Apple?", [HARVEST]) == Rewrite(
        "Who is the CEO of Apple?", "none"
    )
    assert rule_rewrite("And in 2019?", []) == Rewrite("And in 2019?", "none")
    assert RuleRewriter().rewrite("  What is BM25? ", [HARVEST]) == Rewrite("What is BM25?", "none")


def test_rule_chains_through_the_previous_searched_query():
    second = Turn("And in 2019?", "And in 2019? apple harvest")
    assert rule_rewrite("What about pears?", [HARVEST, second]).query == (
        "What about pears? 2019 apple harvest"
    )


def test_rewrite_request_carries_recent_turns_and_the_last_answer():
    turns = [Turn(f"question {i}?", f"question {i}?", answer=f"answer {i}") for i in range(5)]
    body = rewrite_request("claude-test", "and then?", turns)
    prompt = body["messages"][0]["content"]
    assert "question 1?" not in prompt and "User: question 2?" in prompt
    assert "Assistant: answer 4" in prompt and prompt.endswith("Standalone search query:")
    assert "Last question: and then?" in prompt and body["model"] == "claude-test"


def test_claude_rewriter_uses_claude_and_falls_back_to_the_rule():
    with FakeAnthropic() as fake:
        rewriter = ClaudeRewriter("test-key", model="claude-rewrite-1", base_url=fake.url)
        assert rewriter.rewrite("And in 2019?", [HARVEST]) == Rewrite(
            "What was the apple harvest in 2019?", "claude"
        )
        body = fake.requests[-1]
        assert body["model"] == "claude-rewrite-1" and "stream" not in body
        assert "User: What was the apple harvest in 2020?" in body["messages"][0]["content"]

        assert rewriter.rewrite("What is BM25?", []) == Rewrite("What is BM25?", "none")
        assert len(fake.requests) == 1  # no history: no call

        fake.fail_with = (401, "authentication_error")  # not retried
        rewritten = rewriter.rewrite("And in 2019?", [HARVEST])
        assert rewritten == Rewrite(
            "And in 2019? apple harvest",
            "rule",
            "Claude could not rewrite the question (AuthenticationError); used the rule",
        )


def test_fake_still_answers_search_results_after_rewrites(settings, embedder):
    from rag_core.answer.claude import ClaudeAnswerer

    with FakeAnthropic() as fake:
        library = Library.open(
            settings,
            embedder=embedder,
            answerer=ClaudeAnswerer("k", model="claude-test", base_url=fake.url),
        )
        library.add([("orchard.pdf", make_pdf(["Apple harvest rose to 120 tonnes in 2020."]))])
        rewrite = ClaudeRewriter("k", model="m", base_url=fake.url).rewrite(
            "And in 2020?", [HARVEST]
        )
        answer = library.ask("And in 2020?", searched_query=rewrite.query)
        assert answer.trace.searched_query == "What was the apple harvest in 2020?"
        assert not answer.refused and answer.citations[0].page_number == 1


def test_an_overloaded_rewriter_is_retried_once_then_the_rule_takes_over():
    with FakeAnthropic() as fake:
        fake.fail_with, fake.fail_count = (529, "overloaded_error"), 10
        rewriter = ClaudeRewriter("k", model="m", base_url=fake.url)
        assert rewriter.rewrite("And in 2019?", [HARVEST]).method == "rule"
        assert len(fake.requests) == 1 + ClaudeRewriter.MAX_RETRIES == 2
