"""Shape parameters of the int8 data-movement and broadcasting kernels, resolved on the host.

The C kernels see 4-D shapes only (NHWC order, lower ranks right-aligned and padded with 1s)
and explicit begin/stride/size or pad amounts; everything TFLite's Prepare functions resolve
(negative indices, begin/end/shrink masks, broadcast rules, reduction axes) is resolved here,
with the same rules, so the kernels stay simple loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

Shape4 = tuple[int, int, int, int]
AXIS_BITS = (1, 2, 4, 8)  # HARD_AXIS_N, _H, _W, _C
_INT_MAX = 2**31 - 1


def to_4d(shape: Sequence[int]) -> Shape4:
    """Right-align a shape of rank <= 4 into NHWC (leading 1s)."""
    dims = [int(d) for d in shape]
    if len(dims) > 4:
        raise ValueError(f"rank {len(dims)} > 4 is not supported by the int8 kernels (shape {dims})")
    if any(d <= 0 for d in dims):
        raise ValueError(f"empty or negative dimension in shape {dims}")
    return tuple([1] * (4 - len(dims)) + dims)  # type: ignore[return-value]


def broadcast_4d(shape1: Sequence[int], shape2: Sequence[int]) -> tuple[Shape4, Shape4, Shape4]:
    """4-D input and output shapes of a broadcasting binary op (numpy / TFLite rules)."""
    a, b = to_4d(shape1), to_4d(shape2)
    out = []
    for x, y in zip(a, b, strict=True):
        if x != y and 1 not in (x, y):
            raise ValueError(f"shapes {list(shape1)} and {list(shape2)} do not broadcast")
        out.append(max(x, y))
    return a, b, tuple(out)  # type: ignore[return-value]


def mean_axes(shape: Sequence[int], axes: Sequence[int]) -> tuple[Shape4, int]:
    """4-D input shape and the HARD_AXIS_* mask of a MEAN over ``axes`` (negative allowed, repeats ignored)."""
    rank = len(shape)
    if len(axes) == 0:
        raise ValueError("MEAN over no axis is a copy, not a reduction")
    mask = 0
    for axis in axes:
        a = int(axis) + rank if int(axis) < 0 else int(axis)
        if not 0 <= a < rank:
            raise ValueError(f"axis {axis} out of range for rank {rank}")
        mask |= AXIS_BITS[a + 4 - rank]
    return to_4d(shape), mask


def pad_4d(shape: Sequence[int], paddings: Sequence[Sequence[int]]) -> tuple[Shape4, Shape4, Shape4]:
    """(input 4-D shape, pads before, pads after) of PAD / PADV2 with a [rank, 2] paddings array."""
    rank = len(shape)
    if len(paddings) != rank or any(len(p) != 2 for p in paddings):
        raise ValueError(f"paddings {paddings!r} do not match rank {rank}")
    before = [0] * (4 - rank) + [int(p[0]) for p in paddings]
    after = [0] * (4 - rank) + [int(p[1]) for p in paddings]
    if min(before + after) < 0:
        raise ValueError(f"negative padding {paddings!r}")
    return to_4d(shape), tuple(before), tuple(after)  # type: ignore[return-value]


@dataclass(frozen=True)
class SliceSpec:
    """A 4-D strided window: out[i] = in[begin + i * stride] along each axis."""

    input_shape: Shape4
    begin: Shape4
    stride: Shape4
    size: Shape4


def _bit(mask: int, axis: int) -> bool:
    return bool(int(mask) >> axis & 1)


def _start_stop(
    dim: int, begin: int, end: int, stride: int, axis: int, masks: dict[str, int]
) -> tuple[int, int]:
    """TFLite's StartForAxis / StopForAxis for a positive stride."""
    start = -_INT_MAX - 1 if _bit(masks.get("begin_mask", 0), axis) else begin
    start = min(max(start + dim if start < 0 else start, 0), dim)
    if _bit(masks.get("shrink_axis_mask", 0), axis):
        return start, start + 1
    stop = _INT_MAX if _bit(masks.get("end_mask", 0), axis) else end
    stop = min(max(stop + dim if stop < 0 else stop, 0), dim)
    return start, stop


def _fit_4d(dims: list[int], begin: list[int], stride: list[int], size: list[int]) -> SliceSpec:
    """Rank <= 4 window: drop size-1 input axes, then merge a unit-stride axis with a following
    full axis (its elements then form one contiguous run) until four axes remain."""
    axes = [a for a in zip(dims, begin, stride, size, strict=True) if a[0] != 1] or [(1, 0, 1, 1)]
    i = 0
    while len(axes) > 4 and i < len(axes) - 1:
        (d0, b0, s0, n0), (d1, b1, s1, n1) = axes[i], axes[i + 1]
        if s0 == 1 and (b1, s1, n1) == (0, 1, d1):
            axes[i : i + 2] = [(d0 * d1, b0 * d1, 1, n0 * d1)]
        else:
            i += 1
    if len(axes) > 4:
        raise ValueError(f"a slice of rank {len(dims)} does not fold into 4 dims")
    pad = [(1, 0, 1, 1)] * (4 - len(axes))
    d4, b4, s4, n4 = (tuple(v) for v in zip(*(pad + axes), strict=True))
    return SliceSpec(d4, b4, s4, n4)  # type: ignore[arg-type]


def strided_slice_4d(
    shape: Sequence[int], begin: Sequence[int], end: Sequence[int], strides: Sequence[int], **masks: int
) -> SliceSpec:
    """STRIDED_SLICE with positive strides: begin/end/shrink masks and negative indices resolved.

    ``masks`` are the op's options (begin_mask, end_mask, shrink_axis_mask); ellipsis and
    new-axis masks and relative ends (``offset``) are refused (the converter resolves the first
    two for static shapes).
    """
    if masks.get("ellipsis_mask") or masks.get("new_axis_mask") or masks.get("offset"):
        raise ValueError("STRIDED_SLICE with an ellipsis or new-axis mask or offset=True is not supported")
    rank = len(shape)
    if not len(begin) == len(end) == len(strides) == rank:
        raise ValueError(f"begin/end/strides must have rank {rank} entries")
    if any(int(s) <= 0 for s in strides):
        raise ValueError(f"only positive strides are supported, got {list(strides)}")
    starts, sizes = [], []
    for axis in range(rank):
        start, stop = _start_stop(
            int(shape[axis]), int(begin[axis]), int(end[axis]), int(strides[axis]), axis, masks
        )
        size = -(-(stop - start) // int(strides[axis]))
        if size <= 0:
            raise ValueError(f"STRIDED_SLICE gives an empty axis {axis}")
        starts.append(start)
        sizes.append(size)
    return _fit_4d([int(d) for d in shape], starts, [int(s) for s in strides], sizes)


def slice_4d(shape: Sequence[int], begin: Sequence[int], size: Sequence[int]) -> SliceSpec:
    """SLICE: begin and size per axis (size -1: to the end), as TFLite's slice kernel."""
    rank = len(shape)
    if not len(begin) == len(size) == rank:
        raise ValueError(f"begin/size must have rank {rank} entries")
    sizes = [int(d) - int(b) if int(n) == -1 else int(n) for d, b, n in zip(shape, begin, size, strict=True)]
    if any(int(b) < 0 or n <= 0 or int(b) + n > int(d) for d, b, n in zip(shape, begin, sizes, strict=True)):
        raise ValueError(f"SLICE begin {list(begin)} size {list(size)} is outside shape {list(shape)}")
    return _fit_4d([int(d) for d in shape], [int(b) for b in begin], [1] * rank, sizes)


def fc_shape(input_shape: Sequence[int], filter_shape: Sequence[int]) -> tuple[int, int, int]:
    """(batches, accum depth, units) of FULLY_CONNECTED: the input flattened to [-1, depth]."""
    units, depth = int(filter_shape[0]), int(filter_shape[-1])
    total = 1
    for d in input_shape:
        total *= int(d)
    if len(filter_shape) != 2 or total % depth != 0:
        raise ValueError(f"input {list(input_shape)} does not flatten onto filter {list(filter_shape)}")
    return total // depth, depth, units
