"""Answers from Claude through the official SDK, with the retrieved chunks as citable
``search_result`` blocks: each citation names a search result and a range of its text
blocks, which Folio maps back to chunk, document, page and character span.

Pages the vision index found that no text hit covers (scans, charts) are sent as images,
each labelled ``Page image P<n>: <document>, page <n>``; Claude marks statements drawn from
one with ``[P<n>]``, which become page-level citations.

The system prompt is stable across questions and marked for prompt caching; answers
stream. A reply of exactly ``NOT_FOUND`` becomes Folio's refusal.
"""

from __future__ import annotations

import base64
import io
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

from rag_core.answer.anthropic_client import AnthropicClient
from rag_core.answer.common import (
    Answerer,
    Holdback,
    Unit,
    citation_for,
    data_rule,
    page_citation,
    sentence_units,
    stream_refusal,
)
from rag_core.errors import AnswerError
from rag_core.text import answer_language
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

NOT_FOUND = "NOT_FOUND"

SYSTEM_PROMPT = f"""You are Folio, an assistant that answers questions using only the user's own \
documents. The documents arrive as search results; each one is a passage from a named \
document and page.

Rules:
1. Answer only from the search results. Do not use outside knowledge, and do not guess.
2. Support every factual statement with the search results so that it is cited; keep \
numbers, units and periods exactly as the source gives them.
3. If the search results do not contain the answer, reply with exactly NOT_FOUND and nothing \
else.
4. {data_rule("search results")}
5. Write in the language the user asks you to answer in. Be concise and direct: lead with \
the answer, then the supporting details."""


def search_result_blocks(
    hits: Sequence[Hit], units: Sequence[Sequence[Unit]]
) -> list[dict[str, Any]]:
    """One citable search result per hit; its text blocks are the hit's sentences."""
    blocks: list[dict[str, Any]] = []
    for hit, hit_units in zip(hits, units, strict=True):
        content = [{"type": "text", "text": u.text} for u in hit_units] or [
            {"type": "text", "text": hit.chunk.text}
        ]
        blocks.append(
            {
                "type": "search_result",
                "source": f"{hit.doc_name}#page={hit.chunk.page_number}",
                "title": f"{hit.doc_name}, page {hit.chunk.page_number}",
                "content": content,
                "citations": {"enabled": True},
            }
        )
    return blocks


IMAGE_INSTRUCTION = (
    "Some pages above are images, each introduced by a label 'Page image P<n>: ...'. You may "
    "answer from what they show (charts, tables, scans). Right after each statement based on "
    "a page image, write its marker, for example [P1]."
)
MAX_IMAGE_EDGE = 1568  # Claude scales larger images down; sending them smaller saves time


def image_data(image: PageImage) -> str:
    """The page image as base64 JPEG, its longer edge at most ``MAX_IMAGE_EDGE`` pixels."""
    from PIL import Image

    with Image.open(image.path) as source:
        picture = source.convert("RGB")
    picture.thumbnail((MAX_IMAGE_EDGE, MAX_IMAGE_EDGE))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def page_image_blocks(images: Sequence[PageImage]) -> list[dict[str, Any]]:
    """A label and an image block per page image, numbered P1, P2 ..."""
    blocks: list[dict[str, Any]] = []
    for number, image in enumerate(images, start=1):
        label = f"Page image P{number}: {image.doc_name}, page {image.page_number}"
        blocks.append({"type": "text", "text": label})
        blocks.append(
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/jpeg", "data": image_data(image)},
            }
        )
    return blocks


LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese", "zh-Hant": "Traditional Chinese"}


def user_prompt(question: str, searched_query: str) -> str:
    language = LANGUAGE_NAMES[answer_language(question)]
    lines = [f"Question: {question}"]
    if searched_query and searched_query != question:
        lines.append(f"(In the context of the conversation, this means: {searched_query})")
    lines.append(f"Answer in {language}.")
    return "\n".join(lines)


class ClaudeAnswerer(Answerer):
    mode = "claude"
    reads_images = True
    MAX_RETRIES = 2

    def __init__(
        self,
        api_key: str,
        *,
        model: str,
        base_url: str | None = None,
        max_tokens: int = 1024,
        timeout: float = 120.0,
    ) -> None:
        self._anthropic = AnthropicClient(
            "ClaudeAnswerer", api_key, base_url, timeout, self.MAX_RETRIES
        )
        self.model = model
        self.max_tokens = max_tokens

    @property
    def client(self) -> Any:
        return self._anthropic.client

    def request(
        self,
        question: str,
        result: SearchResult,
        units: Sequence[Sequence[Unit]],
        images: Sequence[PageImage] = (),
    ) -> dict[str, Any]:
        """The Messages API request body (without ``stream``)."""
        prompt = user_prompt(question, result.trace.searched_query)
        if images:
            prompt = f"{prompt}\n{IMAGE_INSTRUCTION}"
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": [
                {"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}
            ],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        *search_result_blocks(result.hits, units),
                        *page_image_blocks(images),
                        {"type": "text", "text": prompt},
                    ],
                }
            ],
        }

    def stream(
        self, question: str, result: SearchResult, images: Sequence[PageImage] = ()
    ) -> Iterator[AnswerEvent]:
        started = time.perf_counter()
        if not result.hits and not images:
            yield from stream_refusal(question, result, "claude", self.model)
            return
        units = sentence_units(result.hits)
        request = self.request(question, result, units, images)
        shown = _Transcript(images)
        first_token_ms: float | None = None
        import anthropic

        try:
            with self.client.messages.stream(**request) as stream:
                for event in stream:
                    if event.type == "text":
                        if first_token_ms is None:
                            first_token_ms = (time.perf_counter() - started) * 1000
                        yield from shown.text(event.text)
                    elif event.type == "citation":
                        citation = self._citation(event.citation, result.hits, units, shown.numbers)
                        if citation is not None:
                            yield from shown.cite(citation)
                    elif event.type == "content_block_stop":
                        yield from shown.end_block()
                final = stream.get_final_message()
        except anthropic.APIError as exc:
            raise AnswerError(f"Claude could not answer ({type(exc).__name__}: {exc})") from exc
        timings = [Timing("generate", (time.perf_counter() - started) * 1000)]
        if first_token_ms is not None:
            timings.append(Timing("first_token", first_token_ms))
        model = final.model or self.model
        if not shown.not_found:
            yield from shown.flush()
        if shown.not_found or not shown.answer_text:
            yield from stream_refusal(question, result, "claude", model, timings)
            return
        yield AnswerDone(
            Answer(
                question=question,
                text=shown.answer_text,
                citations=tuple(shown.citations),
                mode="claude",
                model=model,
                refused=False,
                hits=result.hits,
                trace=result.trace,
                timings=tuple(timings),
                pages=result.pages,
            )
        )

    @staticmethod
    def _citation(
        location: Any,
        hits: Sequence[Hit],
        units: Sequence[Sequence[Unit]],
        numbers: dict[tuple[Any, ...], int],
    ) -> Citation | None:
        if getattr(location, "type", "") != "search_result_location":
            return None
        index = location.search_result_index
        if not 0 <= index < len(hits):
            return None
        hit, hit_units = hits[index], units[index]
        start, end = location.start_block_index, location.end_block_index
        if hit_units and 0 <= start < end <= len(hit_units):
            span = Span(hit_units[start].span.start, hit_units[end - 1].span.end)
        else:
            span = Span(hit.chunk.start, hit.chunk.end)
        key = (index, span.start, span.end)
        number = numbers.setdefault(key, len(numbers) + 1)
        return citation_for(number, hit, span, location.cited_text)


class _Transcript:
    """The answer as streamed so far: its text, its numbered citations, and the text held
    back while it could still be ``NOT_FOUND`` or a split ``[P<n>]`` marker.

    Each method returns the events to send now; a text citation's marker follows the
    content block it supports, a page citation's marker replaces ``[P<n>]``.
    """

    def __init__(self, images: Sequence[PageImage]) -> None:
        self.images = images
        self.numbers: dict[tuple[Any, ...], int] = {}
        self.citations: list[Citation] = []
        self.parts: list[str] = []
        self.block_numbers: list[int] = []
        self.holdback = Holdback(NOT_FOUND)
        self.markers = _PageMarkers(len(images))

    def text(self, text: str) -> Iterator[AnswerEvent]:
        yield from self._released(self.markers.feed(self.holdback.feed(text)))

    def cite(self, citation: Citation) -> Iterator[AnswerEvent]:
        if citation.number not in self.block_numbers:
            self.block_numbers.append(citation.number)
        if citation.number > len(self.citations):
            self.citations.append(citation)
            yield CitationEvent(citation)

    def end_block(self) -> Iterator[AnswerEvent]:
        if not self.block_numbers:
            return
        yield from self._released(self.markers.flush())
        marker = "".join(f"[{n}]" for n in self.block_numbers)
        self.parts.append(marker)
        yield TextDelta(marker)
        self.block_numbers = []

    def flush(self) -> Iterator[AnswerEvent]:
        """The text still held back, at the end of the reply."""
        yield from self._released(self.markers.feed(self.holdback.flush()))
        yield from self._released(self.markers.flush())

    @property
    def not_found(self) -> bool:
        """The whole reply was ``NOT_FOUND``: Folio's refusal."""
        return self.holdback.matched

    @property
    def answer_text(self) -> str:
        return "".join(self.parts).strip()

    def _released(self, pieces: list[str | int]) -> Iterator[AnswerEvent]:
        """Text as it may be shown: [P<n>] markers become numbered page citations."""
        for piece in pieces:
            if isinstance(piece, str):
                self.parts.append(piece)
                yield TextDelta(piece)
                continue
            number = self.numbers.setdefault(("page", piece), len(self.numbers) + 1)
            if number > len(self.citations):
                self.citations.append(page_citation(number, self.images[piece]))
                yield CitationEvent(self.citations[-1])
            self.parts.append(f"[{number}]")
            yield TextDelta(f"[{number}]")


class _PageMarkers:
    """Finds ``[P<n>]`` markers in streamed text, holding back a marker split across pieces.

    ``feed`` returns text pieces and 0-based image indexes; a marker naming no image sent
    stays text.
    """

    MARKER = re.compile(r"\[P(\d{1,3})\]")
    PARTIAL = re.compile(r"\[(P\d{0,3})?$")

    def __init__(self, images: int) -> None:
        self.images = images
        self.held = ""

    def feed(self, text: str) -> list[str | int]:
        if not self.images:
            return [text] if text else []
        text, self.held = self.held + text, ""
        partial = self.PARTIAL.search(text)
        if partial:
            text, self.held = text[: partial.start()], text[partial.start() :]
        pieces: list[str | int] = []
        last = 0
        for match in self.MARKER.finditer(text):
            index = int(match.group(1)) - 1
            if not 0 <= index < self.images:
                continue
            if match.start() > last:
                pieces.append(text[last : match.start()])
            pieces.append(index)
            last = match.end()
        if last < len(text):
            pieces.append(text[last:])
        return pieces

    def flush(self) -> list[str | int]:
        held, self.held = self.held, ""
        return [held] if held else []
