"""bfloat16 linear layers with their weights packed once give nn.Linear's results."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import torch
from torch import nn

from models.packed import PackedLinear, pack_linear_layers, packing_works


def _net(dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 96), nn.GELU(), nn.Linear(96, 32, bias=False), nn.LayerNorm(32)).to(dtype)


def test_packed_layers_give_the_same_outputs() -> None:
    reference = _net(torch.bfloat16)
    packed = _net(torch.bfloat16)
    count = pack_linear_layers(packed)
    x = torch.randn(5, 7, 64, dtype=torch.bfloat16)
    with torch.inference_mode():
        want, got = reference(x), packed(x)
    if not packing_works():  # a torch build without the oneDNN ops leaves the layers alone
        assert count == 0
        return
    assert count == 2
    linears = [type(m) for m in packed.modules() if isinstance(m, (nn.Linear, PackedLinear))]
    assert linears == [PackedLinear, PackedLinear]
    assert got.shape == want.shape == (5, 7, 32) and got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want.float(), atol=0.02, rtol=0.02)
    assert "in_features=64, out_features=96, bias=True" in repr(packed)


def test_float32_layers_are_left_alone() -> None:
    net = _net(torch.float32)
    assert pack_linear_layers(net) == 0
    assert all(type(m) is not PackedLinear for m in net.modules())
