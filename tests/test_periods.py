"""Values by period and the arithmetic a question asks of them (pure functions, exact results),
and the extractive answer that leads with the result, through a real PDF and library."""

from __future__ import annotations

import pytest

from rag_core.answer.common import sentence_units
from rag_core.answer.extractive import period_values
from rag_core.answer.periods import (
    Ask,
    asked,
    asked_years,
    compute,
    parse_figure,
    row_cells,
    row_values,
    sentence_values,
    share,
    total_row,
)
from rag_core.library import Library
from rag_core.types import Chunk, Hit

from .pdfs import make_pdf


@pytest.mark.parametrize(
    ("question", "op", "periods"),
    [
        ("What was the interest expense in 2009?", "value", ("2009",)),
        ("What was FY2019 revenue?", "value", ("2019",)),
        ("What is the value of buildings in 2018 and 2019 respectively?", "values", ("2018", "2019")),
        ("What was total rent expense for fiscal years 2010 to 2012?", "total", ("2010", "2011", "2012")),
        ("In millions, for 2016, 2015 and 2014, what was the total cost?", "total", ("2016", "2015", "2014")),
        ("What was the average tax rate in 2017 and 2018?", "average", ("2017", "2018")),
        ("What is the net change in staff from 2016 to 2014?", "change", ("2014", "2016")),
        ("What is the net change in the number of staff in 2016?", "change", ("2015", "2016")),
        ("What percentage did the balance increase from 2007 to 2009?", "percent_change", ("2007", "2009")),
        ("What is the growth rate in amortization expense in 2010?", "percent_change", ("2009", "2010")),
        ("What is the 2 year revenue CAGR from FY2020 to FY2022?", "cagr", ("2020", "2022")),
        ("What percentage of future minimum rental payments are due in 2018?", "share", ("2018",)),
    ],
)  # fmt: skip
def test_what_a_question_asks_of_its_years(question: str, op: str, periods: tuple[str, ...]):
    ask = asked(question)
    assert ask is not None and (ask.op, ask.periods) == (op, periods)


def test_no_year_or_a_ratio_of_two_things_asks_nothing():
    assert asked("What was the interest expense?") is None
    assert asked("What is the debt-to-total asset ratio in 2015?") is None
    assert asked("Operating expenses were what multiple of pre-tax earnings in 2015?") is None
    assert asked("What percentage of revenue came from services in 2018 and 2019?") is None
    assert asked_years("from 2019 to 2017, and in 1999") == ["2019", "2017", "1999"]
    assert asked_years("$2,019 million in FY2019") == ["2019"]


def test_figures_keep_sign_currency_scale_and_percent():
    assert parse_figure("(1,577)").value == -1577  # type: ignore[union-attr]
    figure = parse_figure("$1.6\nmillion", 10)
    assert figure is not None
    assert (figure.value, figure.text, figure.prefix, figure.suffix, figure.decimals) == (
        1.6, "$1.6 million", "$", " million", 1,
    )  # fmt: skip
    lone = parse_figure("(2.34%", 5)
    assert lone is not None and (lone.value, lone.text, lone.start) == (2.34, "2.34%", 6)
    assert parse_figure("twelve") is None


def test_a_row_is_its_label_and_its_trailing_cells():
    label, cells = row_cells("Total cost of share repurchases $ 6,069 $ 4,195 — (12)") or ("", [])
    assert label == "Total cost of share repurchases"
    assert [c.text if c else None for c in cells] == ["$ 6,069", "$ 4,195", None, "(12)"]
    label, cells = row_cells("Tax Fees (3) 169,776 61,592") or ("", [])
    assert (label, [c.value for c in cells if c]) == ("Tax Fees", [169776, 61592])
    assert row_cells("Buildings and improvements 31 and 39 years") is None
    assert row_cells("2016 2015 2014") is None  # a header, not a row
    assert row_values("2018 $ 313", []) == {"2018": parse_figure("$ 313", 5)}


def test_a_row_takes_the_years_of_the_nearest_header_that_fits_it():
    headers = ["(Millions) 2018 2017 2016", "Fiscal 2019 Fiscal 2018"]  # closest first
    values = row_values("Purchases of PP&E (1,577) (1,373) (1,420)", headers)
    assert {y: a.value for y, a in values.items()} == {"2018": -1577, "2017": -1373, "2016": -1420}
    # the nearest header decides; one that does not fit the row gives nothing, not a guess
    assert row_values("Net sales 100 90", headers) == {}
    assert row_values("Net sales 100 90", ["Revenue grew.", "2019 2018"])["2019"].value == 100
    assert row_values("Balance at October 31, 2009 26,202", ["2009 2008"]) == {}
    # change columns after the years: the years' cells come first; "11 %" is one cell
    change = row_values("Net sales $ 100 $ 90 $ 10 11 %", ["2019 2018 $ Change % Change"])
    assert {y: a.text for y, a in change.items()} == {"2019": "$ 100", "2018": "$ 90"}
    assert row_values("Net sales $ 100 $ 90 $ 10 11 %", ["2019 2018"]) == {}
    margin = row_values("Gross margin 21.5 % 20.0 %", ["Fiscal 2019 Fiscal 2018"])
    assert {y: a.text for y, a in margin.items()} == {"2019": "21.5 %", "2018": "20.0 %"}


def test_sentences_tie_figures_to_years_by_for_or_respectively():
    text = "Rent was $244 million for 2016, $249 million for 2015 and $309 million for 2014."
    assert {y: a.text for y, a in sentence_values(text).items()} == {
        "2016": "$244 million", "2015": "$249 million", "2014": "$309 million",
    }  # fmt: skip
    text = (
        "Rent approximated $1.6 million, $2.7 million and $2.2 million for the fiscal years "
        "ended March 31, 2012, 2011 and 2010, respectively."
    )  # the day of the date is no figure, and "respectively" orders them
    assert {y: a.value for y, a in sentence_values(text).items()} == {
        "2012": 1.6, "2011": 2.7, "2010": 2.2,
    }  # fmt: skip
    assert sentence_values("Sales grew 4% in the year.") == {}


def _values(**figures: str) -> dict:
    return {year[1:]: parse_figure(text) for year, text in figures.items()}


def test_the_arithmetic_in_the_units_of_its_inputs():
    rent = _values(y2016="$244 million", y2015="$249 million", y2014="$309 million")
    total = compute(Ask("total", ("2016", "2015", "2014")), rent)
    assert total is not None and total.text == "$802 million"
    assert total.explanation() == (
        "the total of $244 million (2016), $249 million (2015) and $309 million (2014)"
    )
    average = compute(Ask("average", ("2016", "2015")), rent)
    assert average is not None and average.text == "$246.5 million"
    cost = _values(y2016="$ 6,069", y2015="4,195")  # the currency written on one cell only
    change = compute(Ask("change", ("2015", "2016")), cost)
    assert change is not None and change.text == "$1,874"
    growth = compute(Ask("percent_change", ("2015", "2016"), relative=True), cost)
    assert growth is not None and growth.text == "44.7%"
    capex = _values(y2016="(1,420)", y2018="(1,577)")  # outflows: the magnitude grew
    growth = compute(Ask("percent_change", ("2016", "2018"), relative=True), capex)
    assert growth is not None and growth.text == "11.1%"
    cagr = compute(Ask("cagr", ("2020", "2022")), _values(y2020="100", y2022="121"))
    assert cagr is not None and cagr.text == "10.0%"
    margin = _values(y2018="20.0%", y2019="21.5%")  # the change of a percentage, in points
    points = compute(Ask("percent_change", ("2018", "2019")), margin)
    assert points is not None and (points.ask.op, points.text) == ("change", "1.5%")
    listed = compute(Ask("values", ("2015", "2016")), cost)
    assert listed is not None and listed.text == "4,195 (2015), $ 6,069 (2016)"


def test_nothing_is_computed_from_a_missing_year_or_mixed_units():
    assert compute(Ask("total", ("2016", "2013")), _values(y2016="$1", y2015="$2")) is None
    assert compute(Ask("total", ("2016", "2015")), _values(y2016="$1", y2015="2%")) is None
    assert compute(Ask("change", ("2016", "2015")), _values(y2016="$1", y2015="€2")) is None
    zero = _values(y2015="0", y2016="5")
    assert compute(Ask("percent_change", ("2015", "2016"), relative=True), zero) is None


def test_a_share_is_a_row_over_its_tables_total_for_the_year():
    below = ["Debt securities 1,655 1,500", "Total net revenues 4,080 5,436", "Total other 1 2"]
    headers = ["$ in millions 2016 2015"]
    whole = total_row(below, headers, "2015")
    part = row_values("Equity securities $2,573 $3,781", headers)["2015"]
    assert whole is not None and whole.value == 5436
    result = share(Ask("share", ("2015",)), part, whole)
    assert result is not None and result.text == "69.6%"
    assert result.explanation() == "$3,781 of 5,436 in 2015"
    # a table of years as rows: the total row has one cell
    assert total_row(["2019 290", "Total $ 1,940"], [], "2018").value == 1940  # type: ignore[union-attr]
    assert share(Ask("share", ("2015",)), whole, part) is None  # a part larger than its whole


RENT_PAGE = (
    "Commitments and leases\n\n"
    "Rent charged to operating expense was $244 million for 2016, $249 million for 2015 and "
    "$309 million for 2014.\n\n"
    "Share repurchases\n\n"
    "in millions 2016 2015 2014\n"
    "Total cost of common share repurchases $ 6,069 $ 4,195 $ 5,469\n"
    "Common shares repurchased 36.6 22.1 31.8"
)


def test_the_extractive_answer_leads_with_the_computed_value_and_its_inputs(library: Library):
    library.add([("annual.pdf", make_pdf([RENT_PAGE]))])
    answer = library.ask(
        "What was the total rent charged to operating expense for 2016, 2015 and 2014?"
    )
    assert answer.text.startswith(
        "Answer: $802 million (the total of $244 million (2016), $249 million (2015) and "
        "$309 million (2014)) [1]\n\nFrom your documents:\n\n"
    )
    cited = answer.citations[0]
    assert (
        "$244 million for 2016"
        in library.page_text(cited.doc_id, cited.page)[cited.start : cited.end]
    )
    lead = answer.sentences[0]
    assert lead.citations == (1,) and lead.support == "supported"  # the total of what [1] states

    growth = library.ask(
        "What was the percentage increase in the total cost of common share repurchases from 2015 to 2016?"
    )
    assert growth.text.startswith(
        "Answer: 44.7% (the percentage change from $ 4,195 (2015) to $ 6,069 (2016)) ["
    )
    year = library.ask("What was the total cost of common share repurchases in 2015?")
    assert year.text.startswith("Answer: $ 4,195 [")  # the 2015 column, not the row's first figure


def test_a_rows_header_may_be_in_the_chunk_before_it_on_its_page():
    page = (
        "Consolidated Balance Sheets\n(in millions) August 29, 2021 August 30, 2020\n"
        "Cash and cash equivalents $ 11,258 $ 12,277\n"
        "TOTAL ASSETS $ 59,268 $ 55,556\n"
    )
    cut = page.index("Cash")  # the second chunk starts at the first row
    first = Chunk("c1", "d", 3, 0, 0, cut + 10, page[: cut + 10])  # overlapping, as chunks do
    second = Chunk("c2", "d", 3, 1, cut, len(page), page[cut:])
    other_page = Chunk("c3", "d", 4, 0, 0, 20, "Fiscal 2022 Fiscal 2021")
    row_hit, header_hit = Hit(second, "10-K.pdf", 1.0, 1), Hit(first, "10-K.pdf", 0.5, 2)
    row = next(u for u in sentence_units([row_hit])[0] if u.text.startswith("TOTAL ASSETS"))
    assert period_values(row, row_hit) == {}  # its own chunk has no header
    values = period_values(row, row_hit, [Hit(other_page, "10-K.pdf", 0.9, 3), header_hit])
    assert {y: a.text for y, a in values.items()} == {"2021": "$ 59,268", "2020": "$ 55,556"}
