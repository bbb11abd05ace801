"""ESPNetv2 (Mehta et al., 2019), segmentation network at width s = 2: EESP modules (grouped 1×1
reduction, four depthwise 3×3 branches with growing dilation fused hierarchically, grouped 1×1
expansion) on a backbone to 1/16, strided EESP downsamplers beside an average pool with the
image reinforced in, and the paper's segmentation head (projection, EESP + pyramid pooling at
1/8, merges at 1/4 and 1/2). Logits at 1/2, bilinearly upsampled by the export tail. As
published: per-channel PReLU after every BN and after each module's sum, and the EESP modules'
grouped 1×1 convs (4 groups: grouped CONV_2D in int8 TFLite)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hardtool.models.blocks import ConvBNReLU
from hardtool.models.peers.layers import BNPReLU, ConvBNPReLU, PReLU, pool_image, resize_like, up2


def _dilations(k: int, r_lim: int) -> list[int]:
    """Branch i has a (3 + 2i)-wide receptive field, capped at r_lim (then 3), as dilation rates."""
    sizes = sorted(3 + 2 * i if 3 + 2 * i <= r_lim else 3 for i in range(k))
    return [(s - 1) // 2 for s in sizes]


def _dw(n: int, stride: int, d: int) -> nn.Module:
    """Depthwise 3×3 dilated by d. At stride 2 the padding is an explicit zero pad: TensorFlow
    has no strided dilated depthwise conv and onnx2tf emits it at stride 1 plus a strided slice,
    which canonicalisation turns back into one conv when the conv pads nothing itself."""
    if stride == 1:
        return nn.Conv2d(n, n, 3, 1, d, dilation=d, groups=n, bias=False)
    return nn.Sequential(nn.ZeroPad2d(d), nn.Conv2d(n, n, 3, stride, 0, dilation=d, groups=n, bias=False))


class EESP(nn.Module):
    """Residual (when shapes allow) EESP module; at stride 2 the downsampler adds the rest."""

    def __init__(self, cin: int, cout: int, stride: int = 1, r_lim: int = 7, k: int = 4):
        super().__init__()
        n = cout // k
        self.stride = stride
        self.proj = ConvBNPReLU(cin, n, 1, groups=k)
        self.dw = nn.ModuleList(_dw(n, stride, d) for d in _dilations(k, r_lim))
        self.act = BNPReLU(cout)
        self.exp = ConvBNReLU(cout, cout, 1, groups=k, relu=False)
        self.residual = stride == 1 and cin == cout
        self.out_act = PReLU(cout) if stride == 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj(x)
        outs = [self.dw[0](y)]
        for b in self.dw[1:]:
            outs.append(b(y) + outs[-1])
        e = self.exp(self.act(torch.cat(outs, 1)))
        if self.stride == 2:
            return e
        return self.out_act(e + x if self.residual else e)


class Downsampler(nn.Module):
    """Average pool ‖ strided EESP, plus the image pooled to the same size through 3×3 and 1×1 convs."""

    def __init__(self, cin: int, cout: int, r_lim: int, level: int):
        super().__init__()
        self.level = level  # output at 1 / 2**level: the image is pooled that many times
        self.eesp = EESP(cin, cout - cin, 2, r_lim)
        self.reinf = nn.Sequential(ConvBNPReLU(3, 3, 3), ConvBNReLU(3, cout, 1, relu=False))
        self.act = PReLU(cout)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        y = torch.cat([F.avg_pool2d(x, 3, 2, 1), self.eesp(x)], 1)
        return self.act(y + self.reinf(pool_image(image, self.level)))


class PSP(nn.Module):
    """Pyramid of successive 3×3 stride-2 average pools, each through a depthwise 3×3 conv and
    resized back, concatenated with the input, projected by a 1×1 conv."""

    def __init__(self, c: int, cout: int, levels: int = 4):
        super().__init__()
        self.stages = nn.ModuleList(nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False) for _ in range(levels))
        self.project = ConvBNPReLU(c * (levels + 1), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs, f = [x], x
        for stage in self.stages:
            f = F.avg_pool2d(f, 3, 2, 1)
            outs.append(resize_like(stage(f), x))
        return self.project(torch.cat(outs, 1))


class ESPNetV2(nn.Module):
    """Channels 32 (1/2), 128 (1/4), 256 (1/8, 3 EESP), 512 (1/16, 7 EESP) at s = 2."""

    def __init__(self, num_classes: int = 19):
        super().__init__()
        c = num_classes
        self.level1 = ConvBNPReLU(3, 32, 3, 2)
        self.level2 = Downsampler(32, 128, 13, 2)
        self.level3_0 = Downsampler(128, 256, 11, 3)
        self.level3 = nn.Sequential(*(EESP(256, 256, r_lim=9) for _ in range(3)))
        self.level4_0 = Downsampler(256, 512, 9, 4)
        self.level4 = nn.Sequential(*(EESP(512, 512, r_lim=7) for _ in range(7)))
        self.proj4 = ConvBNPReLU(512, 256, 1)
        self.psp = nn.Sequential(EESP(512, 256, r_lim=7), PSP(256, 256))
        self.proj3 = ConvBNPReLU(256, c, 1)
        self.proj2 = ConvBNPReLU(128 + c, c, 1)
        self.proj1 = nn.Conv2d(32 + c, c, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        l1 = self.level1(x)
        l2 = self.level2(l1, x)
        l3 = self.level3(self.level3_0(l2, x))
        l4 = self.level4(self.level4_0(l3, x))
        m3 = self.proj3(self.psp(torch.cat([l3, resize_like(self.proj4(l4), l3)], 1)))
        m2 = self.proj2(torch.cat([l2, up2(m3)], 1))
        return self.proj1(torch.cat([l1, up2(m2)], 1))
