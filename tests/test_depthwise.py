"""``model.depthwise_grad: tiled``: the CPU backward of small 5 x 5 depthwise convolutions.

The reference is PyTorch's own (oneDNN) backward of the same convolution, not our code."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gazecxr.models import build_model, depthwise
from gazecxr.models.config import ModelConfig
from gazecxr.models.depthwise import DepthwiseConv2d, use_tiled_depthwise


def _grads(conv: nn.Conv2d, x: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_()
    conv.zero_grad()
    y = conv(x)
    y.backward(g)
    return x.grad, conv.weight.grad


@pytest.mark.parametrize("k", [5, 7])
@pytest.mark.parametrize("hw", [(4, 4), (8, 8), (3, 7)])
@pytest.mark.parametrize("fmt", [torch.channels_last, torch.contiguous_format])
def test_tiled_backward_equals_pytorchs(k: int, hw: tuple[int, int], fmt: torch.memory_format) -> None:
    torch.manual_seed(0)
    c = 24
    ref = nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=False).to(memory_format=fmt)
    tiled = nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=False).to(memory_format=fmt)
    tiled.load_state_dict(ref.state_dict())
    assert use_tiled_depthwise(tiled) == 1 and type(tiled) is DepthwiseConv2d
    x = torch.randn(5, c, *hw).contiguous(memory_format=fmt)
    g = torch.randn(5, c, *hw).contiguous(memory_format=fmt)
    torch.testing.assert_close(tiled(x), ref(x), rtol=0, atol=0)  # the forward is PyTorch's
    for _ in range(2):  # the second call reuses the shifted-input buffers
        for a, b in zip(_grads(tiled, x, g), _grads(ref, x, g), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_only_same_padded_stride_1_depthwise_convs_are_changed() -> None:
    convs = [
        nn.Conv2d(8, 8, 5, padding=2, groups=8, bias=False),  # eligible
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),  # 3 x 3: oneDNN's is fast
        nn.Conv2d(8, 8, 5, padding=2, stride=2, groups=8, bias=False),
        nn.Conv2d(8, 8, 5, padding=0, groups=8, bias=False),
        nn.Conv2d(8, 8, 5, padding=2, groups=8, bias=True),
        nn.Conv2d(8, 16, 5, padding=2, groups=8, bias=False),
        nn.Conv2d(8, 8, 5, padding=2, bias=False),
    ]
    assert use_tiled_depthwise(nn.Sequential(*convs)) == 1
    assert [type(m) is DepthwiseConv2d for m in convs] == [True] + [False] * 6


def test_large_maps_no_grad_and_autocast_use_pytorchs_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(
        depthwise._TiledDepthwise,
        "apply",
        lambda *a: calls.append(a) or F.conv2d(a[0], a[1], padding=a[2], groups=a[1].shape[0]),
    )
    conv = nn.Conv2d(4, 4, 5, padding=2, groups=4, bias=False)
    use_tiled_depthwise(conv)
    conv(torch.randn(2, 4, 8, 8))
    assert len(calls) == 1
    conv(torch.randn(2, 4, 16, 16))  # > MAX_CELLS
    with torch.no_grad():
        conv(torch.randn(2, 4, 8, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        conv(torch.randn(2, 4, 8, 8))
    assert len(calls) == 1


def test_model_option_gives_the_default_models_gradients() -> None:
    """Lite0 at 128 px: its seven stride-1 5 x 5 depthwise convs become tiled ones, the state dict
    is the same, and one training-mode backward gives the default model's gradients (to 1e-3 of
    each parameter's gradient norm: the summation order differs, and BatchNorm over a batch of 4
    amplifies float error on the way back to the stem; the exactness of one convolution's
    gradients is the test above)."""

    def model(dw: str) -> nn.Module:
        torch.manual_seed(0)
        cfg = ModelConfig(pretrained=False, text_encoder="none", gaze_encoder="none", depthwise_grad=dw)
        return build_model(cfg, 8, 128).train()

    ref, tiled = model("aten"), model("tiled")
    # blocks 4, 8-10 and 12-14 (block 4 runs on 16 x 16 at 128 px: PyTorch's backward there)
    assert sum(type(m) is DepthwiseConv2d for m in tiled.modules()) == 7
    assert ref.state_dict().keys() == tiled.state_dict().keys()
    tiled.load_state_dict(ref.state_dict())
    x = torch.rand(4, 1, 128, 128)
    for m in (ref, tiled):
        torch.manual_seed(1)
        m(x).logits.sum().backward()
    grads = [
        (n, t.grad, r.grad) for (n, t), r in zip(tiled.named_parameters(), ref.parameters(), strict=True)
    ]
    grads = [(n, t, r) for n, t, r in grads if r is not None]
    # a BatchNorm bias that feeds another BatchNorm has a zero gradient: only float noise to compare
    floor = 1e-6 * max(float(torch.linalg.norm(r)) for _, _, r in grads)
    far = [n for n, t, r in grads if torch.linalg.norm(t - r) > 1e-3 * torch.linalg.norm(r) + floor]
    assert not far, far
