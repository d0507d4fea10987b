"""Property-based fuzzing of the text path: readers, normalisation, sentences, chunks, tokens.

Arbitrary unicode (Chinese, control characters, lone surrogates left out by UTF-8), huge
tokens and empty pages. Bounded and deterministic (``derandomize``): the same examples on
every run, a few seconds in all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag_core.errors import DocumentError
from rag_core.index.lexical import LexicalTokenizer
from rag_core.ingest.chunking import _PIECE, chunk_document, chunk_page, dense_text
from rag_core.ingest.readers import read_document
from rag_core.text import normalize_page_text, split_sentences
from rag_core.types import PageText

from .fakes import HashingEmbedder

bounded = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

CHINESE = "公司营业收入增长了百分之十二。净利润达到五十亿元！董事会决定向股东分红？年度报告"
ENGLISH = "The orchard report. Apple harvest rose to 120 tonnes in 2020! Dr. Smith e.g. 5W-30?"
# Letters, CJK, digits, punctuation, whitespace and control characters, weighted toward text.
alphabet = st.one_of(
    st.sampled_from(CHINESE + ENGLISH + " \n\n\t.。!?#-|"),
    st.characters(codec="utf-8"),
    st.characters(min_codepoint=0, max_codepoint=0x1F),  # control characters
)
words = st.text(alphabet, max_size=400)
huge_token = st.builds(lambda c, n: c * n, st.sampled_from("a9中-"), st.integers(200, 1500))
page_text = st.one_of(
    words,
    st.lists(st.one_of(words, huge_token), max_size=4).map(" ".join),
    st.just(""),
    st.just("\n\n  \t"),
)


def piece_counter(texts: Sequence[str]) -> list[int]:
    """One token per word or per Chinese character (how ``split_long`` cuts)."""
    return [max(1, len(_PIECE.findall(t))) for t in texts]


COUNTERS = {"pieces": piece_counter, "hashing": HashingEmbedder().count_tokens}
TOKENIZER = LexicalTokenizer()


@bounded
@given(page_text)
def test_normalized_text_is_stable(raw: str):
    text = normalize_page_text(raw)
    assert normalize_page_text(text) == text
    assert "\r" not in text and "\x00" not in text and text == text.strip()


@bounded
@given(page_text.map(normalize_page_text))
def test_sentences_are_ordered_trimmed_spans_of_the_text(text: str):
    spans = split_sentences(text)
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.end <= len(text)
        piece = text[span.start : span.end]
        assert piece == piece.strip() and piece
        previous_end = span.end
    covered = {i for s in spans for i in range(s.start, s.end)}
    assert all(i in covered for i, ch in enumerate(text) if ch.isalnum())  # no text lost


@bounded
@given(
    st.lists(page_text.map(normalize_page_text), max_size=5),
    st.sampled_from(sorted(COUNTERS)),
    st.integers(16, 120),
    st.integers(0, 40),
)
def test_chunks_are_spans_of_their_page(
    texts: list[str], counter: str, max_tokens: int, overlap: int
):
    pages = [PageText(i, t) for i, t in enumerate(texts)]
    specs = chunk_document(
        pages, COUNTERS[counter], title="Report", max_tokens=max_tokens, overlap_tokens=overlap
    )
    by_page: dict[int, list[int]] = {}
    for spec in specs:
        page = pages[spec.page]
        assert page.has_text  # pages without text get no chunks
        assert 0 <= spec.start < spec.end <= len(page.text)
        text = page.text[spec.start : spec.end]
        assert text.strip() and text == text.strip()
        assert spec.context.startswith("Report")
        assert isinstance(dense_text(spec.context, text), str)
        by_page.setdefault(spec.page, []).append(spec.ordinal)
    for page_index, ordinals in by_page.items():
        assert ordinals == list(range(len(ordinals))), page_index
    for page in pages:  # every letter, digit and Chinese character is in some chunk
        if page.has_text:
            spans = [(s.start, s.end) for s in specs if s.page == page.index]
            covered = {i for start, end in spans for i in range(start, end)}
            assert all(i in covered for i, ch in enumerate(page.text) if ch.isalnum())


@bounded
@given(page_text.map(normalize_page_text), st.integers(16, 120), st.integers(0, 40))
def test_chunks_stay_within_the_token_budget(text: str, max_tokens: int, overlap: int):
    for span in chunk_page(text, piece_counter, max_tokens, overlap):
        assert piece_counter([text[span.start : span.end]])[0] <= max_tokens


@bounded
@given(page_text)
def test_tokens_are_non_empty_strings_without_spaces(text: str):
    tokens = TOKENIZER.tokenize(text)
    assert all(isinstance(t, str) and t and not re.search(r"\s", t) for t in tokens)
    assert TOKENIZER.tokenize(text) == tokens  # deterministic
    assert TOKENIZER.tokenize_many([text, text]) == [tokens, tokens]


@bounded
@given(page_text, st.sampled_from(["notes.md", "notes.txt"]))
def test_text_and_markdown_files_read_into_one_normalized_page(text: str, name: str):
    if not text:
        with pytest.raises(DocumentError, match=f"{name}: the file is empty"):
            read_document(name, b"", max_pages=10)
        return
    document = read_document(name, text.encode("utf-8"), max_pages=10)
    [page] = document.pages
    assert page.index == 0 and page.text == normalize_page_text(page.text)
    assert document.pages_without_text == (0 if page.has_text else 1)


@bounded
@given(st.binary(max_size=600), st.sampled_from(["notes.md", "notes.txt"]))
def test_arbitrary_bytes_read_or_fail_with_the_file_named(data: bytes, name: str):
    try:
        document = read_document(name, data, max_pages=10)
    except DocumentError as exc:
        assert name in str(exc)
    else:
        assert len(document.pages) == 1
