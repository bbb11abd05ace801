"""ENet (Paszke et al., 2016) and FSSNet (Zhang et al., 2018), which is built from ENet's
bottlenecks: 1×1 projection to a quarter of the channels, a 3×3 (dilated) or factorised k×1 +
1×k conv, 1×1 expansion, added to a shortcut.

As published: ENet's encoder uses per-channel PReLU, its decoder ReLU (as the public PyTorch
ENet); the decoders' upsampling bottlenecks use stride-2 transposed convs (3×3 in ENet, 2×2 in
FSSNet) and both end in a stride-2 3×3 transposed conv to full resolution; ENet's decoder
shortcuts un-pool with the encoder's max-pool indices (nn.MaxUnpool2d), which hardtool's ONNX
export lowers to ops int8 TFLite has (`hardtool.quantize.export_modules`). Dropout is left out
(it does nothing at inference)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hardtool.models.blocks import ConvBNReLU
from hardtool.models.peers.layers import Deconv, Downsampler, PReLU, cbr, factorized, up2


class Bottleneck(nn.Module):
    """Regular bottleneck: ``asym`` > 0 makes the middle conv an asym×1 + 1×asym pair."""

    def __init__(self, c: int, dilation: int = 1, asym: int = 0, prelu: bool = False):
        super().__init__()
        m = c // 4
        if asym:
            mid = factorized(m, asym, inner="bn", prelu=prelu)
        else:
            mid = cbr(m, m, 3, prelu, dilation=dilation)
        self.body = nn.Sequential(cbr(c, m, 1, prelu), mid, ConvBNReLU(m, c, 1, relu=False))
        self.act = PReLU(c) if prelu else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class DownBottleneck(nn.Module):
    """Downsampling bottleneck: the shortcut is a 2×2 max-pool, then zero channels (ENet) or a
    1×1 conv (FSSNet, ``conv_shortcut``); the body starts with a 2×2 stride-2 projection.
    ``indices``: the pool's indices are returned too, ENet's decoder un-pools with them."""

    def __init__(
        self, cin: int, cout: int, conv_shortcut: bool = False, prelu: bool = False, indices: bool = False
    ):
        super().__init__()
        m = cin // 4
        self.pool = nn.MaxPool2d(2, 2, return_indices=True) if indices else None
        self.pad = cout - cin
        self.short = nn.Conv2d(cin, cout, 1, bias=False) if conv_shortcut else None
        self.body = nn.Sequential(
            cbr(cin, m, 2, prelu, stride=2), cbr(m, m, 3, prelu), ConvBNReLU(m, cout, 1, relu=False)
        )
        self.act = PReLU(cout) if prelu else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor):
        s, idx = self.pool(x) if self.pool is not None else (F.max_pool2d(x, 2), None)
        s = F.pad(s, (0, 0, 0, 0, 0, self.pad)) if self.short is None else self.short(s)
        y = self.act(s + self.body(x))
        return y if self.pool is None else (y, idx)


class UpBottleneck(nn.Module):
    """Upsampling bottleneck: shortcut 1×1 conv + BN then ×2 upsampling (ENet: max-unpooling
    with the encoder's indices, ``mode="unpool"``; FSSNet: bilinear, after adding the encoder's
    feature map); body 1×1 → k×k stride-2 transposed conv (BN, ReLU) → 1×1."""

    def __init__(self, cin: int, cout: int, k: int, mode: str):
        super().__init__()
        m = cin // 4
        self.unpool = nn.MaxUnpool2d(2, 2) if mode == "unpool" else None
        self.mode = mode
        self.short = ConvBNReLU(cin, cout, 1, relu=False)
        self.body = nn.Sequential(ConvBNReLU(cin, m, 1), Deconv(m, m, k), ConvBNReLU(m, cout, 1, relu=False))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        """``skip``: the encoder's indices (unpool) or feature map (added before the upsampling)."""
        if self.unpool is not None:
            s = self.unpool(self.short(x), skip)
        else:
            s = up2(self.short(x if skip is None else x + skip), self.mode)
        return F.relu(s + self.body(x))


def _stage2(c: int) -> list[nn.Module]:
    """ENet's stage 2 (and 3) pattern: regular, dilated 2, asymmetric 5, dilated 4, regular, dilated 8,
    asymmetric 5, dilated 16 (PReLU)."""
    return [
        Bottleneck(c, prelu=True),
        Bottleneck(c, 2, prelu=True),
        Bottleneck(c, asym=5, prelu=True),
        Bottleneck(c, 4, prelu=True),
        Bottleneck(c, prelu=True),
        Bottleneck(c, 8, prelu=True),
        Bottleneck(c, asym=5, prelu=True),
        Bottleneck(c, 16, prelu=True),
    ]


class ENet(nn.Module):
    """Initial block to 16 channels at 1/2, 64 at 1/4, 128 at 1/8 (stages 2 and 3), decoder back
    to 1/2, a transposed conv to full-resolution logits."""

    def __init__(self, num_classes: int = 19):
        super().__init__()
        self.init = Downsampler(3, 16, prelu=True)
        self.down1 = DownBottleneck(16, 64, prelu=True, indices=True)
        self.stage1 = nn.Sequential(*(Bottleneck(64, prelu=True) for _ in range(4)))
        self.down2 = DownBottleneck(64, 128, prelu=True, indices=True)
        # stage 3: stage 2 without its downsampling block
        self.stage23 = nn.Sequential(*_stage2(128), *_stage2(128))
        self.up4 = UpBottleneck(128, 64, 3, "unpool")
        self.dec4 = nn.Sequential(Bottleneck(64), Bottleneck(64))
        self.up5 = UpBottleneck(64, 16, 3, "unpool")
        self.dec5 = Bottleneck(16)
        self.cls = Deconv(16, num_classes, 3, bn=False, act="none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, idx1 = self.down1(self.init(x))
        x2, idx2 = self.down2(self.stage1(x1))
        y = self.dec4(self.up4(self.stage23(x2), idx2))
        return self.cls(self.dec5(self.up5(y, idx1)))


class FSSNet(nn.Module):
    """ENet-like encoder with factorised (1/4) and dilated (1/8) bottlenecks, 1×1-conv shortcuts
    in the downsampling blocks and encoder features added back in the upsampling blocks; a
    transposed conv to full-resolution logits."""

    def __init__(self, num_classes: int = 19):
        super().__init__()
        self.init = Downsampler(3, 16)
        self.down1 = DownBottleneck(16, 64, conv_shortcut=True)
        self.stage1 = nn.Sequential(*(Bottleneck(64, asym=3) for _ in range(4)))
        self.down2 = DownBottleneck(64, 128, conv_shortcut=True)
        self.stage2 = nn.Sequential(*(Bottleneck(128, d) for d in (2, 5, 9, 2, 5, 9)))
        self.up4 = UpBottleneck(128, 64, 2, "bilinear")
        self.dec4 = nn.Sequential(Bottleneck(64), Bottleneck(64))
        self.up5 = UpBottleneck(64, 16, 2, "bilinear")
        self.dec5 = nn.Sequential(Bottleneck(16), Bottleneck(16))
        self.cls = Deconv(16, num_classes, 3, bn=False, act="none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.down1(self.init(x))
        x2 = self.down2(self.stage1(x1))
        y = self.dec4(self.up4(self.stage2(x2), x2))
        return self.cls(self.dec5(self.up5(y, x1)))
