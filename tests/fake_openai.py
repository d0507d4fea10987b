"""A local HTTP server speaking the OpenAI chat-completions API, as Ollama, vLLM, llama.cpp's
server, LM Studio and LiteLLM do: ``POST /v1/chat/completions`` (JSON, or Server-Sent
Events with ``data: {chunk}`` lines and ``data: [DONE]``) and ``GET /v1/models``.

It answers as a small obedient model would from Folio's prompt: the passages arrive numbered
(``<passage id="n" ...>``); it finds the sentence sharing the most words with the question
(the ``Question:`` line) and replies with it, marked ``[n]``. When no passage shares a word
but page images were sent (each after a label ``Page image P<n>: ...``), it answers from the
first image and marks it ``[P1]``; otherwise it replies ``NOT_FOUND``. A request whose system
prompt asks for a "standalone search query" (Folio's follow-up rewriter) gets the fake
Anthropic server's deterministic rewrite.

Tests script it: ``replies`` are sent as they are, first in first out, before any computed
reply; ``failure`` makes the next ``fail_count`` requests fail one way (see ``FAILURES``);
``fail_with`` answers an HTTP error status. A request naming a model the server does not
serve gets Ollama's 404. Every request body is recorded.

Folio's agentic loop (a request whose ``tools`` include ``search``) is scripted by ``agent``
and ``agent_forever`` as for the fake Anthropic server: ``tool_call(name, arguments)`` streams
a ``tool_calls`` delta (arguments given as text are sent as they are, JSON or not), a string is
a text reply, ``ANSWER`` the computed answer from the passages in the user and ``tool``
messages. Like a real server it answers 400 when a ``tool`` message names no call of the
assistant message before it.

Run it alone with ``python -m tests.fake_openai PORT`` from the repository root.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .fake_anthropic import (
    ANSWER,
    _claim_labels,
    _words,
    agent_answer,
    is_agent,
    standalone_query,
)

# How a request can fail, besides an HTTP status:
FAILURES = (
    "slow",  # no byte for ``slow_seconds`` (a timeout)
    "html",  # 200 with an HTML page (a proxy or a web server at that address)
    "bad_json",  # 200 whose body (or stream event) is not JSON
    "not_chat",  # 200 JSON, but not a chat completion (no choices)
    "cut",  # the stream stops after a few chunks, without finish_reason or [DONE]
    "stall",  # the stream sends a few chunks, then nothing for ``slow_seconds``
)
_PASSAGE = re.compile(r'<passage id="(\d+)"[^>]*>\n(.*?)\n</passage>', re.S)
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]?")


class FakeOpenAI:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        models: tuple[str, ...] = ("folio-test",),
        api_key: str | None = None,
    ) -> None:
        self.models = list(models)
        self.api_key = api_key  # when set, requests must carry "Authorization: Bearer <key>"
        self.requests: list[dict[str, Any]] = []  # chat-completions bodies
        self.paths: list[str] = []  # every request's method and path
        self.replies: list[str] = []
        self.failure: str | None = None
        self.fail_with: tuple[int, str] | None = None  # (status, message)
        self.fail_count = 1
        self.slow_seconds = 3.0
        self.piece_chars: int | None = None  # stream pieces of this many characters (else words)
        self.finish_reason = "stop"  # of every reply ("length": cut at max_tokens)
        self.agent: list[Any] = []  # the agentic loop's replies (see the docstring)
        self.agent_forever: dict[str, Any] | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._get(self)

            def do_POST(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._post(self)  # (suppressed: the client gave up, a timeout test)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL a client is given (``.../v1``, as for Ollama and vLLM)."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # The API ---------------------------------------------------------------------------
    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        self.paths.append(f"GET {handler.path}")
        if handler.path.split("?")[0] != "/v1/models":
            self._json(handler, 404, {"error": {"message": "404 page not found"}})
            return
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        self._json(handler, 200, {"object": "list", "data": data})

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        self.paths.append(f"POST {handler.path}")
        length = int(handler.headers.get("content-length", 0))
        raw = handler.rfile.read(length)
        if handler.path.split("?")[0] != "/v1/chat/completions":
            self._json(handler, 404, {"error": {"message": "404 page not found"}})
            return
        body = json.loads(raw)
        self.requests.append(body)
        if self.api_key and handler.headers.get("authorization") != f"Bearer {self.api_key}":
            self._json(handler, 401, {"error": {"message": "invalid api key", "type": "auth"}})
            return
        if self._fail(handler, bool(body.get("stream"))):
            return
        model = body.get("model", "")
        if model not in self.models:
            message = f'model "{model}" not found, try pulling it first'
            self._json(handler, 404, {"error": {"message": message, "type": "api_error"}})
            return
        if is_agent(body):
            self._agent(handler, body)
            return
        text = self.replies.pop(0) if self.replies else self.reply(body)
        if body.get("stream"):
            self._stream(handler, model, text)
        else:
            self._json(handler, 200, completion(model, text))

    def _fail(self, handler: BaseHTTPRequestHandler, stream: bool) -> bool:
        """Answer with the scripted failure, if any; True when it did."""
        failure, status = self.failure, self.fail_with
        if failure is None and status is None:
            return False
        self.fail_count -= 1
        if self.fail_count <= 0:
            self.failure, self.fail_with, self.fail_count = None, None, 1
        if status is not None:
            self._json(handler, status[0], {"error": {"message": status[1], "type": "error"}})
        elif failure == "slow":
            time.sleep(self.slow_seconds)
            self._json(handler, 200, completion("late", "too late"))
        elif failure == "html":
            page = b"<html><head><title>Welcome to nginx!</title></head><body></body></html>"
            self._send(handler, 200, "text/html", page)
        elif failure == "bad_json":
            if stream:
                self._send(handler, 200, "text/event-stream", b"data: {not json at all\n\n")
            else:
                self._send(handler, 200, "application/json", b"{not json at all")
        elif failure == "not_chat":
            reply = {"model": "x", "message": {"role": "assistant", "content": "hi"}, "done": True}
            if stream:
                self._send(handler, 200, "text/event-stream", sse(reply) + b"data: [DONE]\n\n")
            else:
                self._json(handler, 200, reply)
        elif failure in ("cut", "stall"):
            handler.send_response(200)
            handler.send_header("content-type", "text/event-stream")
            handler.end_headers()
            for text in ("The answer ", "is "):
                handler.wfile.write(sse(chunk("folio-test", {"content": text})))
            handler.wfile.flush()
            if failure == "stall":
                time.sleep(self.slow_seconds)
            handler.close_connection = True
        return True

    def _stream(self, handler: BaseHTTPRequestHandler, model: str, text: str) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("cache-control", "no-cache")
        handler.end_headers()
        handler.wfile.write(sse(chunk(model, {"role": "assistant", "content": ""})))
        for piece in self._pieces(text):
            handler.wfile.write(sse(chunk(model, {"content": piece})))
            handler.wfile.flush()
        handler.wfile.write(sse(chunk(model, {}, self.finish_reason)))
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()

    def _agent(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        problem = tool_message_problem(body["messages"])
        if problem:
            self._json(handler, 400, {"error": {"message": problem, "type": "invalid_request"}})
            return
        reply = self.agent.pop(0) if self.agent else self.agent_forever or ANSWER
        if not isinstance(reply, dict):
            text = reply if isinstance(reply, str) else agent_answer(*_agent_context(body))
            self._stream(handler, body["model"], text)
            return
        arguments = reply["arguments"]
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        n = sum(1 for m in body["messages"] if m["role"] == "assistant") + 1
        call = {"index": 0, "id": f"call_{n}", "type": "function"}
        model = body["model"]
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.end_headers()
        first = {**call, "function": {"name": reply["tool"], "arguments": ""}}
        handler.wfile.write(sse(chunk(model, {"role": "assistant", "tool_calls": [first]})))
        for piece in re.findall(r".{1,8}", arguments, re.S):
            more = {"index": 0, "function": {"arguments": piece}}
            handler.wfile.write(sse(chunk(model, {"tool_calls": [more]})))
        handler.wfile.write(sse(chunk(model, {}, "tool_calls")))
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()

    def _pieces(self, text: str) -> list[str]:
        if self.piece_chars:
            n = self.piece_chars
            return [text[i : i + n] for i in range(0, len(text), n)]
        return re.findall(r"\S+\s*|\s+", text)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, kind: str, payload: bytes) -> None:
        handler.send_response(status)
        handler.send_header("content-type", kind)
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _json(self, handler: BaseHTTPRequestHandler, status: int, data: Any) -> None:
        self._send(handler, status, "application/json", json.dumps(data).encode())

    # The "model" -------------------------------------------------------------------------
    @staticmethod
    def reply(body: dict[str, Any]) -> str:
        messages = body["messages"]
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        parts = messages[-1]["content"]
        if isinstance(parts, str):
            parts = [{"type": "text", "text": parts}]
        text = "\n".join(p["text"] for p in parts if p["type"] == "text")
        if "standalone search query" in system:
            return standalone_query(text)
        if "one label per sentence" in system:  # Folio's claim check: the labels as JSON
            data = json.loads(text.split("input: ", 1)[1])
            return "```json\n" + json.dumps(_claim_labels(data)) + "\n```"
        question = re.search(r"^Question: (.*)$", text, re.M)
        wanted = _words(question.group(1)) if question else set()
        best: tuple[int, str, str] | None = None  # (overlap, passage id, sentence)
        for number, passage in _PASSAGE.findall(text):
            for sentence in _SENTENCE.findall(passage):
                overlap = len(wanted & _words(sentence))
                if overlap and (best is None or overlap > best[0]):
                    best = (overlap, number, sentence.strip())
        if best is None:
            if any(p["type"] == "image_url" for p in parts):
                return "The page image shows the answer [P1]."
            return "NOT_FOUND"
        _, number, sentence = best
        if re.search(r"[\u4e00-\u9fff]", question.group(1) if question else ""):
            return f"根据文档，{sentence.rstrip('。')}[{number}]。"
        return f"According to the documents, {sentence.rstrip('.')} [{number}]."


def tool_message_problem(messages: list[dict[str, Any]]) -> str:
    """What a chat-completions server would refuse in a tool-call exchange ("" if nothing)."""
    calls: set[str] = set()
    for message in messages:
        if message["role"] == "assistant":
            calls = {c["id"] for c in message.get("tool_calls") or []}
        elif message["role"] == "tool" and message.get("tool_call_id") not in calls:
            return f"tool message {message.get('tool_call_id')!r} answers no tool call"
    return ""


def _agent_context(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The texts the model was given (user and tool messages) and the queries it searched."""
    texts = [
        m["content"] for m in body["messages"] if m["role"] in ("user", "tool") and m["content"]
    ]
    queries = []
    for message in body["messages"]:
        for call in message.get("tool_calls") or []:
            with contextlib.suppress(ValueError, AttributeError):
                if call["function"]["name"] == "search":
                    queries.append(str(json.loads(call["function"]["arguments"]).get("query", "")))
    return texts, queries


def chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }


def completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


def sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8766
    fake = FakeOpenAI(port=port)
    print(f"fake OpenAI chat-completions API on {fake.url}", flush=True)
    fake.httpd.serve_forever()
