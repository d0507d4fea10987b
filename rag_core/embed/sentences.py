"""The sentences an extractive answer may quote, and their vectors, embedded once.

The extractive answerer weighs each candidate sentence by its embedding similarity to the
question. Embedding the dozens of sentences of the top hits for every answer cost 0.5-3 s
of CPU on two cores (issue 17); a sentence's vector does not depend on the question, so
``SentenceVectors`` embeds each sentence text once and keeps it: in memory (a bounded LRU)
and in the workspace's embedding cache (float16, under the model's name plus
``SENTENCE_SUFFIX``, so the entries never mix with chunk vectors). The ingestor fills it for
new chunks (``precompute``); sentences of chunks indexed before that are embedded on first
use and stored then.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from rag_core.embed.embeddings import Embedder, EmbeddingCache, text_hash
from rag_core.text import split_sentences

SENTENCE_SUFFIX = "#sentences"
MIN_ALNUM = 8  # shorter units ("(1)", "Total") are not quoted


def is_quotable(text: str) -> bool:
    """Whether a sentence unit is long enough to be quoted as an answer (pure)."""
    return sum(ch.isalnum() for ch in text) >= MIN_ALNUM


def quotable_sentences(text: str) -> list[str]:
    """The sentences of a chunk's text an extractive answer may quote (pure)."""
    return [u for s in split_sentences(text) if is_quotable(u := text[s.start : s.end])]


class SentenceVectors:
    """Document vectors of sentences, each text embedded once per model and workspace."""

    def __init__(
        self, embedder: Embedder, cache: EmbeddingCache | None = None, memory: int = 20_000
    ) -> None:
        self.embedder = embedder
        self.cache = cache
        self.memory = memory
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # sentences embedded by this process (the rest were found)

    @property
    def _model(self) -> str:
        return self.embedder.name + SENTENCE_SUFFIX

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """One vector per text, shape ``(len(texts), dimension)``: kept ones first, the
        others embedded in one call and kept."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        hashes = [text_hash(t) for t in texts]
        found = self._remembered(hashes)
        missing = [h for h in dict.fromkeys(hashes) if h not in found]
        if missing and self.cache is not None:
            stored = self.cache.get(self._model, missing)
            found.update(stored)
            self._remember(stored)
            missing = [h for h in missing if h not in found]
        if missing:
            found.update(self._embed(missing, dict(zip(hashes, texts, strict=True))))
        return np.stack([found[h] for h in hashes])

    def precompute(self, texts: Sequence[str]) -> int:
        """Embed and keep the texts not kept yet (at ingest); returns how many were embedded."""
        by_hash = {text_hash(t): t for t in texts}
        missing = list(by_hash)
        if self.cache is not None and missing:
            stored = self.cache.get(self._model, missing)
            missing = [h for h in missing if h not in stored]
        self._embed(missing, by_hash)
        return len(missing)

    def _embed(self, hashes: list[str], texts: dict[str, str]) -> dict[str, np.ndarray]:
        if not hashes:
            return {}
        computed = self.embedder.embed([texts[h] for h in hashes])
        # Kept as the cache stores them (float16), so a vector read back later is the same.
        rounded = np.asarray(computed, dtype=np.float16).astype(np.float32)
        if self.cache is not None:
            self.cache.put(self._model, hashes, rounded)
        made = dict(zip(hashes, rounded, strict=True))
        self._remember(made)
        with self._lock:
            self.computed += len(hashes)
        return made

    def _remembered(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            found = {h: self._recent[h] for h in hashes if h in self._recent}
            for h in found:
                self._recent.move_to_end(h)
        return found

    def _remember(self, vectors: dict[str, np.ndarray]) -> None:
        if self.memory <= 0:
            return
        with self._lock:
            self._recent.update(vectors)
            for h in vectors:
                self._recent.move_to_end(h)
            while len(self._recent) > self.memory:
                self._recent.popitem(last=False)
