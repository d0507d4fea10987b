"""Test doubles that implement Folio's real interfaces (no patching of the code under test)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from rag_core.embed.embeddings import Embedder

_TOKEN = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]")
_STOP = {"the", "a", "of", "in", "is", "what", "and", "to", "was", "for", "how", "on"}


class HashingEmbedder(Embedder):
    """A deterministic bag-of-words embedder that, like MiniLM, cannot read Chinese.

    Texts sharing words get similar vectors, so dense ranking behaves sensibly in tests;
    CJK characters count as unknown tokens.
    """

    def __init__(self, dim: int = 256, name: str = "test-hashing-embedder") -> None:
        self.name = name
        self.dim = dim
        self.calls: list[int] = []  # batch sizes, to count work done

    def _tokens(self, text: str) -> list[str]:
        return _TOKEN.findall(text.lower())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in self._tokens(text):
                if token in _STOP or not token.isascii():
                    continue
                digest = hashlib.md5(token.encode()).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out

    @property
    def embedded_count(self) -> int:
        return sum(self.calls)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [max(1, len(self._tokens(t))) for t in texts]

    def unknown_ratio(self, texts: Sequence[str]) -> list[float]:
        ratios = []
        for text in texts:
            tokens = self._tokens(text)
            ratios.append(
                sum(1 for t in tokens if not t.isascii()) / len(tokens) if tokens else 0.0
            )
        return ratios

    @property
    def max_tokens(self) -> int:
        return 256
