"""Shared helpers for the benchmarks: data location, percentiles, environment."""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def shared_data() -> Path:
    for candidate in (
        os.environ.get("FOLIO_SHARED_DATA"),
        REPO.parent / "shared" / "data",
        Path("/work/shared/data"),
    ):
        if candidate and Path(candidate, "README.md").exists():
            return Path(candidate)
    raise SystemExit("shared evaluation data not found: set FOLIO_SHARED_DATA")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):.1f} ms  p95 {percentile(values, 95):.1f} ms  "
        f"mean {statistics.fmean(values):.1f} ms  n={len(values)}"
    )


def question_pool(count: int, seed: int = 1) -> list[str]:
    """A fixed sample of real questions: SciFact claims and FinanceBench questions."""
    data = shared_data()
    pool = [json.loads(line)["text"] for line in (data / "scifact" / "queries.jsonl").open()]
    with (data / "financebench" / "questions.jsonl").open() as questions:
        pool += [json.loads(line)["question"] for line in questions]
    return random.Random(seed).sample(pool, count)
