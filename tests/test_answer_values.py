"""What a question asks for, and the values a text states (pure functions, exact results)."""

from __future__ import annotations

import pytest

from rag_core.answer.values import answer_values, asked_kind, organisations, values_in


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What is the FY2018 capital expenditure of 3M?", "quantity"),
        ("How many employees did Apple have in 2019?", "quantity"),
        ("What percent of revenue came from services?", "quantity"),
        ("公司2019年的营业收入是多少？", "quantity"),
        ("When did the merger close?", "date"),
        ("In what year was the company founded?", "date"),
        ("该公司何时成立？", "date"),
        ("Who is the auditor of Boeing?", "name"),
        ("Which company acquired the division?", "name"),
        ("Is Boeing's business subject to cyclicality?", None),
        ("What drove the reduction in SG&A expense as a percent of net sales?", None),
        ("Why did margins fall?", None),
        ("为什么利润下降？", None),
        ("Summarise the risk factors.", None),
        ("How does the company account for options granted to employees?", None),
        ("When can the justices be removed?", None),
        ("How large was revenue in 2019?", "quantity"),
        (
            "in millions, for 2016, 2015 and 2014 what was the total amount of repurchases?",
            "quantity",
        ),
        ("Based on the balance sheet, what is the FY2018 amount of accounts payable?", "quantity"),
        ("In 2022 Q2, which of JPM's business segments had the highest net income?", None),
        ("What does the company use to estimate fair value?", None),
        ("What can the growth elasticity of poverty depend on?", None),
        ("what would be the balance if the company paid the total tax liability?", "quantity"),
        ("What are Audit-Related fees related to?", None),
        ("What were the Audit-Related fees in 2019?", "quantity"),
    ],
)
def test_asked_kind(question: str, kind: str | None):
    assert asked_kind(question) == kind


def test_quantities_keep_scale_currency_and_percent_but_not_years_dates_or_names():
    text = (
        "Purchases of property, plant and equipment (PP&E) (1,577) (1,373) in millions. "
        "Revenue rose 4.5% to $8.7 billion in fiscal 2022; on January 28, 2023 the board "
        "approved 2,000 shares for the F/A-18 and F-15EX programmes. 2019年收入12.5亿元，增长百分之十二。"
    )
    assert [v.text for v in values_in(text, "quantity")] == [
        "1,577", "1,373", "4.5%", "$8.7 billion", "2,000", "12.5亿元", "百分之十二",
    ]  # fmt: skip
    assert [v.text for v in values_in(text, "date")] == [
        "fiscal 2022", "January 28, 2023", "2019年",
    ]  # fmt: skip
    value = values_in(text, "quantity")[3]
    assert text[value.start : value.end] == "$8.7 billion"


def test_names_are_capitalised_runs_not_sentence_openers_or_months():
    text = "The auditor is PricewaterhouseCoopers LLP. In March the Board met Johnson & Johnson."
    assert [v.text for v in values_in(text, "name")] == [
        "PricewaterhouseCoopers LLP", "Board", "Johnson & Johnson",
    ]  # fmt: skip


def test_answer_values_fit_the_shape_asked_and_skip_what_the_question_states():
    values = values_in("In 2022 the 908 stores earned $1.2 billion, 21.0% of sales.", "quantity")
    assert [v.text for v in answer_values("What percent of sales?", values)] == ["21.0%"]
    assert [v.text for v in answer_values("How many stores are there?", values)] == ["908"]
    assert [v.text for v in answer_values("What did the 908 stores earn?", values)] == [
        "$1.2 billion", "21.0%",
    ]  # fmt: skip


def test_rates_want_percentages_ratios_plain_numbers_and_plural_who_is_no_name():
    values = values_in("Interest $203 million; coverage 3.2x; tax 21.0% of $5.", "quantity")
    assert [v.text for v in answer_values("What was the effective tax rate?", values)] == ["21.0%"]
    assert [v.text for v in answer_values("What is the coverage ratio?", values)] == ["3.2x"]
    assert asked_kind("Who are the primary customers of Boeing?") is None
    assert asked_kind("Who audits the company?") == "name"


def test_reference_marks_are_no_amounts_and_how_long_wants_a_length_of_time():
    text = "The court has nine justices.[137] They serve 29 years on average (see [72])."
    values = values_in(text, "quantity")
    assert [v.text for v in values] == ["29"]  # "[137]" and "[72]" mark references
    assert [v.text for v in answer_values("How long do justices serve?", values, text)] == ["29"]
    marks = values_in("Ratified in 1989 by 13 states.[4]", "quantity")
    assert [v.text for v in marks] == ["13"]
    assert answer_values("How long did ratification take?", marks, "Ratified by 13 states.") == []


def test_form_names_and_the_numbers_of_exhibits_notes_and_pages_are_no_amounts():
    exhibits = (
        "10.25 Sonic Automotive, Inc. Supplemental Executive Retirement Plan (incorporated by "
        "reference to Exhibit 10.15 to the Annual Report on Form 10-K for 2002)\n"
        "3.1(a) Restated Medallion Financial Corp. Certificate of Incorporation.\n"
        "10.36 — HCA Healthcare, Inc. 2021 Senior Officer Performance Excellence Program\n"
        "30 Commerzbank Annual Report 2022"
    )
    assert values_in(exhibits, "quantity") == []
    assert values_in("See Note 5, Item 7 and page 42 of the 8-K.", "quantity") == []
    assert (
        values_in("fair value option of ASC 825 and IFRS 16 leases (Topic 842)", "quantity") == []
    )
    # amounts beside them still count, and so does a count that opens a sentence
    text = "126 hospitals were open; we paid 15 notes of $1,000 each (Note 4)."
    assert [v.text for v in values_in(text, "quantity")] == ["126", "15", "$1,000"]
    assert [v.text for v in values_in("a 30-year term", "quantity")] == ["30"]
    row = "Number of freestanding outpatient surgery centers at end of period(a) 126 125 121"
    assert [v.text for v in values_in(row, "quantity")] == ["126", "125", "121"]


def test_a_clause_opening_word_is_no_name_after_a_reference_mark_or_a_quote():
    text = (
        "For a case to be heard, there must be a quorum of at least six justices.[168] If a "
        'quorum is not available, the judgment stands. He said." The Court agreed. However '
        "Congress added justices."
    )
    assert [v.text for v in values_in(text, "name")] == ["Court", "Congress"]


def test_an_earlier_year_after_a_preposition_is_a_date_not_a_count():
    text = (
        "In 1869, the Act of 1789 set nine seats; by 1837 there were 1869 cases, and 1850.5 "
        "units in 1600 patients of 1500 trials since 1850 was"
    )
    assert [v.text for v in values_in(text, "quantity")] == ["1869", "1850.5", "1600", "1500"]
    assert [v.text for v in values_in(text, "date")] == ["1869", "1789", "1837", "1850"]


def test_the_number_of_things_is_a_count_and_a_named_currency_no_percentage():
    values = values_in("It held 31 patents, 99.77% of votes, and paid $213.0 million.", "quantity")
    number_of = "For Rectifier, what was the value of Number of patents at year-end?"
    assert [v.text for v in answer_values(number_of, values)] == ["31"]
    assert [v.text for v in answer_values("What was the patent count?", values)] == ["31"]
    in_aud = "What was the largest single spending on executive compensation in AUD?"
    assert [v.text for v in answer_values(in_aud, values)] == ["31", "$213.0 million"]
    assert [
        v.text
        for v in answer_values("员工人数是多少？", values_in("员工3200人，占比5%", "quantity"))
    ] == ["3200"]


def test_a_month_after_a_preposition_is_a_date_and_so_is_a_chinese_month_and_day():
    text = "Frost hit in April, until early March; it may rise in May-June. 公司于4月15日发布，历时4个月。"
    assert [v.text for v in values_in(text, "date")] == ["April", "early March", "4月15日"]


def test_organisations_named_with_their_legal_form():
    assert organisations(
        "What is the total number of employees let go by Pintec Technology Holdings Limited?"
    ) == ["Pintec Technology Holdings Limited"]
    assert organisations("What was the spending of Kiniksa Pharmaceuticals, Ltd. in USD?") == [
        "Kiniksa Pharmaceuticals, Ltd."
    ]
    assert organisations("贵州茅台酒股份有限公司2019年营业收入是多少？") == [
        "贵州茅台酒股份有限公司"
    ]
    # no legal form, or a word alone: nothing ("Group revenue" is a figure)
    assert organisations("What is the FY2018 capital expenditure amount for 3M?") == []
    assert organisations("Group revenue in 2019?") == []


def test_traditional_chinese_is_read_as_simplified_and_quoted_as_written():
    assert [
        asked_kind(q)
        for q in ("有幾個工廠？", "該公司何時成立？", "誰是董事長？", "為什麼利潤下降？")
    ] == [
        "quantity",
        "date",
        "name",
        None,
    ]
    text = "淨利潤達到五十億元，員工3200人，於2019年4月15日公告。"
    assert [v.text for v in values_in(text, "quantity")] == ["五十億元", "3200"]
    assert [v.text for v in values_in(text, "date")] == ["2019年4月15日"]
    staff = values_in("員工3200人，佔比5個百分點", "quantity")
    assert [v.text for v in answer_values("員工人數是多少？", staff)] == ["3200"]
    assert organisations("台積電股份有限公司2019年員工人數是多少？") == ["台積電股份有限公司"]
