"""Sentence vectors embedded once (issue 17): at ingest, or on first use for a library built
before; extractive answers then embed no sentence, and are the same as before."""

from __future__ import annotations

from rag_core.answer.extractive import ExtractiveAnswerer
from rag_core.config import Settings
from rag_core.embed.embeddings import EmbeddingCache
from rag_core.embed.sentences import SentenceVectors, quotable_sentences
from rag_core.library import Library

from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

QUESTIONS = ["How often change engine oil?", "When are apples harvested?", "What tyre pressure?"]


def test_quotable_sentences_skip_short_units():
    text = "Total\n\nChange the engine oil every 5000 kilometres.\n\n(1)\n\nCheck tyres monthly."
    assert quotable_sentences(text) == [
        "Change the engine oil every 5000 kilometres.",
        "Check tyres monthly.",
    ]


def test_after_ingest_an_answer_embeds_no_sentence_and_answers_the_same(
    library: Library, embedder: HashingEmbedder
):
    library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    answerer = library.answerer
    assert isinstance(answerer, ExtractiveAnswerer) and answerer.sentences is not None
    kept = answerer.sentences.computed
    assert kept > 0  # the ingest embedded the chunks' sentences
    per_answer = ExtractiveAnswerer(answerer.tokenizer, embedder)  # the old way: embeds each time
    for question in QUESTIONS:
        result = library.search(question)
        embedder.calls.clear()
        now = answerer.answer(question, result)
        assert embedder.calls == [1]  # the question alone (the test embedder keeps no queries)
        before = per_answer.answer(question, result)
        assert (now.text, now.citations) == (before.text, before.citations)
    assert answerer.sentences.computed == kept


def test_a_library_built_before_embeds_sentences_on_first_use_and_keeps_them(
    settings: Settings, embedder: HashingEmbedder
):
    old = Library.open(settings, embedder=embedder)
    old.ingestor.sentences = None  # as Folio indexed before sentence vectors were kept
    old.add([("engine.pdf", make_pdf(ENGINES))])
    cache = EmbeddingCache(old.registry.engine, old.workspace)
    question = QUESTIONS[0]
    result = old.search(question)
    first = SentenceVectors(embedder, cache)
    answerer = ExtractiveAnswerer(old.retriever.tokenizer, embedder, sentences=first)
    answer = answerer.answer(question, result)
    assert first.computed > 0 and not answer.refused
    # A new process (nothing in memory) reads them back from the registry.
    later = SentenceVectors(embedder, cache, memory=0)
    again = ExtractiveAnswerer(old.retriever.tokenizer, embedder, sentences=later)
    assert again.answer(question, result).text == answer.text
    assert later.computed == 0


def test_sentence_vectors_are_kept_per_model(settings: Settings):
    library = Library.open(settings, embedder=HashingEmbedder())
    cache = EmbeddingCache(library.registry.engine, library.workspace)
    texts = ["Change the engine oil every 5000 kilometres.", "Check tyres monthly."]
    one = SentenceVectors(HashingEmbedder(name="one"), cache)
    assert one.precompute(texts) == 2 and one.precompute(texts) == 0
    other = SentenceVectors(HashingEmbedder(name="other"), cache, memory=0)
    assert other.vectors(texts).shape == (2, 256) and other.computed == 2
    assert other.vectors([]).shape[0] == 0
