"""A local HTTP server speaking the Anthropic Messages API (JSON and SSE streaming).

It answers from the ``search_result`` blocks it is sent, as Claude does with citations
enabled: it picks the search result sharing the most words with the question and cites its
best-matching text block with a ``search_result_location``. When no result shares a word
with the question but page images were sent (each after a label ``Page image P<n>: ...``),
it answers from the first one and marks it ``[P1]`` as Folio asks; otherwise it replies
``NOT_FOUND``. The question is the first line of the last text block. Every request body is
recorded for assertions.

A request without search results whose system prompt asks for a "standalone search query"
(Folio's follow-up rewriter) gets a deterministic rewrite: the previous question with its
year replaced by the year of the last question, or else the previous question followed by
the last one.

``additions`` scripts a claim the documents do not hold: each is added to one answer,
cited like the answer's own sentence. Folio's claim check (``FOLIO_CLAIM_CHECK=llm``, the
tool ``record_claim_labels``) is answered by word containment (see ``_claim_labels``).

Run it alone with ``python tests/fake_anthropic.py PORT`` (the benchmarks and the browser
test start it that way or in-process).

It also answers *judge* requests, as ragas sends them through instructor: a request with
``tools`` and a ``tool_choice`` naming one tool gets a ``tool_use`` block whose input is
valid for that tool's ``input_schema``. ragas' prompts end with ``input: {json}`` and the
reply is computed from that input by a small rule per ragas output model (statements are
the answer's sentences; a statement is supported when all its words are in the context;
see ``JUDGE_RULES``). Folio's correctness prompt (``Gold answer:`` / ``Answer to grade:``)
is graded by word containment. Any other tool gets a minimal instance of its schema. A
judge prompt without tools that asks for JSON output gets that JSON as text.

Folio's agentic loop (a request whose ``tools`` include ``search``) is scripted by ``agent``:
its items are the next replies, first in first out: ``tool_call(name, arguments)`` makes a
``tool_use`` block, a string is a text reply as it is, ``ANSWER`` is the computed answer
(``agent_answer``: the passage sentence sharing most words with the model's last search, or
with the question, marked ``[n]``). With the script empty the reply is ``agent_forever`` when
set (a model that never stops calling a tool), else the computed answer. As the real API does,
it answers 400 when a ``tool_result`` names no ``tool_use`` of the turn before it.
"""

from __future__ import annotations

import itertools
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
    "according",  # the lead of the fake's own answers, which is no claim to check
    "documents",
}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


class FakeAnthropic:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, delay: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_with: tuple[int, str] | None = None  # (status, error type) for the next call
        self.fail_count = 1  # ... and for this many calls in a row
        self.delay = delay  # seconds between streamed events
        # Sentences to add to the next answers (one per answer), cited like the answer's own
        # sentence: a scripted claim its passage does not support.
        self.additions: list[str] = []
        # The agentic loop's replies (see the module's docstring).
        self.agent: list[Any] = []
        self.agent_forever: dict[str, Any] | None = None
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
            self.fail_count -= 1
            if self.fail_count <= 0:
                self.fail_with, self.fail_count = None, 1
            self._error(handler, status, kind, "simulated failure")
            return
        if is_agent(body):
            problem = tool_protocol_problem(body)
            if problem:
                self._error(handler, 400, "invalid_request_error", problem)
                return
            blocks = agent_blocks(self._next_agent_reply(), body)
        elif self.is_rewrite(body):
            blocks = self.rewrite_blocks(body)
        else:
            blocks = self.answer_blocks(body)
        cited = [b for b in blocks if b.get("type") == "text" and b.get("citations")]
        if cited and self.additions:
            addition = self.additions.pop(0)
            blocks = [
                *blocks,
                {"type": "text", "text": f" {addition}", "citations": cited[-1]["citations"]},
            ]
        message = {
            "id": f"msg_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-test"),
            "content": blocks,
            "stop_reason": "tool_use" if blocks[0]["type"] == "tool_use" else "end_turn",
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

    def _next_agent_reply(self) -> Any:
        if self.agent:
            return self.agent.pop(0)
        return self.agent_forever if self.agent_forever is not None else ANSWER

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
    def is_rewrite(body: dict[str, Any]) -> bool:
        system = body.get("system", "")
        if isinstance(system, list):
            system = " ".join(b.get("text", "") for b in system)
        content = body["messages"][-1]["content"]
        has_results = isinstance(content, list) and any(
            b.get("type") == "search_result" for b in content
        )
        return "standalone search query" in system and not has_results

    @staticmethod
    def rewrite_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
        """A standalone query from the conversation in the prompt (deterministic)."""
        content = body["messages"][-1]["content"]
        if isinstance(content, list):
            content = " ".join(b.get("text", "") for b in content)
        return [{"type": "text", "text": standalone_query(content), "citations": None}]

    @staticmethod
    def answer_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
        """Content blocks of the reply, with citations, from the request's search results
        (or a judge's reply: see ``judge_blocks``)."""
        judged = judge_blocks(body)
        if judged is not None:
            return judged
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
            if block["type"] == "tool_use":
                yield (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {**block, "input": {}},
                    },
                )
                yield (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {
                            "type": "input_json_delta",
                            "partial_json": json.dumps(block["input"]),
                        },
                    },
                )
                yield "content_block_stop", {"type": "content_block_stop", "index": index}
                continue
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
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
        )
        yield "message_stop", {"type": "message_stop"}


# The agentic loop ---------------------------------------------------------------------------
ANSWER = object()  # a scripted reply: the computed answer from the passages
PASSAGE = re.compile(r'<passage id="(\d+)"[^>]*>\n(.*?)\n</passage>', re.S)
SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]?")


def tool_call(name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    """A scripted tool call (``arguments`` as text: sent as they are, JSON or not)."""
    return {"tool": name, "arguments": arguments}


def is_agent(body: dict[str, Any]) -> bool:
    names = [t.get("name") or t.get("function", {}).get("name") for t in body.get("tools", [])]
    return "search" in names


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            parts.append(_text_of(block.get("content")))
    return "\n".join(parts)


def tool_protocol_problem(body: dict[str, Any]) -> str:
    """What the Messages API would refuse in a tool-use exchange ("" when nothing)."""
    messages = body["messages"]
    for before, message in itertools.pairwise(messages):
        content = message.get("content")
        if message["role"] != "user" or isinstance(content, str):
            continue
        results = [b for b in content if b.get("type") == "tool_result"]
        if not results:
            continue
        asked = before.get("content") if before["role"] == "assistant" else []
        ids = {b["id"] for b in asked or [] if b.get("type") == "tool_use"}
        for result in results:
            if result.get("tool_use_id") not in ids:
                return f"tool_result {result.get('tool_use_id')!r} names no tool_use before it"
        if {r["tool_use_id"] for r in results} != ids:
            return "every tool_use needs its tool_result in the next message"
    return ""


def agent_answer(texts: list[str], queries: list[str]) -> str:
    """The scripted model's answer: the passage sentence sharing most words with its last
    search query (or the question), marked with the passage's number; else NOT_FOUND."""
    joined = "\n".join(texts)
    question = re.search(r"^Question: (.*)$", joined, re.M)
    wanted = _words(queries[-1] if queries else question.group(1) if question else "")
    best: tuple[int, str, str] | None = None
    for number, passage in PASSAGE.findall(joined):
        for sentence in SENTENCE.findall(passage):
            overlap = len(wanted & _words(sentence))
            if overlap and (best is None or overlap > best[0]):
                best = (overlap, number, sentence.strip())
    if best is None:
        return "NOT_FOUND"
    _, number, sentence = best
    return f"According to the documents, {sentence.rstrip('.')} [{number}]."


def anthropic_queries(body: dict[str, Any]) -> list[str]:
    return [
        str(b.get("input", {}).get("query", ""))
        for m in body["messages"]
        if m["role"] == "assistant" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_use" and b.get("name") == "search"
    ]


def agent_blocks(reply: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The content blocks of a scripted reply of the agentic loop (Messages API)."""
    if isinstance(reply, dict):
        arguments = reply["arguments"]
        if isinstance(arguments, str):
            arguments = {"raw": arguments}  # Messages API inputs are always JSON objects
        n = sum(1 for m in body["messages"] if m["role"] == "assistant") + 1
        return [{"type": "tool_use", "id": f"toolu_{n}", "name": reply["tool"], "input": arguments}]
    if isinstance(reply, str):
        return [{"type": "text", "text": reply, "citations": None}]
    texts = [_text_of(m["content"]) for m in body["messages"] if m["role"] == "user"]
    text = agent_answer(texts, anthropic_queries(body))
    return [{"type": "text", "text": text, "citations": None}]


def standalone_query(prompt: str) -> str:
    """The rewrite of Folio's rewrite prompt: the previous question with its year replaced by
    the year of the last question, or else the previous question followed by the last one."""
    previous = re.findall(r"^User: (.*)$", prompt, re.MULTILINE)
    last = re.search(r"^Last question: (.*)$", prompt, re.MULTILINE)
    question = last.group(1).strip() if last else ""
    if not previous:
        return question
    before = previous[-1].strip()
    year = re.search(r"(?:19|20)\d{2}", question)
    if year and re.search(r"(?:19|20)\d{2}", before):
        return re.sub(r"(?:19|20)\d{2}", year.group(0), before)
    return f"{before} {question}"


# Judge requests ----------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_MARKER = re.compile(r"\s*\[\d+\]")
_NONCOMMITTAL = ("not found", "i don't know", "i do not know", "not sure")


def _sentences(text: str) -> list[str]:
    text = _MARKER.sub("", text)
    return [s.strip() for s in _SENTENCE_END.split(text) if _words(s)]


def _supported(statement: str, context: str) -> int:
    return int(_words(statement) <= _words(context))


def _statements(data: dict[str, Any]) -> dict[str, Any]:
    return {"statements": _sentences(data["answer"])}


def _claims(data: dict[str, Any]) -> dict[str, Any]:
    return {"claims": _sentences(data["response"])}


def _verdicts(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "statements": [
            {
                "statement": statement,
                "reason": "all its words are in the context"
                if _supported(statement, data["context"])
                else "some of its words are not in the context",
                "verdict": _supported(statement, data["context"]),
            }
            for statement in data["statements"]
        ]
    }


def _relevance(data: dict[str, Any]) -> dict[str, Any]:
    response = _MARKER.sub("", data["response"]).strip()
    lowered = response.lower()
    return {
        "question": response,
        "noncommittal": int(any(p in lowered for p in _NONCOMMITTAL)),
    }


def _claim_labels(data: dict[str, Any]) -> dict[str, Any]:
    """Folio's claim check: supported when all of a sentence's words are in its passages,
    partial when more than half are, else unsupported."""
    labels = []
    for sentence in data["sentences"]:
        words = _words(sentence["text"])
        found = len(words & _words(" ".join(sentence["passages"])))
        support = (
            "supported"
            if found == len(words)
            else "partial"
            if 2 * found > len(words)
            else "unsupported"
        )
        labels.append(
            {"id": sentence["id"], "support": support, "reason": f"{found} of {len(words)} words"}
        )
    return {"labels": labels}


# ragas output model (the tool's name) -> rule computing the reply from the prompt's input.
JUDGE_RULES = {
    "record_claim_labels": _claim_labels,
    "StatementGeneratorOutput": _statements,
    "ClaimDecompositionOutput": _claims,
    "NLIStatementOutput": _verdicts,
    "AnswerRelevanceOutput": _relevance,
}


def _prompt_input(prompt: str) -> dict[str, Any] | None:
    """The JSON after ragas' final ``input:`` line."""
    marker = prompt.rfind("\ninput: ")
    if marker < 0:
        return None
    text = prompt[marker + len("\ninput: ") :]
    text = text[: text.rfind("}") + 1]
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _grade(prompt: str, allowed: list[str]) -> dict[str, Any]:
    """Folio's correctness prompt: correct when every gold word is in the answer."""
    gold = re.search(r"Gold answer:(.*?)\n(?:Answer to grade:|$)", prompt, re.S)
    graded = re.search(r"Answer to grade:(.*)$", prompt, re.S)
    if gold is None or graded is None:
        return {"reason": "no gold answer in the prompt", "value": allowed[0]}
    answer = graded.group(1).lower()
    if "refusal" in allowed and ("not found" in answer or "does not" in answer):
        return {"reason": "the answer declines", "value": "refusal"}
    ok = _words(gold.group(1)) <= _words(answer)
    value = "correct" if ok and "correct" in allowed else "incorrect"
    return {"reason": "gold words all present" if ok else "gold words missing", "value": value}


def minimal_instance(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """The smallest value valid for a JSON schema (enums take their first value)."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return minimal_instance(defs[schema["$ref"].split("/")[-1]], defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return minimal_instance(schema[key][0], defs)
    kind = schema.get("type", "object")
    if kind == "object":
        return {
            name: minimal_instance(sub, defs)
            for name, sub in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }
    if kind == "array":
        return [minimal_instance(schema["items"], defs)] * schema.get("minItems", 1)
    return {"string": "", "integer": 0, "number": 0.0, "boolean": False, "null": None}[kind]


def _prompt_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content if b.get("type") == "text")


def judge_reply(name: str, schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    data = _prompt_input(prompt)
    if name in JUDGE_RULES and data is not None:
        return JUDGE_RULES[name](data)
    values = schema.get("properties", {}).get("value", {}).get("enum")
    if values and "Answer to grade:" in prompt:
        return _grade(prompt, values)
    return minimal_instance(schema)


def judge_blocks(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Reply blocks for a judge request, or None when the request is a question to answer."""
    content = body["messages"][-1]["content"]
    if not isinstance(content, str) and any(b.get("type") == "search_result" for b in content):
        return None
    prompt = _prompt_text(body)
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        tool = next(t for t in body.get("tools", []) if t["name"] == choice["name"])
        reply = judge_reply(tool["name"], tool["input_schema"], prompt)
        return [{"type": "tool_use", "id": "toolu_fake", "name": tool["name"], "input": reply}]
    schema_at = prompt.find("Please return the output in a JSON format")
    if schema_at >= 0:
        line = prompt[schema_at:].split("\n")[1]
        schema = json.loads(line[: line.rfind("}") + 1])
        reply = judge_reply(schema.get("title", ""), schema, prompt)
        return [{"type": "text", "text": json.dumps(reply), "citations": None}]
    return None


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    fake = FakeAnthropic(port=port)
    print(f"fake Anthropic Messages API on {fake.url}", flush=True)
    fake.httpd.serve_forever()
