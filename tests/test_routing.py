"""Document routing: a question naming a document finds it by its name, not by a cover page
that happens to share the question's ordinary words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rag_core.config import Settings
from rag_core.index.lexical import LexicalTokenizer
from rag_core.index.routing import (
    asked_years,
    distinctive,
    generic_terms,
    id_like,
    max_name_df,
    name_terms,
    named_documents,
    of_latest_year,
    period_like,
    profile_of,
    readable_name,
    routing_terms,
)
from rag_core.library import Library
from rag_core.types import Document, DocumentMetadata

from .pdfs import make_pdf

FILLER = [f"Section {i}. The company designs and sells widgets in many markets." for i in range(6)]
ANNUAL = "{name} Annual Report {year}. Form 10-K."
# Earnings releases open with the words finance questions use.
RELEASE = (
    "{name} reports fourth quarter results: net income rose, operating cash flow and free"
    " cash flow grew, capital expenditure in line with guidance; see the cash flow statement."
)
REPORTS = {
    "ACME_2019_10K.pdf": ANNUAL.format(name="ACME Corporation", year=2019),
    "ACME_2022_10K.pdf": ANNUAL.format(name="ACME Corporation", year=2022),
    "INITECH_2019_10K.pdf": ANNUAL.format(name="Initech Inc.", year=2019),
    "HOOLI_2020_10K.pdf": ANNUAL.format(name="Hooli", year=2020),
    **{
        f"{name.upper()}_2023Q4_EARNINGS.pdf": RELEASE.format(name=name)
        for name in ("Globex", "Umbrella", "Stark", "Wayne")
    },
}


def route_of(library: Library, question: str) -> list[str]:
    names = {d.id: d.name for d in library.documents()}
    leg = next(leg for leg in library.search(question).trace.legs if leg.leg == "route")
    return [names[doc] for doc, _ in leg.ranked]


def test_the_name_outweighs_ordinary_words_on_a_cover(library: Library) -> None:
    library.add([(name, make_pdf([cover, *FILLER])) for name, cover in REPORTS.items()])
    question = (
        "What is the FY2019 capital expenditure amount for ACME? Answer from the cash flow"
        " statement, using the net income and operating cash flow lines."
    )
    assert route_of(library, question)[0] == "ACME_2019_10K.pdf"
    assert route_of(library, "Globex quarter results")[0] == "GLOBEX_2023Q4_EARNINGS.pdf"
    # A question matching covers (or titles) alone names no document: nothing is routed, the
    # chunk legs rank those pages on their own (routing would count them twice).
    assert route_of(library, "Who reported fourth quarter results?") == []


def test_profile_fields() -> None:
    doc = Document(
        id="d",
        name="GENERALMILLS_2019_10K.pdf",
        kind="pdf",
        size_bytes=1,
        pages=1,
        chunks=1,
        pages_without_text=0,
        status="ready",
        error=None,
        added_at=datetime.now(UTC),
        metadata=DocumentMetadata(title="Annual report", year=2019, tags=("food",)),
    )
    profile = profile_of(doc, "General Mills, Inc. " + "x" * 2000)
    assert profile.name.splitlines() == ["GENERALMILLS 2019 10K", "food", "2019"]
    title, cover = profile.cover.split("\n")
    assert title == "Annual report" and cover.startswith("General Mills") and len(cover) == 600
    terms = routing_terms(LexicalTokenizer(), "General Mills")
    assert "generalmil" in terms or "generalmills" in terms  # the glued pair matches the name


def test_numbers_in_names_count_only_as_years() -> None:
    tokenizer = LexicalTokenizer()
    assert "33" not in name_terms(tokenizer, "a33 p4") and "4" not in name_terms(
        tokenizer, "a33 p4"
    )
    assert {"3m", "2018", "10k"} <= set(name_terms(tokenizer, "3M 2018 10K"))


def test_a_number_in_a_question_does_not_route_to_a_numbered_file(library: Library) -> None:
    library.add([(f"a{i}_p1.pdf", make_pdf([f"Part {i}.", *FILLER])) for i in (2, 33)])
    assert route_of(library, "Who played in the 33rd game, at 33 years old?") == []


def test_a_library_of_numbered_files_searches_without_routing(library: Library) -> None:
    # No name has a term routing can use (numbers other than years are dropped).
    library.add(
        [(f"{n}.pdf", make_pdf([f"Part {n} of the widget study.", *FILLER])) for n in (1001, 1002)]
    )
    assert route_of(library, "widget study") == []
    assert library.search("widget study").hits


# Routing by evidence (issue 21): a question is routed only when it names documents distinctly.

HASHES = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "a2019b44298fc1c1e4649b934ca495991b7852b855afbf4c8996fb924270fc1c",
    "5d41402abc4b2a76b9719d911017c592a2020b44298fc1c149afbf4c8996fb92",
]
COMPANIES = ["ACME_2019_10K", "ACME_2022_10K", "INITECH_2019_10K", "HOOLI_2020_10K"]


def named(stems: list[str], question: str, shares: dict[str, float] | None = None) -> set[str]:
    """``named_documents`` over a library of these file stems, as the router sees them."""
    tokenizer = LexicalTokenizer()
    names = [set(name_terms(tokenizer, readable_name(stem))) for stem in stems]
    term_docs = {
        term: frozenset(i for i, held in enumerate(names) if term in held)
        for term in routing_terms(tokenizer, question)
        if any(term in held for held in names)
    }
    share = None if shares is None else (lambda term, docs: shares.get(term, 1.0))
    rows = named_documents(term_docs, len(stems), generic_terms(tokenizer), share)
    return {stems[i] for i in rows}


def test_hashes_and_ids_carry_no_words() -> None:
    assert all(readable_name(h) == "" for h in HASHES)
    assert readable_name("1909.00754") == ""  # an arXiv id: not even its "year" 1909
    assert readable_name("0000764478-17-000008") == ""
    assert readable_name("3M_2022_10K") == "3M 2022 10K"
    assert readable_name("GENERALMILLS_2019_10K") == "GENERALMILLS 2019 10K"
    assert readable_name("Ben Platt (actor)") == "Ben Platt actor"
    assert id_like("e3b0c44298fc1c14") and id_like("a2019b44298f") and id_like("0000764478")
    assert id_like("x7k2m9q4z1")
    words = ("2019", "3M", "10K", "2023Q4", "GENERALMILLS", "FY2019", "Q3FY2024Results")
    assert not any(id_like(w) for w in (*words, "贵州茅台2019年报"))
    assert readable_name("贵州茅台_2019年报") == "贵州茅台 2019年报"


def test_a_hashed_library_never_routes() -> None:
    for question in (
        "What was the 2019 revenue in the e b c fc afbf report?",
        "Compare fc and ca in 2020 and 2019",
        "What is the FY2019 capital expenditure amount for ACME?",
    ):
        assert named(HASHES, question) == set()


def test_a_question_naming_one_company_routes_to_its_documents() -> None:
    question = "What is the FY2019 capital expenditure amount for ACME?"
    assert named(COMPANIES, question) == {"ACME_2019_10K", "ACME_2022_10K"}
    assert named(COMPANIES, "Hooli's annual report: net income?") == {"HOOLI_2020_10K"}
    glued = ["GENERALMILLS_2019_10K", "BESTBUY_2023_10K", "3M_2018_10K", "AMCOR_2023_10K"]
    assert named(glued, "Best Buy gross margin in FY2023") == {"BESTBUY_2023_10K"}


def test_two_companies_a_year_or_generic_words_do_not_route() -> None:
    assert named(COMPANIES, "Compare the revenue of ACME and Initech") == set()
    assert named(COMPANIES, "What happened in 2019?") == set()  # a year alone
    assert named(COMPANIES, "What does the FY2019 annual report 10-K say?") == set()
    assert named(COMPANIES, "What is a widget?") == set()  # no name matched at all


def test_a_name_word_the_whole_library_uses_is_not_a_name() -> None:
    stems = ["Ben Platt (actor)", "Smallville", "Oklahoma", "Jennifer Jones"]
    question = "Which actor played Clark Kent?"
    assert named(stems, question) == {"Ben Platt (actor)"}  # the name alone would route
    assert named(stems, question, {"actor": 0.2}) == set()  # but other documents say it more
    assert named(stems, "When was Ben Platt born?", {"ben": 0.9, "platt": 1.0}) == {
        "Ben Platt (actor)"
    }


def test_distinctive_terms() -> None:
    generic = generic_terms(LexicalTokenizer())
    assert max_name_df(20) == 2 and max_name_df(74) == 7 and max_name_df(2) == 1
    assert distinctive("acme", 2, 20, generic)
    assert not distinctive("acme", 3, 20, generic)  # in too many names
    assert not distinctive("2019", 1, 20, generic)  # a year
    assert not distinctive("fy2019", 1, 20, generic) and not distinctive("2023q4", 1, 20, generic)
    assert not distinctive("report", 1, 20, generic) and not distinctive("10k", 1, 20, generic)
    assert distinctive("3m", 1, 20, generic)
    assert period_like("q42023") and not period_like("3m")


def test_a_hashed_pdf_library_searches_without_routing(library: Library) -> None:
    library.add([(f"{h}.pdf", make_pdf([cover, *FILLER])) for h, cover in zip(
        HASHES, list(REPORTS.values())[:3], strict=True)])  # fmt: skip
    for question in ("What did ACME report for 2019?", "e b c fc afbf 2019 2020"):
        assert route_of(library, question) == []
    assert library.search("What did ACME report for 2019?").hits


def test_the_latest_year_a_question_asks_picks_among_the_named_reports() -> None:
    tokenizer = LexicalTokenizer()
    years = asked_years(
        routing_terms(tokenizer, "Did ACME's margin grow between FY2021 and FY 2022?")
    )
    assert years == ["2022", "2021"]
    assert asked_years(routing_terms(tokenizer, "In 2023Q4, ACME's 3M revenue (10-K)?")) == ["2023"]
    holders = {"2018": frozenset({0}), "2021": frozenset({1}), "2022": frozenset({2, 5})}
    holding = lambda year: holders.get(year, frozenset())  # noqa: E731
    named = frozenset({0, 1, 2})
    assert of_latest_year(named, ["2022", "2021"], holding) == {2}  # the report covering both
    assert of_latest_year(named, ["2024", "2021"], holding) == {1}  # no named report of 2024
    assert of_latest_year(named, ["2018"], holding) == {0}
    assert of_latest_year(frozenset({0, 1}), ["2022"], holding) == {0, 1}  # none carries it
    assert of_latest_year(named, [], holding) == named  # no year asked


def test_a_question_about_one_year_routes_to_that_years_report(library: Library) -> None:
    library.add([(name, make_pdf([cover, *FILLER])) for name, cover in REPORTS.items()])
    assert route_of(library, "What is the FY2019 capital expenditure for ACME?") == [
        "ACME_2019_10K.pdf"
    ]
    changed = "How did ACME's widget sales change between FY2021 and FY2022?"
    assert route_of(library, changed) == ["ACME_2022_10K.pdf"]
    assert library.search(changed).hits[0].doc_name == "ACME_2022_10K.pdf"
    # No ACME report of the year asked, or no year: every ACME report, as before.
    assert sorted(route_of(library, "ACME widget sales in 2015")) == [
        "ACME_2019_10K.pdf",
        "ACME_2022_10K.pdf",
    ]
    assert len(route_of(library, "ACME widget sales")) == 2


@pytest.mark.parametrize("method", ["robertson", "bm25l", "bm25+"])
def test_every_bm25_variant_routes_alike(settings: Settings, embedder, method: str) -> None:
    # bm25l and bm25+ give every name a score, holding a term or not: which names hold a
    # term is read from the postings, not from a score above 0.
    library = Library.open(settings.model_copy(update={"bm25_method": method}), embedder=embedder)
    library.add([(name, make_pdf([cover, *FILLER])) for name, cover in REPORTS.items()])
    assert route_of(library, "Initech net income")[0] == "INITECH_2019_10K.pdf"
    assert route_of(library, "ACME widget sales in FY2022") == ["ACME_2022_10K.pdf"]
    assert route_of(library, "What happened in 2019?") == []


def test_two_companies_or_a_year_do_not_route_in_a_library(library: Library) -> None:
    library.add([(name, make_pdf([cover, *FILLER])) for name, cover in REPORTS.items()])
    assert route_of(library, "Compare the revenue of ACME and Initech") == []
    assert route_of(library, "What happened in 2019?") == []
    assert route_of(library, "Initech net income")[0] == "INITECH_2019_10K.pdf"
