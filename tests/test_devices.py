"""The dtype a model runs in, for each setting and device (no GPU needed: devices are names)."""

from __future__ import annotations

import pytest

from rag_core.embed import devices
from rag_core.embed.devices import torch_dtype

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("on_cuda", ["float16", "bfloat16"])
@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1", "mps"])
def test_a_named_dtype_is_used_as_given(device, on_cuda):
    named = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    for setting, dtype in named.items():
        assert torch_dtype(setting, device, on_cuda) is dtype


def test_auto_on_cuda_is_the_models_choice():
    assert torch_dtype("auto", "cuda", on_cuda="float16") is torch.float16
    assert torch_dtype("auto", "cuda:0", on_cuda="bfloat16") is torch.bfloat16


@pytest.mark.parametrize("native", [True, False])
def test_auto_elsewhere_is_bfloat16_only_on_a_cpu_that_has_it(monkeypatch, native):
    monkeypatch.setattr(devices, "cpu_has_bfloat16", lambda: native)
    for on_cuda in ("float16", "bfloat16"):
        assert torch_dtype("auto", "cpu", on_cuda) is (torch.bfloat16 if native else torch.float32)
        assert torch_dtype("auto", "mps", on_cuda) is torch.float32
