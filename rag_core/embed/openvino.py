"""Document embeddings on OpenVINO: the loaded sentence-transformers model's transformer,
converted in memory (no download), run in batches on the CPU's inference streams.

Only the common layout is converted: a Transformer, then mean or CLS pooling (and an
optional Normalize), without a document prompt. Anything else stays on PyTorch.

``int8``: the converted model quantized after training by NNCF, calibrated on Folio's own
fixed text sample (``calibration.txt``: English and Chinese prose, tables, questions), so
every library gets the same model and the same vectors. Quantizing takes seconds; the result
is kept in a cache folder keyed by the model's files, the sample and the library versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag_core.vectors import normalise

log = logging.getLogger(__name__)

CALIBRATION = Path(__file__).with_name("calibration.txt")


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def int8_available() -> bool:
    """OpenVINO and NNCF (its quantizer) are installed."""
    return openvino_available() and importlib.util.find_spec("nncf") is not None


def calibration_texts() -> list[str]:
    """The fixed quantization sample: one text per non-empty line (``\\n`` inside a line
    stands for a line break, so table rows stay together)."""
    lines = CALIBRATION.read_text(encoding="utf-8").splitlines()
    return [line.replace("\\n", "\n") for line in lines if line.strip()]


class UnsupportedModel(Exception):
    """The model's layout is not one this backend converts."""


def _pooling(model: Any) -> str:
    """``mean`` or ``cls``: what the model's pooling does, if it is that simple."""
    modules = list(model)
    kinds = [type(m).__name__ for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise UnsupportedModel(f"module layout {kinds}")
    mode = modules[1].get_config_dict().get("pooling_mode")
    if mode in ("mean", "cls"):
        return str(mode)
    raise UnsupportedModel(f"pooling {mode!r}")


def _prompts(model: Any) -> dict[str, str]:
    return dict(getattr(model, "prompts", None) or {})


def _document_prompt(model: Any) -> str:
    prompts = _prompts(model)
    names = ("document", "passage", "corpus", getattr(model, "default_prompt_name", None))
    return next((prompts[n] for n in names if n and prompts.get(n)), "")


def precision_hint(dtype: str) -> str:
    """OpenVINO's inference precision for Folio's ``embed_dtype`` setting on a CPU."""
    if dtype == "float32":
        return "f32"
    if dtype == "bfloat16":
        return "bf16"
    import torch

    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "f32"


class OpenVINODocuments:
    """Embeds document batches as the PyTorch model would (same tokenizer, truncation,
    pooling and normalisation), longest texts first so batches pad little."""

    def __init__(
        self, compiled: Any, tokenizer: Any, pooling: str, max_length: int, batch_size: int
    ) -> None:
        import openvino as ov

        self.compiled = compiled
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.inputs = [p.get_any_name() for p in compiled.inputs]
        self.dimension = int(compiled.outputs[0].get_partial_shape()[2].get_length())
        requests = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.queue = ov.AsyncInferQueue(compiled, max(1, requests))
        # Queries have inference requests of their own, so a question never waits for an
        # upload's document batches to finish (only for the CPU they share).
        self.query_queue = ov.AsyncInferQueue(compiled, max(1, requests))
        # Tokenizing sets truncation and padding on the shared fast tokenizer: one at a time
        # (the embedder hands in its own lock, which its token counting takes too).
        self.tokenizer_lock = threading.Lock()

    @classmethod
    def convert(
        cls,
        model: Any,
        dtype: str,
        batch_size: int,
        *,
        int8: bool = False,
        source: str = "",
        cache_dir: Path | None = None,
    ) -> OpenVINODocuments:
        """From a loaded float32 ``SentenceTransformer`` (``source``: where it was loaded
        from, for the int8 cache key); raises ``UnsupportedModel``."""
        import openvino as ov

        pooling = _pooling(model)
        if _document_prompt(model):
            raise UnsupportedModel("the model embeds documents with a prompt")
        if int8 and any(_prompts(model).values()):
            raise UnsupportedModel("the model embeds queries with a prompt")
        tokenizer = model[0].tokenizer
        max_length = int(model.max_seq_length)
        converted = _quantized(model, source, cache_dir) if int8 else _converted(model)
        hidden = ov.Model([converted.outputs[0]], converted.get_parameters(), "documents")
        compiled = ov.Core().compile_model(
            hidden,
            "CPU",
            {"INFERENCE_PRECISION_HINT": precision_hint(dtype), "PERFORMANCE_HINT": "THROUGHPUT"},
        )
        return cls(compiled, tokenizer, pooling, max_length, batch_size)

    def embed(
        self, texts: Sequence[str], batch_size: int | None = None, *, queries: bool = False
    ) -> np.ndarray:
        """L2-normalised float32 vectors, shape ``(len(texts), dimension)``, in batches of
        ``batch_size`` (default: the runner's) run on the CPU's inference streams side by side.
        ``queries``: on the queries' own inference requests. One call at a time per kind (the
        caller's lock): a call owns its queue's callback until it returns.
        """
        batch_size = batch_size or self.batch_size
        queue = self.query_queue if queries else self.queue
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        failures: list[BaseException] = []

        def done(request: Any, batch: tuple[np.ndarray, np.ndarray]) -> None:
            rows, mask = batch
            try:
                out[rows] = self._pool(request.get_output_tensor(0).data, mask)
            except BaseException as exc:  # surfaced after wait_all, never lost in a thread
                failures.append(exc)

        queue.set_callback(done)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            with self.tokenizer_lock:
                encoded = self.tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="np",
                )
            feed = {n: np.asarray(encoded[n], dtype=np.int64) for n in self.inputs}
            queue.start_async(feed, (rows, feed["attention_mask"]))
        queue.wait_all()
        if failures:
            raise failures[0]
        return out

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        hidden = hidden.astype(np.float32)
        if self.pooling == "cls":
            vectors = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            vectors = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        return normalise(vectors)


def _input_names(tokenizer: Any) -> list[str]:
    example = tokenizer(["a short example"], return_tensors="np")
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in example]


def _converted(model: Any) -> Any:
    """The model's transformer as an OpenVINO model with dynamic batch and length."""
    import openvino as ov
    import torch

    tokenizer = model[0].tokenizer
    example = tokenizer(
        ["a short example", "another, slightly longer example"], padding=True, return_tensors="pt"
    )
    names = _input_names(tokenizer)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the attention mask
        return ov.convert_model(
            model[0].auto_model,
            example_input={n: example[n] for n in names},
            input=[(n, ov.PartialShape([-1, -1]), ov.Type.i64) for n in names],
        )


def _quantized(model: Any, source: str, cache_dir: Path | None) -> Any:
    """The int8 model: read from the cache, or quantized now (and cached)."""
    import openvino as ov

    key = int8_cache_key(source, int(model.max_seq_length))
    cached = cache_dir / key / "model.xml" if cache_dir is not None else None
    if cached is not None and cached.exists():
        try:
            return ov.Core().read_model(str(cached))
        except Exception as exc:  # a damaged cache entry is rebuilt, never trusted
            log.warning("int8 model cache %s unreadable (%s): quantizing again", cached, exc)
            shutil.rmtree(cached.parent, ignore_errors=True)
    quantized = quantize_int8(model, _converted(model), calibration_texts())
    if cached is not None:
        _save_atomically(quantized, cached)
    return quantized


def quantize_int8(model: Any, converted: Any, texts: Sequence[str]) -> Any:
    """Post-training int8 quantization of ``converted`` (NNCF), calibrated on ``texts``."""
    import nncf

    tokenizer = model[0].tokenizer
    names = _input_names(tokenizer)
    max_length = int(model.max_seq_length)

    def feed(text: str) -> dict[str, np.ndarray]:
        encoded = tokenizer([text], truncation=True, max_length=max_length, return_tensors="np")
        return {n: np.asarray(encoded[n], dtype=np.int64) for n in names}

    nncf.set_log_level(logging.ERROR)
    log.info("quantizing the embedding model to int8 on %d calibration texts", len(texts))
    # NNCF draws progress bars on stdout, which would break the JSON log lines there.
    with contextlib.redirect_stdout(io.StringIO()):
        return nncf.quantize(
            converted,
            nncf.Dataset(list(texts), feed),
            subset_size=len(texts),
            model_type=nncf.ModelType.TRANSFORMER,
        )


def int8_cache_key(source: str, max_length: int) -> str:
    """Changes when the model's files, the calibration sample or the quantizer change."""
    import nncf
    import openvino as ov

    digest = hashlib.sha256()
    for part in (source, str(max_length), ov.get_version(), nncf.__version__):
        digest.update(part.encode() + b"\0")
    digest.update(CALIBRATION.read_bytes())
    folder = Path(source)
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return "int8-" + digest.hexdigest()[:24]


def _save_atomically(model: Any, target: Path) -> None:
    """Write model.xml and model.bin into a temporary folder, then rename it into place."""
    import openvino as ov

    target.parent.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".int8-", dir=target.parent.parent))
    try:
        ov.save_model(model, str(staging / target.name), compress_to_fp16=False)
        os.replace(staging, target.parent)
    except OSError as exc:  # another process got there first, or the disk is read-only
        log.warning("could not cache the int8 model in %s (%s)", target.parent, exc)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
