"""DABNet (Li et al., 2019): a 3-conv stem at 1/2, depth-wise asymmetric bottleneck (DAB)
modules at 1/4 and 1/8, and the image, average-pooled, concatenated in at each resolution (as in
ESPNet). Logits at 1/8, bilinearly upsampled by the export tail. As published: per-channel
PReLU after every BN."""

from __future__ import annotations

import torch
from torch import nn

from hardtool.models.peers.layers import BNPReLU, ConvBNPReLU, Downsampler, PieceBNReLU, SumConv, pool_image


class DABModule(nn.Module):
    """BN-PReLU, 3×3 conv to half the channels, two depthwise branches (3×1 + 1×3, and the same
    dilated) summed, BN-PReLU, 1×1 conv back, + input."""

    def __init__(self, c: int, dilation: int):
        super().__init__()
        h = c // 2

        def dw(k: tuple[int, int], d: tuple[int, int]) -> nn.Module:
            return ConvBNPReLU(h, h, k, dilation=d, groups=h)

        self.pre = BNPReLU(c)
        self.reduce = ConvBNPReLU(c, h, 3)
        self.local = nn.Sequential(dw((3, 1), (1, 1)), dw((1, 3), (1, 1)))
        self.context = nn.Sequential(dw((3, 1), (dilation, 1)), dw((1, 3), (1, dilation)))
        self.post = BNPReLU(h)
        self.expand = nn.Conv2d(h, c, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(self.pre(x))
        return x + self.expand(self.post(self.local(y) + self.context(y)))


class DABNet(nn.Module):
    """32 channels at 1/2, 64 at 1/4 (3 DAB modules, dilation 2), 128 at 1/8 (6 modules,
    dilations 4, 4, 8, 8, 16, 16). The concatenations of a stage's output (a residual sum), its
    input and the pooled image are kept as pieces: BN-PReLU per piece, and the next conv reads
    them as a `SumConv`."""

    def __init__(self, num_classes: int = 19):
        super().__init__()
        self.stem = nn.Sequential(ConvBNPReLU(3, 32, 3, 2), ConvBNPReLU(32, 32, 3), ConvBNPReLU(32, 32, 3))
        self.act1 = BNPReLU(35)
        self.down1 = Downsampler(35, 64, prelu=True)
        self.stage1 = nn.Sequential(*(DABModule(64, 2) for _ in range(3)))
        self.act2 = PieceBNReLU([64, 64, 3], prelu=True)
        self.down2 = Downsampler([64, 64, 3], 128, prelu=True)
        self.stage2 = nn.Sequential(*(DABModule(128, d) for d in (4, 4, 8, 8, 16, 16)))
        self.act3 = PieceBNReLU([128, 128, 3], prelu=True)
        self.cls = SumConv([128, 128, 3], num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.down1(self.act1(torch.cat([self.stem(x), pool_image(x, 1)], 1)))
        d2 = self.down2(self.act2([self.stage1(d1), d1, pool_image(x, 2)]))
        return self.cls(self.act3([self.stage2(d2), d2, pool_image(x, 3)]))
