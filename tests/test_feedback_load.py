"""1,000 concurrent feedback POSTs to a real uvicorn server: every one is stored."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from rag_core.config import Settings

from .api_helpers import APPLES, build_api, serving
from .pdfs import make_pdf

pytestmark = pytest.mark.slow

WRITES = 1000


async def ask_and_rate(url: str) -> tuple[list[str], list[int]]:
    limits = httpx.Limits(max_connections=WRITES + 50, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        gate = asyncio.Semaphore(16)

        async def ask(i: int) -> str:
            async with gate:
                question = "Why did pear output fall?" if i % 10 == 0 else f"xyzzy {i}?"
                response = await client.post("/api/v1/query", json={"question": question})
            response.raise_for_status()
            return str(response.json()["answer_id"])

        answer_ids = await asyncio.gather(*(ask(i) for i in range(WRITES)))

        async def rate(i: int, answer_id: str) -> int:
            response = await client.post(
                "/api/v1/feedback",
                json={"answer_id": answer_id, "vote": 1 if i % 3 else -1, "comment": f"#{i}"},
            )
            return response.status_code

        statuses = await asyncio.gather(*(rate(i, a) for i, a in enumerate(answer_ids)))
    return list(answer_ids), list(statuses)


def test_a_thousand_concurrent_ratings_are_all_stored(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data",
        db=tmp_path / "feedback.db",
        api_auth="off",
        api_rate_per_minute=1e9,
        api_burst=10**6,
        api_answers_kept=WRITES * 2,
    )
    app, workspaces, _keys = build_api(settings)
    workspaces.library().add([("orchard.pdf", make_pdf(APPLES))])
    with serving(app) as url:
        answer_ids, statuses = asyncio.run(ask_and_rate(url))
    assert len(set(answer_ids)) == WRITES
    assert statuses == [200] * WRITES
    records = workspaces.feedback().records()
    assert len(records) == WRITES
    assert {r.message_id: (r.vote, r.comment) for r in records} == {
        a: (1 if i % 3 else -1, f"#{i}") for i, a in enumerate(answer_ids)
    }
