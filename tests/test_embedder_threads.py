"""The real embedder shared by threads: chunking beside encoding stays exact."""

from __future__ import annotations

import threading

import pytest

from rag_core.ingest.chunking import chunk_document
from rag_core.ingest.readers import read_document

pytestmark = pytest.mark.slow


def test_chunking_does_not_change_while_other_threads_encode(minilm, shared):
    # Encoding sets truncation and padding on the shared fast tokenizer; token counts taken
    # at that moment without the lock came back wrong, so an ingest beside chat queries
    # chunked the same 10-K differently (779 chunks alone, 806 and 855 under load).
    data = (shared / "financebench" / "pdfs" / "3M_2018_10K.pdf").read_bytes()
    pages = read_document("3M_2018_10K.pdf", data, 5000).pages[:50]

    def chunks() -> int:
        return len(
            chunk_document(
                pages, minilm.count_tokens, title="3M", max_tokens=200, overlap_tokens=30
            )
        )

    alone = chunks()
    sentences = [f"Sentence {i} about operating margins in the fiscal year." * 3 for i in range(40)]
    stop = threading.Event()

    def encode() -> None:
        while not stop.is_set():
            minilm.embed(sentences)
            minilm.embed_query(["what was the capital expenditure"])

    threads = [threading.Thread(target=encode) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        under_load = [chunks() for _ in range(2)]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert under_load == [alone, alone]


def test_a_query_does_not_wait_for_a_document_batch(minilm):
    # Under load, questions asked while an upload embedded its chunks waited for the whole
    # document's batches (bench/load.py: p95 4.1 s at 50 users, p50 0.29 s). Queries have
    # inference requests of their own: one completes while a document batch holds the lock.
    expected = minilm.embed_query(["what was the capital expenditure"])[0]
    minilm.embed(["warm the document runner"])
    assert minilm.runtime == "openvino-int8"
    answered = threading.Event()
    got = []

    def ask() -> None:
        got.append(minilm.embed_query(["how many employees were there at year end"])[0])
        got.append(minilm.embed_query(["what was the capital expenditure"])[0])
        answered.set()

    with minilm._lock:  # a document batch in flight
        thread = threading.Thread(target=ask)
        thread.start()
        assert answered.wait(timeout=60), "the query waited for the document batch"
    thread.join()
    assert len(got) == 2 and (got[1] == expected).all()
