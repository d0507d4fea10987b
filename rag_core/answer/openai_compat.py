"""Answers from your own model behind any OpenAI-compatible chat-completions server (Ollama,
vLLM, llama.cpp's server, LM Studio, LiteLLM ...), through the official ``openai`` SDK.

The retrieved chunks go into the prompt as numbered passages (``<passage id="n" ...>``), and
the model marks each statement with the numbers of the passages behind it: ``[2]``,
``[1][3]``, ``[1, 3]`` or ``[1-3]``. Each marker becomes a citation as Claude's do: chunk,
document, page and the span of one sentence of the passage, the one sharing most words with
the statement the marker ends (the last sentence of the text since the previous marker);
when no sentence shares enough of its words (cosine of the word sets under
``MIN_SENTENCE_MATCH``), the citation spans the whole chunk. Markers are renumbered in order
of first use. A marker that points at no passage (``[9]`` of five) is dropped from the text
and counted in the trace's notes.

With ``vision`` on, pages found by their image are sent as images (``image_url`` data URLs),
each labelled ``Page image P<n>: <document>, page <n>``, and ``[P<n>]`` markers become page
citations; with it off the answer points to them ("see page N of X"). A reply of exactly
``NOT_FOUND`` becomes Folio's refusal; a leading ``<think>...</think>`` of a reasoning model is
not shown. The rules, the prompt-injection rule included, are Claude's.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rag_core.answer.claude import IMAGE_INSTRUCTION, NOT_FOUND, image_data, user_prompt
from rag_core.answer.common import (
    Answerer,
    Holdback,
    Unit,
    citation_for,
    data_rule,
    page_citation,
    page_pointers,
    sentence_units,
    stream_refusal,
)
from rag_core.answer.openai_client import ChatClient
from rag_core.index.lexical import LexicalTokenizer
from rag_core.text import split_sentences
from rag_core.types import (
    Answer,
    AnswerDone,
    AnswerEvent,
    Citation,
    CitationEvent,
    Hit,
    PageImage,
    SearchResult,
    Span,
    TextDelta,
    Timing,
)

SYSTEM_PROMPT = f"""You are Folio, an assistant that answers questions using only the user's own \
documents. The documents arrive as numbered passages; each one is from a named document and \
page.

Rules:
1. Answer only from the passages. Do not use outside knowledge, and do not guess.
2. Right after each statement, cite the passages that support it by their numbers in square \
brackets, for example [1] or [2][3]. Cite only numbers of passages you were given. Keep \
numbers, units and periods exactly as the source gives them.
3. If the passages do not contain the answer, reply with exactly NOT_FOUND and nothing else.
4. {data_rule("passages")}
5. Write in the language the user asks you to answer in. Be concise and direct: lead with \
the answer, then the supporting details."""

MIN_SENTENCE_MATCH = 0.2  # below this word overlap a marker cites the whole chunk
MAX_RANGE = 10  # [1-3] is three citations; a longer range is no marker


def passages_text(hits: Sequence[Hit]) -> str:
    """The hits as numbered passages; a document cannot open or close a passage itself."""
    blocks = [passage_block(number, hit) for number, hit in enumerate(hits, start=1)]
    return "Passages:\n\n" + "\n\n".join(blocks)


def passage_block(number: int, hit: Hit) -> str:
    """One hit as passage ``number`` (its text cannot open or close a passage itself)."""
    source = " ".join(f"{hit.doc_name}, page {hit.chunk.page_number}".split())
    source = source.replace('"', "'")
    text = re.sub(r"<(/?)(passage)", r"<\1 \2", hit.chunk.text, flags=re.IGNORECASE)
    return f'<passage id="{number}" source="{source}">\n{text}\n</passage>'


def image_parts(images: Sequence[PageImage]) -> list[dict[str, Any]]:
    """A label and an ``image_url`` part per page image, numbered P1, P2 ..."""
    parts: list[dict[str, Any]] = []
    for number, image in enumerate(images, start=1):
        label = f"Page image P{number}: {image.doc_name}, page {image.page_number}"
        url = f"data:image/jpeg;base64,{image_data(image)}"
        parts += [{"type": "text", "text": label}, {"type": "image_url", "image_url": {"url": url}}]
    return parts


def best_sentence(statement: set[str], sentences: Sequence[set[str]]) -> int | None:
    """The index of the sentence sharing most words with ``statement`` (cosine of the word
    sets; the first of equals), or None when none reaches ``MIN_SENTENCE_MATCH`` (pure)."""
    if not statement:
        return None
    scores = [
        len(statement & words) / (len(statement) * len(words)) ** 0.5 if words else 0.0
        for words in sentences
    ]
    if not scores or max(scores) < MIN_SENTENCE_MATCH:
        return None
    return scores.index(max(scores))


@dataclass(frozen=True, slots=True)
class Marker:
    """A citation marker in the model's text: its items ("3", "P1") and the space before it."""

    items: tuple[str, ...]
    space: str


_ITEM = r"P?\d{1,3}(?:\s*[-–]\s*P?\d{1,3})?"
_MARKER = re.compile(rf"(\s*)\[\s*({_ITEM}(?:\s*[,;]\s*{_ITEM})*)\s*\]")
_PARTIAL = re.compile(r"\s*(?:\[[\sP\d,;\-–]{0,40})?$")


def marker_items(inner: str) -> tuple[str, ...]:
    """ "1, 3" -> ("1", "3"); "2-4" -> ("2", "3", "4"); "P1" -> ("P1",) (pure)."""
    items: list[str] = []
    for part in re.split(r"\s*[,;]\s*", inner.strip()):
        match = re.fullmatch(r"(P?)(\d+)(?:\s*[-–]\s*(P?)(\d+))?", part)
        if match is None:
            items.append(part)
            continue
        prefix, first, other_prefix, last = match.groups()
        if last is None:
            items.append(f"{prefix}{int(first)}")
        elif other_prefix in ("", prefix) and 0 <= int(last) - int(first) < MAX_RANGE:
            items += [f"{prefix}{n}" for n in range(int(first), int(last) + 1)]
        else:
            items.append(part)  # a range that names nothing: dropped as a whole
    return tuple(items)


class MarkerStream:
    """Finds citation markers in streamed text, holding back whatever could still become one
    (a ``[`` and what follows it, and the space before it)."""

    def __init__(self) -> None:
        self.held = ""

    def feed(self, text: str) -> list[str | Marker]:
        text, self.held = self.held + text, ""
        partial = _PARTIAL.search(text)
        if partial and partial.start() < len(text):
            text, self.held = text[: partial.start()], text[partial.start() :]
        return self._split(text)

    def flush(self) -> list[str | Marker]:
        held, self.held = self.held, ""
        return self._split(held)

    @staticmethod
    def _split(text: str) -> list[str | Marker]:
        pieces: list[str | Marker] = []
        last = 0
        for match in _MARKER.finditer(text):
            if match.start() > last:
                pieces.append(text[last : match.start()])
            pieces.append(Marker(marker_items(match.group(2)), match.group(1)))
            last = match.end()
        if last < len(text):
            pieces.append(text[last:])
        return pieces


class Reasoning:
    """Drops a leading ``<think>...</think>`` from streamed text, and the space after it (a
    reasoning model served without a reasoning parser puts its thoughts in the reply)."""

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self.held = ""
        self.state = "start"  # start, inside, after (the space after it), done

    def feed(self, text: str) -> str:
        if self.state == "after":
            text = text.lstrip()
            self.state = "after" if not text else "done"
        if self.state == "done":
            return text
        self.held += text
        if self.state == "start":
            start = self.held.lstrip()
            if self.OPEN.startswith(start):
                return ""
            if not start.startswith(self.OPEN):
                self.state = "done"
                return self.flush()
            self.state = "inside"
        end = self.held.find(self.CLOSE)
        if end < 0:
            self.held = self.held[-len(self.CLOSE) :]
            return ""
        rest, self.held, self.state = self.held[end + len(self.CLOSE) :], "", "after"
        return self.feed(rest)

    def flush(self) -> str:
        held, self.held = ("" if self.state == "inside" else self.held), ""
        return held


class OpenAICompatAnswerer(Answerer):
    mode = "openai"

    def __init__(
        self,
        chat: ChatClient,
        tokenizer: LexicalTokenizer,
        *,
        max_tokens: int = 1024,
        vision: bool = False,
    ) -> None:
        self.chat = chat
        self.model = chat.model
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.reads_images = vision

    def request(
        self, question: str, result: SearchResult, images: Sequence[PageImage] = ()
    ) -> dict[str, Any]:
        """The chat-completions request body (without ``stream``)."""
        prompt = user_prompt(question, result.trace.searched_query)
        if images:
            prompt = f"{prompt}\n{IMAGE_INSTRUCTION}"
        passages = [passages_text(result.hits)] if result.hits else []
        if images:
            content: Any = [
                *({"type": "text", "text": p} for p in passages),
                *image_parts(images),
                {"type": "text", "text": prompt},
            ]
        else:
            content = "\n\n".join([*passages, prompt])
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": content},
            ],
        }

    def stream(
        self, question: str, result: SearchResult, images: Sequence[PageImage] = ()
    ) -> Iterator[AnswerEvent]:
        started = time.perf_counter()
        if not result.hits and not (images and self.reads_images):
            yield from stream_refusal(question, result, "openai", self.model, images=images)
            return
        shown = tuple(images) if self.reads_images else ()
        reply = Reply(result.hits, sentence_units(result.hits), shown, self.tokenizer)
        first_token_ms: float | None = None
        model, finish = self.model, None
        for delta in self.chat.stream(self.request(question, result, shown)):
            model, finish = delta.model or model, delta.finish_reason or finish
            if delta.text and first_token_ms is None:
                first_token_ms = (time.perf_counter() - started) * 1000
            yield from reply.text(delta.text)
        timings = [Timing("generate", (time.perf_counter() - started) * 1000)]
        if first_token_ms is not None:
            timings.append(Timing("first_token", first_token_ms))
        yield from reply.finish()
        if reply.not_found or not reply.answer_text:
            yield from stream_refusal(question, result, "openai", model, timings, images)
            return
        citations = list(reply.citations)
        text = reply.answer_text
        pointers, pages = page_pointers(question, images, len(citations) + 1, text_model=True)
        if pointers and not shown:
            yield TextDelta(f"\n\n{pointers}")
            text += f"\n\n{pointers}"
            for citation in pages:
                citations.append(citation)
                yield CitationEvent(citation)
        notes = reply.notes(finish == "length", self.max_tokens)
        yield AnswerDone(
            Answer(
                question=question,
                text=text,
                citations=tuple(citations),
                mode="openai",
                model=model,
                refused=False,
                hits=result.hits,
                trace=replace(result.trace, notes=(*result.trace.notes, *notes)),
                timings=tuple(timings),
                pages=result.pages,
            )
        )


class Reply:
    """The answer as streamed so far: its text, its numbered citations, the markers dropped,
    and the text held back while it could still be ``NOT_FOUND`` or a marker."""

    def __init__(
        self,
        hits: Sequence[Hit],
        units: Sequence[Sequence[Unit]],
        images: Sequence[PageImage],
        tokenizer: LexicalTokenizer,
    ) -> None:
        self.hits, self.units, self.images, self.tokenizer = hits, units, images, tokenizer
        self.numbers: dict[tuple[Any, ...], int] = {}
        self.citations: list[Citation] = []
        self.parts: list[str] = []
        self.segment = ""  # the text since the previous marker
        self.statement = ""  # what the previous marker ended
        self.space = ""  # before a marker dropped whole: it goes to a marker right after it
        self.dropped: list[str] = []
        self.reasoning = Reasoning()
        self.holdback = Holdback(NOT_FOUND)
        self.markers = MarkerStream()
        self._unit_words: dict[int, list[set[str]]] = {}

    def text(self, text: str) -> Iterator[AnswerEvent]:
        yield from self._released(self.markers.feed(self.holdback.feed(self.reasoning.feed(text))))

    def finish(self) -> Iterator[AnswerEvent]:
        """The text still held back, at the end of the reply (none when it is NOT_FOUND)."""
        released = self.holdback.feed(self.reasoning.flush())
        if self.not_found:
            return
        yield from self._released(self.markers.feed(released + self.holdback.flush()))
        yield from self._released(self.markers.flush())

    @property
    def not_found(self) -> bool:
        return self.holdback.matched

    @property
    def answer_text(self) -> str:
        return "".join(self.parts).strip()

    def notes(self, cut: bool, max_tokens: int) -> tuple[str, ...]:
        notes = []
        if self.dropped:
            n = len(self.dropped)
            listed = ", ".join(f"[{item}]" for item in self.dropped)
            notes.append(
                f"{n} citation marker{'s' if n != 1 else ''} of the model pointed at no passage "
                f"and {'were' if n != 1 else 'was'} dropped: {listed}"
            )
        if cut:
            notes.append(f"the answer reached FOLIO_ANSWER_MAX_TOKENS ({max_tokens}) and was cut")
        return tuple(notes)

    def _released(self, pieces: list[str | Marker]) -> Iterator[AnswerEvent]:
        for piece in pieces:
            if isinstance(piece, str):
                if piece:
                    self.parts.append(piece)
                    self.segment += piece
                    self.space = ""
                    yield TextDelta(piece)
                continue
            self._end_statement()
            numbers: list[int] = []
            for item in piece.items:
                citation = self._citation(item)
                if citation is None:
                    self.dropped.append(item)
                    continue
                if citation.number > len(self.citations):
                    self.citations.append(citation)
                    yield CitationEvent(citation)
                if citation.number not in numbers:
                    numbers.append(citation.number)
            if not numbers:
                self.space = self.space or piece.space
                continue
            marker = (piece.space or self.space) + "".join(f"[{n}]" for n in numbers)
            self.parts.append(marker)
            self.space = ""
            yield TextDelta(marker)

    def _end_statement(self) -> None:
        """What a marker stands behind: the last sentence of the text since the previous
        marker, or what that marker stood behind when there is none ("[1][2]")."""
        text, self.segment = self.segment, ""
        sentences = [text[s.start : s.end] for s in split_sentences(text)]
        worded = [sentence for sentence in sentences if any(c.isalnum() for c in sentence)]
        if worded:
            self.statement = worded[-1]

    def _citation(self, item: str) -> Citation | None:
        """The citation a marker item names, numbered on first use; None if it names none."""
        if not item.removeprefix("P").isdigit():
            return None
        if item.startswith("P"):
            index = int(item[1:]) - 1
            if not 0 <= index < len(self.images):
                return None
            number = self.numbers.setdefault(("page", index), len(self.numbers) + 1)
            if number <= len(self.citations):
                return self.citations[number - 1]
            return page_citation(number, self.images[index])
        index = int(item) - 1
        if not 0 <= index < len(self.hits):
            return None
        hit = self.hits[index]
        unit = self._sentence(index)
        span = unit.span if unit else Span(hit.chunk.start, hit.chunk.end)
        number = self.numbers.setdefault((index, span.start, span.end), len(self.numbers) + 1)
        if number <= len(self.citations):
            return self.citations[number - 1]
        return citation_for(number, hit, span, unit.text if unit else hit.chunk.text)

    def _sentence(self, index: int) -> Unit | None:
        """The sentence of hit ``index`` that best matches the statement the marker ends."""
        units = self.units[index]
        if index not in self._unit_words:
            self._unit_words[index] = [set(self.tokenizer.tokenize(u.text)) for u in units]
        statement = set(self.tokenizer.tokenize(self.statement))
        found = best_sentence(statement, self._unit_words[index])
        return units[found] if found is not None else None
