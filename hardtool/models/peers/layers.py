"""Blocks shared by the peer models, written once, with the layers the papers publish: PReLU
(`ConvBNPReLU`, `BNPReLU`), stride-2 transposed convs (`Deconv`), grouped convs, linear layers.

Some forms are chosen because onnx2tf converts the obvious ones wrongly or with transposes, and
each computes the same function as the published layer: `ChannelBN` (a BatchNorm no conv
precedes, as a 1×1 depthwise conv), `SumConv` (a conv over a concat as a sum of convs over its
pieces), `global_pool`, `PReLU` (its slope exported as [1, C, 1, 1]), `ConvTranspose` (padding
as a crop); every conversion is checked against onnxruntime."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hardtool.models.blocks import ConvBNReLU, conv2d, upsample_to


def up2(x: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """×2 resize (bilinear with half-pixel centres → RESIZE_BILINEAR; nearest → RESIZE_NEAREST_NEIGHBOR)."""
    size = (2 * x.shape[-2], 2 * x.shape[-1])
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """Mean over H and W, keeping a 1×1 map. Written as global average pooling: onnx2tf turns it
    into one MEAN, while a ReduceMean (``x.mean((2, 3))``) on the output of an ADD makes it
    compute in NCHW with transposes around."""
    return F.adaptive_avg_pool2d(x, 1)


def pool_image(x: torch.Tensor, times: int) -> torch.Tensor:
    """ESPNet's input reinforcement (also CGNet's and DABNet's input injection): the image
    average-pooled ``times`` times with 3×3 windows at stride 2 (zero padding counted, as in the
    papers: PAD + AVERAGE_POOL_2D in TFLite)."""
    for _ in range(times):
        x = F.avg_pool2d(x, 3, 2, 1)
    return x


class ChannelBN(nn.BatchNorm2d):
    """BatchNorm on a tensor no conv feeds directly (after an add, a concat or a pool). It trains
    and counts as BatchNorm; exported to ONNX it is the same per-channel scale and shift written
    as a 1×1 depthwise conv. onnx2tf converts a BatchNormalization, or a Mul by a [1, C, 1, 1]
    constant, along the wrong axis when the channel count equals the width (the shapes still
    fit); a depthwise conv's weights leave it no choice."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or not torch.onnx.is_in_onnx_export():
            return super().forward(x)
        scale = self.weight / torch.sqrt(self.running_var + self.eps)
        shift = self.bias - self.running_mean * scale
        return F.conv2d(x, scale.view(-1, 1, 1, 1), shift, groups=self.num_features)


class BNReLU(nn.Sequential):
    """`ChannelBN` + ReLU."""

    def __init__(self, c: int):
        super().__init__(ChannelBN(c), nn.ReLU(inplace=True))


class _PReLUOp(torch.autograd.Function):
    """F.prelu, exported as an ONNX PRelu whose slope is [1, C, 1, 1] (torch writes [C, 1, 1])."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.prelu(x, w)

    @staticmethod
    def symbolic(g, x, w):
        slope = g.op("Unsqueeze", w, g.op("Constant", value_t=torch.tensor([0, 2, 3])))
        return g.op("PRelu", x, slope)


class PReLU(nn.PReLU):
    """Per-channel PReLU (TFLite's PRELU). Exported with a [1, C, 1, 1] slope: onnx2tf applies
    torch's [C, 1, 1] slope along the height when a channel count equals the height (e.g. 32
    channels at 32×64), and then the shapes still fit."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export() and self.num_parameters > 1:
            return _PReLUOp.apply(x, self.weight)
        return super().forward(x)


class BNPReLU(nn.Sequential):
    """`ChannelBN` + per-channel PReLU (ESPNet's, CGNet's and DABNet's ``BR``)."""

    def __init__(self, c: int):
        super().__init__(ChannelBN(c), PReLU(c))


class ConvBNPReLU(nn.Sequential):
    """`conv2d` + BatchNorm + per-channel PReLU (the papers' ``CBR``); BN folds into the conv at
    export, the PReLU is TFLite's PRELU."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
    ):
        super().__init__(conv2d(cin, cout, k, stride, dilation, groups), nn.BatchNorm2d(cout), PReLU(cout))


def cbr(cin: int, cout: int, k: int | tuple[int, int] = 3, prelu: bool = False, **kw) -> nn.Sequential:
    """Conv + BN + activation: PReLU when ``prelu``, else `ConvBNReLU` (``relu=``, ``bn=`` as there)."""
    if prelu:
        return ConvBNPReLU(cin, cout, k, **kw)
    return ConvBNReLU(cin, cout, k, **kw)


class ConvTranspose(nn.ConvTranspose2d):
    """nn.ConvTranspose2d. With padding (k = 3: padding 1, output padding 1) it is exported as the
    unpadded transposed conv and a crop of its first row and column, the same values: onnx2tf
    sizes a padded ConvTranspose wrongly when its output's channel count equals the output width
    (ERFNet's 128 -> 64 at 32×64)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.onnx.is_in_onnx_export():
            return super().forward(x)
        return self.exported(x, self.weight, self.bias)

    def exported(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """The export form, with the given weight and bias (a BN folded in by `Deconv`)."""
        p = self.padding[0]
        y = F.conv_transpose2d(x, weight, bias, self.stride)
        if p == 0:
            return y
        h, w = y.shape[-2] - 2 * p + self.output_padding[0], y.shape[-1] - 2 * p + self.output_padding[1]
        return y[:, :, p : p + h, p : p + w]


class Deconv(nn.Sequential):
    """A stride-2 k×k transposed conv that doubles the size (k = 3: padding 1, output padding 1,
    as ENet and ERFNet publish it; k = 2: no padding), then optionally BN and ReLU / PReLU."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True, bn: bool = True, act: str = "relu"):
        layers: list[nn.Module] = [ConvTranspose(cin, cout, k, 2, (k - 1) // 2, k % 2, bias=bias and not bn)]
        if bn:
            layers.append(nn.BatchNorm2d(cout))
        if act == "relu":
            layers.append(nn.ReLU(inplace=True))
        elif act == "prelu":
            layers.append(PReLU(cout))
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """At export the BN is folded into the transposed conv (torch's exporter folds it only
        into convs, and onnx2tf lays out a BatchNormalization after this one wrongly)."""
        deconv, rest = self[0], list(self)[1:]
        if not (torch.onnx.is_in_onnx_export() and rest and isinstance(rest[0], nn.BatchNorm2d)):
            return super().forward(x)
        bn = rest.pop(0)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        y = deconv.exported(x, deconv.weight * scale.view(1, -1, 1, 1), bn.bias - bn.running_mean * scale)
        for m in rest:
            y = m(y)
        return y


class SumConv(nn.Module):
    """A conv over the channel concatenation of several tensors, written as the sum of one conv
    per tensor: the same weights and MACs, and no CONCATENATION. onnx2tf can lay a concat of an
    ADD's output out wrongly (when a channel count equals the width), and a concat that only feeds
    a conv need not be built. ``bn``: BatchNorm after the sum, folded into the convs at export."""

    def __init__(
        self,
        sizes: list[int],
        cout: int,
        k: int | tuple[int, int] = 1,
        stride: int | tuple[int, int] = 1,
        dilation: int | tuple[int, int] = 1,
        relu: bool = False,
        bn: bool = False,
        bias: bool = True,
        prelu: bool = False,
    ):
        super().__init__()
        self.convs = nn.ModuleList(
            conv2d(s, cout, k, stride, dilation, bias=i == 0 and bias and not bn) for i, s in enumerate(sizes)
        )
        self.bn = nn.BatchNorm2d(cout) if bn else None
        self.relu = relu
        self.prelu = PReLU(cout) if prelu else None

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if self.bn is not None and not self.training and torch.onnx.is_in_onnx_export():
            y = self._folded(xs)
        else:
            y = self.convs[0](xs[0])
            for conv, x in zip(self.convs[1:], xs[1:], strict=True):
                y = y + conv(x)
            if self.bn is not None:
                y = self.bn(y)
        if self.prelu is not None:
            return self.prelu(y)
        return F.relu(y) if self.relu else y

    def _folded(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """The BN's scale folded into every conv and its shift into the first one's bias."""
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        y = None
        for i, (c, x) in enumerate(zip(self.convs, xs, strict=True)):
            w = c.weight * scale.view(-1, 1, 1, 1)
            z = F.conv2d(x, w, shift if i == 0 else None, c.stride, c.padding, c.dilation)
            y = z if y is None else y + z
        return y


class Downsampler(nn.Module):
    """ENet's initial block, which ERFNet, EDANet, LEDNet, DABNet and FSSNet reuse: a 3×3
    stride-2 conv to ``cout - cin`` channels beside a 2×2 max-pool of the input, concatenated,
    BN, ReLU. When ``cout <= cin`` only the conv (to ``cout``) with BN and ReLU. The input may
    come as pieces (``cin`` a list of their channels): the conv reads them as a `SumConv`, each is
    pooled on its own. The BN is applied per piece before the concat (the same per-channel
    function): folded into the conv, a `ChannelBN` on each pooled piece. ``prelu``: a per-channel
    PReLU instead of the ReLU (ENet, DABNet)."""

    def __init__(self, cin: int | list[int], cout: int, prelu: bool = False):
        super().__init__()
        sizes = [cin] if isinstance(cin, int) else list(cin)
        self.pool = cout > sum(sizes)
        n = cout - sum(sizes) if self.pool else cout
        conv_act = not self.pool
        self.conv = SumConv(sizes, n, 3, 2, bn=True, relu=conv_act, bias=False, prelu=conv_act and prelu)
        self.pool_bn = nn.ModuleList(ChannelBN(c) for c in sizes) if self.pool else None
        self.act = PReLU(cout) if prelu and self.pool else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        xs = [x] if isinstance(x, torch.Tensor) else x
        y = self.conv(xs)
        if self.pool_bn is None:
            return y
        pooled = [bn(F.max_pool2d(p, 2)) for bn, p in zip(self.pool_bn, xs, strict=True)]
        return self.act(torch.cat([y, *pooled], 1))


class PieceBNReLU(nn.ModuleList):
    """BN + ReLU (or per-channel PReLU) of a concatenation, applied to each piece (the same
    per-channel function)."""

    def __init__(self, sizes: list[int], prelu: bool = False):
        super().__init__((BNPReLU if prelu else BNReLU)(c) for c in sizes)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [act(x) for act, x in zip(self, xs, strict=True)]


def factorized(
    c: int,
    k: int = 3,
    dilation: int = 1,
    inner: str = "relu",
    out_relu: bool = True,
    vertical_first: bool = True,
    prelu: bool = False,
) -> nn.Sequential:
    """A k×k conv factorised into k×1 then 1×k (both dilated by ``dilation``), BN after the second.
    ``inner`` is what sits between the two: 'relu' (ERFNet, LEDNet: bias + ReLU), 'bn' (ENet,
    FSSNet: BN + ReLU) or 'none' (EDANet: bias only); ``prelu`` (ENet's encoder, with 'bn'):
    PReLU for both activations."""
    shapes = [(k, 1), (1, k)] if vertical_first else [(1, k), (k, 1)]
    dil = [(dilation, 1), (1, dilation)] if vertical_first else [(1, dilation), (dilation, 1)]
    if prelu:
        first = ConvBNPReLU(c, c, shapes[0], dilation=dil[0])
        second = (
            ConvBNPReLU(c, c, shapes[1], dilation=dil[1])
            if out_relu
            else ConvBNReLU(c, c, shapes[1], dilation=dil[1], relu=False)
        )
        return nn.Sequential(first, second)
    first = ConvBNReLU(c, c, shapes[0], dilation=dil[0], relu=inner != "none", bn=inner == "bn")
    return nn.Sequential(first, ConvBNReLU(c, c, shapes[1], dilation=dil[1], relu=out_relu))


def resize_like(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bilinear resize to ``ref``'s size, skipped when the sizes already agree."""
    return x if x.shape[-2:] == ref.shape[-2:] else upsample_to(x, ref)
