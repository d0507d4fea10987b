from rag_core.chunking import chunk_document, chunk_page, pack_spans, split_long
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
        "ACME 2020 Annual Report — Risk Factors › Legal Proceedings",
    ]
    for spec in specs:
        text = pages[spec.page].text
        assert text[spec.start : spec.end].strip() == text[spec.start : spec.end]


def test_dense_text_leaves_table_numbers_out_but_keeps_sentences():
    from rag_core.chunking import dense_text

    text = (
        "(Millions) 2018 2017 2016\n"
        "Purchases of property, plant and equipment (PP&E) (1,577) (1,373) (1,420)\n"
        "Other — net 9 (6) (4)\n"
        "Revenue grew 12% in 2018 and 2019."
    )
    assert dense_text("3M 2018 10K — Cash Flows", text) == (
        "3M 2018 10K — Cash Flows\n(Millions)\n"
        "Purchases of property, plant and equipment (PP&E)\nOther net\n"
        "Revenue grew 12% in 2018 and 2019."
    )
