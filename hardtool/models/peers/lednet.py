"""LEDNet (Wang et al., 2019): split-shuffle-non-bottleneck (SS-nbt) blocks — the channels split
in two halves, each through a factorised 3×1 / 1×3 branch (the second pair dilated), concatenated,
added to the input, channel-shuffled — in an ERFNet-like encoder to 1/8, and the attention
pyramid network (APN) decoder. Logits at 1/8, bilinearly upsampled by the export tail.

As published: the split is a channel slice (STRIDED_SLICE in int8 TFLite) and the shuffle the
reshape → transpose → reshape of the public code (5-D RESHAPE and TRANSPOSE). The APN's global
branch, a 1×1 map, is added by broadcasting (the same values as resizing it first). Dropout is
left out (it does nothing at inference)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hardtool.models.blocks import ConvBNReLU
from hardtool.models.peers.layers import Downsampler, global_pool, resize_like


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle, as LEDNet's code writes it."""
    b, c, h, w = x.shape
    x = x.view(b, groups, c // groups, h, w)
    return torch.transpose(x, 1, 2).contiguous().view(b, c, h, w)


def _branch(h: int, dilation: int, vertical_first: bool) -> nn.Sequential:
    """k×1 → ReLU → 1×k → BN → ReLU → k×1 (dilated) → ReLU → 1×k (dilated) → BN; orientations
    swapped when not ``vertical_first``."""
    kv, kh = ((3, 1), (1, 3)) if vertical_first else ((1, 3), (3, 1))
    dv, dh = ((dilation, 1), (1, dilation)) if vertical_first else ((1, dilation), (dilation, 1))
    return nn.Sequential(
        ConvBNReLU(h, h, kv, bn=False),
        ConvBNReLU(h, h, kh),
        ConvBNReLU(h, h, kv, dilation=dv, bn=False),
        ConvBNReLU(h, h, kh, dilation=dh, relu=False),
    )


class SSnbt(nn.Module):
    def __init__(self, c: int, dilation: int):
        super().__init__()
        self.left = _branch(c // 2, dilation, True)
        self.right = _branch(c // 2, dilation, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.shape[1] // 2
        y = torch.cat([self.left(x[:, :h]), self.right(x[:, h:])], 1)
        return channel_shuffle(F.relu(x + y), 2)


def _pair(cin: int, k: int, stride: int = 1) -> nn.Sequential:
    """k×1 then 1×k conv to one channel (BN + ReLU after), each strided by ``stride`` on its axis."""
    return nn.Sequential(
        ConvBNReLU(cin, 1, (k, 1), stride=(stride, 1), relu=False, bn=False),
        ConvBNReLU(1, 1, (1, k), stride=(1, stride)),
    )


class APN(nn.Module):
    """Attention pyramid: a 3-level pyramid of factorised convs (7, 5, 3) down to one channel,
    summed back up into an attention map that scales a 1×1 projection, plus a global branch."""

    def __init__(self, c: int, cout: int):
        super().__init__()
        self.glob = ConvBNReLU(c, cout, 1)
        self.mid = ConvBNReLU(c, cout, 1)
        self.down1 = _pair(c, 7, 2)
        self.down2 = _pair(1, 5, 2)
        self.down3 = nn.Sequential(_pair(1, 3, 2), _pair(1, 3))
        self.conv2, self.conv1 = _pair(1, 5), _pair(1, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.down1(x)
        x2 = self.down2(x1)
        y = resize_like(self.down3(x2), x2) + self.conv2(x2)
        y = resize_like(y, x1) + self.conv1(x1)
        return resize_like(y, x) * self.mid(x) + self.glob(global_pool(x))


class LEDNet(nn.Module):
    """32 channels at 1/2 (3 SS-nbt), 64 at 1/4 (2), 128 at 1/8 (8, dilations 1, 2, 5, 9, 2, 5, 9, 17)."""

    def __init__(self, num_classes: int = 19):
        super().__init__()
        self.encoder = nn.Sequential(
            Downsampler(3, 32),
            *(SSnbt(32, 1) for _ in range(3)),
            Downsampler(32, 64),
            *(SSnbt(64, 1) for _ in range(2)),
            Downsampler(64, 128),
            *(SSnbt(128, d) for d in (1, 2, 5, 9, 2, 5, 9, 17)),
        )
        self.apn = APN(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apn(self.encoder(x))
