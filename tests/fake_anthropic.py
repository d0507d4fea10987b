"""A local HTTP server speaking the Anthropic Messages API (JSON and SSE streaming).

It answers from the ``search_result`` blocks it is sent, as Claude does with citations
enabled: it picks the search result sharing the most words with the question and cites its
best-matching text block with a ``search_result_location``. When no result shares a word
with the question but page images were sent (each after a label ``Page image P<n>: ...``),
it answers from the first one and marks it ``[P1]`` as Folio asks; otherwise it replies
``NOT_FOUND``. The question is the first line of the last text block. Every request body is
recorded for assertions.

Run it alone with ``python tests/fake_anthropic.py PORT`` (the benchmarks and the browser
test start it that way or in-process).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_WORD = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]")
_STOP = {
    "the",
    "a",
    "an",
    "of",
    "in",
    "is",
    "what",
    "and",
    "to",
    "was",
    "for",
    "how",
    "did",
    "does",
    "which",
    "who",
    "answer",
    "question",
    "english",
    "chinese",
    "simplified",
    "this",
    "means",
    "context",
    "conversation",
}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


class FakeAnthropic:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, delay: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_with: tuple[int, str] | None = None  # (status, error type) for the next call
        self.delay = delay  # seconds between streamed events
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                server._handle(self)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeAnthropic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # The API ---------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.split("?")[0] != "/v1/messages":
            self._error(handler, 404, "not_found_error", f"no route {handler.path}")
            return
        length = int(handler.headers.get("content-length", 0))
        body = json.loads(handler.rfile.read(length))
        self.requests.append(body)
        auth = handler.headers.get("authorization", "")
        if not (handler.headers.get("x-api-key") or auth.startswith("Bearer ")):
            self._error(handler, 401, "authentication_error", "missing API key")
            return
        if self.fail_with is not None:
            status, kind = self.fail_with
            self.fail_with = None
            self._error(handler, status, kind, "simulated failure")
            return
        blocks = self.answer_blocks(body)
        message = {
            "id": f"msg_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-test"),
            "content": blocks,
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 100,
                "output_tokens": 20,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
            },
        }
        if body.get("stream"):
            handler.send_response(200)
            handler.send_header("content-type", "text/event-stream")
            handler.send_header("cache-control", "no-cache")
            handler.end_headers()
            for event, data in self._events(message):
                handler.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
                handler.wfile.flush()
                if self.delay:
                    time.sleep(self.delay)
            return
        payload = json.dumps(message).encode()
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    @staticmethod
    def _error(handler: BaseHTTPRequestHandler, status: int, kind: str, message: str) -> None:
        payload = json.dumps(
            {"type": "error", "error": {"type": kind, "message": message}}
        ).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    @staticmethod
    def answer_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
        """Content blocks of the reply, with citations, from the request's search results."""
        content = body["messages"][-1]["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        results = [b for b in content if b.get("type") == "search_result"]
        texts = [b["text"] for b in content if b.get("type") == "text"]
        question = texts[-1].split("\n")[0] if texts else ""
        images = [b for b in content if b.get("type") == "image"]
        wanted = _words(question)
        best: tuple[int, int, int] | None = None  # (overlap, result index, block index)
        for r_index, result in enumerate(results):
            for b_index, block in enumerate(result["content"]):
                overlap = len(wanted & _words(block["text"]))
                if overlap and (best is None or overlap > best[0]):
                    best = (overlap, r_index, b_index)
        if best is None and images:
            labels = [t for t in texts if t.startswith("Page image P")]
            marker = labels[0].split(":")[0].removeprefix("Page image ") if labels else "P1"
            return [
                {
                    "type": "text",
                    "text": f"The page image shows the answer [{marker}].",
                    "citations": None,
                }
            ]
        if best is None:
            return [{"type": "text", "text": "NOT_FOUND"}]
        _, r_index, b_index = best
        result = results[r_index]
        cited = result["content"][b_index]["text"]
        citation = {
            "type": "search_result_location",
            "source": result["source"],
            "title": result["title"],
            "cited_text": cited,
            "search_result_index": r_index,
            "start_block_index": b_index,
            "end_block_index": b_index + 1,
        }
        lead = (
            "根据文档，"
            if re.search(r"[\u4e00-\u9fff]", question)
            else "According to the documents, "
        )
        return [
            {"type": "text", "text": lead, "citations": None},
            {"type": "text", "text": cited, "citations": [citation]},
        ]

    @staticmethod
    def _events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        start = {**message, "content": [], "stop_reason": None}
        yield "message_start", {"type": "message_start", "message": start}
        for index, block in enumerate(message["content"]):
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": "", "citations": None},
                },
            )
            for citation in block.get("citations") or []:
                yield (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "citations_delta", "citation": citation},
                    },
                )
            for piece in re.findall(r"\S+\s*|\s+", block["text"]):
                yield (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
            yield "content_block_stop", {"type": "content_block_stop", "index": index}
        yield (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
        )
        yield "message_stop", {"type": "message_stop"}


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    fake = FakeAnthropic(port=port)
    print(f"fake Anthropic Messages API on {fake.url}", flush=True)
    fake.httpd.serve_forever()
