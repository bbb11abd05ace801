"""ERFNet (Romera et al., 2017): ENet's downsampler, residual non-bottleneck-1D blocks (two
factorised 3×1 + 1×3 pairs, the second dilated) at 1/4 and 1/8, and a small decoder back to
full resolution: two stride-2 3×3 transposed convs (BN, ReLU) and a stride-2 2×2 transposed conv
to the logits, as published. Dropout is left out (it does nothing at inference)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hardtool.models.peers.layers import Deconv, Downsampler, factorized


class NonBottleneck1D(nn.Module):
    """3×1 → ReLU → 1×3 → BN → ReLU → 3×1 (dilated) → ReLU → 1×3 (dilated) → BN, + input, ReLU."""

    def __init__(self, c: int, dilation: int = 1):
        super().__init__()
        self.body = nn.Sequential(factorized(c), factorized(c, dilation=dilation, out_relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class ERFNet(nn.Module):
    """Encoder to 128 channels at 1/8 with dilations 2, 4, 8, 16 (twice); full-resolution logits."""

    def __init__(self, num_classes: int = 19):
        super().__init__()
        dil = (2, 4, 8, 16, 2, 4, 8, 16)
        self.encoder = nn.Sequential(
            Downsampler(3, 16),
            Downsampler(16, 64),
            *(NonBottleneck1D(64) for _ in range(5)),
            Downsampler(64, 128),
            *(NonBottleneck1D(128, d) for d in dil),
        )
        self.decoder = nn.Sequential(
            Deconv(128, 64, 3),
            NonBottleneck1D(64),
            NonBottleneck1D(64),
            Deconv(64, 16, 3),
            NonBottleneck1D(16),
            NonBottleneck1D(16),
            Deconv(16, num_classes, 2, bn=False, act="none"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
