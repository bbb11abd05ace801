"""LEDNet (Wang et al., 2019): split-shuffle-non-bottleneck (SS-nbt) blocks — the channels split
in two halves, each through a factorised 3×1 / 1×3 branch (the second pair dilated), concatenated,
added to the input, channel-shuffled — in an ERFNet-like encoder to 1/8, and the attention
pyramid network (APN) decoder. Logits at 1/8, bilinearly upsampled by the export tail.

Changes for deployment: int8 TFLite would do the split with STRIDED_SLICE and the shuffle with
RESHAPE + TRANSPOSE, none of which our kernels run. Here the feature map travels as four channel
quarters: a branch's first conv reads two quarters (`SumConv`), its last conv emits two
(`SplitConv`), the residual add is done per quarter, and the shuffle is a fixed re-routing of the
quarters so that each half of the next block gets one quarter from each branch — the mixing the
shuffle is for, as another fixed channel permutation. Same parameters and MACs; the
downsamplers emit quarters too. The APN's global branch (a 1×1 map) is added by broadcasting
instead of being resized. Dropout is left out (it does nothing at inference)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hardtool.models.blocks import ConvBNReLU
from hardtool.models.peers.layers import ChannelBN, SplitConv, SumConv, global_pool, resize_like


def _cat(xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0] if len(xs) == 1 else torch.cat(xs, 1)


class QuarterDown(nn.Module):
    """ENet's downsampler (3×3 stride-2 conv ‖ 2×2 max-pool, BN, ReLU) emitting four quarters:
    the conv is cut at quarter boundaries and reads the input pieces (`SumConv`, BN folded), each
    input piece is pooled on its own (its BN a `ChannelBN`)."""

    def __init__(self, cin: int, cout: int, in_sizes: list[int]):
        super().__init__()
        q, nconv = cout // 4, cout - cin
        cuts = [min(q, nconv - i) for i in range(0, nconv, q)]
        self.convs = nn.ModuleList(SumConv(in_sizes, c, 3, 2, bn=True, bias=False) for c in cuts)
        self.pool_bn = nn.ModuleList(ChannelBN(c) for c in in_sizes)
        self.groups, start, acc = [], 0, 0
        for i, s in enumerate(cuts + list(in_sizes)):
            acc += s
            if acc == q:
                self.groups.append((start, i + 1))
                start, acc = i + 1, 0
        if len(self.groups) != 4 or acc:
            raise ValueError(f"pieces {cuts + list(in_sizes)} do not fall on quarters of {cout}")

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        pooled = [bn(F.max_pool2d(x, 2)) for bn, x in zip(self.pool_bn, xs, strict=True)]
        pieces = [conv(xs) for conv in self.convs] + pooled
        return [F.relu(_cat(pieces[a:b])) for a, b in self.groups]


class Branch(nn.Module):
    """k×1 → ReLU → 1×k → BN → ReLU → k×1 (dilated) → ReLU → 1×k (dilated) → BN, reading two
    quarters (`SumConv`) and emitting two (`SplitConv`); orientations swapped when not
    ``vertical_first``."""

    def __init__(self, h: int, dilation: int, vertical_first: bool):
        super().__init__()
        kv, kh = ((3, 1), (1, 3)) if vertical_first else ((1, 3), (3, 1))
        dv, dh = ((dilation, 1), (1, dilation)) if vertical_first else ((1, dilation), (dilation, 1))
        q = h // 2
        self.first = SumConv([q, q], h, kv, relu=True)
        self.body = nn.Sequential(ConvBNReLU(h, h, kh), ConvBNReLU(h, h, kv, dilation=dv, bn=False))
        self.last = SplitConv(h, [q, q], kh, dilation=dh, relu=False)

    def forward(self, qs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.last(self.body(self.first(qs)))


class SSnbt(nn.Module):
    def __init__(self, c: int, dilation: int):
        super().__init__()
        self.left = Branch(c // 2, dilation, True)
        self.right = Branch(c // 2, dilation, False)

    def forward(self, qs: list[torch.Tensor]) -> list[torch.Tensor]:
        outs = self.left(qs[:2]) + self.right(qs[2:])
        z = [F.relu(x + y) for x, y in zip(qs, outs, strict=True)]
        return [z[0], z[2], z[1], z[3]]


def _pair(cin: int, k: int, stride: int = 1) -> nn.Sequential:
    """k×1 then 1×k conv to one channel (BN + ReLU after), each strided by ``stride`` on its axis."""
    return nn.Sequential(
        ConvBNReLU(cin, 1, (k, 1), stride=(stride, 1), relu=False, bn=False),
        ConvBNReLU(1, 1, (1, k), stride=(1, stride)),
    )


class APN(nn.Module):
    """Attention pyramid: a 3-level pyramid of factorised convs (7, 5, 3) down to one channel,
    summed back up into an attention map that scales a 1×1 projection, plus a global branch. It
    reads the encoder's quarters directly (`SumConv`), so no concat of them is built."""

    def __init__(self, sizes: list[int], cout: int):
        super().__init__()
        self.glob = SumConv(sizes, cout, bn=True, relu=True)
        self.mid = SumConv(sizes, cout, bn=True, relu=True)
        self.down1 = nn.Sequential(
            SumConv(sizes, 1, (7, 1), stride=(2, 1)), ConvBNReLU(1, 1, (1, 7), stride=(1, 2))
        )
        self.down2 = _pair(1, 5, 2)
        self.down3 = nn.Sequential(_pair(1, 3, 2), _pair(1, 3))
        self.conv2, self.conv1 = _pair(1, 5), _pair(1, 7)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        x1 = self.down1(xs)
        x2 = self.down2(x1)
        y = resize_like(self.down3(x2), x2) + self.conv2(x2)
        y = resize_like(y, x1) + self.conv1(x1)
        return resize_like(y, xs[0]) * self.mid(xs) + self.glob([global_pool(x) for x in xs])


class LEDNet(nn.Module):
    """32 channels at 1/2 (3 SS-nbt), 64 at 1/4 (2), 128 at 1/8 (8, dilations 1, 2, 5, 9, 2, 5, 9, 17)."""

    def __init__(self, num_classes: int = 19):
        super().__init__()
        self.encoder = nn.Sequential(
            QuarterDown(3, 32, [3]),
            *(SSnbt(32, 1) for _ in range(3)),
            QuarterDown(32, 64, [8] * 4),
            *(SSnbt(64, 1) for _ in range(2)),
            QuarterDown(64, 128, [16] * 4),
            *(SSnbt(128, d) for d in (1, 2, 5, 9, 2, 5, 9, 17)),
        )
        self.apn = APN([32] * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apn(self.encoder([x]))
