"""EDANet (Lo et al., 2019): ENet's downsampler and densely connected asymmetric (EDA) modules;
each module appends 40 new channels (1×1 reduction, then two factorised 3×1 + 1×3 pairs, the
second dilated) to its input. Logits at 1/8, bilinearly upsampled by the export tail.

Nothing needs replacing for deployment; dropout is left out (it does nothing at inference)."""

from __future__ import annotations

import torch
from torch import nn

from hardtool.models.blocks import ConvBNReLU
from hardtool.models.peers.layers import Downsampler, factorized


class EDAModule(nn.Module):
    def __init__(self, cin: int, dilation: int, k: int = 40):
        super().__init__()
        self.body = nn.Sequential(
            ConvBNReLU(cin, k, 1),
            factorized(k, inner="none"),
            factorized(k, dilation=dilation, inner="none"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.body(x), x], 1)


def _dense(cin: int, dilations: tuple[int, ...], k: int = 40) -> list[nn.Module]:
    return [EDAModule(cin + i * k, d, k) for i, d in enumerate(dilations)]


class EDANet(nn.Module):
    """60 channels at 1/4 grown to 260 by five modules, 130 at 1/8 grown to 450 by eight."""

    def __init__(self, num_classes: int = 19):
        super().__init__()
        self.net = nn.Sequential(
            Downsampler(3, 15),
            Downsampler(15, 60),
            *_dense(60, (1, 1, 1, 2, 2)),
            Downsampler(260, 130),
            *_dense(130, (2, 2, 4, 4, 8, 8, 16, 16)),
            ConvBNReLU(450, num_classes, 1, relu=False, bn=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
