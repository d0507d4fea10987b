"""Decomposition and the router: the rules (English and Chinese), the merge that keeps every
part's best page, the model's proposal with the rules as fallback, and the search's trace."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from rag_core.answer.decomposer import OpenAIDecomposer, RuleDecomposer, parse_subqueries
from rag_core.answer.openai_client import ChatClient
from rag_core.cli.commands import answer_json
from rag_core.config import Settings
from rag_core.library import Library
from rag_core.retrieve.decompose import NONE, Decomposition, decompose
from rag_core.retrieve.route import (
    choose_route,
    fuse_parts,
    interleave,
    keep_parts,
    merge_hits,
    merge_pages,
    vision_dominates,
)
from rag_core.types import Chunk, Hit, LegRank, PageHit

from .fake_openai import FakeOpenAI
from .fakes import HashingEmbedder
from .pdfs import make_pdf

# The rules -------------------------------------------------------------------------------
RULES = [
    (
        "What was revenue in 2019 and 2020?",
        "periods",
        ("What was revenue in 2019?", "What was revenue in 2020?"),
    ),
    (
        "What is the FY2017 - FY2019 average capex for Activision?",
        "periods",
        (
            "What is the FY2017 average capex for Activision?",
            "What is the FY2018 average capex for Activision?",
            "What is the FY2019 average capex for Activision?",
        ),
    ),
    (  # the preposition said again does not leave a dangling "in ?"
        "What was Apple's revenue in 2019 and in 2020?",
        "periods",
        ("What was Apple's revenue in 2019?", "What was Apple's revenue in 2020?"),
    ),
    (
        "Average PP&E between FY2018 and FY2019",
        "periods",
        ("Average PP&E FY2018", "Average PP&E FY2019"),
    ),
    (
        "How did sales grow in 2020 compared to 2019?",
        "periods",
        ("How did sales grow in 2020?", "How did sales grow in 2019?"),
    ),
    (  # ", and" joins a run; a month and day belong to their year
        "In millions, for 2016, 2015, and 2014, what were total equity securities?",
        "periods",
        (
            "In millions, for 2016, what were total equity securities?",
            "In millions, for 2015, what were total equity securities?",
            "In millions, for 2014, what were total equity securities?",
        ),
    ),
    (
        "What was the balance at December 31, 2019 and December 31, 2018?",
        "periods",
        (
            "What was the balance at December 31, 2019?",
            "What was the balance at December 31, 2018?",
        ),
    ),
    (  # a word that starts like a month is not one ("margin", "market")
        "What was the operating margin 2019 and 2020?",
        "periods",
        ("What was the operating margin 2019?", "What was the operating margin 2020?"),
    ),
    (  # periods apart: each part keeps one, the other leaves with its words ("as of", "in")
        "As of FY 2021, how much did Verizon expect to pay for its retirees in 2024?",
        "periods",
        (
            "As of FY 2021, how much did Verizon expect to pay for its retirees?",
            "how much did Verizon expect to pay for its retirees in 2024?",
        ),
    ),
    (
        "2019年与2020年的收入分别是多少？",
        "periods",
        ("2019年的收入分别是多少？", "2020年的收入分别是多少？"),
    ),
    (  # Traditional: read as Simplified, the sub-queries written as asked
        "2019年與2020年的營業收入分別是多少？",
        "periods",
        ("2019年的營業收入分別是多少？", "2020年的營業收入分別是多少？"),
    ),
    (
        "蘋果和微軟相比，誰的利潤更高？",
        "comparison",
        ("蘋果，誰的利潤更高？", "微軟，誰的利潤更高？"),
    ),
    (
        "在2019年和2020年，公司的收入是多少？",
        "periods",
        ("在2019年，公司的收入是多少？", "在2020年，公司的收入是多少？"),
    ),
    (
        "Is Tesla or Ford more profitable?",
        "comparison",
        ("Is Tesla more profitable?", "Is Ford more profitable?"),
    ),
    (
        "iPhone vs Android market share",
        "comparison",
        ("iPhone market share", "Android market share"),
    ),
    (
        "What is the difference between BM25 and dense retrieval?",
        "comparison",
        ("What is the difference BM25?", "What is the difference dense retrieval?"),
    ),
    (  # the item's head said once, for both: "the capex of 3M and (the capex of) Amazon"
        "Compare the capex of 3M and Amazon",
        "comparison",
        ("capex of 3M", "capex of Amazon"),
    ),
    (
        "Compare revenue growth with operating income growth",
        "comparison",
        ("revenue growth", "operating income growth"),
    ),
    ("苹果和微软相比哪个收入更高？", "comparison", ("苹果哪个收入更高？", "微软哪个收入更高？")),
    ("用户选择A方案还是B方案？", "comparison", ("用户选择A方案？", "用户选择B方案？")),
    (
        "What does report.pdf and memo.pdf say about risk?",
        "documents",
        ("What does report.pdf say about risk?", "What does memo.pdf say about risk?"),
    ),
    (
        "List the revenue, net income and EPS of 3M",
        "list",
        ("List the revenue of 3M", "List the net income of 3M", "List the EPS of 3M"),
    ),
    (  # noun phrases are searched with the question's names and periods, not its wording
        "Basing your judgments off of the cash flow statement and the income statement, "
        "what is American Water Works's FY2021 unadjusted operating income?",
        "list",
        (
            "cash flow statement American Water Works FY2021",
            "income statement American Water Works FY2021",
        ),
    ),
    (  # "of" inside an item of its own: an article after "and", or an "of" on both sides
        "Basing your answers off of the statement of income and the statement of cash flows, "
        "what is the FY2015 EBITDA margin for Netflix?",
        "list",
        (
            "statement of income FY2015 EBITDA Netflix",
            "statement of cash flows FY2015 EBITDA Netflix",
        ),
    ),
    (  # one "of" for every item: the items are swapped in the question
        "What limits the delivery and secretion of MMPs?",
        "list",
        ("What limits the delivery of MMPs?", "What limits the secretion of MMPs?"),
    ),
    (
        "What were the revenue and the cost of goods sold of Acme?",
        "list",
        ("What were the revenue of Acme?", "What were the cost of goods sold of Acme?"),
    ),
    (  # two coordinations: the periods swapped, and the statements searched, in turn
        "What was revenue in 2019 and 2020 according to the income statement and the cash "
        "flow statement?",
        "periods+list",
        (
            "What was revenue in 2019 according to the income statement and the cash flow "
            "statement?",
            "income statement 2019 2020",
            "What was revenue in 2020 according to the income statement and the cash flow "
            "statement?",
            "cash flow statement 2019 2020",
        ),
    ),
    (
        "Using the balance sheet and the statement of income, what is Corning's FY2020 asset "
        "turnover? Use average total assets between FY2019 and FY2020.",
        "periods+list",
        (
            "Using the balance sheet and the statement of income, what is Corning's FY2020 "
            "asset turnover? Use average total assets FY2019.",
            "balance sheet Corning FY2020 FY2019",
            "Using the balance sheet and the statement of income, what is Corning's FY2020 "
            "asset turnover? Use average total assets FY2020.",
            "statement of income Corning FY2020 FY2019",
        ),
    ),
    (
        "公司的收入、利润和现金流是多少？",
        "list",
        ("公司的收入是多少？", "公司的利润是多少？", "公司的现金流是多少？"),
    ),
]


@pytest.mark.parametrize(("question", "rule", "parts"), RULES)
def test_rules_split_a_question_into_its_searches(question, rule, parts):
    assert decompose(question) == Decomposition(parts, rule)


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "Who are the primary customers of Boeing as of FY2022?",
        "Did wages as a percent of net sales increase or decrease in FY2023?",
        "What was the revenue in 2020 in 2020?",  # one period, twice
        "公司的营业收入是多少？",
        "",
    ],
)
def test_a_question_of_one_part_is_one_search(question):
    assert decompose(question) == NONE


def test_a_question_has_at_most_four_parts():
    split = decompose("Revenue in 2015, 2016, 2017, 2018, 2019 and 2020")
    assert split.parts == tuple(f"Revenue in {year}" for year in (2015, 2016, 2017, 2018))


def test_a_name_after_an_abbreviation_stays_with_each_noun_phrase():
    # "Inc." does not end the sentence: "Europe" is a name in it, searched with each item
    # (a new sentence's first word is not; nor is the word after a colon).
    split = decompose(
        "What are the gross margin and the operating margin of Acme, Inc. Europe in FY2021?"
    )
    assert split.parts == (
        "gross margin Acme Inc Europe FY2021",
        "operating margin Acme Inc Europe FY2021",
    )
    split = decompose(
        "Answer this: What were the capital expenditure and the free cash flow of Acme in FY2021?"
    )
    assert split.parts == ("capital expenditure Acme FY2021", "free cash flow Acme FY2021")


# The router ------------------------------------------------------------------------------
def test_the_router_takes_the_cheapest_route_that_can_answer():
    assert choose_route(0) == "single"
    assert choose_route(1) == "single"
    assert choose_route(2) == "decomposed"
    # Agentic only with a model that calls tools: for weak evidence or several parts.
    assert choose_route(2, agentic_available=True) == "agentic"
    assert choose_route(0, agentic_available=True, evidence_score=0.1, gate_threshold=0.25) == (
        "agentic"
    )
    assert choose_route(0, agentic_available=True, evidence_score=0.9, gate_threshold=0.25) == (
        "single"
    )
    assert choose_route(0, evidence_score=0.1, gate_threshold=0.25) == "single"
    # Visual when the vision leg dominates and the model reads images; not otherwise.
    assert choose_route(2, vision_dominates=True, reads_images=True) == "visual"
    assert choose_route(0, vision_dominates=True, reads_images=False) == "single"


def page(doc: str, number: int, legs: tuple[str, ...] = ("text",)) -> PageHit:
    return PageHit(doc, f"{doc}.pdf", number, 1.0, 1, tuple(LegRank(leg, 1, 1.0) for leg in legs))


def hit(doc: str, number: int) -> Hit:
    chunk = Chunk(f"{doc}-{number}", doc, number, 0, 0, 1, "x")
    return Hit(chunk, f"{doc}.pdf", 1.0, 1)


def test_the_merge_keeps_each_parts_best_page_in_the_window():
    own = [page("a", 1), page("a", 2), page("a", 3), page("a", 4)]
    part1 = [page("a", 2), page("b", 7), page("a", 1)]  # its best is in the window already
    part2 = [page("c", 9), page("a", 3)]
    part3 = [page("d", 5)]
    merged = merge_pages([own, part1, part2, part3], window=4)
    assert [(p.doc_id, p.page, p.rank) for p in merged] == [
        ("a", 1, 1),
        ("a", 2, 2),
        ("c", 9, 3),
        ("d", 5, 4),
        ("a", 3, 5),
        ("a", 4, 6),
        ("b", 7, 7),
    ]
    # A single search is left as it is; parts that agree with it change nothing.
    assert merge_pages([own], window=2) == tuple(own[:1]) + tuple(
        replace(p, rank=i) for i, p in enumerate(own[1:], start=2)
    )
    assert [p.page for p in merge_pages([own, [own[1]]], window=2)] == [1, 2, 3, 4]
    assert keep_parts([[1, 2, 3], [9]], key=lambda x: x, window=2) == [1, 9, 2, 3]


def test_pages_both_parts_found_rise_below_the_questions_own_best():
    own = ["o1", "o2", "o3", "o4", "o5", "o6", "o7", "g"]
    parts = [["g", "p1"], ["p2", "g"]]
    # o1, o2 stay first; g (found by all three) comes next, then the fusion's order (p1,
    # second in part one, before o3, third in the question's own).
    assert fuse_parts([own, *parts], str, window=4, head=2) == [
        "o1", "o2", "g", "p2", "p1", "o3", "o4", "o5", "o6", "o7",
    ]  # fmt: skip
    assert fuse_parts([own], str, window=4, head=2) == own
    assert interleave([[1, 2], [], [3]], key=lambda x: x) == [1, 3, 2]


def test_the_vision_leg_dominates_when_most_best_pages_are_only_its_own():
    text_page, seen = page("a", 1), page("a", 2, ("text", "vision"))
    visual = [page("b", n, ("vision",)) for n in (1, 2)]
    hits = [hit("a", 1), hit("a", 2)]
    assert vision_dominates([*visual, text_page], hits, top_k=3)
    assert not vision_dominates([visual[0], text_page, seen], hits, top_k=3)
    assert not vision_dominates([], hits, top_k=3)


# The model proposes ----------------------------------------------------------------------
def test_the_models_json_reply_gives_the_subqueries():
    reply = '<think>two years</think>```json\n{"subqueries": ["revenue 2019", "revenue 2020"]}\n```'
    assert parse_subqueries(reply, "revenue in 2019 and 2020") == ("revenue 2019", "revenue 2020")
    with pytest.raises(ValueError):
        parse_subqueries('{"queries": ["a"]}', "q")
    with pytest.raises(ValueError):
        parse_subqueries("two searches: a, b", "q")


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def decomposer_at(url: str) -> OpenAIDecomposer:
    return OpenAIDecomposer(ChatClient(url, "folio-test", timeout=10.0, max_retries=0))


def test_the_model_proposes_the_subqueries_in_one_short_call(fake):
    fake.replies = ['{"subqueries": ["apple harvest 2020", "pear output"]}']
    split = decomposer_at(fake.url).split("How did apples and pears do?")
    assert split == Decomposition(("apple harvest 2020", "pear output"), "openai")
    assert len(fake.requests) == 1
    assert "split a question" in fake.requests[0]["messages"][0]["content"]


def test_one_search_when_the_model_says_so(fake):
    fake.replies = ['{"subqueries": []}']
    assert decomposer_at(fake.url).split("What was revenue in 2019 and 2020?") == NONE


@pytest.mark.parametrize("failure", ["html", "bad_json", "not_chat"])
def test_the_rules_take_over_when_the_model_fails(fake, failure):
    fake.failure, fake.fail_count = failure, 1
    split = decomposer_at(fake.url).split("What was revenue in 2019 and 2020?")
    assert split.parts == ("What was revenue in 2019?", "What was revenue in 2020?")
    assert split.rule == "periods" and "used the rules" in split.note


def test_the_rules_take_over_when_the_reply_is_not_the_json_asked_for(fake):
    fake.replies = ["Search for revenue in 2019, then in 2020."]
    split = decomposer_at(fake.url).split("What was revenue in 2019 and 2020?")
    assert split.rule == "periods" and "not the JSON asked for" in split.note


# The search ------------------------------------------------------------------------------
YEARS = [
    "Annual Report\n\nIn 2019 the orchard sold 80 tonnes of apples.",
    "Weather notes. Frost came early in the valley and the river froze.",
    "Staff notes. The orchard hired six pickers for the season.",
    "In 2020 the orchard sold 120 tonnes of apples.",
]


@pytest.fixture
def orchard(tmp_path: Path) -> Library:
    settings = Settings(data_dir=tmp_path / "data", db=tmp_path / "feedback.db", top_k=2)
    library = Library.open(settings, embedder=HashingEmbedder(), decomposer=RuleDecomposer())
    library.add([("orchard.pdf", make_pdf(YEARS))])
    return library


def test_a_multi_part_question_is_searched_once_per_part(orchard):
    result = orchard.search("How many tonnes of apples did the orchard sell in 2019 and 2020?")
    trace = result.trace
    assert trace.route == "decomposed" and trace.split_by == "periods"
    assert [s.query for s in trace.subqueries] == [
        "How many tonnes of apples did the orchard sell in 2019?",
        "How many tonnes of apples did the orchard sell in 2020?",
    ]
    # Each part's best page is its own year's, and both are in the top two pages.
    assert [s.pages[0].page_number for s in trace.subqueries] == [1, 4]
    assert {p.page_number for p in result.pages[:2]} == {1, 4}
    assert [p.rank for p in result.pages] == list(range(1, len(result.pages) + 1))
    assert [h.rank for h in result.hits] == [1, 2]
    assert [t.stage for t in trace.timings][-2:] == ["part 1", "part 2"]


def test_a_decomposed_search_embeds_once_and_finds_what_its_searches_find_alone(orchard):
    question = "How many tonnes of apples did the orchard sell in 2019 and 2020?"
    embedder = orchard.retriever.embedder
    embedder.calls.clear()
    result = orchard.search(question)
    assert embedder.calls == [3]  # the question and its two parts, in one call
    parts = [s.query for s in result.trace.subqueries]
    alone = [orchard.search(q, decompose=False) for q in (question, *parts)]
    assert embedder.calls == [3, 1, 1, 1]
    assert result.hits == merge_hits([a.hits for a in alone], 2)
    assert result.pages == merge_pages([a.pages for a in alone], 2)
    assert [s.pages for s in result.trace.subqueries] == [a.pages[:5] for a in alone[1:]]
    assert [(p.page_number, p.rank) for p in result.pages] == [(4, 1), (1, 2)]


def test_one_part_or_decomposition_off_is_a_single_search(orchard):
    assert orchard.search("How many tonnes of apples in 2020?").trace.route == "single"
    off = orchard.search("Tonnes sold in 2019 and 2020?", decompose=False)
    assert off.trace.route == "single" and off.trace.subqueries == ()


def test_the_answer_and_ask_json_carry_the_route_and_subqueries(orchard):
    answer = orchard.ask("How many tonnes did the orchard sell in 2019 and 2020?")
    trace = answer_json(answer)["trace"]
    assert trace["route"] == "decomposed"
    assert trace["subqueries"] == [
        "How many tonnes did the orchard sell in 2019?",
        "How many tonnes did the orchard sell in 2020?",
    ]
    single = answer_json(orchard.ask("How many pickers did the orchard hire?"))["trace"]
    assert (single["route"], single["subqueries"]) == ("single", [])


def test_decompose_off_setting_builds_no_decomposer(tmp_path, monkeypatch):
    from rag_core.cli.commands import main

    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("FOLIO_EMBED_MODEL", "builtin:all-MiniLM-L6-v2")
    (tmp_path / "orchard.pdf").write_bytes(make_pdf(YEARS))
    assert main(["add", str(tmp_path / "orchard.pdf")], out=io.StringIO(), err=io.StringIO()) == 0
    question = "How many tonnes did the orchard sell in 2019 and 2020?"
    for setting, route in (("rules", "decomposed"), ("off", "single")):
        monkeypatch.setenv("FOLIO_DECOMPOSE", setting)
        out = io.StringIO()
        assert main(["ask", question, "--json"], out=out, err=io.StringIO()) == 0
        assert json.loads(out.getvalue())["trace"]["route"] == route


def test_the_chat_trace_shows_the_route_and_each_subquery(orchard):
    from rag_core.answer.conversation import Rewrite
    from ui.formatting import trace_markdown

    question = "How many tonnes did the orchard sell in 2019 and 2020?"
    answer = orchard.ask(question)
    trace = trace_markdown(answer, Rewrite(question, "none"), [], "en")
    assert "**Route:** decomposed" in trace
    assert "**Sub-queries** (periods)" in trace
    assert "| How many tonnes did the orchard sell in 2019? | orchard.pdf p.1" in trace
    assert "| How many tonnes did the orchard sell in 2020? | orchard.pdf p.4" in trace
    single = trace_markdown(orchard.ask("Who was hired?"), Rewrite("x", "none"), [], "zh")
    assert "**路径:** single" in single and "子查询" not in single


def test_feedback_keeps_the_route_and_analytics_give_satisfaction_by_route(orchard, tmp_path):
    from datetime import UTC, datetime

    from rag_core.feedback.analytics import Tally, by_route
    from rag_core.feedback.store import FeedbackStore, Rating
    from ui.analytics import analytics_view

    store = FeedbackStore.open(f"sqlite:///{tmp_path / 'feedback.db'}")
    decomposed = orchard.ask("How many tonnes did the orchard sell in 2019 and 2020?")
    single = orchard.ask("How many pickers did the orchard hire?")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for vote, answer, message in [(1, decomposed, "m1"), (-1, decomposed, "m2"), (1, single, "m3")]:
        store.rate(Rating("s", message, vote, answer, now))
    records = store.records()
    assert [(r.route, r.subqueries) for r in records] == [
        ("decomposed", tuple(s.query for s in decomposed.trace.subqueries)),
        ("decomposed", tuple(s.query for s in decomposed.trace.subqueries)),
        ("single", ()),
    ]
    assert by_route(records) == [("single", Tally(1, 0)), ("decomposed", Tally(1, 1))]
    view = analytics_view(records, "en")
    assert view.by_route.values.tolist() == [
        ["single", 1, 0, 1, "100%"],
        ["decomposed", 1, 1, 2, "50%"],
    ]
