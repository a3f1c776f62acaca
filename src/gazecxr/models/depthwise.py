"""A faster CPU backward for the 5 x 5 depthwise convolutions of small feature maps.

oneDNN's weight gradient of a depthwise 5 x 5 convolution is an order of magnitude slower than
its 3 x 3 one on CPU (32 x 1152 x 4 x 4 channels-last: about 11 ms against 0.2 ms, one thread),
while its forward is fast; in a Lite0 training step at 128 px with the first 5 blocks frozen,
the backward of the six stride-1 5 x 5 depthwise convolutions left to train is a quarter of the
step (torch.profiler: 388 of 1,576 ms over 5 steps). :class:`DepthwiseConv2d`
keeps oneDNN's forward and computes the backward from fast kernels, exactly to float tolerance:

- input gradient: the forward convolution of the output gradient with the kernel rotated by 180
  degrees (stride 1, symmetric "same" padding, no dilation: the transposed convolution is that);
- weight gradient: the ``k x k`` kernel tiled by 3 x 3 windows (overlapping at the edge), each
  window's gradient one 3 x 3 weight-gradient call on the input shifted to that window's offsets.

Used on CPU tensors with gradients on and autocast off, on maps of at most :data:`MAX_CELLS`
cells (the stride-16 and stride-32 maps at the demo's 128 px: there the step was measured
faster, benchmarks/bench_train_speed.py); elsewhere PyTorch's own backward. Opt-in per model
(``model.depthwise_grad: tiled``), since a different summation order is a different result to
float tolerance.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

MAX_CELLS = 64  # h * w of the largest map the tiled backward is used on (8 x 8)


def _layout(x: torch.Tensor) -> torch.memory_format:
    return (
        torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    )


MAX_BUFFERS = 32  # shifted-input buffers kept per thread (4 per kernel shape and batch size)
_local = threading.local()


def _shifted(x: torch.Tensor, top: int, left: int, fmt: torch.memory_format) -> torch.Tensor:
    """``F.pad(x, (-left, left + 2, -top, top + 2))`` (rows ``top .. top+H+1`` of ``x``, zeros
    outside) written into a buffer kept per shape (least recently used dropped beyond
    :data:`MAX_BUFFERS`): its border is zeroed once; a freshly allocated zero-filled map per call
    cost more than the gradient call itself on small maps. The result is valid until the next call
    with the same shape and offsets on this thread (it is consumed at once)."""
    cache: OrderedDict[tuple, torch.Tensor] = _local.__dict__.setdefault("buffers", OrderedDict())
    b, c, h, w = x.shape
    key = (b, c, h, w, top, left, x.dtype, x.device, fmt)
    buf = cache.pop(key, None)
    if buf is None:
        buf = x.new_zeros(b, c, h + 2, w + 2).contiguous(memory_format=fmt)
    cache[key] = buf
    while len(cache) > MAX_BUFFERS:
        cache.popitem(last=False)
    r0, c0 = max(0, -top), max(0, -left)
    r1, c1 = min(h + 2, h - top), min(w + 2, w - left)
    buf[:, :, r0:r1, c0:c1] = x[:, :, r0 + top : r1 + top, c0 + left : c1 + left]
    return buf


def _weight_grad(x: torch.Tensor, grad: torch.Tensor, k: int, pad: int) -> torch.Tensor:
    """``dL/dw (C, 1, k, k)`` of a stride-1 depthwise convolution from ``x (B, C, H, W)`` and
    ``grad (B, C, H, W)``, one 3 x 3 weight-gradient call per tile of the kernel."""
    c = x.shape[1]
    fmt = _layout(x)
    out = x.new_empty(c, 1, k, k)
    probe = x.new_empty(c, 1, 3, 3)  # only its shape is read
    starts = sorted({min(s, k - 3) for s in range(0, k, 3)})
    for r in starts:
        for s in starts:
            # rows/columns r-pad .. r-pad+H+1 of x (zeros outside): a valid 3 x 3 correlation with
            # grad gives the kernel's offsets r-pad .. r-pad+2, i.e. rows r .. r+2 of the kernel.
            shifted = _shifted(x, r - pad, s - pad, fmt)
            out[:, :, r : r + 3, s : s + 3] = torch.ops.aten.convolution_backward(
                grad, shifted, probe, None, [1, 1], [0, 0], [1, 1], False, [0, 0], c, [False, True, False]
            )[1]
    return out


class _TiledDepthwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, pad: int) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.pad = pad
        return F.conv2d(x, weight, padding=pad, groups=weight.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad = grad.contiguous(memory_format=_layout(x))
        c, k = weight.shape[0], weight.shape[-1]
        gx = None
        if ctx.needs_input_grad[0]:
            gx = F.conv2d(grad, weight.flip(-2, -1), padding=ctx.pad, groups=c)
        gw = _weight_grad(x, grad, k, ctx.pad) if ctx.needs_input_grad[1] else None
        return gx, gw, None


class DepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d`` for a stride-1, odd ``k >= 5``, bias-free depthwise convolution with "same"
    padding, whose backward on small CPU maps is the tiled one above (same parameters and
    state-dict keys; forward identical). Input ``(B, C, H, W)`` -> output ``(B, C, H, W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.device.type != "cpu"
            or not torch.is_grad_enabled()
            or torch.is_autocast_enabled("cpu")  # the tiles' calls assume one dtype throughout
            or x.shape[-1] * x.shape[-2] > MAX_CELLS
        ):
            return super().forward(x)
        return _TiledDepthwise.apply(x, self.weight, self.padding[0])


def eligible(m: nn.Module) -> bool:
    """Whether ``m`` is a plain convolution :class:`DepthwiseConv2d` computes the same function of."""
    k = m.kernel_size if isinstance(m, nn.Conv2d) else (0, 0)
    return (
        type(m) is nn.Conv2d
        and m.groups > 1
        and m.groups == m.in_channels == m.out_channels
        and m.bias is None
        and k[0] == k[1] >= 5
        and k[0] % 2 == 1
        and tuple(m.stride) == (1, 1)
        and tuple(m.dilation) == (1, 1)
        and tuple(m.padding) == (k[0] // 2, k[1] // 2)
        and m.padding_mode == "zeros"
    )


def use_tiled_depthwise(module: nn.Module) -> int:
    """Turn every eligible convolution of ``module`` into a :class:`DepthwiseConv2d` in place
    (parameters kept); returns how many."""
    n = 0
    for m in module.modules():
        if eligible(m):
            m.__class__ = DepthwiseConv2d
            n += 1
    return n
