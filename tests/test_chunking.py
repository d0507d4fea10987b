from rag_core.ingest.chunking import chunk_document, chunk_page, pack_spans, split_long
from rag_core.text import section_of
from rag_core.types import PageText, Span


def words(texts):
    return [len(t.split()) for t in texts]


def test_pack_spans_fills_up_to_the_budget_and_overlaps_whole_spans():
    spans = [Span(i * 10, i * 10 + 9) for i in range(5)]
    assert pack_spans(spans, [4, 4, 4, 4, 4], max_tokens=10, overlap_tokens=0) == [
        Span(0, 19),
        Span(20, 39),
        Span(40, 49),
    ]
    assert pack_spans(spans, [4, 4, 4, 4, 4], max_tokens=10, overlap_tokens=4) == [
        Span(0, 19),
        Span(10, 29),
        Span(20, 39),
        Span(30, 49),
    ]


def test_chunk_page_spans_are_exact_and_cover_every_sentence():
    text = "Alpha beta gamma. Delta epsilon zeta eta. Theta iota.\n\nKappa lambda mu nu xi."
    spans = chunk_page(text, words, max_tokens=6, overlap_tokens=0)
    assert [text[s.start : s.end] for s in spans] == [
        "Alpha beta gamma.",
        "Delta epsilon zeta eta. Theta iota.",
        "Kappa lambda mu nu xi.",
    ]


def test_a_sentence_longer_than_a_chunk_is_cut_between_words():
    text = " ".join(f"w{i}" for i in range(25)) + "."
    spans = chunk_page(text, words, max_tokens=10, overlap_tokens=0)
    assert all(len(text[s.start : s.end].split()) <= 10 for s in spans)
    assert " ".join(text[s.start : s.end] for s in spans) == text


def test_cut_pieces_of_a_sentence_inside_a_page_keep_their_offsets():
    text = "Short one. " + " ".join(f"w{i}" for i in range(40)) + ". Tail."
    sentence = Span(11, text.index(". Tail") + 1)
    parts = split_long(text, sentence, n_tokens=41, max_tokens=10)
    assert parts[0].start == sentence.start and parts[-1].end == sentence.end
    assert all(sentence.start <= p.start < p.end <= sentence.end for p in parts)
    assert " ".join(text[p.start : p.end] for p in parts) == text[sentence.start : sentence.end]
    spans = chunk_page(text, words, max_tokens=10, overlap_tokens=0)
    assert all(0 <= s.start < s.end <= len(text) for s in spans)


def test_chinese_long_sentence_is_cut_between_characters():
    text = "营业收入" * 30 + "。"
    parts = split_long(text, Span(0, len(text)), n_tokens=121, max_tokens=40)
    assert "".join(text[p.start : p.end] for p in parts) == text
    assert all(p.end - p.start <= 40 for p in parts)


def test_chunk_document_keeps_pages_and_carries_the_section_heading():
    pages = [
        PageText(0, "Risk Factors\n\nOur business depends on suppliers. Prices may rise."),
        PageText(1, "Competition is intense in every market we serve."),
        PageText(2, ""),
        PageText(3, "Legal Proceedings\n\nThere are no material cases pending."),
    ]
    specs = chunk_document(
        pages, words, title="ACME 2020 Annual Report", max_tokens=50, overlap_tokens=0
    )
    assert [(s.page, s.ordinal) for s in specs] == [(0, 0), (1, 0), (3, 0)]
    assert [s.context for s in specs] == [
        "ACME 2020 Annual Report — Risk Factors",
        "ACME 2020 Annual Report — Risk Factors",
        "ACME 2020 Annual Report — Legal Proceedings",  # a page that opens with a heading
    ]
    for spec in specs:
        text = pages[spec.page].text
        assert text[spec.start : spec.end].strip() == text[spec.start : spec.end]


STATEMENT = (
    "Table of Contents\n"
    "3M Company and Subsidiaries\n"
    "Consolidated Statement of Cash Flows\n"
    "Years ended December 31\n"
    "(Millions) 2018 2017 2016\n"
    "Net income including noncontrolling interest $ 5,363 $ 4,869 $ 5,058\n"
    "Accounts receivable 5,020 4,911 4,392\n"
    "Inventories\n"
    "Finished goods 2,120 1,915 1,812\n"
    "Cash Flows from Investing Activities\n"
    "Purchases of property, plant and equipment (PP&E) (1,577) (1,373) (1,420)\n"
    "Proceeds from sale of PP&E and other assets 262 49 58\n"
    "Capital Spending\n"
    "We expect to spend more next year."
)


def test_a_page_title_reaches_every_chunk_and_table_row_labels_are_not_headings():
    # "Table of Contents" runs on every page (furniture); "Inventories" sits between two
    # rows of the table (a row label), and so does the investing section's label; the
    # heading after the table is one.
    others = [f"Table of Contents\nNote {i} covers leases and debt." for i in range(1, 4)]
    pages = [PageText(0, STATEMENT), *(PageText(i, t) for i, t in enumerate(others, 1))]
    specs = chunk_document(pages, words, title="3M 2018 10K", max_tokens=14, overlap_tokens=0)
    contexts = [s.context for s in specs if s.page == 0]
    title = "3M 2018 10K — 3M Company and Subsidiaries Consolidated Statement of Cash Flows"
    assert len(contexts) >= 3
    assert all(c.startswith(title) for c in contexts)
    assert not any("Inventories" in c or "Investing" in c for c in contexts)
    last = [s for s in specs if s.page == 0][-1]
    assert STATEMENT[last.start : last.end].endswith("We expect to spend more next year.")
    assert last.context == f"{title} › Capital Spending"


def test_a_page_opening_with_running_text_keeps_the_section_in_force():
    from rag_core.ingest.chunking import page_headings

    text = "RESULTS OF OPERATIONS\n\nSales grew in every region. Margins held."
    follow = "and in Asia. Prices rose.\nOutlook\nWe expect growth."
    assert page_headings(text, frozenset()) == ("RESULTS OF OPERATIONS", [])
    top, found = page_headings(follow, frozenset())
    assert top == "" and found == [(follow.index("Outlook"), "Outlook")]
    specs = chunk_document(
        [PageText(0, text), PageText(1, follow)],
        words,
        title="ACME",
        max_tokens=5,
        overlap_tokens=0,
    )
    first = [s.context for s in specs if s.page == 0]
    second = [s.context for s in specs if s.page == 1]
    assert set(first) == {"ACME — RESULTS OF OPERATIONS"}
    assert second[0] == "ACME — RESULTS OF OPERATIONS"  # "and in Asia." continues it
    # An upper-case heading is above a mixed-case one: "Outlook" is its subsection.
    assert second[-1] == "ACME — RESULTS OF OPERATIONS › Outlook"


def test_a_heading_closes_the_open_headings_of_its_level():
    # Sibling headings follow each other; they do not nest (the context used to read
    # "Net Sales › Operating Expenses"). Both stay under the upper-case part above them.
    pages = [
        PageText(0, "MANAGEMENT'S DISCUSSION\nOur year was good.\nNet Sales\nSales rose."),
        PageText(1, "Prices rose too.\nOperating Expenses\nCosts fell.\nPART II\nOther items."),
    ]
    specs = chunk_document(pages, words, title="ACME", max_tokens=4, overlap_tokens=0)
    contexts = {pages[s.page].text[s.start : s.end]: s.context for s in specs}
    assert contexts == {
        "MANAGEMENT'S DISCUSSION": "ACME — MANAGEMENT'S DISCUSSION",
        "Our year was good.": "ACME — MANAGEMENT'S DISCUSSION",
        "Net Sales\nSales rose.": "ACME — MANAGEMENT'S DISCUSSION › Net Sales",
        "Prices rose too.": "ACME — MANAGEMENT'S DISCUSSION › Net Sales",
        "Operating Expenses\nCosts fell.": "ACME — MANAGEMENT'S DISCUSSION › Operating Expenses",
        "PART II\nOther items.": "ACME — PART II",  # a new upper-case part closes the old
    }


def test_markdown_heading_levels_make_the_outline():
    from rag_core.ingest.chunking import heading_level, nest

    levels = [heading_level(h) for h in ("# A", "### C", "RISK FACTORS", "Net Sales", "风险")]
    assert levels == [1, 3, 1, 2, 2]
    chinese = (
        "第一章 总则",
        "第二节 范围",
        "第三条 定义",
        "一、概况",
        "（一）简介",
        "1、业务",
        "（1）产品",
    )
    assert [heading_level(h) for h in chinese] == [2, 3, 4, 2, 3, 4, 5]
    assert heading_level("(1) Revenue") == 2  # numbering counts only in Chinese headings
    outline = nest(nest(nest((), "第一章 总则"), "第一节 范围"), "第二节 定义")
    assert [h for _, h in outline] == ["第一章 总则", "第二节 定义"]
    assert [h for _, h in nest(outline, "第二章 管理")] == ["第二章 管理"]
    outline = nest(nest(nest((), "# Guide"), "## Install"), "### Linux")
    assert [h for _, h in outline] == ["Guide", "Install", "Linux"]
    assert [h for _, h in nest(outline, "## Usage")] == ["Guide", "Usage"]
    text = "# Guide\nIntro.\n## Install\nRun it.\n### Linux\nUse apt.\n## Usage\nCall it."
    specs = chunk_document([PageText(0, text)], words, title="Doc", max_tokens=2, overlap_tokens=0)
    context = {w: s.context for s in specs for w in text[s.start : s.end].split()}
    assert context["Run"] == "Doc — Guide › Install"
    assert context["Use"] == "Doc — Install › Linux"  # the innermost two
    assert context["Call"] == "Doc — Guide › Usage"
    # A Markdown file's first heading is not a page title above the others: a second
    # "#" heading is its sibling.
    text = "# Guide\nIntro.\n# Reference\nCall it."
    specs = chunk_document([PageText(0, text)], words, title="Doc", max_tokens=2, overlap_tokens=0)
    assert {w: s.context for s in specs for w in text[s.start : s.end].split()}["Call"] == (
        "Doc — Reference"
    )


def test_a_running_page_title_continues_the_outline_below_it():
    # Every page of the notes repeats "Notes to Financial Statements" at its top: the
    # note in force at the end of one page is still in force on the next.
    pages = [
        PageText(0, "Notes to Financial Statements\nIn dollars.\nNote 7 Debt\nWe borrowed."),
        PageText(1, "Notes to Financial Statements\nThe loans mature later."),
        PageText(2, "Balance Sheets\nCash 10 20"),
    ]
    specs = chunk_document(pages, words, title="ACME", max_tokens=50, overlap_tokens=0)
    assert [s.context for s in specs] == [
        "ACME — Notes to Financial Statements",
        "ACME — Notes to Financial Statements › Note 7 Debt",
        "ACME — Balance Sheets",  # another title starts afresh
    ]


def test_dense_text_is_the_context_then_the_text_with_table_rows_whole():
    from rag_core.ingest.chunking import dense_text

    text = (
        "(Millions) 2018 2017 2016\n"
        "Purchases of property, plant and equipment (PP&E) (1,577) (1,373) (1,420)\n"
        "\nRevenue grew 12% in 2018 and 2019."
    )
    whole = text.replace("\n\n", "\n")  # blank lines left out
    assert dense_text("3M 2018 10K — Cash Flows", text) == "3M 2018 10K — Cash Flows\n" + whole
    assert dense_text("", text) == whole


def test_section_of_is_the_context_without_the_document_title():
    pages = [
        PageText(0, "Consolidated Balance Sheet\nAssets\nCash 10 20\nInventories 5 6"),
        PageText(1, "Plain running text with no heading at all, ending in a full stop."),
    ]
    specs = chunk_document(
        pages,
        lambda texts: [len(t.split()) for t in texts],
        title="ACME 2024 10-K",
        max_tokens=100,
        overlap_tokens=0,
    )
    sections = [section_of(s.context, "ACME 2024 10-K") for s in specs]
    assert sections[0].startswith("Consolidated Balance Sheet")
    assert "ACME" not in " ".join(sections)
    assert section_of("ACME 2024 10-K", "ACME 2024 10-K") == ""  # no heading above the chunk
    assert section_of("Methods › Cohort", "") == "Methods › Cohort"  # no title: all of it
    # The title was edited after the chunk was made: the first separator still ends it.
    assert section_of("Old title — Results", "New title") == "Results"
    assert section_of("Old title", "New title") == ""
    # A title that merely starts like the context's does not eat into the section.
    assert section_of("Reports — Summary", "Report") == "Summary"


def test_a_company_name_with_a_full_stop_does_not_end_the_page_opening():
    # "AMAZON.COM, INC." ends with a full stop but is a name, not a sentence: the
    # statement's title under it is the page's title, so the second statement is not
    # filed under the first one's heading.
    from rag_core.ingest.chunking import page_headings

    cash = "AMAZON.COM, INC.\nCONSOLIDATED STATEMENTS OF CASH FLOWS\n(in millions)\nNet income 3,033 10,073"
    ops = "Walmart Inc.\nCONSOLIDATED STATEMENTS OF OPERATIONS\n(in millions)\nNet sales 177,866 232,887"
    assert page_headings(ops, frozenset()) == ("CONSOLIDATED STATEMENTS OF OPERATIONS", [])
    specs = chunk_document(
        [PageText(0, cash), PageText(1, ops)], words, title="ACME", max_tokens=50, overlap_tokens=0
    )
    assert [s.context for s in specs] == [
        "ACME — CONSOLIDATED STATEMENTS OF CASH FLOWS",
        "ACME — CONSOLIDATED STATEMENTS OF OPERATIONS",
    ]
    # A one-word sentence still ends the opening: "None." is running text.
    top, found = page_headings("Mine Safety\nNone.\nProperties\nWe lease offices.", frozenset())
    assert top == "Mine Safety" and [h for _, h in found] == ["Properties"]


def test_chinese_numbered_headings_nest_by_their_numbering():
    text = "本手册说明制度。\n第一章 总则\n适用于全体员工。\n第一节 范围\n包括正式员工。\n第二节 定义\n差旅指出差。"
    specs = chunk_document(
        [PageText(0, text)], words, title="员工手册", max_tokens=1, overlap_tokens=0
    )
    context = {text[s.start : s.end]: s.context for s in specs}
    assert context["包括正式员工。"] == "员工手册 — 第一章 总则 › 第一节 范围"
    assert context["差旅指出差。"] == "员工手册 — 第一章 总则 › 第二节 定义"  # a sibling section
