"""The dense leg's vector store: a Chroma collection holding only ids and vectors.

Chunk text stays in the registry (measured here: Chroma storing the text takes 5x the disk
and inserts 2.6x slower). The collection is named after the workspace and the embedding
model, and records the model in its metadata, so vectors of two models never mix.
Embedded ``PersistentClient`` under the data folder by default; ``CHROMA_HOST`` switches
to a Chroma server (``HttpClient``) with no other change.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag_core.errors import ConfigurationError


def collection_name(workspace: str, model: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", workspace).strip("-")[:40] or "ws"
    digest = hashlib.sha256(f"{workspace}\0{model}".encode()).hexdigest()[:12]
    return f"folio-{slug}-{digest}"


class ChromaStore:
    """Cheap to build; connects on first use."""

    def __init__(
        self,
        *,
        path: Path | None = None,
        host: str | None = None,
        port: int = 8000,
        name: str,
        model: str,
    ) -> None:
        if path is None and host is None:
            raise ConfigurationError("ChromaStore needs a path or a host")
        self.path = path
        self.host = host
        self.port = port
        self.name = name
        self.model = model
        self._collection: Any = None
        self._lock = threading.Lock()

    def _client(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.host:
            try:
                return chromadb.HttpClient(host=self.host, port=self.port, settings=chroma_settings)
            except Exception as exc:
                raise ConfigurationError(
                    f"Cannot reach the Chroma server at {self.host}:{self.port} ({exc}). "
                    "Check CHROMA_HOST and CHROMA_PORT, or unset CHROMA_HOST to use the "
                    "embedded store."
                ) from exc
        assert self.path is not None
        self.path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(self.path), settings=chroma_settings)

    @property
    def collection(self) -> Any:
        with self._lock:
            if self._collection is None:
                collection = self._client().get_or_create_collection(
                    self.name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine", "ef_search": 128}},
                    metadata={"model": self.model},
                )
                stored = (collection.metadata or {}).get("model")
                if stored != self.model:
                    raise ConfigurationError(
                        f"The vector collection {self.name} was built with '{stored}', "
                        f"not '{self.model}'."
                    )
                self._collection = collection
        return self._collection

    def _failed(self, exc: Exception) -> Exception:
        """A server's failure as a ConfigurationError naming the server (embedded: as is)."""
        if self.host and not isinstance(exc, ConfigurationError):
            return ConfigurationError(
                f"The Chroma server at {self.host}:{self.port} failed ({exc}). "
                "Check that it is running (CHROMA_HOST, CHROMA_PORT)."
            )
        return exc

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        if not len(ids):
            return
        step = 4000
        try:
            for start in range(0, len(ids), step):
                self.collection.upsert(
                    ids=list(ids[start : start + step]),
                    embeddings=np.asarray(vectors[start : start + step], dtype=np.float32),
                )
        except Exception as exc:
            raise self._failed(exc) from exc

    def delete(self, ids: Sequence[str]) -> None:
        step = 4000
        try:
            for start in range(0, len(ids), step):
                self.collection.delete(ids=list(ids[start : start + step]))
        except Exception as exc:
            raise self._failed(exc) from exc

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Nearest ``k`` ids with cosine similarity, best first (``k`` at most the count)."""
        if k <= 0:
            return []
        try:
            result = self.collection.query(
                query_embeddings=np.asarray(vector, dtype=np.float32)[None, :],
                n_results=k,
                include=["distances"],
            )
        except Exception as exc:
            raise self._failed(exc) from exc
        return [
            (chunk_id, 1.0 - float(dist))
            for chunk_id, dist in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

    def count(self) -> int:
        return int(self.collection.count())

    def ids(self) -> set[str]:
        found: set[str] = set()
        offset, step = 0, 10000
        while True:
            batch = self.collection.get(include=[], limit=step, offset=offset)["ids"]
            found.update(batch)
            if len(batch) < step:
                return found
            offset += step
