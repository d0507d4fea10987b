"""Agentic retrieval (issue 19): the model asks for more evidence through tool calls, end to end
through both local protocol servers (Anthropic tool use, OpenAI-compatible tool calls), with
real PDFs, SQLite and Chroma; no SDK patching."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from api.models import query_response
from rag_core.answer.agentic import AgentConfig, ToolArgumentError, parse_arguments
from rag_core.answer.claude import ClaudeAnswerer
from rag_core.answer.conversation import Rewrite
from rag_core.answer.decomposer import RuleDecomposer
from rag_core.answer.openai_client import ChatClient
from rag_core.answer.openai_compat import OpenAICompatAnswerer
from rag_core.cli.commands import answer_json
from rag_core.errors import ConfigurationError
from rag_core.index.lexical import LexicalTokenizer
from rag_core.library import Library
from rag_core.types import Answer, AnswerDone, Filters
from ui.formatting import trace_markdown

from .fake_anthropic import ANSWER, PASSAGE, FakeAnthropic, tool_call
from .fake_openai import FakeOpenAI
from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, CHINESE, ENGINES

PROTOCOLS = ("anthropic", "openai")


class Served:
    """A library answered by one fake protocol server, and what that server was sent."""

    def __init__(self, protocol: str, server: Any, library: Library) -> None:
        self.protocol, self.server, self.library = protocol, server, library

    @property
    def agent_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.server.requests if r.get("tools")]

    def tool_results(self, request: dict[str, Any]) -> list[tuple[str, bool]]:
        """The tool results a request carries back to the model: (text, is an error)."""
        if self.protocol == "openai":
            return [
                (m["content"], m["content"].startswith("Error:"))
                for m in request["messages"]
                if m["role"] == "tool"
            ]
        return [
            (b["content"], b["is_error"])
            for m in request["messages"]
            if m["role"] == "user" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]

    def tools_off(self, request: dict[str, Any]) -> bool:
        choice = request["tool_choice"]
        return choice == "none" if self.protocol == "openai" else choice == {"type": "none"}


def open_served(protocol: str, server: Any, settings) -> Library:
    if protocol == "anthropic":
        answerer: Any = ClaudeAnswerer("test-key", model="claude-test-1", base_url=server.url)
    else:
        chat = ChatClient(server.url, "folio-test", timeout=10.0, max_retries=0)
        answerer = OpenAICompatAnswerer(chat, LexicalTokenizer(), max_tokens=300)
    library = Library.open(settings, embedder=HashingEmbedder(), answerer=answerer)
    library.add(
        [
            ("orchard.pdf", make_pdf(APPLES)),
            ("engine.pdf", make_pdf(ENGINES)),
            ("年报.pdf", make_pdf(CHINESE)),
        ]
    )
    return library


@pytest.fixture(params=PROTOCOLS)
def served(request, settings):
    settings = settings.model_copy(update={"agent": "auto"})
    fake = FakeAnthropic() if request.param == "anthropic" else FakeOpenAI()
    with fake as server:
        yield Served(request.param, server, open_served(request.param, server, settings))


def agentic(library: Library, question: str, filters: Filters | None = None) -> Answer:
    for event in library.ask_agentic(question, filters):
        if isinstance(event, AnswerDone):
            return event.answer
    raise AssertionError("no answer")


def strings(value: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [s for item in value for s in strings(item)] if isinstance(value, list) else []


def page_slice(library: Library, citation) -> str:
    return library.page_text(citation.doc_id, citation.page)[citation.start : citation.end]


# The arguments (pure) ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "arguments", "complaint"),
    [
        ("search", "{query: pears", "not JSON"),
        ("search", "[1, 2]", "JSON object"),
        ("search", '{"k": 3}', "query is required"),
        ("search", '{"query": "pears", "k": 50}', "k must be a whole number from 1 to 10"),
        ("search", '{"query": "pears", "k": true}', "k must be"),
        ("search", '{"query": "pears", "doc": "x"}', "unknown argument 'doc'"),
        ("read_page", '{"document": "a.pdf", "page": 0}', "page must be"),
        ("read_page", '{"page": 2}', "document is required"),
        ("delete_all", "{}", "there is no tool 'delete_all'"),
    ],
)
def test_bad_arguments_are_named(name, arguments, complaint):
    with pytest.raises(ToolArgumentError, match=complaint):
        parse_arguments(name, arguments, AgentConfig())


def test_good_arguments_get_defaults():
    config = AgentConfig(default_k=5)
    assert parse_arguments("search", '{"query": " pears "}', config) == {
        "query": "pears",
        "document": None,
        "k": 5,
    }
    assert parse_arguments("read_page", '{"document": "a.pdf", "page": 2}', config) == {
        "document": "a.pdf",
        "page": 2,
    }


# End to end through both protocol servers ---------------------------------------------------
def test_the_model_searches_twice_then_answers_with_citations(served):
    served.server.agent += [
        tool_call("search", {"query": "pear trees frost"}),
        tool_call("search", {"query": "turbocharger inspection", "document": "engine.pdf", "k": 2}),
        ANSWER,
    ]
    answer = agentic(served.library, "What needs checking on the engine, and how often?")

    assert not answer.refused
    assert answer.mode == ("claude" if served.protocol == "anthropic" else "openai")
    steps = answer.trace.agent_steps
    assert [(s.step, s.tool, s.error) for s in steps] == [(1, "search", ""), (2, "search", "")]
    assert json.loads(steps[1].arguments)["document"] == "engine.pdf"
    assert all(s.hits > 0 for s in steps)
    assert "turbocharger" in answer.text.lower()
    (citation,) = answer.citations
    assert (citation.doc_name, citation.page_number) == ("engine.pdf", 2)
    assert page_slice(served.library, citation) == citation.cited_text
    assert "turbocharger needs inspection" in citation.cited_text
    assert citation.chunk_id in {h.chunk.id for h in answer.hits}
    assert "[1]" in answer.text  # renumbered from the passage's number among all gathered

    requests = served.agent_requests
    assert len(requests) == 3
    first, second = (served.tool_results(r) for r in requests[1:])
    assert len(first) == 1 and len(second) == 2  # each turn carries every result so far
    scoped = second[1][0]
    assert "engine.pdf" in scoped and "orchard.pdf" not in scoped  # the document filter held
    # Passages are numbered on across the first prompt and every tool result: a number
    # names one passage, a passage seen again keeps its number.
    shown = PASSAGE.findall("\n".join(strings(requests[-1]["messages"])))
    by_number: dict[str, set[str]] = {}
    by_text: dict[str, set[str]] = {}
    for number, text in shown:
        by_number.setdefault(number, set()).add(text)
        by_text.setdefault(text, set()).add(number)
    assert len(by_number) == len(answer.hits) > 2
    assert all(len(v) == 1 for v in (*by_number.values(), *by_text.values()))


def test_the_step_limit_holds_with_a_model_that_never_stops(served):
    served.library.agent.config = AgentConfig(max_steps=2)
    served.server.agent_forever = tool_call("search", {"query": "apple harvest 2020"})
    answer = agentic(served.library, "What was the apple harvest in 2020?")

    requests = served.agent_requests
    assert len(requests) == 3  # two turns with tools, then one told to answer without
    assert [served.tools_off(r) for r in requests] == [False, False, True]
    assert len(answer.trace.agent_steps) == 2
    assert any("FOLIO_AGENT_MAX_STEPS" in n for n in answer.trace.notes)
    # It gave no answer: the passages it gathered passed the gate and were answered from.
    assert answer.mode == "extractive" and not answer.refused
    assert any("answered extractively" in n for n in answer.trace.notes)
    assert answer.citations and all(
        page_slice(served.library, c) == c.cited_text for c in answer.citations
    )
    assert "120 tonnes" in answer.text


def test_a_model_that_never_stops_and_finds_nothing_is_refused_through_the_gate(served):
    served.library.agent.config = AgentConfig(max_steps=1)
    served.server.agent_forever = tool_call("search", {"query": "zebra migration"})
    answer = agentic(served.library, "How far do zebras migrate each year?")
    assert answer.refused and not answer.evidence_found
    assert answer.evidence_score is not None
    assert answer.evidence_score < served.library.gate.threshold
    assert len(served.agent_requests) == 2


def test_bad_arguments_get_a_tool_error_and_the_model_recovers(served):
    served.server.agent += [
        tool_call("search", "{query: pear frost"),  # not JSON (an object with "raw" for Claude)
        tool_call("read_page", {"document": "nowhere.pdf", "page": 1}),
        tool_call("search", {"query": "pear frost April", "k": 2}),
        ANSWER,
    ]
    answer = agentic(served.library, "When did the frost hit?")

    steps = answer.trace.agent_steps
    assert [bool(s.error) for s in steps] == [True, True, False]
    assert steps[0].hits == 0 and steps[1].hits == 0
    assert "No single document matches 'nowhere.pdf'" in steps[1].error
    results = served.tool_results(served.agent_requests[-1])
    assert [error for _, error in results] == [True, True, False]
    assert results[0][0].startswith("Error:")
    assert not answer.refused
    (citation,) = answer.citations
    assert (citation.doc_name, citation.page_number) == ("orchard.pdf", 3)
    assert page_slice(served.library, citation) == citation.cited_text
    assert "frost in April" in citation.cited_text


def test_read_page_returns_the_page_as_citable_passages(served):
    served.server.agent += [tool_call("read_page", {"document": "engine.pdf", "page": 2}), ANSWER]
    answer = agentic(served.library, "How often does the turbocharger need inspection?")
    (step,) = answer.trace.agent_steps
    assert (step.tool, step.error) == ("read_page", "") and step.hits >= 1
    (citation,) = answer.citations
    assert (citation.doc_name, citation.page_number) == ("engine.pdf", 2)
    assert page_slice(served.library, citation) == citation.cited_text


def test_tools_stay_within_the_questions_filters(served):
    orchard = served.library.find("orchard.pdf")
    served.server.agent += [
        tool_call("search", {"query": "engine oil", "document": "engine.pdf"}),
        tool_call("read_page", {"document": "engine.pdf", "page": 1}),
        tool_call("read_page", {"document": "orchard.pdf", "page": 9}),
        ANSWER,
    ]
    answer = agentic(
        served.library, "How often is the oil changed?", Filters(doc_ids=(orchard.id,))
    )
    errors = [s.error for s in answer.trace.agent_steps]
    assert "outside the documents this question searches" in errors[0]
    assert "outside the documents this question searches" in errors[1]
    assert "has 3 pages, not 9" in errors[2]
    assert all(c.doc_name == "orchard.pdf" for c in answer.citations)


def test_the_model_saying_not_found_is_a_refusal(served):
    served.server.agent += [tool_call("search", {"query": "zebras"}), "NOT_FOUND"]
    answer = agentic(served.library, "How far do zebras migrate?")
    assert answer.refused and answer.citations == ()
    assert len(answer.trace.agent_steps) == 1


def test_the_time_budget_holds(served):
    served.library.agent.config = AgentConfig(max_steps=10, budget_seconds=1e-9)
    served.server.agent_forever = tool_call("search", {"query": "apple harvest"})
    answer = agentic(served.library, "What was the apple harvest in 2020?")
    assert answer.trace.agent_steps == ()  # no tool turn started after the budget
    assert len(served.agent_requests) == 1 and served.tools_off(served.agent_requests[0])
    assert any("FOLIO_AGENT_BUDGET_SECONDS" in n for n in answer.trace.notes)


# Through Library.ask: FOLIO_AGENT=auto and off ----------------------------------------------
def test_ask_runs_the_agent_when_the_evidence_is_below_the_gate(served):
    library = served.library
    library.gate = replace(library.gate, threshold=1.01)  # every first search is weak
    served.server.agent += [tool_call("search", {"query": "oil grade"}), ANSWER]
    answer = library.ask("Which oil should the engine use?")
    assert [s.tool for s in answer.trace.agent_steps] == ["search"]
    assert "5W-30" in answer.text and not answer.refused
    assert answer.sentences  # the claim check ran on the agent's answer
    assert answer.evidence_score is not None
    assert {t.stage for t in answer.timings} >= {"retrieve", "gate", "agent"}
    # Shown in `ask --json`, the API's answer and the UI's trace.
    (step,) = answer_json(answer)["trace"]["agent_steps"]
    assert (step["tool"], json.loads(step["arguments"]), step["error"]) == (
        "search",
        {"query": "oil grade"},
        "",
    )
    api_steps = query_response(answer, "a1", "r1").trace.agent_steps
    assert [(s.tool, s.hits) for s in api_steps] == [("search", answer.trace.agent_steps[0].hits)]
    trace = trace_markdown(answer, Rewrite(answer.question, "none"), [], "en")
    assert "**Agent steps (FOLIO_AGENT)**" in trace
    assert "| 1 | search | " in trace and "passages |" in trace


def test_a_follow_up_reaches_the_agent_rewritten(served):
    library = served.library
    library.gate = replace(library.gate, threshold=1.01)
    served.server.agent += [ANSWER]
    rewritten = "Which oil grade should the engine use?"
    answer = library.ask("And which grade?", searched_query=rewritten)
    assert answer.trace.searched_query == rewritten
    (request,) = served.agent_requests
    first = "\n".join(strings(request["messages"]))
    assert "Question: And which grade?" in first
    assert f"this means: {rewritten}" in first
    assert "5W-30" in answer.text


def test_ask_does_not_run_the_agent_when_the_evidence_passes(served):
    answer = served.library.ask("What was the apple harvest in 2020?")
    assert answer.trace.agent_steps == () and served.agent_requests == []
    assert "120 tonnes" in answer.text


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_agent_off_refuses_through_the_gate_as_before(protocol, settings):
    assert settings.agent == "off"  # the default
    fake = FakeAnthropic() if protocol == "anthropic" else FakeOpenAI()
    with fake as server:
        library = open_served(protocol, server, settings)
        assert library.agent is None
        library.gate = replace(library.gate, threshold=1.01)
        answer = library.ask("Which oil should the engine use?")
        assert answer.refused and not server.requests
        with pytest.raises(ConfigurationError, match="FOLIO_AGENT"):
            next(library.ask_agentic("Which oil?"))


def test_the_extractive_answerer_has_no_agent(library):
    assert library.agent is None


def test_a_split_questions_parts_are_shown_to_the_model(served):
    served.server.agent += [
        tool_call("search", {"query": "pear frost"}),
        tool_call("search", {"query": "oil change interval"}),
        ANSWER,
    ]
    parts = ("When did the frost hit the pears?", "How often is the oil changed?")
    events = list(served.library.ask_agentic("Frost and oil?", parts=parts))
    answer = events[-1].answer
    first = "\n".join(strings(served.agent_requests[0]["messages"]))
    assert "The question has these parts; answer each:" in first
    assert all(f"- {part}" in first for part in parts)
    assert [s.tool for s in answer.trace.agent_steps] == ["search", "search"]
    assert "5000 kilometres" in answer.text


def test_the_router_hands_a_question_of_several_parts_to_the_agent(served):
    library = served.library
    library.decomposer = RuleDecomposer()
    served.server.agent += [tool_call("search", {"query": "apple harvest 2019"}), ANSWER]
    answer = library.ask("What was the apple harvest in 2019 and in 2020?")
    assert answer.trace.route == "agentic"
    assert len(answer.trace.subqueries) == 2
    first = "\n".join(strings(served.agent_requests[0]["messages"]))
    assert "The question has these parts; answer each:" in first
    assert all(f"- {sub.query}" in first for sub in answer.trace.subqueries)
    assert [s.tool for s in answer.trace.agent_steps] == ["search"]
    assert answer.citations and all(c.boxes for c in answer.citations)  # boxed on the page


def test_without_an_agent_the_same_question_is_a_decomposed_search(served):
    library = served.library
    library.decomposer, library.agent = RuleDecomposer(), None
    answer = library.ask("What was the apple harvest in 2019 and in 2020?")
    assert answer.trace.route == "decomposed" and served.agent_requests == []
    assert "120 tonnes" in answer.text
