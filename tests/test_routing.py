"""Document routing: a question naming a document finds it by its name, not by a cover page
that happens to share the question's ordinary words."""

from __future__ import annotations

from datetime import UTC, datetime

from rag_core.index.lexical import LexicalTokenizer
from rag_core.index.routing import name_terms, profile_of, routing_terms
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
