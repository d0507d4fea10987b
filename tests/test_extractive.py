from rag_core.answer.common import Unit
from rag_core.answer.extractive import select_units, weighted_coverage
from rag_core.library import Library
from rag_core.types import AnswerDone, Span, TextDelta

from .pdfs import make_pdf
from .test_library import APPLES, CHINESE, ENGINES


def test_weighted_coverage_prefers_rare_question_terms():
    sentences = [{"oil", "engine"}, {"oil", "grade"}, {"oil"}]
    cover = weighted_coverage({"oil", "engine"}, sentences)
    assert cover[0] == 1.0 and cover[1] == cover[2] < 0.5
    assert weighted_coverage(set(), sentences) == [0.0, 0.0, 0.0]


def test_terms_naming_the_document_weigh_the_least():
    sentences = [{"westwater", "resources"}, {"leadership", "changed", "ceo"}]
    question = {"westwater", "resources", "leadership", "changed"}
    assert weighted_coverage(question, sentences) == [0.5, 0.5]
    low = weighted_coverage(question, sentences, background={"westwater", "resources"})
    assert low[1] > 0.8 > 0.2 > low[0]


def test_select_units_keeps_close_runners_up_in_reading_order():
    units = [
        Unit(1, Span(0, 5), "b"),
        Unit(0, Span(10, 20), "a"),
        Unit(0, Span(0, 9), "c"),
        Unit(2, Span(0, 1), "d"),
    ]
    chosen = select_units(units, [0.9, 0.8, 0.3, 0.7], min_support=0.2)
    assert [u.text for u, _ in chosen] == ["a", "b", "d"]
    assert select_units(units, [0.1, 0.1, 0.1, 0.1], min_support=0.2) == []


def test_extractive_answer_cites_supporting_sentences(library: Library):
    library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    events = list(library.ask_stream("How often change engine oil?"))
    answer = events[-1].answer
    assert isinstance(events[-1], AnswerDone) and answer.mode == "extractive"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == answer.text
    assert answer.text.startswith(
        "From your documents:\n\nChange the engine oil every 5000 kilometres. [1]"
    )
    first = answer.citations[0]
    assert (first.doc_name, first.page_number, first.number) == ("engine.pdf", 1, 1)
    page = library.page_text(first.doc_id, first.page)
    assert page[first.start : first.end] == "Change the engine oil every 5000 kilometres."


def test_extractive_chinese_answer_and_refusal(library: Library):
    library.add([("年报.pdf", make_pdf(CHINESE)), ("orchard.pdf", make_pdf(APPLES))])
    answer = library.ask("公司营业收入增长了多少？")
    assert answer.text.startswith(
        "答案：百分之十二 [1]\n\n根据您的文档：\n\n公司营业收入增长了百分之十二。"
    )
    assert answer.citations[0].doc_name == "年报.pdf"
    refused = library.ask("量子计算机的原理")
    assert refused.refused and refused.text.startswith("在您的文档中未找到答案。")
    refused = library.ask("Who painted the Mona Lisa?")
    assert refused.refused and refused.citations == ()
    assert refused.text == (
        "Not found in your documents. I searched the whole library for “Who painted the Mona Lisa?” "
        "and found nothing that answers it."
    )


def test_a_question_for_an_amount_is_answered_with_the_amount_first(library: Library):
    library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    answer = library.ask("How many tonnes of apples did the orchard harvest?")
    assert answer.text.startswith("Answer: 120 [1]\n\nFrom your documents:\n\n")
    cited = answer.citations[0]
    page = library.page_text(cited.doc_id, cited.page)
    assert "120" in page[cited.start : cited.end] and cited.doc_name == "orchard.pdf"
    lead = answer.sentences[0]  # "Answer:" is Folio's label, not a claim of its own
    assert (lead.text, lead.support) == ("Answer: 120", "supported")


def test_no_value_of_the_asked_kind_declines_with_the_closest_passages(library: Library):
    library.add([("engine.pdf", make_pdf(ENGINES))])
    answer = library.ask("When does the turbocharger need inspection?")
    # it declines (no date in the passages), and shows what came closest, cited
    assert answer.refused and answer.evidence_found
    assert answer.text.startswith(
        "None of the passages found states the date asked for. The closest passages:\n\n"
        "The turbocharger needs inspection every two years. [1]"
    )
    assert answer.citations and answer.citations[0].doc_name == "engine.pdf"
    # the claim check reads the declining lead as Folio's own words, not a claim to cite
    assert [(s.support, s.reason) for s in answer.sentences[:2]] == [
        ("supported", "Folio's refusal"),
        ("supported", "a heading or connective, no claim"),
    ]
    explained = library.ask("How does the turbocharger inspection work?")
    assert explained.text.startswith("From your documents:")


HOSPITALS = [
    "Harbour Health Annual Report\n\nAt year-end the number of hospitals was 14. "
    "Net income was $5,643 million in 2022.",
    "Our outpatient clinics are managed by regional teams who report to the board. "
    "Clinics follow the same safety rules as hospitals.",
]


def test_an_amount_comes_from_a_passage_that_names_what_is_asked(library: Library):
    library.add([("harbour.pdf", make_pdf(HOSPITALS))])
    counted = library.ask("How many hospitals were there at year-end?")
    assert counted.text.startswith("Answer: 14 [")
    # "14" is a count in the passages, but of hospitals: no passage states the clinics'
    answer = library.ask("What was the number of managed clinics at year-end?")
    assert answer.refused and answer.evidence_found
    assert answer.text.startswith("None of the passages found states the amount asked for.")
    assert "Answer:" not in answer.text and answer.citations


def test_a_traditional_question_finds_simplified_text_and_is_answered_in_traditional(
    library: Library,
):
    library.add([("年报.pdf", make_pdf(CHINESE)), ("orchard.pdf", make_pdf(APPLES))])
    answer = library.ask("淨利潤達到多少？")  # Traditional; the report is Simplified
    assert not answer.refused
    # the labels in the reader's script, the passage quoted as the document writes it
    assert answer.text.startswith("答案：五十亿元 [1]\n\n根據您的文件：\n\n净利润达到五十亿元。")
    assert answer.citations[0].doc_name == "年报.pdf"
    refused = library.ask("量子電腦的原理是什麼？")
    assert refused.refused and refused.text.startswith(
        "在您的文件中未找到答案。已在整個文件庫中搜尋"
    )
