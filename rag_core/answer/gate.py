"""The evidence gate: does the library hold the answer to this question?

One score per question, from what retrieval found (pure functions on the hits):

- ``coverage_best`` / ``coverage_union``: how much of the question's vocabulary the best hit,
  and the top hits together, contain, each term weighted by how rare it is among the hits
  (a question's rare terms, a name, a code, a year, say more than its common words). The
  vocabulary is that of the sentences that ask (``asked_part``: "What drove X? If X is not
  useful, state that and explain why." reads its first sentence), less glued letter-digit
  words whose parts are terms already ("fy2022" is "fy" and "2022");
- ``dense_best`` and ``dense_margin``: the dense leg's best cosine and how far it stands
  above the tenth hit's (``dense_on`` is 0 when the embedder cannot read the question, e.g.
  Chinese with an English model, or when the library's embedder is not the one the model
  was fitted with: cosines of different models are not on one scale);
- ``lexical_gap``: how far the best top hit's coverage stands above the other top hits' mean
  (the answer's passage holds the question's specific words; a paragraph of the same article
  shares only its topic words), read where the dense features are off (with them on, the
  dense margin says the same: measured, the gap then adds nothing held out).

A logistic model maps them to a probability that the answer is there. Its weights and the
operating threshold are fitted on data (``fit``; ``python -m rag_core calibrate`` refits them
from evaluation runs) and shipped as ``gate.json`` beside this module; no number here is set
by hand. The threshold is the highest score below which at most ``max_answerable_refusal`` of each
training set's answerable questions fall: the gate refuses what scores lower.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from rag_core.index.lexical import LexicalTokenizer
from rag_core.text import split_sentences
from rag_core.types import Hit

FEATURES = (
    "coverage_best",
    "coverage_union",
    "dense_best",
    "dense_margin",
    "dense_on",
    "lexical_gap",
)
TOP = 5  # hits whose text the features read
SHIPPED = Path(__file__).with_name("gate.json")


def gate_features(
    question: str, hits: Sequence[Hit], tokenizer: LexicalTokenizer, dense_on: bool
) -> tuple[float, ...]:
    """The gate's features for ``question`` and the hits retrieval returned (pure)."""
    terms = question_terms(question, tokenizer)
    every = [set(tokenizer.tokenize(h.chunk.indexed_text)) for h in hits]
    token_sets = every[:TOP]
    weights = _rarity(terms, every)
    total = sum(weights.values()) or 1.0
    covered = [sum(w for t, w in weights.items() if t in s) / total for s in token_sets]
    union = set().union(*token_sets) if token_sets else set()
    dense = [s for h in hits if (s := _leg_score(h, "dense")) is not None]
    return (
        max(covered, default=0.0),
        sum(w for t, w in weights.items() if t in union) / total,
        max(dense, default=0.0) if dense_on else 0.0,
        _margin(dense) if dense_on else 0.0,
        1.0 if dense_on else 0.0,
        0.0 if dense_on else _gap(covered),
    )


_GLUED = re.compile(r"[a-z]+|[0-9]+")
MIN_SENTENCE = 4  # words (or Chinese tokens) a piece needs to count as a sentence


def asked_part(question: str, tokenizer: LexicalTokenizer) -> str:
    """The sentences of ``question`` that ask (end in a question mark), where it also has
    others (an instruction after the question, a preamble before it); else all of it (pure).

    A piece between sentence marks shorter than ``MIN_SENTENCE`` tokens joins the next one
    ("Hello! What is X?" is one sentence). Sentences end as ``split_sentences`` ends them:
    not after "Inc.", "Mr." or "U.S." ("Did Bionano Genomics, Inc. mention ...?" keeps its
    company)."""
    sentences: list[str] = []
    pending = ""
    text = question.strip()
    for span in split_sentences(text):
        piece = text[span.start : span.end]
        pending = f"{pending} {piece}" if pending else piece
        if max(len(pending.split()), len(tokenizer.tokenize(pending))) >= MIN_SENTENCE:
            sentences.append(pending)
            pending = ""
    if pending:
        sentences.append(pending)
    asking = [s for s in sentences if s.endswith(("?", "？"))]
    return " ".join(asking) if asking and len(asking) < len(sentences) else question


def question_terms(question: str, tokenizer: LexicalTokenizer) -> set[str]:
    """The terms the coverage features look for: those of the asked part, less glued
    letter-digit words ("fy2022", "q2"), whose parts the tokenizer also writes (pure)."""
    terms = set(tokenizer.tokenize(asked_part(question, tokenizer)))
    return {t for t in terms if not (t.isascii() and len(_GLUED.findall(t)) > 1)}


def _rarity(terms: set[str], token_sets: Sequence[set[str]]) -> dict[str, float]:
    """Each question term's weight: rarer among the hits, heavier (a smoothed IDF)."""
    n = len(token_sets)
    return {
        t: math.log(1.0 + (n + 1) / (1.0 + sum(1 for s in token_sets if t in s))) for t in terms
    }


def _gap(covered: Sequence[float]) -> float:
    """How far the best coverage stands above the mean of the others (0 for one hit)."""
    if len(covered) < 2:
        return 0.0
    ordered = sorted(covered, reverse=True)
    return ordered[0] - sum(ordered[1:]) / (len(ordered) - 1)


def _margin(scores: Sequence[float]) -> float:
    """How far the best score stands above the tenth (or last) one."""
    if not scores:
        return 0.0
    ordered = sorted(scores, reverse=True)
    return ordered[0] - ordered[min(9, len(ordered) - 1)]


def _leg_score(hit: Hit, leg: str) -> float | None:
    return next((lr.score for lr in hit.legs if lr.leg == leg), None)


@dataclass(frozen=True, slots=True)
class GateModel:
    """A fitted logistic model over ``FEATURES`` and its operating threshold."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float
    fitted_on: tuple[str, ...] = ()  # the sets (and how many questions) it was fitted on
    embed_model: str = ""  # whose cosines the dense features read; others' are left out
    features: tuple[str, ...] = FEATURES

    def score(self, features: Sequence[float]) -> float:
        z = self.bias + sum(
            w * (x - m) / s
            for w, x, m, s in zip(self.weights, features, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def passes(self, features: Sequence[float]) -> bool:
        return self.score(features) >= self.threshold

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def load(cls, path: Path = SHIPPED) -> GateModel:
        """A model written by ``to_json``; a ``ValueError`` naming the file when it is not."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            model = cls(
                weights=tuple(float(w) for w in data["weights"]),
                bias=float(data["bias"]),
                mean=tuple(float(m) for m in data["mean"]),
                scale=tuple(float(s) for s in data["scale"]),
                threshold=float(data["threshold"]),
                fitted_on=tuple(str(f) for f in data.get("fitted_on", ())),
                embed_model=str(data.get("embed_model", "")),
                features=tuple(str(f) for f in data["features"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not an evidence gate model ({exc})") from exc
        if model.features != FEATURES or not (
            len(model.weights) == len(model.mean) == len(model.scale) == len(FEATURES)
        ):
            raise ValueError(
                f"{path}: its features {list(model.features)} are not this Folio's "
                f"{list(FEATURES)}: refit it with python -m rag_core calibrate"
            )
        return model


# Fitting ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Sample:
    """One question's features, whether the library held its answer, and its set."""

    set_name: str
    answerable: bool
    features: tuple[float, ...]
    embed_model: str = ""


def fit(
    samples: Sequence[Sample], max_answerable_refusal: float = 0.10, l2: float = 1.0
) -> GateModel:
    """Logistic regression (Newton's method, L2), every set weighing the same, and the
    threshold that refuses at most ``max_answerable_refusal`` of the answerable samples of
    *each* set (the lowest of the sets' thresholds: the target holds set by set, not only
    pooled, where the largest set would decide)."""
    if not any(s.answerable for s in samples) or all(s.answerable for s in samples):
        raise ValueError("fitting the gate needs answerable and unanswerable questions")
    x = np.array([s.features for s in samples], dtype=float)
    y = np.array([1.0 if s.answerable else 0.0 for s in samples])
    sets = [s.set_name for s in samples]
    weight = np.array([1.0 / sets.count(name) for name in sets])
    weight *= len(samples) / weight.sum()
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -60, 60)))
        gradient = z.T @ (weight * (p - y)) + penalty * beta
        hessian = (z.T * (weight * p * (1 - p))) @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    models = {s.embed_model for s in samples}
    if len(models) > 1:
        raise ValueError(f"samples from different embedding models: {sorted(models)}")
    model = GateModel(
        embed_model=models.pop(),
        weights=tuple(float(b) for b in beta[1:]),
        bias=float(beta[0]),
        mean=tuple(float(m) for m in mean),
        scale=tuple(float(s) for s in scale),
        threshold=0.0,
        fitted_on=tuple(f"{name} ({sets.count(name)})" for name in sorted(set(sets))),
    )
    by_set: dict[str, list[float]] = {}
    for sample in samples:
        if sample.answerable:
            by_set.setdefault(sample.set_name, []).append(model.score(sample.features))
    threshold = min(threshold_for(scores, max_answerable_refusal) for scores in by_set.values())
    return replace(model, threshold=threshold)


def threshold_for(answerable_scores: Sequence[float], max_refusal: float) -> float:
    """The highest threshold that refuses at most ``max_refusal`` of these scores (pure)."""
    ordered = sorted(answerable_scores)
    allowed = math.floor(max_refusal * len(ordered) + 1e-9)
    return ordered[allowed] if allowed < len(ordered) else ordered[-1]


@dataclass(frozen=True, slots=True)
class Rates:
    """Refusal rates of a gate on one set."""

    set_name: str
    unanswerable: float  # refused among unanswerable questions (want high)
    answerable: float  # refused among answerable questions (want low)
    n_unanswerable: int
    n_answerable: int


def refusal_rates(model: GateModel, samples: Sequence[Sample], set_name: str) -> Rates:
    ours = [s for s in samples if s.set_name == set_name]
    refused = [(s.answerable, not model.passes(s.features)) for s in ours]
    un = [r for a, r in refused if not a]
    an = [r for a, r in refused if a]
    return Rates(
        set_name,
        sum(un) / len(un) if un else float("nan"),
        sum(an) / len(an) if an else float("nan"),
        len(un),
        len(an),
    )


def leave_one_set_out(
    samples: Sequence[Sample], max_answerable_refusal: float = 0.10
) -> list[Rates]:
    """Per set: the refusal rates of a gate fitted on every other set."""
    names = sorted({s.set_name for s in samples})
    rates = []
    for name in names:
        rest = [s for s in samples if s.set_name != name]
        model = fit(rest, max_answerable_refusal)
        rates.append(refusal_rates(model, samples, name))
    return rates


def curve(
    model: GateModel, samples: Sequence[Sample], thresholds: Sequence[float]
) -> list[tuple[float, float, float]]:
    """(threshold, refused unanswerable, refused answerable) at each threshold (pure)."""
    scored = [(s.answerable, model.score(s.features)) for s in samples]
    un = [sc for a, sc in scored if not a]
    an = [sc for a, sc in scored if a]
    return [
        (
            t,
            sum(sc < t for sc in un) / max(1, len(un)),
            sum(sc < t for sc in an) / max(1, len(an)),
        )
        for t in thresholds
    ]
