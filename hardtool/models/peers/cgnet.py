"""CGNet (Wu et al., 2020), CGNet_M3N21: a 3-conv stem at 1/2 and context-guided (CG) blocks at
1/4 (3) and 1/8 (21): a 1×1 (or 3×3 stride-2) conv, a local depthwise 3×3 and a surrounding
dilated depthwise 3×3 concatenated, then a global context gate (channel attention: mean →
two fully connected layers → sigmoid → scale). The image, average-pooled, is concatenated in as
in ESPNet. Logits at 1/8, bilinearly upsampled by the export tail. As published: per-channel
PReLU after every BN, and the gate's FC layers as ``nn.Linear`` on the pooled vector
(FULLY_CONNECTED in int8 TFLite). Concatenations that only feed a conv are read by it piece by
piece (`SumConv`, the same function)."""

from __future__ import annotations

import torch
from torch import nn

from hardtool.models.peers.layers import ConvBNPReLU, PieceBNReLU, SumConv, global_pool, pool_image


class GlobalGate(nn.Module):
    """F_glo: x · sigmoid(W2 relu(W1 mean(x))), W1 and W2 fully connected."""

    def __init__(self, c: int, reduction: int):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(c, c // reduction), nn.ReLU(inplace=True), nn.Linear(c // reduction, c)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        return x * torch.sigmoid(self.fc(global_pool(x).view(b, c))).view(b, c, 1, 1)


class CGBlock(nn.Module):
    """Regular CG block (residual, 1×1 reduction to half) or, with ``down``, the stride-2 one
    (3×3 stride-2 conv to ``cout`` reading the input pieces, joint feature reduced back to ``cout``
    by a 1×1 conv). The BN-PReLU of the joint feature is applied to its two halves, each right
    after its depthwise conv (the same per-channel function)."""

    def __init__(self, cin: int | list[int], cout: int, dilation: int, reduction: int, down: bool = False):
        super().__init__()
        n = cout if down else cout // 2
        sizes = [cin] if isinstance(cin, int) else cin
        self.conv = SumConv(sizes, n, 3, 2, bn=True, prelu=True) if down else ConvBNPReLU(sizes[0], n, 1)
        self.loc = ConvBNPReLU(n, n, 3, groups=n)
        self.sur = ConvBNPReLU(n, n, 3, dilation=dilation, groups=n)
        self.reduce = SumConv([n, n], cout, bias=False) if down else None
        self.glo = GlobalGate(cout, reduction)

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        y = self.conv(x)
        if self.reduce is not None:
            return self.glo(self.reduce([self.loc(y), self.sur(y)]))
        return x + self.glo(torch.cat([self.loc(y), self.sur(y)], 1))


class CGNet(nn.Module):
    """M = 3 blocks at 1/4 (64 channels, dilation 2), N = 21 at 1/8 (128 channels, dilation 4).
    The concatenations of stage outputs, stage inputs and the pooled image are kept as pieces:
    BN-PReLU per piece, and the next conv reads them as a `SumConv`."""

    def __init__(self, num_classes: int = 19, m: int = 3, n: int = 21):
        super().__init__()
        self.stem = nn.Sequential(ConvBNPReLU(3, 32, 3, 2), ConvBNPReLU(32, 32, 3), ConvBNPReLU(32, 32, 3))
        self.act1 = PieceBNReLU([32, 3], prelu=True)
        self.down2 = CGBlock([32, 3], 64, 2, 8, down=True)
        self.stage2 = nn.Sequential(*(CGBlock(64, 64, 2, 8) for _ in range(m - 1)))
        self.act2 = PieceBNReLU([64, 64, 3], prelu=True)
        self.down3 = CGBlock([64, 64, 3], 128, 4, 16, down=True)
        self.stage3 = nn.Sequential(*(CGBlock(128, 128, 4, 16) for _ in range(n - 1)))
        self.act3 = PieceBNReLU([128, 128], prelu=True)
        self.cls = SumConv([128, 128], num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d2 = self.down2(self.act1([self.stem(x), pool_image(x, 1)]))
        d3 = self.down3(self.act2([self.stage2(d2), d2, pool_image(x, 2)]))
        return self.cls(self.act3([d3, self.stage3(d3)]))
