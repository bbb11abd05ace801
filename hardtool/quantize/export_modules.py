"""Modules torch's ONNX export cannot take, swapped before export for modules that compute the
same function from ops it can (and int8 TFLite and hardtool have kernels for).

``nn.AdaptiveAvgPool2d``, which torch's exporter refuses where the bins do not divide the input.
Bins follow PyTorch's rule: bin i of an axis of n covers [floor(i·n/out), ceil((i+1)·n/out)).
The mean of a rectangle is the mean over its columns of the means over its rows, so the rows are
pooled first, then the columns. Along an axis whose bins are equally wide and equally spaced
that is one average pool; otherwise, for each width the bins have, a stride-1 average pool of
that width gives every window's mean, and one gather picks each bin's window from them, side by
side (AVERAGE_POOL_2D, CONCATENATION, GATHER). Pooled this way, onnx2tf keeps the graph in NHWC
(slicing the input instead makes it compute the pyramid in NCHW, with transposes).

``nn.MaxUnpool2d`` after ``nn.MaxPool2d(2, 2, return_indices=True)`` (int8 TFLite has no
unpooling op): the pool hands on its input instead of the indices, and the unpool puts each
value at the first position of its window where that input equals the window's maximum
(`unpool_2x2`): torch's function, ties included (in int8 too, where TFLite's EQUAL tells
neighbouring values apart: activation scales of at least 1/256)."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hardtool.core.errors import HardtoolError


def adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling bins of an axis of ``size`` into ``out``: [start, end) each."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _uniform(bins: list[tuple[int, int]]) -> tuple[int, int] | None:
    """(window, stride) when the bins are one average pool's windows, else None."""
    widths = {e - s for s, e in bins}
    steps = {b[0] - a[0] for a, b in zip(bins, bins[1:], strict=False)}
    if len(widths) != 1 or len(steps) > 1 or 0 in steps or bins[0][0] != 0:
        return None
    window = widths.pop()
    return window, steps.pop() if steps else window


def _pool_axis(x: torch.Tensor, dim: int, out: int) -> torch.Tensor:
    """Adaptive average pooling of ``x`` along ``dim`` (2: rows, 3: columns) to ``out`` bins."""
    size = int(x.shape[dim])  # a Python int: traced sizes would become graph values
    if out == size:
        return x
    bins = adaptive_bins(size, out)

    def window(k: int, s: int) -> tuple[tuple[int, int], tuple[int, int]]:
        return ((k, 1), (s, 1)) if dim == 2 else ((1, k), (1, s))

    uniform = _uniform(bins)
    if uniform is not None:
        return F.avg_pool2d(x, *window(*uniform))
    # every window of each bin width (stride-1 pools; width 1 too: with x itself in the concat,
    # onnx2tf computes in NCHW), side by side, then each bin's window picked out by one gather
    widths = sorted({e - s for s, e in bins})
    pools = [F.avg_pool2d(x, *window(k, 1)) for k in widths]
    first = dict(zip(widths, np.cumsum([0] + [size - k + 1 for k in widths]).tolist(), strict=False))
    index = torch.tensor([first[e - s] + s for s, e in bins])
    return (pools[0] if len(pools) == 1 else torch.cat(pools, dim)).index_select(dim, index)


class ExactAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` in ops the ONNX export takes for any input size: a global pool
    (MEAN) to 1×1, one average pool where both axes' bins are a pool's windows, else pooled axis
    by axis (see the module docstring)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def _out(self, x: torch.Tensor) -> tuple[int, int]:
        size = self.output_size
        oh, ow = (size, size) if isinstance(size, int) else tuple(size)
        return (oh or int(x.shape[-2]), ow or int(x.shape[-1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        oh, ow = self._out(x)
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if (oh, ow) == (1, 1):
            return F.adaptive_avg_pool2d(x, 1)  # GlobalAveragePool: TFLite's MEAN
        rows, cols = _uniform(adaptive_bins(h, oh)), _uniform(adaptive_bins(w, ow))
        if rows is not None and cols is not None:
            return F.avg_pool2d(x, (rows[0], cols[0]), (rows[1], cols[1]))
        return _pool_axis(_pool_axis(x, 2, oh), 3, ow)


def _unpools(model: nn.Module) -> bool:
    """True when the model max-unpools and every pool handing out indices is one `unpool_2x2`
    lowers (2×2, stride 2): then those pools and unpools are swapped, else none."""
    unpool = [m for m in model.modules() if isinstance(m, nn.MaxUnpool2d)]
    indexed = [m for m in model.modules() if isinstance(m, nn.MaxPool2d) and m.return_indices]
    return bool(unpool) and all(_is_2x2(m) for m in unpool + indexed)


def _swap(module: nn.Module, unpools: bool) -> nn.Module | None:
    """The exportable replacement of one module, or None to keep it."""
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return ExactAdaptiveAvgPool2d(module.output_size)
    if unpools and isinstance(module, nn.MaxPool2d) and module.return_indices:
        return PoolKeepingInput()
    if unpools and isinstance(module, nn.MaxUnpool2d):
        return UnpoolFromInput()
    return None


def exportable(model: nn.Module) -> nn.Module:
    """``model`` with every module the export cannot take replaced by its equivalent (a copy
    when anything is replaced; the caller's model is never changed)."""
    unpools = _unpools(model)
    if not any(_swap(m, unpools) is not None for m in model.modules()):
        return model
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            new = _swap(child, unpools)
            if new is not None:
                setattr(parent, name, new.train(child.training))
    return model


class _DepthToSpace(torch.autograd.Function):
    """Channel blocks [b00, b01, b10, b11] (C channels each) interleaved into a map twice as
    large, b_ab at rows 2i + a, columns 2j + b: one ONNX DepthToSpace in DCR order (TFLite's
    DEPTH_TO_SPACE, which quantize rewrites as RESHAPE, TRANSPOSE, RESHAPE)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        n, c4, h, w = x.shape
        c = c4 // 4
        return x.view(n, 2, 2, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c, 2 * h, 2 * w)

    @staticmethod
    def symbolic(g, x):
        return g.op("DepthToSpace", x, blocksize_i=2, mode_s="DCR")


def unpool_2x2(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``max_unpool2d(y, indices of max_pool2d(x, 2))`` computed from ``x``: each value of ``y``
    goes to the first position of its 2×2 window of ``x`` (row-major, as torch's indices) that
    holds the window's maximum m, zeros elsewhere. With a = the window's top-left value, r = the
    top row's max and c = the left column's max (max-pools of ``x`` with stride 2), the first
    maximum is at the top left if a == m, else top right if r == m, else bottom left if c == m,
    else bottom right; the value still to place moves to each of these in turn when its test
    holds (EQUAL, SELECT_V2), and the four results are interleaved (CONCATENATION,
    DEPTH_TO_SPACE). No spatial slices: onnx2tf may slice the wrong axis where the width equals
    the channel count."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h % 2 or w % 2:
        raise HardtoolError(
            f"max-unpooling is exported for even sizes only, and a max-pool here gets {h}x{w}; "
            "choose an input size divisible by the model's total stride"
        )
    m = F.max_pool2d(x, 2)
    tests = [F.max_pool2d(x, k, 2) == m for k in ((1, 1), (1, 2), (2, 1))]
    zero = torch.zeros((), dtype=y.dtype)
    left, parts = y, []
    for taken in tests:
        parts.append(torch.where(taken, left, zero))
        left = torch.where(taken, zero, left)
    return _DepthToSpace.apply(torch.cat([*parts, left], 1))


class PoolKeepingInput(nn.Module):
    """``nn.MaxPool2d(2, 2, return_indices=True)`` for export: returns (pooled, the input); the
    input stands in for the indices, `UnpoolFromInput` finds the maxima in it again."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.max_pool2d(x, 2), x


class UnpoolFromInput(nn.Module):
    """``nn.MaxUnpool2d(2, 2)`` for export, given the pooled input in place of the indices."""

    def forward(self, y: torch.Tensor, x: torch.Tensor, output_size=None) -> torch.Tensor:
        return unpool_2x2(y, x)


def _is_2x2(m: nn.Module) -> bool:
    """A 2×2 stride-2 unpadded max-pool returning indices, or the max-unpool that matches it."""
    pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
    if isinstance(m, nn.MaxPool2d):
        plain = pair(m.dilation) == (1, 1) and not m.ceil_mode and m.return_indices
    elif isinstance(m, nn.MaxUnpool2d):
        plain = True
    else:
        return False
    return (
        plain
        and pair(m.kernel_size) == (2, 2)
        and pair(m.stride or m.kernel_size) == (2, 2)
        and pair(m.padding) == (0, 0)
    )
