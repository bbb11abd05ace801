"""DABNet (Li et al., 2019): a 3-conv stem at 1/2, depth-wise asymmetric bottleneck (DAB)
modules at 1/4 and 1/8, and the image, average-pooled, concatenated in at each resolution (as in
ESPNet). Logits at 1/8, bilinearly upsampled by the export tail.

Changes for deployment: PReLU → ReLU."""

from __future__ import annotations

import torch
from torch import nn

from hardtool.models.blocks import ConvBNReLU
from hardtool.models.peers.layers import BNReLU, Downsampler, PieceBNReLU, SumConv, pool_image


class DABModule(nn.Module):
    """BN-ReLU, 3×3 conv to half the channels, two depthwise branches (3×1 + 1×3, and the same
    dilated) summed, BN-ReLU, 1×1 conv back, + input."""

    def __init__(self, c: int, dilation: int):
        super().__init__()
        h = c // 2

        def dw(k: tuple[int, int], d: tuple[int, int]) -> nn.Module:
            return ConvBNReLU(h, h, k, dilation=d, groups=h)

        self.pre = BNReLU(c)
        self.reduce = ConvBNReLU(c, h, 3)
        self.local = nn.Sequential(dw((3, 1), (1, 1)), dw((1, 3), (1, 1)))
        self.context = nn.Sequential(dw((3, 1), (dilation, 1)), dw((1, 3), (1, dilation)))
        self.post = BNReLU(h)
        self.expand = nn.Conv2d(h, c, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(self.pre(x))
        return x + self.expand(self.post(self.local(y) + self.context(y)))


class DABNet(nn.Module):
    """32 channels at 1/2, 64 at 1/4 (3 DAB modules, dilation 2), 128 at 1/8 (6 modules,
    dilations 4, 4, 8, 8, 16, 16). The concatenations of a stage's output (a residual sum), its
    input and the pooled image are kept as pieces: BN-ReLU per piece, and the next conv reads
    them as a `SumConv`."""

    def __init__(self, num_classes: int = 19):
        super().__init__()
        self.stem = nn.Sequential(ConvBNReLU(3, 32, 3, 2), ConvBNReLU(32, 32, 3), ConvBNReLU(32, 32, 3))
        self.act1 = BNReLU(35)
        self.down1 = Downsampler(35, 64)
        self.stage1 = nn.Sequential(*(DABModule(64, 2) for _ in range(3)))
        self.act2 = PieceBNReLU([64, 64, 3])
        self.down2 = Downsampler([64, 64, 3], 128)
        self.stage2 = nn.Sequential(*(DABModule(128, d) for d in (4, 4, 8, 8, 16, 16)))
        self.act3 = PieceBNReLU([128, 128, 3])
        self.cls = SumConv([128, 128, 3], num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.down1(self.act1(torch.cat([self.stem(x), pool_image(x, 1)], 1)))
        d2 = self.down2(self.act2([self.stage1(d1), d1, pool_image(x, 2)]))
        return self.cls(self.act3([self.stage2(d2), d2, pool_image(x, 3)]))
