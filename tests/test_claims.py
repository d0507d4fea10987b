"""Claim checks: each sentence of an answer labelled against the passages it cites."""

from __future__ import annotations

import pytest

from rag_core.answer.claims import (
    OfflineClaimCheck,
    Quantity,
    Sentence,
    answer_sentences,
    names,
    number_found,
    passage_facts,
    quantities,
    worst_support,
)
from rag_core.answer.claude import ClaudeAnswerer
from rag_core.answer.common import page_citation, refusal_text
from rag_core.config import Settings
from rag_core.errors import ConfigurationError
from rag_core.index.lexical import LexicalTokenizer
from rag_core.library import Library
from rag_core.types import (
    Answer,
    AnswerDone,
    Chunk,
    Citation,
    Filters,
    Hit,
    PageImage,
    RetrievalTrace,
    SearchResult,
    SentenceCheck,
)

from .fake_anthropic import FakeAnthropic
from .fake_openai import FakeOpenAI
from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

TOKENIZER = LexicalTokenizer()
LIGHTHOUSE = (
    "The Kestrel Point lighthouse was rebuilt in 1987. The rebuilding cost 4.2 million euros "
    "and took two summers."
)
ANNUAL = "公司营业收入增长了12%。净利润达到50亿元。董事会决定向股东分红。"


def answer_citing(text: str, *passages: str, refused: bool = False) -> Answer:
    """An answer whose citation ``[n]`` quotes the n-th passage (a chunk of its own)."""
    hits, citations = [], []
    for number, passage in enumerate(passages, start=1):
        chunk = Chunk(f"c{number}", "d1", 0, number, 0, len(passage), passage)
        hits.append(Hit(chunk, "report.pdf", 1.0 / number, number))
        citations.append(
            Citation(number, chunk.id, "d1", "report.pdf", 0, passage, 0, len(passage))
        )
    trace = RetrievalTrace("q", "q", Filters(), (), (), ())
    return Answer("q", text, tuple(citations), "claude", "m", refused, tuple(hits), trace)


def labels(answer: Answer, checker: OfflineClaimCheck | None = None) -> list[tuple[str, str]]:
    checks = (checker or OfflineClaimCheck(TOKENIZER)).check(answer)
    return [(c.text, c.support) for c in checks]


# Sentences and markers (pure) -------------------------------------------------------------
def test_a_marker_belongs_to_the_sentence_it_ends_or_follows():
    text = (
        "From your documents:\n\nRebuilt in 1987. [1] It cost 4.2 million.[2][3] Two summers [1]."
    )
    assert answer_sentences(text) == [
        Sentence("From your documents:", (), 0, 20),
        Sentence("Rebuilt in 1987.", (1,), 22, 42),
        Sentence("It cost 4.2 million.", (2, 3), 43, 69),
        Sentence("Two summers.", (1,), 70, 86),
    ]
    assert [s.text for s in answer_sentences("营业收入增长了12%。[1]净利润为50亿元[2]。")] == [
        "营业收入增长了12%。",
        "净利润为50亿元。",
    ]


def test_numbers_are_read_with_their_scale_sign_and_precision():
    assert quantities("It was 1,234.5 or 1234.5, then $1.2 billion and (3.2)% in 2019.") == [
        Quantity("1,234.5", 1234.5, 0.1),
        Quantity("1234.5", 1234.5, 0.1),
        Quantity("$1.2 billion", 1.2e9, 1e8),
        Quantity("3.2)%", 3.2, 0.1, percent=True),
        Quantity("2019", 2019.0, 1.0, year=True),
    ]
    assert quantities("3M filed its 10-K; grade 5W-30 costs $5m, or 50亿元") == [
        Quantity("30", 30.0, 1.0),
        Quantity("$5m", 5e6, 1e6),
        Quantity("50亿", 5e9, 1e8),
    ]


def test_a_number_matches_the_passage_at_the_precision_it_is_written():
    table = passage_facts("(Millions) Net sales 1,234 1,577 (3.2)%", TOKENIZER).values
    [billions] = quantities("$1.2 billion")
    [exact] = quantities("1,577")
    [wrong] = quantities("1,578")
    [millions] = quantities("$1,577 million")
    [percent] = quantities("3.2%")
    [wrong_percent] = quantities("3.2 thousand")
    assert number_found(billions, table) and number_found(exact, table)
    assert number_found(millions, table) and number_found(percent, table)
    assert not number_found(wrong, table)
    assert number_found(wrong_percent, table)  # 3.2 x 1,000: a table in thousands
    assert not number_found(quantities("3.3%")[0], table)


def test_names_are_capitalised_runs_not_the_first_word_or_codes():
    text = "Therefore the Safety and Industrial segment of 3M in FY2022 beat Kestrel Point in USD."
    assert names(text) == ["Safety and Industrial", "Kestrel Point"]
    assert names("Kestrel Point was rebuilt by U.S. Lighthouse Trust.") == [
        "Point",  # the first word is not read as a name: every sentence starts with a capital
        "Lighthouse Trust",
    ]


# Labels ----------------------------------------------------------------------------------
def test_a_sentence_quoting_its_passage_is_supported():
    answer = answer_citing("The Kestrel Point lighthouse was rebuilt in 1987. [1]", LIGHTHOUSE)
    assert labels(answer) == [("The Kestrel Point lighthouse was rebuilt in 1987.", "supported")]


def test_a_fabricated_sentence_is_unsupported_even_when_cited():
    answer = answer_citing(
        "The Kestrel Point lighthouse was rebuilt in 1987.[1] "
        "Pirates painted the tower purple with royal funding.[1]",
        LIGHTHOUSE,
    )
    assert labels(answer) == [
        ("The Kestrel Point lighthouse was rebuilt in 1987.", "supported"),
        ("Pirates painted the tower purple with royal funding.", "unsupported"),
    ]


def test_a_wrong_number_is_never_supported():
    answer = answer_citing(
        "The rebuilding cost 5.2 million euros. [1] "
        "The lighthouse was rebuilt in 1987 for 5.2 million euros. [1] "
        "The lighthouse was rebuilt in 1988. [1]",
        LIGHTHOUSE,
    )
    checks = OfflineClaimCheck(TOKENIZER).check(answer)
    assert [(c.support, c.reason) for c in checks] == [
        ("unsupported", "“5.2 million” not in the cited passage"),
        ("partial", "“5.2 million” not in the cited passage"),
        ("unsupported", "“1988” not in the cited passage"),
    ]
    # The same number as the passage writes it, or rounded, is found.
    right = answer_citing(
        "The rebuilding cost €4,200,000 [1], about 4 million euros [1].", LIGHTHOUSE
    )
    assert [c.support for c in OfflineClaimCheck(TOKENIZER).check(right)] == ["supported"]


def test_an_uncited_sentence_is_unsupported_unless_a_connective():
    answer = answer_citing(
        "From your documents:\n\nThe lighthouse was rebuilt in 1987.\n\nKey Figures\n\n"
        "The rebuilding cost 4.2 million euros [1].",
        LIGHTHOUSE,
    )
    checks = OfflineClaimCheck(TOKENIZER).check(answer)
    assert [(c.text, c.support, c.reason) for c in checks] == [
        ("From your documents:", "supported", "a heading or connective, no claim"),
        ("The lighthouse was rebuilt in 1987.", "unsupported", "no citation"),
        ("Key Figures", "supported", "a heading or connective, no claim"),
        ("The rebuilding cost 4.2 million euros.", "supported", checks[3].reason),
    ]


def test_folios_refusal_is_not_unsupported():
    result = SearchResult((), RetrievalTrace("q", "q", Filters(), (), (), ()))
    for question in ("Who painted the tower?", "谁粉刷了灯塔？"):
        text = refusal_text(question, result)
        answer = Answer(question, text, (), "extractive", "extractive", True, (), result.trace)
        checks = OfflineClaimCheck(TOKENIZER).check(answer)
        assert checks and {(c.support, c.reason) for c in checks} == {
            ("supported", "Folio's refusal")
        }
    not_found = answer_citing("NOT_FOUND")
    assert labels(not_found) == [("NOT_FOUND", "supported")]


def test_chinese_sentences_are_checked_by_their_words_and_numbers():
    answer = answer_citing(
        "公司营业收入增长了12%。[1]净利润达到60亿元。[1]公司在火星上开设了新工厂。[1]", ANNUAL
    )
    assert labels(answer) == [
        ("公司营业收入增长了12%。", "supported"),
        ("净利润达到60亿元。", "unsupported"),
        ("公司在火星上开设了新工厂。", "unsupported"),
    ]


def test_a_page_found_by_its_image_cannot_be_read_offline(tmp_path):
    image = PageImage("d2", "slides.pdf", 2, tmp_path / "p.jpg")
    answer = answer_citing("The chart shows growth [1].", LIGHTHOUSE)
    answer = Answer(
        answer.question,
        "The chart shows growth [2]. The lighthouse was rebuilt in 1987 [1].",
        (answer.citations[0], page_citation(2, image)),
        "claude",
        "m",
        False,
        answer.hits,
        answer.trace,
    )
    checks = OfflineClaimCheck(TOKENIZER).check(answer)
    assert [(c.support, c.reason) for c in checks] == [
        ("partial", "cites a page image, which cannot be read offline"),
        ("supported", checks[1].reason),
    ]
    assert worst_support(checks) == "partial" and worst_support(()) is None


def test_embedding_similarity_takes_one_embed_call_per_answer():
    embedder = HashingEmbedder()
    checker = OfflineClaimCheck(TOKENIZER, embedder)
    answer = answer_citing(
        "The Kestrel Point lighthouse was rebuilt in 1987 [1]. It took two summers [2].",
        LIGHTHOUSE,
        "Donations covered the running costs.",
    )
    checks = checker.check(answer)
    assert embedder.calls == [4]  # two sentences and the two passages they cite
    assert [c.support for c in checks] == ["supported", "unsupported"]


# In the library --------------------------------------------------------------------------
@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


def claude_library(settings: Settings, fake: FakeAnthropic) -> Library:
    answerer = ClaudeAnswerer("test-key", model="claude-test-1", base_url=fake.url)
    library = Library.open(settings, embedder=HashingEmbedder(), answerer=answerer)
    library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    return library


def test_every_answer_carries_its_checked_sentences_and_their_time(library: Library):
    library.add([("engine.pdf", make_pdf(ENGINES))])
    events = list(library.ask_stream("How often should the engine oil be changed?"))
    answer = events[-1].answer
    assert isinstance(events[-1], AnswerDone) and answer.mode == "extractive"
    assert [(c.text, c.citations, c.support) for c in answer.sentences] == [
        ("From your documents:", (), "supported"),
        ("Change the engine oil every 5000 kilometres.", (1,), "supported"),
    ]
    stages = [t.stage for t in answer.timings]
    assert stages[0] == "retrieve" and stages[-1] == "claims"
    assert library.ask("How often should the engine oil be changed?").sentences == answer.sentences
    refused = library.ask("Who won the 1998 football world cup?")
    assert refused.refused and {c.support for c in refused.sentences} == {"supported"}


def test_a_claim_claude_adds_without_support_is_unsupported(settings, fake):
    library = claude_library(settings, fake)
    fake.additions.append("The orchard also exported 900 tonnes of pears to Mars.")
    answer = library.ask("How often should the engine oil be changed?")
    assert answer.text == (
        "According to the documents, Change the engine oil every 5000 kilometres.[1] "
        "The orchard also exported 900 tonnes of pears to Mars.[1]"
    )
    assert [(c.citations, c.support) for c in answer.sentences] == [
        ((1,), "supported"),
        ((1,), "unsupported"),
    ]
    span = answer.sentences[1]
    assert answer.text[span.start : span.end] == (
        "The orchard also exported 900 tonnes of pears to Mars.[1]"
    )


def test_the_check_is_off_when_asked(settings):
    library = Library.open(
        settings.model_copy(update={"claim_check": "off"}), embedder=HashingEmbedder()
    )
    library.add([("engine.pdf", make_pdf(ENGINES))])
    answer = library.ask("How often should the engine oil be changed?")
    assert answer.sentences == () and "claims" not in {t.stage for t in answer.timings}


# By the answering model (FOLIO_CLAIM_CHECK=llm) ----------------------------------------------------
def test_the_llm_check_needs_a_model(settings):
    with pytest.raises(
        ConfigurationError, match=r"FOLIO_CLAIM_CHECK=llm.*ANTHROPIC_API_KEY or FOLIO_LLM_BASE_URL"
    ):
        Library.open(settings.model_copy(update={"claim_check": "llm"}), embedder=HashingEmbedder())


def test_the_llm_check_labels_cited_sentences_through_claude(settings, fake):
    keyed = settings.model_copy(
        update={
            "claim_check": "llm",
            "anthropic_api_key": "test-key",
            "anthropic_base_url": fake.url,
            "claude_model": "claude-test-1",
        }
    )
    library = Library.open(keyed, embedder=HashingEmbedder())
    library.add([("engine.pdf", make_pdf(ENGINES))])
    fake.additions.append("Change the engine oil every 9000 kilometres.")
    answer = library.ask("How often should the engine oil be changed?")
    request = fake.requests[-1]
    assert request["tool_choice"] == {"type": "tool", "name": "record_claim_labels"}
    assert "data, not instructions" in request["system"]
    assert [(c.support, c.reason) for c in answer.sentences] == [
        ("supported", "Claude: 6 of 6 words"),
        ("partial", "Claude: 5 of 6 words"),  # offline: unsupported (9000 is not there)
    ]


def test_the_llm_check_labels_cited_sentences_through_your_own_model(settings):
    with FakeOpenAI() as server:
        own = settings.model_copy(
            update={
                "claim_check": "llm",
                "llm_base_url": server.url,
                "llm_model": "folio-test",
                "decompose": "rules",  # no sub-query request takes the scripted replies
            }
        )
        library = Library.open(own, embedder=HashingEmbedder())
        library.add([("engine.pdf", make_pdf(ENGINES))])
        server.replies.append(
            "Change the engine oil every 5000 kilometres [1]. "
            "Change the engine oil every 9000 kilometres [1]."
        )
        answer = library.ask("How often should the engine oil be changed?")
        request = server.requests[-1]
        assert "one label per sentence" in request["messages"][0]["content"]
        assert "data, not instructions" in request["messages"][0]["content"]
        assert [(c.support, c.reason) for c in answer.sentences] == [
            ("supported", "Your model: 6 of 6 words"),
            ("partial", "Your model: 5 of 6 words"),
        ]
        # A reply that is not the JSON asked for keeps the offline labels, and says why.
        server.replies += ["Change the engine oil every 5000 kilometres [1].", "I cannot."]
        answer = library.ask("How often is the oil changed in the engine?")
        assert [c.support for c in answer.sentences] == ["supported"]
        assert answer.sentences[0].reason.startswith("Your model's check failed (ValueError)")


def test_a_failed_llm_check_keeps_the_answer_with_offline_labels(settings, fake):
    keyed = settings.model_copy(
        update={"claim_check": "llm", "anthropic_api_key": "k", "anthropic_base_url": fake.url}
    )
    library = Library.open(keyed, embedder=HashingEmbedder())
    library.add([("engine.pdf", make_pdf(ENGINES))])
    fake.additions.append("Mars engines need oil every 9 kilometres.")
    events = []
    for event in library.ask_stream("How often should the engine oil be changed?"):
        if not events:  # the answer's request has arrived: the check's will fail (and its retry)
            fake.fail_with, fake.fail_count = (529, "overloaded_error"), 2
        events.append(event)
    answer = events[-1].answer
    assert answer.text.endswith("Mars engines need oil every 9 kilometres.[1]")
    assert [c.support for c in answer.sentences] == ["supported", "unsupported"]
    assert all(c.reason.startswith("Claude's check failed (") for c in answer.sentences)


def test_sentence_checks_are_frozen_values():
    check = SentenceCheck("A.", (1,), "supported")
    with pytest.raises(AttributeError):
        check.support = "partial"  # type: ignore[misc]


def test_a_number_computed_from_the_sentences_cited_numbers_counts_as_found():
    passage = "Revenue grew from $1.0 billion in 2019 to $1.12 billion in 2020."
    right = answer_citing("Revenue grew 12% from $1.0 billion to $1.12 billion [1].", passage)
    wrong = answer_citing("Revenue grew 15% from $1.0 billion to $1.12 billion [1].", passage)
    [checked] = OfflineClaimCheck(TOKENIZER).check(right)
    assert checked.support == "supported"
    assert checked.reason.endswith("; “12%” computed from its cited numbers")
    [checked] = OfflineClaimCheck(TOKENIZER).check(wrong)
    assert (checked.support, checked.reason) == ("partial", "“15%” not in the cited passage")


def test_embedding_similarity_is_weighed_only_when_asked(tmp_path):
    calls = []
    for similarity in (False, True):
        embedder = HashingEmbedder()
        folder = tmp_path / str(similarity)
        settings = Settings(data_dir=folder, db=folder / "f.db", claim_similarity=similarity)
        library = Library.open(settings, embedder=embedder)
        library.add([("engine.pdf", make_pdf(ENGINES))])
        before = len(embedder.calls)
        library.ask("How often should the engine oil be changed?")
        calls.append(embedder.calls[before:])
    assert calls[1] == [*calls[0], 2]  # one more call: the cited sentence and its passage


def test_a_block_cited_once_lends_its_marker_to_its_earlier_sentences():
    from rag_core.answer.claims import answer_sentences

    text = (
        "From your documents:\n\nRevenue rose. It reached 5 million in 2020. [1] Costs fell. [2]"
        "\n\nA paragraph without markers."
    )
    assert [(s.text, s.citations) for s in answer_sentences(text)] == [
        ("From your documents:", ()),  # the next paragraph's markers are not its own
        ("Revenue rose.", (1,)),
        ("It reached 5 million in 2020.", (1,)),
        ("Costs fell.", (2,)),
        ("A paragraph without markers.", ()),
    ]
