"""Building blocks of HARD, restricted to ops with native int8 TFLite kernels:
conv / depthwise conv (with dilation), average pooling, add, concat, bilinear resize, ReLU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv2d(
    cin: int,
    cout: int,
    k: int | tuple[int, int] = 3,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    bias: bool = False,
) -> nn.Conv2d:
    """A conv that keeps the size at stride 1: odd kernels pad symmetrically, an even kernel at
    stride 1 pads like TFLite's SAME (the extra row and column after); ``k`` and ``dilation``
    may be (h, w) pairs."""
    kh, kw = _pair(k)
    dh, dw = _pair(dilation)
    even = kh % 2 == 0 or kw % 2 == 0
    pad: str | tuple[int, int] = (
        "same" if even and _pair(stride) == (1, 1) else (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
    )
    return nn.Conv2d(cin, cout, (kh, kw), stride, pad, dilation=(dh, dw), groups=groups, bias=bias)


class ConvBNReLU(nn.Sequential):
    """`conv2d` + BatchNorm (+ ReLU); BN folds into the conv at export. ``bn=False`` gives a
    plain conv with a bias, for convs whose output no BN follows."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        relu: bool = True,
        bn: bool = True,
    ):
        layers: list[nn.Module] = [conv2d(cin, cout, k, stride, dilation, groups, bias=not bn)]
        if bn:
            layers.append(nn.BatchNorm2d(cout))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class DSConv(nn.Sequential):
    """Depthwise-separable conv: 3×3 depthwise (optionally strided / dilated) then 1×1 pointwise."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1, relu: bool = True):
        super().__init__(
            ConvBNReLU(cin, cin, 3, stride, dilation, groups=cin, relu=False),
            ConvBNReLU(cin, cout, 1, relu=relu),
        )


class ResBlock(nn.Module):
    """Residual depthwise-separable block: two DSConvs with an identity (or 1×1) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            DSConv(cin, cout, stride, dilation), DSConv(cout, cout, 1, dilation, relu=False)
        )
        self.short = None
        if stride != 1 or cin != cout:
            self.short = ConvBNReLU(cin, cout, 1, stride, relu=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x if self.short is None else self.short(x)
        return self.act(self.body(x) + s)


class Stage(nn.Sequential):
    """A resolution stage: one (possibly strided) block followed by ``n - 1`` plain blocks."""

    def __init__(self, cin: int, cout: int, n: int, stride: int, dilation: int = 1):
        blocks = [ResBlock(cin, cout, stride)]
        blocks += [ResBlock(cout, cout, 1, dilation) for _ in range(n - 1)]
        super().__init__(*blocks)


def upsample_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bilinear resize to ``ref``'s spatial size (half-pixel centres → TFLite RESIZE_BILINEAR)."""
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class DAP(nn.Module):
    """Dual Atrous Pooling: fuses the three branches' contexts at the detail resolution.

    The middle and low-resolution contexts are projected with 1×1 convs and resized up; the
    detail branch is seen through two atrous paths — a dilated depthwise conv, and an average
    pool followed by a wider dilated depthwise conv — so each pixel mixes near and far context
    without the large kernels that would blur the high-resolution features. The five contexts
    are fused by a 1×1 conv over their concatenation, written as the equivalent sum of one
    1×1 conv per context: the same function, and a graph that converts to NHWC int8 without
    the layout transposes a channel concat of equal-shaped tensors can provoke.
    """

    def __init__(self, c_hi: int, c_mid: int, c_lo: int, cout: int, rates: tuple[int, int]):
        super().__init__()
        self.mid = ConvBNReLU(c_mid, c_hi, 1)
        self.lo = ConvBNReLU(c_lo, c_hi, 1)
        self.atrous = DSConv(c_hi, c_hi, dilation=rates[0])
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.pool_atrous = DSConv(c_hi, c_hi, dilation=rates[1])
        self.fuse = nn.ModuleList(ConvBNReLU(c_hi, cout, 1, relu=False) for _ in range(5))
        self.act = nn.ReLU(inplace=True)

    def forward(self, hi: torch.Tensor, mid: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
        m = upsample_to(self.mid(mid), hi)
        lo_ = upsample_to(self.lo(lo), hi)
        a = self.atrous(hi)
        p = self.pool_atrous(self.pool(hi))
        out = self.fuse[0](hi)
        for f, ctx in zip(self.fuse[1:], (m, lo_, a, p), strict=True):
            out = out + f(ctx)
        return self.act(out)


class SA(nn.Module):
    """Serialized Atrous decoder: a chain of dilated depthwise-separable convs with growing
    rates, each feeding the next; the outputs are summed, so the receptive field grows
    serially while every step stays a cheap 3×3 depthwise op."""

    def __init__(self, c: int, rates: tuple[int, ...]):
        super().__init__()
        self.steps = nn.ModuleList(DSConv(c, c, dilation=r) for r in rates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        y = x
        for step in self.steps:
            y = step(y)
            out = out + y
        return out
