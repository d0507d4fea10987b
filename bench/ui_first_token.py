"""Enter to first streamed token through the running web app, over a 10k-chunk library.

    python bench/ui_first_token.py [--questions 50]

Builds (once, cached in bench/results/ui-library) a library of SciFact abstracts with the
real MiniLM embedder, starts ``python app.py`` (no API key: extractive answers), and asks
each question in a new session through the Gradio queue, timing from the join request (the
browser's Enter) to the first answer text in the SSE stream.

The baseline, in the same run and the same request, is the first token as the chat handler
itself measured it (``ui.first_token`` in the trace: rewrite, retrieval and the answerer up
to their first text, inside the server). The ratio is what the web layer (queue, event
stream, diffs, loopback HTTP) adds on top of the work itself.
"""

from __future__ import annotations

import argparse
import os

import httpx
from ui_common import (
    RESULTS,
    chat,
    endpoint,
    ensure_library,
    ms,
    new_session,
    percentile,
    questions,
    run,
    running_server,
)

WARM_UP = 3


async def measure(url: str, asked: list[str]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"first": [], "total": [], "handler_first": [], "errors": []}
    async with httpx.AsyncClient(timeout=120) as client:
        ep = await endpoint(client, url, "chat")
        for question in asked[:WARM_UP]:
            await chat(client, url, ep, question, new_session())
        for question in asked:
            result = await chat(client, url, ep, question, new_session())
            if result.error or result.first_token is None or result.handler_first is None:
                out["errors"].append(1.0)
                print("error:", result.error)
                continue
            out["first"].append(result.first_token)
            out["total"].append(result.total or float("nan"))
            out["handler_first"].append(result.handler_first)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=50)
    args = parser.parse_args()
    folder = RESULTS / "ui-library"
    chunks = ensure_library(folder)
    asked = questions(args.questions)
    print(f"library: {chunks} chunks; {len(asked)} questions, each in a new session")
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores)")
    with running_server(folder, RESULTS / "ui-first-token") as url:
        out = run(measure(url, asked))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"Enter -> first token (client)  {ms(out['first'])}   errors {len(out['errors'])}")
    print(f"Enter -> answer complete       {ms(out['total'])}")
    print(f"first token inside handler     {ms(out['handler_first'])}")
    overhead = [a - b for a, b in zip(out["first"], out["handler_first"], strict=True)]
    print(f"web layer (client - handler)   {ms(overhead)}")
    for p in (50, 95):
        ratio = percentile(out["first"], p) / percentile(out["handler_first"], p)
        print(f"ratio client / handler first token p{p}: {ratio:.2f}")


if __name__ == "__main__":
    main()
