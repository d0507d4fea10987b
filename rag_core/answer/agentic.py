"""Agentic retrieval: the language model may ask for more evidence before it answers.

The model (Claude through Anthropic tool use, or your own model through OpenAI-compatible
tool calls) gets the first search's hits as numbered passages and two tools:

- ``search`` {query, document (a name or id, optional), k (1..max_k)}: a search of the
  library, within the question's filters;
- ``read_page`` {document, page}: the passages of one page of a document.

Each tool result lists its passages numbered on from the ones before (a passage seen again
keeps its number), so the final answer cites ``[n]`` markers exactly as the OpenAI-compatible
answerer's do, and each marker maps to chunk, document, page and the span of one sentence
through the same code (``openai_compat.Reply``). Bad arguments (not JSON, a missing query, a
``k`` out of range, a document that is not there) get a tool error the model can act on.

The loop is bounded: at most ``max_steps`` model turns may call tools, and none is started
after ``budget_seconds``; then one last turn is asked to answer without tools. A model that
still answers nothing has its gathered passages judged by the evidence gate: they pass, and
the extractive answer over them is given (with a note), or Folio refuses. ``NOT_FOUND`` is
Folio's refusal, as for the other answerers. Every tool call is in the trace
(``RetrievalTrace.agent_steps``: tool, arguments, passages returned, milliseconds, error).

Every model turn is a streamed request (as the answerers' are), but Folio shows a turn's text
only once the turn is over and called no tool: text before a tool call ("let me search") is
not an answer. So the agent's answer arrives at once, not token by token.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rag_core.answer.claude import user_prompt
from rag_core.answer.common import Answerer, sentence_units, stream_refusal
from rag_core.answer.openai_client import ChatClient
from rag_core.answer.openai_compat import SYSTEM_PROMPT as PASSAGES_PROMPT
from rag_core.answer.openai_compat import Reply, passage_block
from rag_core.errors import AnswerError, InputError, NotFoundError
from rag_core.index.lexical import LexicalTokenizer
from rag_core.types import (
    AgentStep,
    Answer,
    AnswerDone,
    AnswerEvent,
    AnswerMode,
    Hit,
    SearchResult,
    Timing,
)

AGENT_MODES = ("auto", "off")


@dataclass(frozen=True, slots=True)
class AgentConfig:
    max_steps: int = 4  # model turns that may call tools
    budget_seconds: float = 60.0  # no tool turn is started after this
    max_k: int = 10  # the most passages one search may return
    default_k: int = 5


@dataclass(frozen=True, slots=True)
class Toolbox:
    """What the tools reach, given by the library for one question.

    ``search(query, document, k)`` and ``read_page(document, page)`` (page from 1) return
    hits or raise ``InputError``/``NotFoundError`` (sent to the model as a tool error);
    ``gate`` scores gathered evidence like the first search's, against ``threshold``.
    """

    search: Callable[[str, str | None, int], Sequence[Hit]]
    read_page: Callable[[str, int], Sequence[Hit]]
    gate: Callable[[SearchResult], float]
    threshold: float


# Tools ------------------------------------------------------------------------------------
def tool_specs(config: AgentConfig) -> list[dict[str, Any]]:
    """The tools as name, description and JSON schema (each protocol wraps them)."""
    return [
        {
            "name": "search",
            "description": (
                "Search the user's documents for passages. Returns new numbered passages to "
                "cite. Use a different wording or a narrower query than before."
            ),
            "schema": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "what to search for"},
                    "document": {
                        "type": "string",
                        "description": "only this document (its file name or id); optional",
                    },
                    "k": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": config.max_k,
                        "description": f"passages wanted (default {config.default_k})",
                    },
                },
                "required": ["query"],
            },
        },
        {
            "name": "read_page",
            "description": "Read one page of a document (as numbered passages to cite).",
            "schema": {
                "type": "object",
                "properties": {
                    "document": {"type": "string", "description": "file name or id"},
                    "page": {"type": "integer", "minimum": 1, "description": "page, from 1"},
                },
                "required": ["document", "page"],
            },
        },
    ]


class ToolArgumentError(Exception):
    """The arguments of a tool call cannot be used; the message goes back to the model."""


def parse_arguments(name: str, arguments: str, config: AgentConfig) -> dict[str, Any]:
    """The checked arguments of a tool call sent as JSON text (pure); raises
    ``ToolArgumentError`` naming the argument and what is wrong with it."""
    if name not in ("search", "read_page"):
        raise ToolArgumentError(f"there is no tool {name!r}; the tools are search and read_page")
    try:
        values = json.loads(arguments or "{}")
    except ValueError as exc:
        raise ToolArgumentError(f"the arguments are not JSON ({exc})") from exc
    if not isinstance(values, dict):
        raise ToolArgumentError("the arguments must be a JSON object")
    allowed = {"search": {"query", "document", "k"}, "read_page": {"document", "page"}}[name]
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ToolArgumentError(f"unknown argument {unknown[0]!r}; {name} takes {sorted(allowed)}")
    document = values.get("document")
    if document is not None and (not isinstance(document, str) or not document.strip()):
        raise ToolArgumentError("document must be a document's file name or id (text)")
    if name == "search":
        query = values.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolArgumentError("query is required: the text to search for")
        k = values.get("k", config.default_k)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= config.max_k:
            raise ToolArgumentError(f"k must be a whole number from 1 to {config.max_k}")
        return {"query": query.strip(), "document": document, "k": k}
    page = values.get("page")
    if document is None:
        raise ToolArgumentError("document is required: a document's file name or id")
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise ToolArgumentError("page must be a whole number from 1")
    return {"document": document, "page": page}


class Evidence:
    """The passages gathered so far, numbered in order of first sight."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self._numbers: dict[str, int] = {}

    def add(self, hits: Sequence[Hit]) -> list[tuple[int, Hit]]:
        """Each hit with its number (a chunk seen before keeps its number)."""
        numbered = []
        for hit in hits:
            number = self._numbers.get(hit.chunk.id)
            if number is None:
                self.hits.append(replace(hit, rank=len(self.hits) + 1))
                number = self._numbers[hit.chunk.id] = len(self.hits)
            numbered.append((number, hit))
        return numbered


def passages(numbered: Sequence[tuple[int, Hit]]) -> str:
    return "\n\n".join(passage_block(number, hit) for number, hit in numbered)


def system_prompt(config: AgentConfig) -> str:
    return (
        f"{PASSAGES_PROMPT}\n6. If the passages do not hold the answer, you may call the tools: "
        "search finds more passages (optionally in one document), read_page returns the "
        "passages of one page. Their passages are numbered on from the ones you have; cite "
        f"them the same way. You have at most {config.max_steps} turns with tool calls; "
        "search only for what is missing, then answer (or reply NOT_FOUND)."
    )


def first_prompt(
    question: str,
    result: SearchResult,
    numbered: Sequence[tuple[int, Hit]],
    parts: Sequence[str] = (),
) -> str:
    """The passages of the first search and the question (with its parts, when a router
    split it: each is worth a search of its own)."""
    head = f"Passages:\n\n{passages(numbered)}" if numbered else "No passages were found yet."
    prompt = user_prompt(question, result.trace.searched_query)
    if parts:
        listed = "\n".join(f"- {part}" for part in parts)
        prompt += f"\nThe question has these parts; answer each:\n{listed}"
    return f"{head}\n\n{prompt}"


# Protocols --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model sent it


@dataclass(frozen=True, slots=True)
class Turn:
    text: str
    calls: tuple[ToolCall, ...]
    model: str
    finish: str | None = None


@dataclass(frozen=True, slots=True)
class ToolOutput:
    call: ToolCall
    text: str
    error: bool


class Conversation(ABC):
    """One question's exchange with a model in one protocol: it keeps the messages."""

    model: str

    @abstractmethod
    def turn(self, tools: bool) -> Turn:
        """Ask the model (a streamed request) and return its whole turn. With ``tools`` off
        the model is told to call none (a call it makes anyway means it gave no answer)."""

    @abstractmethod
    def add_results(self, turn: Turn, outputs: Sequence[ToolOutput]) -> None:
        """Record the model's turn and what its tool calls returned."""


class AgentBackend(ABC):
    """Starts conversations with one model in one protocol."""

    model: str
    max_tokens: int

    @abstractmethod
    def start(self, system: str, prompt: str, tools: list[dict[str, Any]]) -> Conversation: ...


class AnthropicBackend(AgentBackend):
    """Claude through the Messages API's tool use (``tool_use`` / ``tool_result`` blocks)."""

    def __init__(self, client: Callable[[], Any], model: str, max_tokens: int) -> None:
        self.client, self.model, self.max_tokens = client, model, max_tokens

    def start(self, system: str, prompt: str, tools: list[dict[str, Any]]) -> Conversation:
        return _AnthropicConversation(self, system, prompt, tools)


class _AnthropicConversation(Conversation):
    def __init__(
        self, backend: AnthropicBackend, system: str, prompt: str, tools: list[dict[str, Any]]
    ) -> None:
        self.backend, self.model = backend, backend.model
        self.system = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
        self.tools = [
            {"name": t["name"], "description": t["description"], "input_schema": t["schema"]}
            for t in tools
        ]
        self.messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]

    def turn(self, tools: bool) -> Turn:
        import anthropic

        body = {
            "model": self.backend.model,
            "max_tokens": self.backend.max_tokens,
            "system": self.system,
            "messages": self.messages,
            "tools": self.tools,
            "tool_choice": {"type": "auto" if tools else "none"},
        }
        try:
            with self.backend.client().messages.stream(**body) as stream:
                final = stream.get_final_message()
        except anthropic.APIError as exc:
            raise AnswerError(f"Claude could not answer ({type(exc).__name__}: {exc})") from exc
        text = "".join(b.text for b in final.content if b.type == "text")
        calls = tuple(
            ToolCall(b.id, b.name, json.dumps(b.input, ensure_ascii=False))
            for b in final.content
            if b.type == "tool_use"
        )
        return Turn(text, calls, final.model or self.model, final.stop_reason)

    def add_results(self, turn: Turn, outputs: Sequence[ToolOutput]) -> None:
        content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
        for call in turn.calls:
            content.append(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call)}
            )
        results = [
            {
                "type": "tool_result",
                "tool_use_id": o.call.id,
                "content": o.text,
                "is_error": o.error,
            }
            for o in outputs
        ]
        self.messages += [
            {"role": "assistant", "content": content},
            {"role": "user", "content": results},
        ]


def _input(call: ToolCall) -> Any:
    """A tool call's arguments as the model sent them, as a JSON object (Anthropic wants one)."""
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class OpenAIBackend(AgentBackend):
    """Your own model through chat-completions tool calls (``tool_calls`` / ``role: tool``)."""

    def __init__(self, chat: ChatClient, max_tokens: int) -> None:
        self.chat, self.model, self.max_tokens = chat, chat.model, max_tokens

    def start(self, system: str, prompt: str, tools: list[dict[str, Any]]) -> Conversation:
        return _OpenAIConversation(self, system, prompt, tools)


class _OpenAIConversation(Conversation):
    def __init__(
        self, backend: OpenAIBackend, system: str, prompt: str, tools: list[dict[str, Any]]
    ) -> None:
        self.backend, self.model = backend, backend.model
        self.tools = [
            {
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t["description"],
                    "parameters": t["schema"],
                },
            }
            for t in tools
        ]
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": prompt},
        ]

    def turn(self, tools: bool) -> Turn:
        body = {
            "model": self.model,
            "max_tokens": self.backend.max_tokens,
            "temperature": 0,
            "messages": self.messages,
            "tools": self.tools,
            "tool_choice": "auto" if tools else "none",
        }
        text: list[str] = []
        calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        model, finish = self.model, None
        for delta in self.backend.chat.stream(body):
            model, finish = delta.model or model, delta.finish_reason or finish
            for piece in delta.tool_calls:
                call = calls.setdefault(piece.index, ["", "", ""])
                call[0] = call[0] or piece.id
                call[1] = call[1] or piece.name
                call[2] += piece.arguments
            text.append(delta.text)
        found = tuple(
            ToolCall(i or f"call_{n}", name, arguments)
            for n, (i, name, arguments) in sorted(calls.items())
        )
        return Turn("".join(text), found, model, finish)

    def add_results(self, turn: Turn, outputs: Sequence[ToolOutput]) -> None:
        calls = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in turn.calls
        ]
        self.messages.append(
            {"role": "assistant", "content": turn.text or None, "tool_calls": calls}
        )
        for o in outputs:
            self.messages.append({"role": "tool", "tool_call_id": o.call.id, "content": o.text})


# The loop ---------------------------------------------------------------------------------
@dataclass
class _Run:
    """The state of one question's loop."""

    question: str
    first: SearchResult
    toolbox: Toolbox
    started: float
    evidence: Evidence = field(default_factory=Evidence)
    steps: list[AgentStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def result(self) -> SearchResult:
        """What the answer stands on: every passage gathered, the trace with every step."""
        trace = replace(
            self.first.trace,
            notes=(*self.first.trace.notes, *self.notes),
            agent_steps=tuple(self.steps),
        )
        return SearchResult(tuple(self.evidence.hits), trace, self.first.pages)


class Agent:
    """The agentic loop over one model (``backend``); ``fallback`` answers from the gathered
    passages when the model gives no answer within its steps (the extractive answerer)."""

    def __init__(
        self,
        backend: AgentBackend,
        tokenizer: LexicalTokenizer,
        fallback: Answerer,
        config: AgentConfig,
        mode: AnswerMode,
    ) -> None:
        self.backend = backend
        self.tokenizer = tokenizer
        self.fallback = fallback
        self.config = config
        self.mode = mode  # the answerer's mode: "claude" or "openai"

    @property
    def model(self) -> str:
        return self.backend.model

    def stream(
        self,
        question: str,
        first: SearchResult,
        toolbox: Toolbox,
        parts: Sequence[str] = (),
    ) -> Iterator[AnswerEvent]:
        """Text and citations of the final answer, then one ``AnswerDone``. ``first`` is the
        first search's result (its hits are the first passages); ``parts`` the sub-questions
        of a question the router split (shown to the model)."""
        run = _Run(question, first, toolbox, time.perf_counter())
        numbered = run.evidence.add(first.hits)
        conversation = self.backend.start(
            system_prompt(self.config),
            first_prompt(question, first, numbered, parts),
            tool_specs(self.config),
        )
        step = 0
        while True:
            step += 1
            elapsed = time.perf_counter() - run.started
            if step > self.config.max_steps or elapsed > self.config.budget_seconds:
                run.notes.append(self._stop_note(step))
                turn = conversation.turn(tools=False)
                break
            turn = conversation.turn(tools=True)
            if not turn.calls:
                break
            outputs = [self._call(call, step, run) for call in turn.calls]
            conversation.add_results(turn, outputs)
        yield from self._answer(turn, run)

    def _stop_note(self, step: int) -> str:
        if step > self.config.max_steps:
            return (
                f"the agent used its {self.config.max_steps} tool steps "
                "(FOLIO_AGENT_MAX_STEPS) and was asked to answer"
            )
        return (
            f"the agent's time budget of {self.config.budget_seconds:g} s "
            "(FOLIO_AGENT_BUDGET_SECONDS) ran out and it was asked to answer"
        )

    def _call(self, call: ToolCall, step: int, run: _Run) -> ToolOutput:
        started = time.perf_counter()
        hits: Sequence[Hit] = ()
        try:
            args = parse_arguments(call.name, call.arguments, self.config)
            if call.name == "search":
                hits = run.toolbox.search(args["query"], args["document"], args["k"])
                head = f"Search for {args['query']!r}: {len(hits)} passages."
            else:
                hits = run.toolbox.read_page(args["document"], args["page"])
                head = f"Page {args['page']} of {args['document']!r}: {len(hits)} passages."
            text = f"{head}\n\n{passages(run.evidence.add(hits))}" if hits else f"{head} None."
            error = ""
        except (ToolArgumentError, InputError, NotFoundError) as exc:
            error = str(exc)
            text = f"Error: {error}. Correct the arguments and call the tool again, or answer."
        ms = (time.perf_counter() - started) * 1000
        run.steps.append(AgentStep(step, call.name, call.arguments, len(hits), ms, error))
        return ToolOutput(call, text, bool(error))

    def _answer(self, turn: Turn, run: _Run) -> Iterator[AnswerEvent]:
        """The final turn's text as Folio's answer: markers become citations of the gathered
        passages; ``NOT_FOUND`` is a refusal; no text at all goes to the gate and fallback."""
        result = run.result()
        generate = Timing("agent", (time.perf_counter() - run.started) * 1000)
        if turn.calls or not turn.text.strip():
            yield from self._without_answer(run, result, generate)
            return
        reply = Reply(result.hits, sentence_units(result.hits), (), self.tokenizer)
        events = [*reply.text(turn.text), *reply.finish()]
        if reply.not_found or not reply.answer_text:
            yield from stream_refusal(run.question, result, self.mode, turn.model, (generate,))
            return
        yield from events
        notes = reply.notes(turn.finish == "length", self.backend.max_tokens)
        trace = replace(result.trace, notes=(*result.trace.notes, *notes))
        yield AnswerDone(
            Answer(
                question=run.question,
                text=reply.answer_text,
                citations=tuple(reply.citations),
                mode=self.mode,
                model=turn.model,
                refused=False,
                hits=result.hits,
                trace=trace,
                timings=(generate,),
                pages=result.pages,
            )
        )

    def _without_answer(
        self, run: _Run, result: SearchResult, generate: Timing
    ) -> Iterator[AnswerEvent]:
        """The model gave no answer: the gate judges the gathered passages; they pass and the
        fallback answers from them, or Folio refuses."""
        score = run.toolbox.gate(result) if result.hits else 0.0
        if score < run.toolbox.threshold:
            run.notes.append(
                "the model gave no answer; the gathered passages did not pass the gate"
            )
            refused = stream_refusal(
                run.question, run.result(), self.mode, self.model, (generate,), evidence_found=False
            )
            for event in refused:
                if isinstance(event, AnswerDone):
                    event = AnswerDone(replace(event.answer, evidence_score=score))
                yield event
            return
        run.notes.append(
            f"the model gave no answer; answered extractively from the {len(result.hits)} "
            "passages the agent gathered"
        )
        for event in self.fallback.stream(run.question, run.result()):
            if isinstance(event, AnswerDone):
                answer = event.answer
                event = AnswerDone(
                    replace(answer, timings=(generate, *answer.timings), evidence_score=score)
                )
            yield event
