"""Fast-SCNN (Poudel et al., 2019): learning-to-downsample (conv + two depthwise-separable convs
to 1/8), a global feature extractor (MobileNetV2 bottlenecks to 1/32 and a pyramid pooling
module), feature fusion (the low-resolution branch upsampled ×4 through a dilated depthwise
conv, added to the 1/8 features) and a classifier of two depthwise-separable convs. Logits at
1/8, bilinearly upsampled by the export tail.

As published, the pyramid pooling averages to 1, 2, 3 and 6 bins with adaptive average pools;
where the bins do not divide the 1/32 map (3 and 6 bins at most sizes), hardtool's ONNX export
lowers them exactly (`hardtool.quantize.export_modules`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hardtool.models.blocks import ConvBNReLU
from hardtool.models.peers.layers import resize_like


def dsconv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Depthwise 3×3 (BN, ReLU) then pointwise 1×1 (BN, ReLU)."""
    return nn.Sequential(ConvBNReLU(cin, cin, 3, stride, groups=cin), ConvBNReLU(cin, cout, 1))


class LinearBottleneck(nn.Module):
    """MobileNetV2 inverted residual: 1×1 expansion ×t, depthwise 3×3, linear 1×1 projection."""

    def __init__(self, cin: int, cout: int, stride: int, t: int = 6):
        super().__init__()
        self.body = nn.Sequential(
            ConvBNReLU(cin, cin * t, 1),
            ConvBNReLU(cin * t, cin * t, 3, stride, groups=cin * t),
            ConvBNReLU(cin * t, cout, 1, relu=False),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class PyramidPooling(nn.Module):
    def __init__(self, c: int, cout: int, bins: tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        self.pools = nn.ModuleList(nn.AdaptiveAvgPool2d(b) for b in bins)
        self.convs = nn.ModuleList(ConvBNReLU(c, c // 4, 1) for _ in bins)
        self.out = ConvBNReLU(2 * c, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x] + [
            resize_like(conv(pool(x)), x) for conv, pool in zip(self.convs, self.pools, strict=True)
        ]
        return self.out(torch.cat(feats, 1))


def _stage(cin: int, cout: int, n: int, stride: int) -> list[nn.Module]:
    return [LinearBottleneck(cin, cout, stride)] + [LinearBottleneck(cout, cout, 1) for _ in range(n - 1)]


class FastSCNN(nn.Module):
    def __init__(self, num_classes: int = 19):
        super().__init__()
        self.downsample = nn.Sequential(ConvBNReLU(3, 32, 3, 2), dsconv(32, 48, 2), dsconv(48, 64, 2))
        self.features = nn.Sequential(
            *_stage(64, 64, 3, 2), *_stage(64, 96, 3, 2), *_stage(96, 128, 3, 1), PyramidPooling(128, 128)
        )
        self.low = nn.Sequential(
            ConvBNReLU(128, 128, 3, dilation=4, groups=128), ConvBNReLU(128, 128, 1, relu=False)
        )
        self.high = ConvBNReLU(64, 128, 1, relu=False)
        self.classifier = nn.Sequential(
            dsconv(128, 128), dsconv(128, 128), ConvBNReLU(128, num_classes, 1, relu=False, bn=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hi = self.downsample(x)
        lo = self.low(resize_like(self.features(hi), hi))
        return self.classifier(F.relu(self.high(hi) + lo))
