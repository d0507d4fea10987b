"""The offline claim check on FinanceBench's published answers with human labels.

Each of the 2,400 answers in ``financebench/results/*.jsonl`` (GPT-4, GPT-4-Turbo, Claude 2,
Llama 2 in several settings, each labelled by a person "Correct Answer", "Incorrect Answer"
or "Refusal") is checked against its question's evidence in
``financebench_open_source.jsonl``. The answers carry no citation markers, so every sentence
is treated as citing all of the question's evidence: one citation for the whole answer (the
annotated ``evidence_text``, or with ``--passage page`` the whole evidence page).

Reported: the share of human-judged wrong answers that get at least one ``unsupported``
sentence (a flag where it should be), the share of right answers that get none (no flag where
none should be), the same with ``partial`` counted as a flag, and the check's cost per
answer (p50/p95 ms, one thread). With ``--embed`` the built-in MiniLM embedder adds the
embedding similarity (one ``embed`` call per answer, as in the app).

    python bench/claim_check.py [--passage excerpt|page] [--embed] [--limit N]
                                [--partial-score X]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from _common import percentile, shared_data

from rag_core.answer import claims
from rag_core.answer.claims import OfflineClaimCheck, Passage, answer_sentences
from rag_core.eval.judge_agreement import GradedAnswer, load_results, results_dir
from rag_core.index.lexical import LexicalTokenizer
from rag_core.types import SentenceCheck


@dataclass(frozen=True, slots=True)
class Checked:
    item: GradedAnswer
    checks: tuple[SentenceCheck, ...]
    ms: float

    def has(self, *labels: str) -> bool:
        return any(c.support in labels for c in self.checks)


def evidence_by_question(root: Path, passage: str) -> dict[str, list[str]]:
    """Per FinanceBench id: its evidence texts (the annotated excerpts, or whole pages)."""
    key = "evidence_text_full_page" if passage == "page" else "evidence_text"
    found = {}
    with (root / "financebench_open_source.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                found[row["financebench_id"]] = [e[key] for e in row["evidence"] if e.get(key)]
    return found


def check_all(
    items: list[GradedAnswer], evidence: dict[str, list[str]], checker: OfflineClaimCheck
) -> list[Checked]:
    out = []
    for item in items:
        texts = evidence.get(item.financebench_id, [])
        started = time.perf_counter()
        passages = {n: Passage(n, "text", t, t) for n, t in enumerate(texts, start=1)}
        numbers = tuple(passages)
        sentences = [replace(s, citations=numbers) for s in answer_sentences(item.model_answer)]
        checks = checker.check_sentences(sentences, passages, question=item.question)
        out.append(Checked(item, checks, (time.perf_counter() - started) * 1000))
    return out


def share(part: int, whole: int) -> str:
    return f"{part / whole:.3f} ({part}/{whole})" if whole else "–"


def report(checked: list[Checked], title: str) -> str:
    wrong = [c for c in checked if c.item.label == "incorrect"]
    right = [c for c in checked if c.item.label == "correct"]
    refused = [c for c in checked if c.item.label == "refusal"]
    labels = Counter(s.support for c in checked for s in c.checks)
    ms = [c.ms for c in checked]
    lines = [
        f"### {title}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| wrong answers with ≥1 unsupported sentence | {share(sum(c.has('unsupported') for c in wrong), len(wrong))} |",  # noqa: E501
        f"| right answers with no unsupported sentence | {share(sum(not c.has('unsupported') for c in right), len(right))} |",  # noqa: E501
        f"| wrong answers with ≥1 unsupported or partial | {share(sum(c.has('unsupported', 'partial') for c in wrong), len(wrong))} |",  # noqa: E501
        f"| right answers with neither | {share(sum(not c.has('unsupported', 'partial') for c in right), len(right))} |",  # noqa: E501
        f"| refusals with ≥1 unsupported sentence | {share(sum(c.has('unsupported') for c in refused), len(refused))} |",  # noqa: E501
        f"| sentences: supported / partial / unsupported | {labels['supported']} / {labels['partial']} / {labels['unsupported']} |",  # noqa: E501
        f"| check cost per answer | p50 {percentile(ms, 50):.2f} ms, p95 {percentile(ms, 95):.2f} ms, max {max(ms):.1f} ms |",  # noqa: E501
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passage", choices=["excerpt", "page"], default="excerpt")
    parser.add_argument("--embed", action="store_true", help="add MiniLM embedding similarity")
    parser.add_argument("--limit", type=int, help="only the first N answers of each file")
    parser.add_argument("--model-cache", type=Path, default=Path("data/models"))
    parser.add_argument(
        "--partial-score",
        type=float,
        default=claims.PARTIAL_SCORE,
        help="word score under which a sentence is unsupported (default: Folio's)",
    )
    args = parser.parse_args()
    claims.PARTIAL_SCORE = args.partial_score  # a module constant: what-if runs only
    folder = results_dir(shared_data() / "financebench")
    items = load_results(folder)
    if args.limit:
        seen: Counter[str] = Counter()
        items = [i for i in items if (seen.update([i.file]) or seen[i.file] <= args.limit)]
    evidence = evidence_by_question(folder.parent, args.passage)
    embedder = None
    if args.embed:
        from rag_core.embed.embeddings import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(cache_dir=args.model_cache)
        embedder.embed(["warm up the model"])
    tokenizer = LexicalTokenizer()
    checker = OfflineClaimCheck(tokenizer, embedder)
    check_all(items[:20], evidence, checker)  # warm: the stemmer, jieba, caches
    checked = check_all(items, evidence, checker)
    how = (
        f"passage = {args.passage}, {'with' if args.embed else 'without'} embedding similarity, "
        f"unsupported under a word score of {args.partial_score}"
    )
    print(report(checked, f"{len(checked)} answers, {how}"))


if __name__ == "__main__":
    main()
