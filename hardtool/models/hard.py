"""HARD: three-branch real-time segmentation network (Kwon, Kim, Kim, ACCV 2024), reconstructed
from the paper's description: a shared stem down to 1/8, three branches at 1/8 (detail),
1/16 and 1/32 (context), the Dual Atrous Pooling module (DAP) fusing them at 1/8, the
Serialized Atrous module (SA) as a light decoder, and a classifier at 1/8 resolution."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hardtool.models.blocks import DAP, SA, ConvBNReLU, Stage


class BasicBlock(nn.Module):
    """Residual block of two full 3×3 convs: used at 1/4 where full convs are cheap in params."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(ConvBNReLU(cin, cout, 3, stride), ConvBNReLU(cout, cout, 3, relu=False))
        self.short = None if (stride == 1 and cin == cout) else ConvBNReLU(cin, cout, 1, stride, relu=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x if self.short is None else self.short(x)
        return self.act(self.body(x) + s)


@dataclass(frozen=True)
class HardConfig:
    """Widths and depths of one variant."""

    stem: tuple[int, int]  # channels at 1/2 and 1/4
    n_quarter: int  # BasicBlocks at 1/4
    c_hi: int  # detail branch (1/8)
    c_mid: int  # context branch (1/16)
    c_lo: int  # context branch (1/32)
    n_hi: int
    n_mid: int
    n_lo: int
    c_dec: int  # DAP output / SA width
    dap_rates: tuple[int, int]
    sa_rates: tuple[int, ...]
    input_size: tuple[int, int]  # default (H, W)


class HARD(nn.Module):
    """Training forward returns logits at 1/8; `ExportHARD` adds the deployed tail."""

    def __init__(self, cfg: HardConfig, num_classes: int = 19):
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        c2, c4 = cfg.stem
        quarter = [BasicBlock(c4, c4) for _ in range(cfg.n_quarter)]
        self.stem = nn.Sequential(ConvBNReLU(3, c2, 3, 2), ConvBNReLU(c2, c4, 3, 2), *quarter)
        self.hi = Stage(c4, cfg.c_hi, cfg.n_hi, stride=2)
        self.mid = Stage(cfg.c_hi, cfg.c_mid, cfg.n_mid, stride=2)
        self.lo = Stage(cfg.c_mid, cfg.c_lo, cfg.n_lo, stride=2)
        self.dap = DAP(cfg.c_hi, cfg.c_mid, cfg.c_lo, cfg.c_dec, cfg.dap_rates)
        self.sa = SA(cfg.c_dec, cfg.sa_rates)
        self.cls = nn.Conv2d(cfg.c_dec, num_classes, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hi = self.hi(self.stem(x))
        mid = self.mid(hi)
        lo = self.lo(mid)
        return self.cls(self.sa(self.dap(hi, mid, lo)))


class ExportHARD(nn.Module):
    """The deployed graph: logits at 1/8 → bilinear upsample to input size → argmax label map."""

    def __init__(self, net: HARD):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(x)
        up = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return torch.argmax(up, dim=1)
