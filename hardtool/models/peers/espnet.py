"""ESPNet (Mehta et al., 2018): efficient spatial pyramid (ESP) modules — a 1×1 reduction to
n = cout/5 channels, five parallel 3×3 convs dilated 1, 2, 4, 8, 16, hierarchical feature
fusion (each dilated output added to the sum of the smaller ones) and a concat — at 1/4 (p = 2)
and 1/8 (q = 8), the image average-pooled and concatenated in, and the light decoder of the
paper (RUM: project to the classes, upsample, merge with the finer level). As published:
per-channel PReLU after every BN, and the decoder's three stride-2 2×2 transposed convs (no bias),
the last one to full-resolution logits."""

from __future__ import annotations

import torch
from torch import nn

from hardtool.models.blocks import ConvBNReLU
from hardtool.models.peers.layers import BNPReLU, ConvBNPReLU, Deconv, pool_image

RATES = (1, 2, 4, 8, 16)


class ESP(nn.Module):
    """ESP module; ``down`` makes the reduction a 3×3 stride-2 conv (no residual then)."""

    def __init__(self, cin: int, cout: int, down: bool = False, residual: bool = True):
        super().__init__()
        n = cout // 5
        k = 3 if down else 1
        self.reduce = nn.Conv2d(cin, n, k, 2 if down else 1, k // 2, bias=False)
        self.branches = nn.ModuleList(
            nn.Conv2d(n, cout - 4 * n if d == 1 else n, 3, 1, d, dilation=d, bias=False) for d in RATES
        )
        self.residual = residual and not down and cin == cout
        self.act = BNPReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)
        outs = [b(y) for b in self.branches]
        fused = [outs[0], outs[1]]
        for o in outs[2:]:
            fused.append(fused[-1] + o)
        z = torch.cat(fused, 1)
        return self.act(z + x if self.residual else z)


class ESPNet(nn.Module):
    """ESPNet with α2 = p, α3 = q; full-resolution logits."""

    def __init__(self, num_classes: int = 19, p: int = 2, q: int = 8):
        super().__init__()
        c = num_classes
        self.level1 = ConvBNPReLU(3, 16, 3, 2)
        self.act1 = BNPReLU(19)
        self.down2 = ESP(19, 64, down=True)
        self.stage2 = nn.Sequential(*(ESP(64, 64) for _ in range(p)))
        self.act2 = BNPReLU(131)
        self.down3 = ESP(131, 128, down=True)
        self.stage3 = nn.Sequential(*(ESP(128, 128) for _ in range(q)))
        self.act3 = BNPReLU(256)
        self.cls3 = ConvBNReLU(256, c, 1, relu=False)
        self.up3 = Deconv(c, c, 2, bias=False, bn=False, act="none")
        self.proj2 = nn.Conv2d(131, c, 1, bias=False)
        self.merge2 = nn.Sequential(BNPReLU(2 * c), ESP(2 * c, c, residual=False))
        self.up2 = Deconv(c, c, 2, act="prelu")
        self.merge1 = ConvBNPReLU(19 + c, c, 3)
        self.cls = Deconv(c, c, 2, bias=False, bn=False, act="none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y0 = self.act1(torch.cat([self.level1(x), pool_image(x, 1)], 1))
        d2 = self.down2(y0)
        y1 = self.act2(torch.cat([self.stage2(d2), d2, pool_image(x, 2)], 1))
        d3 = self.down3(y1)
        y2 = self.act3(torch.cat([d3, self.stage3(d3)], 1))
        u3 = self.up3(self.cls3(y2))
        u2 = self.up2(self.merge2(torch.cat([self.proj2(y1), u3], 1)))
        return self.cls(self.merge1(torch.cat([u2, y0], 1)))
