"""The torch dtype a model runs in, from a ``FOLIO_*_DTYPE`` setting and the device."""

from __future__ import annotations

from typing import Any, Literal

CudaDtype = Literal["float16", "bfloat16"]


def torch_dtype(setting: str, device: str, on_cuda: CudaDtype) -> Any:
    """The ``torch.dtype`` for ``setting`` (``auto``, ``float32``, ``bfloat16``, ``float16``).

    A named dtype is used as given. ``auto`` is bfloat16 on a CPU with native bfloat16
    (oneDNN), float32 on other CPUs and devices, and ``on_cuda`` on CUDA, where the model
    decides: the text embedders (BERT-style encoders) run in float16, which every CUDA GPU
    supports (bfloat16 needs Ampere or newer); the vision models (ColQwen2/ColPali, whose
    weights are published in bfloat16) run in bfloat16, whose range float16 lacks.
    """
    import torch

    if setting == "float32":
        return torch.float32
    if setting == "bfloat16":
        return torch.bfloat16
    if setting == "float16":
        return torch.float16
    if device.startswith("cuda"):
        return getattr(torch, on_cuda)
    if device == "cpu" and cpu_has_bfloat16():
        return torch.bfloat16
    return torch.float32


def cpu_has_bfloat16() -> bool:
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
