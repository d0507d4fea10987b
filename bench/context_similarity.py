"""Why the ragas non-LLM context metrics compare whole pages: similarity on real filings.

ragas' NonLLMContextRecall / NonLLMContextPrecisionWithReference call a retrieved context a
match for a reference context when their Levenshtein similarity (1 - normalised distance,
ragas' NonLLMStringSimilarity) passes a threshold (0.5). For each question of a pdfqa set
already indexed by ``eval``, this prints the similarity of its gold page to

- the chunks Folio retrieved from that very page (a chunk is a substring of its page, so
  similarity is bounded by their length ratio), and
- every other page of the same filing (the false matches a threshold must reject).

    python bench/context_similarity.py /tmp/financebench-subset
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from _common import percentile

from rag_core.config import Settings
from rag_core.eval.retrieval import eval_library
from rag_core.eval.sets import load_pdfqa
from rag_core.types import Filters

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set_dir", type=Path)
    args = parser.parse_args()
    from ragas.metrics.collections import NonLLMStringSimilarity

    similarity = NonLLMStringSimilarity()

    async def sim(a: str, b: str) -> float:
        return float((await similarity.ascore(reference=a, response=b)).value)

    settings = Settings.from_env()
    library = eval_library(settings, args.set_dir)
    docs = {d.name.removesuffix(".pdf"): d for d in library.documents()}
    chunk_vs_page: list[float] = []
    other_pages: list[float] = []
    for q in load_pdfqa(args.set_dir).questions:
        doc = docs[q.doc]
        hits = library.search(q.question, k=60, filters=Filters(doc_ids=(doc.id,))).hits
        for page in q.pages:
            gold = library.page_text(doc.id, page)
            for hit in hits:
                if hit.chunk.page == page:
                    chunk_vs_page.append(asyncio.run(sim(hit.chunk.text, gold)))
            for other in range(doc.pages):
                text = library.page_text(doc.id, other)
                if other != page and text.strip():
                    other_pages.append(asyncio.run(sim(text, gold)))

    def line(name: str, values: list[float]) -> str:
        above = sum(v >= 0.5 for v in values) / max(1, len(values))
        return (
            f"{name}: n={len(values)} median {percentile(values, 50):.3f} "
            f"p95 {percentile(values, 95):.3f} max {max(values, default=float('nan')):.3f} "
            f"share >= 0.5: {above:.3f}"
        )

    print(line("gold page vs a chunk retrieved from it", chunk_vs_page))
    print(line("gold page vs another page of the filing", other_pages))


if __name__ == "__main__":
    main()
