"""CPU cost of one extractive answer: sentences embedded per answer (before issue 17) against
sentence vectors embedded at ingest and read back (after), in the same run.

    python bench/answer_cost.py [--rounds 3]

Library: the three FinanceBench earnings releases of ``bench/load.py`` (55 pages), ingested
through the real path into a temp folder (the ingest now also embeds the chunks' sentences);
questions: the FinanceBench questions about them. Each question is searched once; then the
answerer alone (``ExtractiveAnswerer.answer`` on that search result) is timed, before and
after interleaved, ``--rounds`` times:

- before: ``ExtractiveAnswerer`` without sentence vectors (embeds every candidate sentence),
  and the question embedded again (the embedder's query memory emptied first);
- after, stored: with a ``SentenceVectors`` whose memory is off (every vector read from the
  registry's embedding cache, as in a process that just started);
- after, in memory: the library's own ``SentenceVectors`` (its LRU warm).

After, the question's vector comes from the embedder's query memory: the search just
embedded it.

Also printed: whether every answer's text and citations are the same both ways (vectors are
kept in float16, as the embedding cache stores them); the ingest time of the same files into
a library that keeps no sentence vectors and into this one; and the registry space the
sentence vectors take beside the chunk vectors.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import percentile, shared_data
from load import LIBRARY
from sqlalchemy import text

from rag_core.answer.extractive import ExtractiveAnswerer
from rag_core.config import Settings
from rag_core.embed.sentences import SENTENCE_SUFFIX, SentenceVectors
from rag_core.library import Library
from rag_core.types import Answer


def timed(answerer: ExtractiveAnswerer, question: str, result: object) -> tuple[float, Answer]:
    started = time.perf_counter()
    answer = answerer.answer(question, result)  # type: ignore[arg-type]
    return (time.perf_counter() - started) * 1000, answer


def shape(answer: Answer) -> tuple[object, ...]:
    return (answer.text, tuple((c.chunk_id, c.start, c.end) for c in answer.citations))


def stored_bytes(library: Library) -> str:
    """Entries and bytes of the embedding cache, chunk vectors against sentence vectors."""
    with library.registry.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT model LIKE :s AS sentence, COUNT(*) AS n,"
                " SUM(LENGTH(vector) + LENGTH(text_hash)) AS size"
                " FROM embedding_cache GROUP BY model LIKE :s"
            ),
            {"s": f"%{SENTENCE_SUFFIX}"},
        ).all()
    kinds = {bool(r.sentence): (r.n, r.size) for r in rows}
    chunks, sentences = kinds.get(False, (0, 0)), kinds.get(True, (0, 0))
    return (
        f"{chunks[0]} chunk vectors ({chunks[1] / 1e6:.2f} MB),"
        f" {sentences[0]} sentence vectors ({sentences[1] / 1e6:.2f} MB) in the registry"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = shared_data()
    rows = [json.loads(line) for line in (data / "financebench" / "questions.jsonl").open()]
    questions = [r["question"] for r in rows if r["doc"] in LIBRARY]
    pdfs = [data / "financebench" / "pdfs" / f"{n}.pdf" for n in LIBRARY]
    with tempfile.TemporaryDirectory(prefix="folio-answer-cost-") as tmp:
        # The ingest cost of the sentence vectors: the same files into a library that keeps
        # none (as before), then into the one measured below.
        plain = Library.open(Settings(data_dir=Path(tmp) / "plain", answerer="extractive"))
        plain.ingestor.sentences = None
        plain.warm_up()
        started = time.perf_counter()
        plain.add(pdfs)
        plain_s = time.perf_counter() - started
        library = Library.open(Settings(data_dir=Path(tmp) / "kept", answerer="extractive"))
        library.warm_up()
        started = time.perf_counter()
        library.add(pdfs)
        ingest_s = time.perf_counter() - started
        sentences = library.ingestor.sentences
        assert sentences is not None, "the extractive library keeps sentence vectors"
        after = library.answerer
        assert isinstance(after, ExtractiveAnswerer)
        before = ExtractiveAnswerer(after.tokenizer, after.embedder, min_support=after.min_support)
        stored = ExtractiveAnswerer(
            after.tokenizer,
            after.embedder,
            min_support=after.min_support,
            sentences=SentenceVectors(library.embedder, sentences.cache, memory=0),
        )
        at_ingest = sentences.computed
        results = [(q, library.search(q)) for q in questions]
        print(
            f"library: {len(LIBRARY)} PDFs, {library.status().chunks} chunks;"
            f" {len(questions)} questions x {args.rounds} rounds"
        )
        print(
            f"ingest: {plain_s:.1f} s without sentence vectors, {ingest_s:.1f} s with them"
            f" (x{ingest_s / plain_s:.2f}; {sentences.computed} sentences embedded)"
        )
        print(f"stored: {stored_bytes(library)}")
        ms: dict[str, list[float]] = {"before": [], "stored": [], "memory": []}
        same = differ = 0
        for _ in range(args.rounds):
            for question, result in results:
                library.embedder._queries.clear()  # type: ignore[attr-defined]  # as before: no memo
                t_before, a_before = timed(before, question, result)
                t_stored, a_stored = timed(stored, question, result)
                t_memory, a_memory = timed(after, question, result)
                ms["before"].append(t_before)
                ms["stored"].append(t_stored)
                ms["memory"].append(t_memory)
                if shape(a_before) == shape(a_stored) == shape(a_memory):
                    same += 1
                else:
                    differ += 1
                    print(f"  differs: {question[:70]}")
        base = percentile(ms["before"], 50)
        labels = {
            "before": "before: embeds its sentences",
            "stored": "after: vectors from the registry",
            "memory": "after: vectors in memory",
        }
        for key, label in labels.items():
            p50, p95 = percentile(ms[key], 50), percentile(ms[key], 95)
            print(
                f"{label:<34} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  p50 / before x{p50 / base:.3f}"
            )
        print(f"answers identical before/after: {same} of {same + differ}")
        late = sentences.computed - at_ingest
        late += stored.sentences.computed if stored.sentences else 0
        print(f"sentences embedded at answer time (after ingest): {late}")


if __name__ == "__main__":
    main()
