"""Answer-quality metrics through ragas 0.4, imported on first use.

Offline, no language model (ragas' non-LLM metrics):

- ``string_similarity``: 1 - normalised Levenshtein distance of answer and gold answer.
- ``rouge_l``: ROUGE-L F1 of answer and gold answer (English tokens only: rouge_score's
  tokenizer drops other scripts).
- ``context_recall`` / ``context_precision``: ragas' NonLLMContextRecall and
  NonLLMContextPrecisionWithReference between the pages the answerer was given and the gold
  evidence pages; ``citation_recall`` / ``citation_precision`` the same for the cited pages.
  Contexts are whole page texts on both sides: a chunk is a fifth of a filing page, and
  Levenshtein similarity between a chunk and the page containing it is bounded by their
  length ratio, below any threshold, so chunk-vs-page scores would be zero whatever was found.

Judged by Claude (ragas collections metrics, instructor over ``AsyncAnthropic``):
``faithfulness`` (answer claims supported by the chunks it was given), ``answer_relevancy``
(questions generated from the answer, compared with the question through Folio's own
embedder), ``factual_correctness`` (claim-level F1 against the gold answer), and a
FinanceBench-style label (correct / incorrect / refusal, a ragas ``DiscreteMetric``).
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag_core.config import Settings
from rag_core.embed.embeddings import Embedder
from rag_core.errors import AnswerError, ConfigurationError
from rag_core.eval.judge import Label

CORRECTNESS_LABELS: tuple[Label, ...] = ("correct", "incorrect", "refusal")
CORRECTNESS_PROMPT = """You grade an answer to a question about a company's filings against \
the gold answer an analyst wrote. Label it:
- "correct": it gives the gold answer's facts (numbers may be rounded or in other units: \
$1,577 million = $1.577 billion, 4.2% = 0.042) and nothing that contradicts them;
- "incorrect": it gives another answer, a wrong number, or contradicts the gold answer;
- "refusal": it declines, or says the information is not available, without answering.

Question: {question}
Gold answer: {gold_answer}
Answer to grade: {answer}"""


@dataclass(frozen=True, slots=True)
class AnswerSample:
    """One answered question, in the terms ragas scores."""

    id: str
    question: str
    gold_answer: str
    answer: str  # without citation markers
    refused: bool
    contexts: tuple[str, ...]  # chunk texts the answerer was given
    retrieved_pages: tuple[str, ...]  # their pages' texts, best first, each once
    cited_pages: tuple[str, ...]
    reference_pages: tuple[str, ...]  # the gold evidence pages' texts


@dataclass(frozen=True, slots=True)
class SampleScores:
    """Metric values of one sample; a metric that does not apply or failed is absent."""

    id: str
    values: dict[str, float]
    errors: tuple[str, ...] = field(default=())


def load_ragas() -> None:
    """Import ragas with its usage tracking off, or say how to install it."""
    # ragas posts usage events synchronously unless this is set before its first event.
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    try:
        import ragas  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"Answer evaluation needs ragas ({exc}). Install it with: pip install ragas==0.4.3 "
            "'langchain-community<0.4' 'instructor>=1.14' rapidfuzz rouge-score"
        ) from exc


# Offline ----------------------------------------------------------------------------------
def offline_scores(samples: Sequence[AnswerSample]) -> list[SampleScores]:
    """The non-LLM ragas metrics of every sample (no network, no model)."""
    load_ragas()
    from ragas.dataset_schema import SingleTurnSample
    from ragas.metrics.collections import NonLLMStringSimilarity, RougeScore

    with warnings.catch_warnings():  # the 0.4 home of these two is ragas.metrics (deprecated)
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.metrics import NonLLMContextPrecisionWithReference, NonLLMContextRecall

    similarity, rouge = NonLLMStringSimilarity(), RougeScore(rouge_type="rougeL")
    recall, precision = NonLLMContextRecall(), NonLLMContextPrecisionWithReference()

    async def score(sample: AnswerSample) -> SampleScores:
        values: dict[str, float] = {}
        if sample.gold_answer.strip() and sample.answer.strip():
            pair = {"reference": sample.gold_answer, "response": sample.answer}
            values["string_similarity"] = float((await similarity.ascore(**pair)).value)
            values["rouge_l"] = float((await rouge.ascore(**pair)).value)
        if sample.reference_pages:
            for prefix, pages in (
                ("context", sample.retrieved_pages),
                ("citation", sample.cited_pages),
            ):
                if not pages:
                    values[f"{prefix}_recall"] = values[f"{prefix}_precision"] = 0.0
                    continue
                row = SingleTurnSample(
                    retrieved_contexts=list(pages), reference_contexts=list(sample.reference_pages)
                )
                values[f"{prefix}_recall"] = float(await recall.single_turn_ascore(row))
                values[f"{prefix}_precision"] = float(await precision.single_turn_ascore(row))
        return SampleScores(sample.id, values)

    async def run() -> list[SampleScores]:
        return [await score(s) for s in samples]

    return asyncio.run(run())


# Claude -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClaudeJudge:
    """How to reach Claude as a judge. Cheap: a client is made per run, inside its event loop."""

    api_key: str = field(repr=False)
    model: str
    base_url: str | None = None
    max_tokens: int = 2048
    concurrency: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> ClaudeJudge:
        if not settings.anthropic_api_key:
            raise ConfigurationError(
                "The Claude judge needs ANTHROPIC_API_KEY (set it in the environment or .env), "
                "or use --judge offline."
            )
        return cls(
            settings.anthropic_api_key,
            settings.judge_model or settings.claude_model,
            settings.anthropic_base_url,
        )

    def llm(self) -> Any:
        """A ragas instructor LLM over ``AsyncAnthropic`` (tool use for structured output)."""
        load_ragas()
        from anthropic import AsyncAnthropic
        from ragas.llms import llm_factory

        client = AsyncAnthropic(api_key=self.api_key, base_url=self.base_url, max_retries=2)
        llm: Any = llm_factory(
            self.model, provider="anthropic", client=client, max_tokens=self.max_tokens
        )
        # ragas adds temperature and top_p; anthropic>=2 takes neither in messages.create.
        for name in ("temperature", "top_p"):
            llm.model_args.pop(name, None)
        return llm


_embedding_class: list[type] = []


def ragas_embeddings(embedder: Embedder) -> Any:
    """Folio's embedder behind ragas' embeddings interface (so nothing is downloaded)."""
    load_ragas()
    if not _embedding_class:
        from ragas.embeddings.base import BaseRagasEmbedding

        class FolioEmbeddings(BaseRagasEmbedding):
            def __init__(self, embedder: Embedder) -> None:
                super().__init__()
                self.embedder = embedder

            def embed_text(self, text: str, **kwargs: Any) -> list[float]:
                return [float(v) for v in self.embedder.embed_query([text])[0]]

            def embed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
                return [[float(v) for v in row] for row in self.embedder.embed_query(texts)]

            async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
                return await asyncio.to_thread(self.embed_text, text)

            async def aembed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
                return await asyncio.to_thread(self.embed_texts, texts)

        _embedding_class.append(FolioEmbeddings)
    return _embedding_class[0](embedder)


def fatal_error(exc: BaseException) -> str | None:
    """A message when ``exc`` (or what caused it) means no later call can succeed either."""
    import anthropic

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
            return f"Claude refused the key in ANTHROPIC_API_KEY ({seen})"
        if isinstance(seen, anthropic.NotFoundError):
            return f"Claude does not know the judge model ({seen})"
        seen = seen.__cause__ or seen.__context__
    return None


async def _gather_limited(jobs: Sequence[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    """Run the jobs at most ``limit`` at a time; a job's exception is returned in its place,
    except a fatal one, which stops everything."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            try:
                return await job()
            except Exception as exc:
                message = fatal_error(exc)
                if message:
                    raise AnswerError(message) from exc
                return exc

    return list(await asyncio.gather(*(run(j) for j in jobs)))


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


def claude_scores(
    samples: Sequence[AnswerSample], judge: ClaudeJudge, embedder: Embedder
) -> list[SampleScores]:
    """Faithfulness, answer relevancy and factual correctness, judged by Claude.

    Refusals are not scored (a refusal has no claims); a failed call leaves its metric out
    and names the error; an authentication failure stops the run with ``AnswerError``."""
    load_ragas()
    from ragas.metrics.collections import AnswerRelevancy, FactualCorrectness, Faithfulness

    keys: list[tuple[int, str]] = []
    for index, s in enumerate(samples):
        if s.refused or not s.answer.strip():
            continue
        if s.contexts:
            keys.append((index, "faithfulness"))
        keys.append((index, "answer_relevancy"))
        if s.gold_answer.strip():
            keys.append((index, "factual_correctness"))

    async def run() -> list[Any]:
        llm = judge.llm()
        metrics = {
            "faithfulness": Faithfulness(llm=llm),
            "answer_relevancy": AnswerRelevancy(
                llm=llm, embeddings=ragas_embeddings(embedder), strictness=3
            ),
            "factual_correctness": FactualCorrectness(llm=llm, mode="f1"),
        }

        def job(index: int, name: str) -> Callable[[], Awaitable[Any]]:
            s = samples[index]
            arguments: dict[str, dict[str, Any]] = {
                "faithfulness": {
                    "user_input": s.question,
                    "response": s.answer,
                    "retrieved_contexts": list(s.contexts),
                },
                "answer_relevancy": {"user_input": s.question, "response": s.answer},
                "factual_correctness": {"response": s.answer, "reference": s.gold_answer},
            }
            return lambda: metrics[name].ascore(**arguments[name])

        return await _gather_limited([job(i, n) for i, n in keys], judge.concurrency)

    results = asyncio.run(run())
    values: list[dict[str, float]] = [{} for _ in samples]
    errors: list[list[str]] = [[] for _ in samples]
    for (index, name), result in zip(keys, results, strict=True):
        if isinstance(result, BaseException):
            errors[index].append(f"{name}: {_short(result)}")
        elif result.value == result.value:  # NaN when ragas found no statements
            values[index][name] = float(result.value)
    return [SampleScores(s.id, values[i], tuple(errors[i])) for i, s in enumerate(samples)]


@dataclass(frozen=True, slots=True)
class Grade:
    label: Label | None  # None when the call failed
    reason: str


def claude_grades(items: Sequence[tuple[str, str, str]], judge: ClaudeJudge) -> list[Grade]:
    """FinanceBench-style labels for (question, gold answer, answer) triples, by Claude."""
    load_ragas()
    from ragas.metrics import DiscreteMetric

    metric = DiscreteMetric(
        name="financebench_correctness",
        prompt=CORRECTNESS_PROMPT,
        allowed_values=list(CORRECTNESS_LABELS),
    )

    async def run() -> list[Any]:
        llm = judge.llm()
        jobs = [
            (lambda q=q, g=g, a=a: metric.ascore(llm=llm, question=q, gold_answer=g, answer=a))
            for q, g, a in items
        ]
        return await _gather_limited(jobs, judge.concurrency)

    grades = []
    for result in asyncio.run(run()):
        if isinstance(result, BaseException):
            grades.append(Grade(None, _short(result)))
        else:
            grades.append(Grade(result.value, str(result.reason or "")))
    return grades
