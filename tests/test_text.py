import re

from rag_core.text import (
    CJK,
    HAN,
    HAN_UNIFIED,
    YEAR,
    language_of,
    looks_like_heading,
    normalize_page_text,
    repeated_lines,
    split_sentences,
)


def sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def test_english_sentences_respect_abbreviations_and_decimals():
    text = "Revenue grew 12% in 2018. The U.S. market, e.g. retail, was strong! Net income was $5.3 billion."
    assert sentences(text) == [
        "Revenue grew 12% in 2018.",
        "The U.S. market, e.g. retail, was strong!",
        "Net income was $5.3 billion.",
    ]


def test_chinese_sentences_need_no_spaces():
    text = (
        "公司年度报告显示，营业收入增长了百分之十二。净利润为五十亿元！是否分红？董事会决定分红。"
    )
    assert sentences(text) == [
        "公司年度报告显示，营业收入增长了百分之十二。",
        "净利润为五十亿元！",
        "是否分红？",
        "董事会决定分红。",
    ]


def test_soft_wraps_join_but_table_rows_and_headings_stand_alone():
    text = (
        "Consolidated Statement of Cash Flows\n"
        "(Millions) 2018 2017 2016\n"
        "Net income including noncontrolling interest $ 5,363 $ 4,869 $ 5,058\n"
        "Depreciation and amortization 1,488 1,544 1,474\n\n"
        "This long paragraph wraps across\nseveral lines of the text layer and\nends here. Then one more."
    )
    assert sentences(text) == [
        "Consolidated Statement of Cash Flows",
        "(Millions) 2018 2017 2016",
        "Net income including noncontrolling interest $ 5,363 $ 4,869 $ 5,058",
        "Depreciation and amortization 1,488 1,544 1,474",
        "This long paragraph wraps across\nseveral lines of the text layer and\nends here.",
        "Then one more.",
    ]


def test_a_wrap_after_a_figure_does_not_end_the_sentence():
    # pdfium's lines of a press release: the wraps leave "$1.6" and "2022," at line ends,
    # which made them look like table rows and cut the sentences there
    text = (
        "Merchandise inventories, net at the end of the fourth quarter of fiscal 2022 totaled $1.6\n"
        "billion compared to $1.5 billion at the end of the fourth quarter of fiscal 2021. The $104.2\n"
        "million increase was primarily due to the opening of 47 new stores since January 29, 2022,\n"
        "inventory to support new brand launches and brand expansions, and inventory cost\n"
        "increases.\n"
        "Cash and cash equivalents $ 737,877 $ 431,560\n"
        "Goodwill 10,870 10,870\n"
        "accuracy 0.91 0.93\n"
        "precision 0.88 0.90"
    )
    assert sentences(text) == [
        "Merchandise inventories, net at the end of the fourth quarter of fiscal 2022 totaled $1.6\n"
        "billion compared to $1.5 billion at the end of the fourth quarter of fiscal 2021.",
        "The $104.2\nmillion increase was primarily due to the opening of 47 new stores since "
        "January 29, 2022,\ninventory to support new brand launches and brand expansions, and "
        "inventory cost\nincreases.",
        "Cash and cash equivalents $ 737,877 $ 431,560",
        "Goodwill 10,870 10,870",
        "accuracy 0.91 0.93",  # a table row, though the next row's label is lower case
        "precision 0.88 0.90",
    ]


def test_spans_are_exact_slices_without_surrounding_space():
    text = "  One.  Two!\n\n  Three?  "
    spans = split_sentences(text)
    assert [(s.start, s.end) for s in spans] == [(2, 6), (8, 12), (16, 22)]


def test_language_and_headings():
    assert language_of("营业收入是多少？") == "zh"
    assert language_of("What was revenue in 2018?") == "en"
    assert language_of("3M 公司 2018 年的资本支出") == "zh"
    assert looks_like_heading("Consolidated Statement of Cash Flows")
    assert looks_like_heading("## Installation")
    assert looks_like_heading("第三章 财务报告")
    assert not looks_like_heading("Revenue grew strongly in all regions.")
    assert not looks_like_heading("1,488 1,544 1,474")
    # minor words alone are the tail of a wrapped sentence, not a heading
    assert not looks_like_heading("and")
    assert not looks_like_heading("of the")
    assert looks_like_heading("Property, Plant and Equipment")


def test_normalize_and_repeated_lines():
    assert normalize_page_text("a\r\nb  \r\n\n\n\nc\x00") == "a\nb\n\nc"
    pages = [
        "Table of Contents\nreal text one",
        "Table of Contents\nreal two",
        "Table of Contents\nthree",
        "Table of Contents\nfour",
    ]
    assert repeated_lines(pages) == frozenset({"Table of Contents"})


def test_years_stand_alone():
    text = "FY2019 vs 1999, not 1899, 2100, 120194 or 20195; 2020-2021"
    assert YEAR.findall(text) == ["2019", "1999", "2020", "2021"]
    assert YEAR.fullmatch("2007") and not YEAR.fullmatch("207")


def test_each_script_range_widens_the_one_before():
    def chars(ranges: str) -> str:
        pattern = re.compile(f"[{ranges}]")
        return "".join(c for c in "a1 中㐀\uf900あア한" if pattern.match(c))

    # unified, extension A, a compatibility ideograph (U+F900), hiragana, katakana, Hangul
    assert chars(HAN_UNIFIED) == "中㐀"
    assert chars(HAN) == "中㐀\uf900"
    assert chars(CJK) == "中㐀\uf900あア한"
