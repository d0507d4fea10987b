"""Page and query embeddings from ColQwen2 / ColPali (transformers' native retrieval classes).

``ColVisionEmbedder`` is cheap to build; ``check`` says (without loading anything) whether
the model's files are on this machine, and the model and its processor load on first use,
offline only (``local_files_only``). Images go through the processor's PIL backend, so no
torchvision is needed.

ColQwen2 resizes a page so that it holds at most ``max_image_tokens`` patches of 28x28
pixels (768, as the published ColQwen2 models were trained) and reads it as a grid of
patches in row-major order; ColPali squashes it to a fixed square grid (32x32 at 448 px).
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag_core.embed.devices import CudaDtype, torch_dtype
from rag_core.errors import ConfigurationError
from rag_core.vectors import normalise

DEFAULT_VISION_MODEL = "vidore/colqwen2-v1.0-hf"
CUDA_DTYPE: CudaDtype = "bfloat16"  # what ``auto`` means on CUDA (see ``torch_dtype``)
_CLASSES = {
    "colqwen2": ("ColQwen2ForRetrieval", "ColQwen2Processor"),
    "colpali": ("ColPaliForRetrieval", "ColPaliProcessor"),
}


@dataclass(frozen=True, slots=True)
class PageEmbedding:
    """Every vector the model gives a page image."""

    vectors: np.ndarray  # (tokens, dim) float32, unit rows
    patches: np.ndarray  # (tokens,) bool: image-patch tokens, row-major over ``grid``
    grid: tuple[int, int]  # (rows, cols) of patches; they tile the whole page image


@dataclass(frozen=True, slots=True)
class QueryEmbedding:
    vectors: np.ndarray  # (tokens, dim) float32, unit rows; all of them count in MaxSim
    content: np.ndarray  # (tokens,) bool: tokens of the user's words (not prefix or padding)


class PageEmbedder(ABC):
    """Multi-vector embeddings of page images and of queries, in one vector space."""

    name: str

    def check(self) -> None:  # noqa: B027 - optional hook, nothing to check by default
        """Raise ``ConfigurationError`` when the model cannot be used (without loading it)."""

    def load(self) -> None:  # noqa: B027 - optional hook for models that load lazily
        """Load the model now rather than on first use."""

    def accelerated(self) -> bool:
        """Whether the model will run on an accelerator (a GPU), not the CPU."""
        return True

    @abstractmethod
    def embed_pages(self, images: Sequence[Any]) -> list[PageEmbedding]:
        """One embedding per PIL image."""

    @abstractmethod
    def embed_queries(self, texts: Sequence[str]) -> list[QueryEmbedding]:
        """One embedding per query text."""


def locate_model(model: str) -> Path:
    """The local folder of ``model`` (a path, or a Hugging Face id already downloaded).

    Raises ``ConfigurationError`` saying what to do when it is not on this machine.
    """
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigurationError(
                f"Vision model folder '{model}' has no config.json; point FOLIO_VISION_MODEL at "
                "a folder saved with save_pretrained (model and processor)"
            )
        return path
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(model, local_files_only=True))
    except Exception as exc:
        raise ConfigurationError(
            f"model '{model}' is not available offline; download it once "
            f"(huggingface-cli download {model} --local-dir models/{model.split('/')[-1]}) "
            "and set FOLIO_VISION_MODEL to that folder"
        ) from exc
    if not (folder / "config.json").is_file():
        raise ConfigurationError(f"model '{model}' is only partly downloaded (no config.json)")
    return folder


@dataclass(frozen=True)
class _Loaded:
    model: Any
    processor: Any
    kind: str
    device: str


class ColVisionEmbedder(PageEmbedder):
    def __init__(
        self,
        model: str = DEFAULT_VISION_MODEL,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 4,
        max_image_tokens: int = 768,
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError("FOLIO_VISION_BATCH must be 1 or more")
        self.name = model
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.max_image_tokens = max_image_tokens
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise ``ConfigurationError`` unless the model's files are here (loads nothing)."""
        locate_model(self.name)

    def accelerated(self) -> bool:
        if self.device == "auto":
            import torch

            return bool(torch.cuda.is_available())
        return self.device != "cpu"

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> None:
        self._load()

    def _load(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._build()
            return self._loaded

    def _build(self) -> _Loaded:
        import torch
        from transformers import AutoConfig
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = locate_model(self.name)
        try:
            kind = AutoConfig.from_pretrained(path, local_files_only=True).model_type
        except Exception as exc:
            raise ConfigurationError(
                f"Vision model '{self.name}': unreadable config ({exc})"
            ) from exc
        if kind not in _CLASSES:
            raise ConfigurationError(
                f"Vision model '{self.name}' is a {kind} model; Folio reads ColQwen2 and ColPali "
                "models in the transformers format (e.g. vidore/colqwen2-v1.0-hf)"
            )
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch_dtype(self.dtype, device, on_cuda=CUDA_DTYPE)
        import transformers

        model_class: Any = getattr(transformers, _CLASSES[kind][0])
        processor_class: Any = getattr(transformers, _CLASSES[kind][1])
        try:
            model = model_class.from_pretrained(path, dtype=dtype, local_files_only=True)
            model = model.to(device).eval()
            processor = processor_class.from_pretrained(path, local_files_only=True)
        except Exception as exc:
            raise ConfigurationError(
                f"Vision model '{self.name}' could not be loaded ({exc})"
            ) from exc
        return _Loaded(model, processor, kind, device)

    # Pages --------------------------------------------------------------------------------
    def embed_pages(self, images: Sequence[Any]) -> list[PageEmbedding]:
        loaded = self._load()
        out: list[PageEmbedding] = []
        for start in range(0, len(images), self.batch_size):
            batch = [image.convert("RGB") for image in images[start : start + self.batch_size]]
            out.extend(self._embed_page_batch(loaded, batch))
        return out

    def _embed_page_batch(self, loaded: _Loaded, images: list[Any]) -> list[PageEmbedding]:
        processor = loaded.processor
        kwargs: dict[str, Any] = {}
        if loaded.kind == "colqwen2":
            ip = processor.image_processor
            side = ip.patch_size * ip.merge_size
            kwargs["size"] = {
                "shortest_edge": ip.size.shortest_edge,
                "longest_edge": self.max_image_tokens * side * side,
            }
        inputs = processor.process_images(images=images, **kwargs)
        embeddings = self._forward(loaded, inputs)
        ids = inputs["input_ids"]
        mask = inputs["attention_mask"].bool()
        pages = []
        for i in range(len(images)):
            keep = mask[i]
            patches = (ids[i][keep] == processor.image_token_id).numpy()
            grid = _grid(loaded, inputs, i, int(patches.sum()))
            pages.append(PageEmbedding(normalise(embeddings[i][keep.numpy()]), patches, grid))
        return pages

    # Queries ------------------------------------------------------------------------------
    def embed_queries(self, texts: Sequence[str]) -> list[QueryEmbedding]:
        loaded = self._load()
        out: list[QueryEmbedding] = []
        for start in range(0, len(texts), max(self.batch_size, 16)):
            batch = list(texts[start : start + max(self.batch_size, 16)])
            inputs = loaded.processor.process_queries(text=batch)
            embeddings = self._forward(loaded, inputs)
            content = _content_masks(loaded, batch, inputs)
            mask = inputs["attention_mask"].bool().numpy()
            for i in range(len(batch)):
                out.append(QueryEmbedding(normalise(embeddings[i][mask[i]]), content[i][mask[i]]))
        return out

    def _forward(self, loaded: _Loaded, inputs: Any) -> np.ndarray:
        import torch

        feed = {
            k: v.to(loaded.device)
            for k, v in inputs.items()
            if k in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw")
        }
        if "pixel_values" in feed:
            feed["pixel_values"] = feed["pixel_values"].to(loaded.model.dtype)
        with torch.inference_mode():
            embeddings = loaded.model(**feed).embeddings
        return np.asarray(embeddings.float().cpu().numpy(), dtype=np.float32)


def _grid(loaded: _Loaded, inputs: Any, index: int, patches: int) -> tuple[int, int]:
    if loaded.kind == "colqwen2":
        merge = loaded.processor.image_processor.merge_size
        _, height, width = (int(v) for v in inputs["image_grid_thw"][index])
        grid = (height // merge, width // merge)
    else:
        side = math.isqrt(patches)
        grid = (side, side)
    if grid[0] * grid[1] != patches:
        raise ConfigurationError(
            f"Vision model: {patches} patch tokens do not fill the {grid[0]}x{grid[1]} grid"
        )
    return grid


def _content_masks(loaded: _Loaded, texts: list[str], inputs: Any) -> np.ndarray:
    """Which query tokens come from the user's words.

    The processor writes ``<prefix><text><padding tokens>\\n`` (ColPali adds ``<bos>`` first);
    the same strings are tokenised again with character offsets. If that does not reproduce
    the processor's tokens exactly, every token that is not special counts as content.
    """
    processor = loaded.processor
    tokenizer = processor.tokenizer
    lead = tokenizer.bos_token if loaded.kind == "colpali" else ""
    prefix = f"{lead}{processor.query_prefix}"
    suffix = processor.query_augmentation_token * 10 + "\n"
    ids = inputs["input_ids"].numpy()
    try:
        again = tokenizer(
            [f"{prefix}{t}{suffix}" for t in texts],
            padding="longest",
            return_offsets_mapping=True,
            return_tensors="np",
        )
        if np.array_equal(again["input_ids"], ids):
            offsets = again["offset_mapping"]
            lengths = np.asarray([len(t) for t in texts])[:, None]
            lo, hi = len(prefix), len(prefix) + lengths
            starts, ends = offsets[..., 0], offsets[..., 1]
            return np.asarray((ends > starts) & (starts < hi) & (ends > lo))
    except (TypeError, ValueError, NotImplementedError):
        pass
    special = np.isin(ids, np.asarray(tokenizer.all_special_ids))
    return np.asarray(~special)
