"""The one place Folio talks to a server that speaks the OpenAI chat-completions API
(Ollama, vLLM, llama.cpp's server, LM Studio, LiteLLM ...), through the official SDK.

``ChatClient`` streams a reply as ``ChatDelta`` values (or returns a whole one), checks that
what comes back is the protocol, and turns every way it can go wrong into a
``ModelServerError``: an ``AnswerError`` whose message names the server and the reason
(cannot connect, no such model, timeout, refused key, an error status, or a reply that is
not the protocol: an HTML page, invalid JSON, a stream without choices or cut off before its
``finish_reason``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rag_core.errors import AnswerError, ConfigurationError

NO_KEY = "no-key"  # local servers need no key, but the SDK insists on one
SNIPPET = 160  # characters of a reply that is not the protocol, quoted in the error
_REASONING = re.compile(r"^\s*<think>.*?</think>\s*", re.S)


class ModelServerError(AnswerError):
    """The model server could not answer; ``reason`` says why, the message names the server."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"The language model at {url} could not answer: {reason}")


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A streamed piece of a tool call: the call at ``index`` of the reply, its id and name
    (in its first piece) and a piece of its JSON arguments."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class ChatDelta:
    """One streamed piece of a reply."""

    text: str
    model: str
    finish_reason: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()


def without_reasoning(text: str) -> str:
    """The reply without the leading ``<think>...</think>`` of a reasoning model (pure)."""
    return _REASONING.sub("", text, count=1)


class ChatClient:
    """An ``openai.OpenAI`` client for one server and model, built on first use (the SDK is
    imported only then); the settings are checked when it is made."""

    def __init__(
        self,
        base_url: str | None,
        model: str | None,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        max_retries: int = 0,  # a local server that timed out once is not faster the second time
    ) -> None:
        if not base_url or not re.match(r"https?://[^/\s]+", base_url):
            raise ConfigurationError(
                f"FOLIO_LLM_BASE_URL {base_url!r}: give the server's address with http:// or "
                "https://, e.g. http://localhost:11434/v1 (Ollama) or http://localhost:8000/v1 "
                "(vLLM)"
            )
        if not model or not model.strip():
            raise ConfigurationError(
                f"FOLIO_LLM_MODEL is not set: name the model the server at {base_url} serves "
                "(e.g. llama3.1 for Ollama; GET /v1/models lists them)"
            )
        self.url = base_url.rstrip("/")
        self.model = model.strip()
        self.api_key = api_key or NO_KEY
        self.timeout = timeout
        self.max_retries = max_retries
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                api_key=self.api_key,
                base_url=self.url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def stream(self, body: dict[str, Any]) -> Iterator[ChatDelta]:
        """The reply to a chat-completions request, piece by piece; the last has its
        ``finish_reason``. Raises ``ModelServerError``."""
        import httpx2
        import openai

        finished = False
        try:
            with self.client.chat.completions.create(**body, stream=True) as stream:
                self._check_stream(stream.response)
                for chunk in stream:
                    delta = self._delta(chunk, body["model"])
                    finished = finished or delta.finish_reason is not None
                    yield delta
        except (openai.APIError, httpx2.HTTPError, ValueError) as exc:
            raise self.error(exc, body["model"]) from exc
        if not finished:
            raise ModelServerError(
                self.url, "the reply stream ended before the reply was finished (no finish_reason)"
            )

    def complete(self, body: dict[str, Any]) -> str:
        """The whole reply's text (no streaming). Raises ``ModelServerError``."""
        import httpx2
        import openai

        try:
            reply = self.client.chat.completions.create(**body)
        except (openai.APIError, httpx2.HTTPError, ValueError) as exc:
            raise self.error(exc, body["model"]) from exc
        choices = getattr(reply, "choices", None)
        if isinstance(reply, str) or not isinstance(choices, list):
            raise self._not_protocol("a reply without choices", _quoted(reply))
        if not choices:
            return ""
        message = getattr(choices[0], "message", None)
        return str(getattr(message, "content", None) or "")

    def served_models(self) -> list[str] | None:
        """The models the server lists (``GET /models``), or None when it lists none."""
        import httpx2
        import openai

        try:
            page = self.client.models.list()
            return [str(m.id) for m in page.data]
        except (openai.APIError, httpx2.HTTPError, ValueError, AttributeError, TypeError):
            return None

    # What came back ----------------------------------------------------------------------
    def _check_stream(self, response: Any) -> None:
        kind = response.headers.get("content-type", "")
        if kind.startswith("text/event-stream"):
            return
        start = b""
        for piece in response.iter_bytes():
            start += piece
            if len(start) >= SNIPPET:
                break
        text = start.decode("utf-8", "replace")
        raise self._not_protocol(f"a {kind or 'untyped'} reply, not an event stream", text)

    def _delta(self, chunk: Any, model: str) -> ChatDelta:
        choices = getattr(chunk, "choices", None)
        if not isinstance(choices, list):
            raise self._not_protocol("a stream event without choices", _quoted(chunk))
        if not choices:  # e.g. the usage at the end
            return ChatDelta("", getattr(chunk, "model", None) or model)
        choice = choices[0]
        delta = getattr(choice, "delta", None)
        text = getattr(delta, "content", None) or ""
        if not isinstance(text, str):
            raise self._not_protocol("a stream event whose content is not text", _quoted(chunk))
        finish = getattr(choice, "finish_reason", None)
        calls = tuple(self._tool_call(c, chunk) for c in getattr(delta, "tool_calls", None) or [])
        return ChatDelta(text, getattr(chunk, "model", None) or model, finish, calls)

    def _tool_call(self, call: Any, chunk: Any) -> ToolCallDelta:
        function = getattr(call, "function", None)
        index = getattr(call, "index", None)
        name = getattr(function, "name", None) or ""
        arguments = getattr(function, "arguments", None) or ""
        if (
            not isinstance(index, int)
            or not isinstance(name, str)
            or not isinstance(arguments, str)
        ):
            raise self._not_protocol("a tool call without index, name or arguments", _quoted(chunk))
        return ToolCallDelta(index, str(getattr(call, "id", None) or ""), name, arguments)

    def _not_protocol(self, what: str, snippet: str) -> ModelServerError:
        snippet = " ".join(snippet.split())[:SNIPPET]
        return ModelServerError(
            self.url, f"the reply is not the chat-completions protocol ({what}: {snippet!r})"
        )

    # What went wrong ---------------------------------------------------------------------
    def error(self, exc: Exception, model: str) -> ModelServerError:
        """The ``ModelServerError`` for an exception of the SDK or its transport."""
        import httpx2
        import openai

        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            reason = f"no reply within {self.timeout:g} s (timeout; FOLIO_LLM_TIMEOUT)"
        elif isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            reason = f"cannot connect ({cause}); is the server running? (FOLIO_LLM_BASE_URL)"
        elif isinstance(exc, openai.NotFoundError):
            reason = self._not_found(model, _server_message(exc))
        elif isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            status, message = exc.status_code, _server_message(exc)
            reason = f"the server refused the API key ({status}: {message}; FOLIO_LLM_API_KEY)"
        elif isinstance(exc, openai.APIStatusError):
            reason = f"the server answered {exc.status_code}: {_server_message(exc)}"
        elif isinstance(exc, openai.APIError):  # an error event inside the stream
            reason = f"the server reported an error: {exc.message}"
        elif isinstance(exc, httpx2.HTTPError):
            reason = f"the connection broke off ({type(exc).__name__}: {exc})"
        else:  # json.JSONDecodeError and other ValueErrors: the body is not JSON
            return self._not_protocol("invalid JSON", str(exc))
        return ModelServerError(self.url, reason)

    def _not_found(self, model: str, message: str) -> str:
        """A 404: the model is not on the server, or nothing serves chat completions there."""
        served = self.served_models()
        if served is not None and model not in served:
            listed = ", ".join(served[:10]) or "none"
            return (
                f"it has no model '{model}' (404: {message}); it serves: {listed}. "
                "Set FOLIO_LLM_MODEL to one of them"
            )
        if served is None and model not in message:
            return (
                f"nothing answers at {self.url}/chat/completions (404: {message}); the address "
                "usually ends in /v1 (FOLIO_LLM_BASE_URL)"
            )
        return f"404 for model '{model}': {message} (FOLIO_LLM_MODEL)"


def _server_message(exc: Any) -> str:
    """The message in an error body, as OpenAI, Ollama and vLLM shape it."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        if message:
            return str(message)[:300]
    return str(getattr(exc, "message", exc))[:300]


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return value
    to_dict = getattr(value, "to_dict", None)
    try:
        return json.dumps(to_dict() if callable(to_dict) else value, default=str)
    except (TypeError, ValueError):
        return repr(value)
