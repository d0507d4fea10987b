"""Concurrent chat sessions through the Gradio queue against the running web app.

    python bench/ui_concurrency.py [--sessions 20] [--seconds 60] [--chat-concurrency N]

Three phases on one server (``python app.py``, extractive answers, a copy of the 10k-chunk
library from ui_first_token.py), in the same run:

1. baseline: one session asking question after question;
2. ``--sessions`` sessions at once for ``--seconds``, each a conversation of its own;
3. the same load while a FinanceBench 10-K is uploaded through the queue (CPU-bound ingest:
   render, embed, index), to check that it does not block the streaming of others.

Reports errors, first-token and completion p50/p95, the gaps between streamed updates
(a blocked server shows as a long gap), and the ratios to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

import httpx
from ui_common import (
    RESULTS,
    ChatResult,
    Endpoint,
    chat,
    endpoint,
    ensure_library,
    ms,
    new_session,
    percentile,
    questions,
    running_server,
    shared_data,
)

INGEST_PDF = "3M_2018_10K.pdf"


async def session_loop(
    client: httpx.AsyncClient, url: str, ep: Endpoint, asked: list[str], offset: int, until: float
) -> list[ChatResult]:
    session, results, i = new_session(), [], offset
    while time.perf_counter() < until:
        results.append(await chat(client, url, ep, asked[i % len(asked)], session))
        i += 1
    return results


async def ingest(client: httpx.AsyncClient, url: str, pdf: Path) -> tuple[float, str]:
    """Upload a file through the Library tab's queue event; returns (seconds, status)."""
    started = time.perf_counter()
    with pdf.open("rb") as f:
        uploaded = await client.post(
            url + "gradio_api/upload", files={"files": (pdf.name, f, "application/pdf")}
        )
    uploaded.raise_for_status()
    path = uploaded.json()[0]
    ep = await endpoint(client, url, "upload")
    session = new_session()
    file_data = {"path": path, "orig_name": pdf.name, "meta": {"_type": "gradio.FileData"}}
    joined = await client.post(
        url + "gradio_api/queue/join",
        json={
            "data": [[file_data]],
            "fn_index": ep.fn_index,
            "session_hash": session,
            "trigger_id": ep.trigger_id,
            "event_data": None,
        },
    )
    joined.raise_for_status()
    status = "no result"
    async with client.stream(
        "GET", url + "gradio_api/queue/data", params={"session_hash": session}
    ) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    output = message.get("output", {})
                    status = str(output.get("data", [""])[0])[:120] or str(output)[:200]
                    break
    return time.perf_counter() - started, status


def report(name: str, results: list[ChatResult], seconds: float) -> dict[str, float]:
    good = [r for r in results if r.error is None]
    errors = [r.error for r in results if r.error]
    first = [r.first_token for r in good if r.first_token is not None]
    total = [r.total for r in good if r.total is not None]
    gaps = [g for r in good for g in r.gaps]
    print(f"{name}: {len(results)} answers, {len(errors)} errors, {len(good) / seconds:.2f}/s")
    print(f"   first token {ms(first)}")
    print(f"   complete    {ms(total)}")
    print(f"   stream gaps {ms(gaps)}  max {max(gaps, default=0) * 1000:.0f} ms")
    for error in sorted(set(errors))[:5]:
        print("   error:", error)
    return {
        "first50": percentile(first, 50),
        "first95": percentile(first, 95),
        "total95": percentile(total, 95),
        "errors": len(errors),
    }


async def phases(url: str, asked: list[str], args: argparse.Namespace, pdf: Path | None) -> None:
    limits = httpx.Limits(max_connections=4 * args.sessions, max_keepalive_connections=100)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        ep = await endpoint(client, url, "chat")
        for question in asked[:3]:  # warm up
            await chat(client, url, ep, question, new_session())

        until = time.perf_counter() + args.baseline_seconds
        single = await session_loop(client, url, ep, asked, 0, until)
        base = report("1 session (baseline)", single, args.baseline_seconds)

        until = time.perf_counter() + args.seconds
        loops = [session_loop(client, url, ep, asked, i * 7, until) for i in range(args.sessions)]
        many = [r for rs in await asyncio.gather(*loops) for r in rs]
        load = report(f"{args.sessions} sessions", many, args.seconds)

        if pdf is None:
            print("no FinanceBench PDF: phase 3 skipped")
            return
        until = time.perf_counter() + args.seconds
        loops = [session_loop(client, url, ep, asked, i * 11, until) for i in range(args.sessions)]
        ingest_task = asyncio.create_task(ingest(client, url, pdf))
        with_ingest = [r for rs in await asyncio.gather(*loops) for r in rs]
        seconds, status = await ingest_task
        print(f"ingest of {pdf.name} through the queue: {seconds:.0f} s ({status})")
        busy = report(f"{args.sessions} sessions + ingest", with_ingest, args.seconds)

        print("ratios to the single-session baseline:")
        for name, phase in ((f"{args.sessions} sessions", load), ("+ ingest", busy)):
            print(
                f"   {name:>12}: first token p50 x{phase['first50'] / base['first50']:.1f}, "
                f"p95 x{phase['first95'] / base['first95']:.1f}, "
                f"complete p95 x{phase['total95'] / base['total95']:.1f}, "
                f"errors {phase['errors']:.0f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--baseline-seconds", type=float, default=20)
    parser.add_argument("--chat-concurrency", type=int, default=None)
    args = parser.parse_args()
    library = RESULTS / "ui-library"
    chunks = ensure_library(library)
    pdf = shared_data() / "financebench" / "pdfs" / INGEST_PDF
    asked = questions(100)
    with tempfile.TemporaryDirectory(prefix="folio-bench-") as tmp:
        copy = Path(tmp) / "library"
        shutil.copytree(library, copy)  # the ingest phase must not change the cached library
        settings = {}
        if args.chat_concurrency:
            settings["chat_concurrency"] = str(args.chat_concurrency)
        print(f"library: {chunks} chunks; chat concurrency {args.chat_concurrency or 'default'}")
        with running_server(copy, Path(tmp) / "work", **settings) as url:
            asyncio.run(phases(url, asked, args, pdf if pdf.exists() else None))


if __name__ == "__main__":
    main()
