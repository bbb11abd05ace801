"""Seven small models of the kinds users bring, in plain torch (torchvision does not import here):
the blocks of torchvision's LR-ASPP / DeepLabV3 MobileNetV3, FCN-ResNet, MobileNetV3-small,
ShuffleNetV2 and a U-Net (PReLU or LeakyReLU), with random weights and BatchNorm statistics,
exported with ``torch.onnx.export`` (opset 17) as a user would: logits out, no argmax."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def _cbn(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, dil: int = 1, act=nn.ReLU):
    pad = (k - 1) // 2 * dil
    layers = [nn.Conv2d(cin, cout, k, s, pad, dilation=dil, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, act()) if act is not None else nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """torchvision's SqueezeExcitation: global mean → 1×1 → ReLU → 1×1 → hard-sigmoid → scale."""

    def __init__(self, c: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, max(8, c // 4), 1), nn.Conv2d(max(8, c // 4), c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))


class InvertedResidual(nn.Module):
    """MobileNetV3 bneck: expand 1×1, depthwise k×k (stride or dilation), SE, project 1×1."""

    def __init__(self, cin, exp, cout, k=3, s=1, se=False, hs=False, dil=1):
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        self.use_res = s == 1 and cin == cout
        layers = [_cbn(cin, exp, 1, act=act)] if exp != cin else []
        layers.append(_cbn(exp, exp, k, 1 if dil > 1 else s, groups=exp, dil=dil, act=act))
        if se:
            layers.append(SqueezeExcite(exp))
        layers.append(_cbn(exp, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class MobileNetV3Trunk(nn.Module):
    """A short MobileNetV3-large-style trunk: low-level features at 1/8, high-level at 1/16
    (or 1/8 with the last stage dilated, as torchvision's segmentation backbones are)."""

    def __init__(self, dilated: bool = False):
        super().__init__()
        self.stem = _cbn(3, 16, 3, 2, act=nn.Hardswish)
        self.low = nn.Sequential(
            InvertedResidual(16, 16, 16, 3, 1),
            InvertedResidual(16, 48, 24, 3, 2),
            InvertedResidual(24, 72, 24, 5, 2, se=True),
        )
        s, d = (1, 2) if dilated else (2, 1)
        self.high = nn.Sequential(
            InvertedResidual(24, 96, 40, 3, s, se=True, hs=True, dil=d),
            InvertedResidual(40, 120, 40, 5, 1, se=True, hs=True, dil=d),
            _cbn(40, 96, 1, act=nn.Hardswish),
        )

    def forward(self, x):
        low = self.low(self.stem(x))
        return low, self.high(low)


class LRASPP(nn.Module):
    """torchvision's lraspp_mobilenet_v3_large: LR-ASPP head, logits at 1/8, upsampled to the input."""

    def __init__(self, classes: int = 19):
        super().__init__()
        self.trunk = MobileNetV3Trunk()
        self.cbr = _cbn(96, 32, 1)
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(96, 32, 1, bias=False), nn.Sigmoid())
        self.low_cls, self.high_cls = nn.Conv2d(24, classes, 1), nn.Conv2d(32, classes, 1)

    def forward(self, x):
        low, high = self.trunk(x)
        y = self.cbr(high) * self.scale(high)
        y = F.interpolate(y, size=low.shape[-2:], mode="bilinear", align_corners=False)
        y = self.low_cls(low) + self.high_cls(y)
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """DeepLabV3's ASPP: 1×1, three dilated 3×3 and an image-pooling branch, concatenated."""

    def __init__(self, cin: int, c: int = 32, rates=(2, 4, 6)):
        super().__init__()
        self.branches = nn.ModuleList([_cbn(cin, c, 1)] + [_cbn(cin, c, 3, dil=r) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), _cbn(cin, c, 1))
        self.project = _cbn(c * (len(rates) + 2), c, 1)

    def forward(self, x):
        ys = [b(x) for b in self.branches]
        ys.append(F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False))
        return self.project(torch.cat(ys, 1))


class DeepLabV3(nn.Module):
    """deeplabv3_mobilenet_v3_large: ASPP + 3×3 + classifier on a dilated MobileNetV3 trunk."""

    def __init__(self, classes: int = 19):
        super().__init__()
        self.trunk = MobileNetV3Trunk(dilated=True)
        self.aspp = ASPP(96)
        self.head = nn.Sequential(_cbn(32, 32, 3), nn.Conv2d(32, classes, 1))

    def forward(self, x):
        y = self.head(self.aspp(self.trunk(x)[1]))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, mid: int, cout: int, s: int = 1, dil: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            _cbn(cin, mid, 1), _cbn(mid, mid, 3, s, dil=dil), _cbn(mid, cout, 1, act=None)
        )
        self.down = _cbn(cin, cout, 1, s, act=None) if (s != 1 or cin != cout) else nn.Identity()

    def forward(self, x):
        return F.relu(self.body(x) + self.down(x))


class FCNResNet(nn.Module):
    """fcn_resnet50's shape: 7×7/2 stem, padded MaxPool 3×3/2, bottlenecks (dilated at 1/8), FCN head."""

    def __init__(self, classes: int = 19):
        super().__init__()
        self.stem = nn.Sequential(_cbn(3, 16, 7, 2), nn.MaxPool2d(3, 2, padding=1))
        self.layers = nn.Sequential(
            Bottleneck(16, 8, 32), Bottleneck(32, 16, 64, 2), Bottleneck(64, 16, 64, 1, dil=2)
        )
        self.head = nn.Sequential(_cbn(64, 16, 3), nn.Dropout(0.1), nn.Conv2d(16, classes, 1))

    def forward(self, x):
        y = self.head(self.layers(self.stem(x)))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class MobileNetV3Small(nn.Module):
    """mobilenet_v3_small's shape: bnecks with SE and hard-swish, global pool, linear head."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            _cbn(3, 16, 3, 2, act=nn.Hardswish),
            InvertedResidual(16, 16, 16, 3, 2, se=True),
            InvertedResidual(16, 72, 24, 3, 2),
            InvertedResidual(24, 96, 40, 5, 2, se=True, hs=True),
            _cbn(40, 96, 1, act=nn.Hardswish),
        )
        self.classifier = nn.Sequential(
            nn.Linear(96, 64), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(64, classes)
        )

    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def channel_shuffle(x, groups: int = 2):
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit: split channels (stride 1) or two branches (stride 2), concat, shuffle."""

    def __init__(self, cin: int, cout: int, s: int):
        super().__init__()
        self.s, b = s, cout // 2
        if s == 2:
            self.left = nn.Sequential(_cbn(cin, cin, 3, 2, groups=cin, act=None), _cbn(cin, b, 1))
        self.right = nn.Sequential(
            _cbn(cin if s == 2 else b, b, 1), _cbn(b, b, 3, s, groups=b, act=None), _cbn(b, b, 1)
        )

    def forward(self, x):
        if self.s == 1:
            a, b = x.chunk(2, dim=1)
            out = torch.cat((a, self.right(b)), 1)
        else:
            out = torch.cat((self.left(x), self.right(x)), 1)
        return channel_shuffle(out)


class ShuffleNetV2(nn.Module):
    """shufflenet_v2_x0_5's shape: stem, padded MaxPool, shuffle stages, 1×1, global pool, linear."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(_cbn(3, 16, 3, 2), nn.MaxPool2d(3, 2, padding=1))
        self.stages = nn.Sequential(
            ShuffleUnit(16, 32, 2), ShuffleUnit(32, 32, 1), ShuffleUnit(32, 64, 2), ShuffleUnit(64, 64, 1)
        )
        self.conv = _cbn(64, 128, 1)
        self.fc = nn.Linear(128, classes)

    def forward(self, x):
        return self.fc(self.conv(self.stages(self.stem(x))).mean((2, 3)))


class UNet(nn.Module):
    """A small U-Net: conv-BN-act pairs, padded MaxPool down, ConvTranspose2d up, concat skips."""

    def __init__(self, classes: int = 5, act: str = "prelu", c: int = 8):
        super().__init__()

        def a(n):
            return nn.PReLU(n) if act == "prelu" else nn.LeakyReLU(0.1)

        def double(cin, cout):
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), a(cout),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), a(cout),
            )  # fmt: skip

        self.enc = nn.ModuleList([double(3, c), double(c, 2 * c), double(2 * c, 4 * c)])
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.mid = double(4 * c, 8 * c)
        self.up = nn.ModuleList([nn.ConvTranspose2d(8 * c >> i, 4 * c >> i, 2, 2) for i in range(3)])
        self.dec = nn.ModuleList([double(8 * c >> i, 4 * c >> i) for i in range(3)])
        self.out = nn.Conv2d(c, classes, 1)

    def forward(self, x):
        skips = []
        for e in self.enc:
            x = e(x)
            skips.append(x)
            x = self.pool(x)
        x = self.mid(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips), strict=True):
            x = dec(torch.cat((up(x), skip), 1))
        return self.out(x)


# name → (constructor, input (H, W), task)
MODELS = {
    "lraspp_mbv3": (lambda: LRASPP(19), (64, 128), "seg"),
    "deeplabv3_mbv3": (lambda: DeepLabV3(19), (64, 128), "seg"),
    "fcn_resnet": (lambda: FCNResNet(19), (64, 128), "seg"),
    "mbv3_small_cls": (lambda: MobileNetV3Small(10), (96, 96), "cls"),
    "shufflenet_v2": (lambda: ShuffleNetV2(10), (64, 64), "cls"),
    "unet_prelu": (lambda: UNet(5, "prelu"), (64, 64), "generic"),
    "unet_leaky": (lambda: UNet(5, "leaky"), (64, 64), "generic"),
}


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics that are not the identity (as a trained net's)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
            elif isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.4)
    return model.eval()


def build(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return randomize(MODELS[name][0](), seed)


def export(
    model: nn.Module, size: tuple[int, int], path: Path, batch: int = 1, dynamic: bool = False
) -> Path:
    """``torch.onnx.export`` as a user would (opset 17, TorchScript exporter), logits out."""
    x = torch.randn(batch, 3, *size)
    axes = {"input": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            x,
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes=axes,
        )
    return Path(path)


def export_named(name: str, folder: Path, seed: int = 0) -> Path:
    """The ONNX file of model ``name`` (cached in ``folder``)."""
    path = Path(folder) / f"{name}.onnx"
    if not path.is_file():
        export(build(name, seed), MODELS[name][1], path)
    return path
