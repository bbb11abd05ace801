"""Shape parameters of the data-movement and reduction kernels (hard_data.h), resolved on the
host with TFLite's rules: transposes reduced to their smallest equivalent form, SPLIT / PACK /
UNPACK / GATHER as [outer, axis, inner] views, reductions of any rank onto 4-D."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from hardtool.kernels.layout import AXIS_BITS, Shape4

MAX_TRANSPOSE_DIMS = 6


def _axis(axis: int, rank: int) -> int:
    a = int(axis) + rank if int(axis) < 0 else int(axis)
    if not 0 <= a < rank:
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return a


def canonical_transpose(shape: Sequence[int], perm: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The same permutation with size-1 axes dropped and input axes that stay adjacent (and in
    order) in the output merged: a channel shuffle's 5-D transpose becomes a 3-D one, a copy 1-D."""
    shape = [int(d) for d in shape]
    perm = [_axis(p, len(shape)) for p in perm]
    if sorted(perm) != list(range(len(shape))):
        raise ValueError(f"perm {list(perm)} is not a permutation of the {len(shape)} axes")
    if any(d <= 0 for d in shape):
        raise ValueError(f"empty or negative dimension in shape {shape}")
    rank_of = {a: i for i, a in enumerate(a for a in range(len(shape)) if shape[a] != 1)}
    kept = [rank_of[p] for p in perm if shape[p] != 1]  # the axes left, renumbered
    sizes = [shape[a] for a in rank_of]
    groups: list[list[int]] = []  # runs of input axes, in output order
    for p in kept:
        if groups and groups[-1][-1] + 1 == p:
            groups[-1].append(p)
        else:
            groups.append([p])
    order = sorted(range(len(groups)), key=lambda g: groups[g][0])  # groups in input order
    in_shape = []
    for g in order:
        size = 1
        for a in groups[g]:
            size *= sizes[a]
        in_shape.append(size)
    position = {g: i for i, g in enumerate(order)}
    new_perm = tuple(position[g] for g in range(len(groups)))
    if not in_shape:
        return (1,), (0,)
    return tuple(in_shape), new_perm


def depth_to_space(shape: Sequence[int], block: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """DEPTH_TO_SPACE (DCR, TFLite's) as a transpose: [n, h, w, b, b, c'] -> [n, h, b, w, b, c']."""
    n, h, w, c = (int(d) for d in shape)
    if block < 1 or c % (block * block):
        raise ValueError(f"depth {c} is not a multiple of block size {block} squared")
    return canonical_transpose((n, h, w, block, block, c // (block * block)), (0, 1, 3, 2, 4, 5))


def space_to_depth(shape: Sequence[int], block: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """SPACE_TO_DEPTH as a transpose: [n, h', b, w', b, c] -> [n, h', w', b, b, c]."""
    n, h, w, c = (int(d) for d in shape)
    if block < 1 or h % block or w % block:
        raise ValueError(f"height {h} and width {w} must be multiples of block size {block}")
    return canonical_transpose((n, h // block, block, w // block, block, c), (0, 1, 3, 2, 4, 5))


def outer_axis_inner(shape: Sequence[int], axis: int) -> tuple[int, int, int]:
    """(product of dims before axis, dim at axis, product after): the [outer, axis, inner] view."""
    a = _axis(axis, len(shape))
    outer = inner = 1
    for d in shape[:a]:
        outer *= int(d)
    for d in shape[a + 1 :]:
        inner *= int(d)
    return outer, int(shape[a]), inner


@dataclass(frozen=True)
class RowCopy:
    """One hard_copy_rows_s8 call: byte offsets into input and output, then the rows."""

    input_offset: int
    output_offset: int
    rows: int
    row_size: int
    input_stride: int
    output_stride: int


def split_copies(shape: Sequence[int], axis: int, sizes: Sequence[int]) -> list[RowCopy]:
    """SPLIT / SPLIT_V: output k takes sizes[k] slices along axis, from the running offset."""
    outer, n, inner = outer_axis_inner(shape, axis)
    if sum(sizes) != n or any(s <= 0 for s in sizes):
        raise ValueError(f"split sizes {list(sizes)} do not add up to dimension {n}")
    copies, begin = [], 0
    for s in sizes:
        copies.append(RowCopy(begin * inner, 0, outer, s * inner, n * inner, s * inner))
        begin += s
    return copies


def split_v_sizes(dim: int, sizes: Sequence[int]) -> list[int]:
    """SPLIT_V's size_splits with its one allowed -1 resolved (TFLite's Prepare)."""
    sizes = [int(s) for s in sizes]
    unknown = [i for i, s in enumerate(sizes) if s == -1]
    if len(unknown) > 1:
        raise ValueError("SPLIT_V takes at most one -1 in size_splits")
    if unknown:
        sizes[unknown[0]] = dim - (sum(sizes) + 1)
    return sizes


def pack_copies(shape: Sequence[int], axis: int, count: int) -> list[RowCopy]:
    """PACK of ``count`` inputs of ``shape`` along a new ``axis`` (0..rank): input k's rows go to
    slot k of every outer block."""
    rank = len(shape)
    a = _axis(axis, rank + 1)
    outer, _, inner = outer_axis_inner([*shape[:a], 1, *shape[a:]], a)
    return [RowCopy(0, k * inner, outer, inner, inner, count * inner) for k in range(count)]


def unpack_copies(shape: Sequence[int], axis: int) -> list[RowCopy]:
    """UNPACK along ``axis``: output k is slot k of every outer block."""
    outer, n, inner = outer_axis_inner(shape, axis)
    return [RowCopy(k * inner, 0, outer, inner, n * inner, inner) for k in range(n)]


def reduce_4d(shape: Sequence[int], axes: Sequence[int]) -> tuple[Shape4, int]:
    """4-D input shape and HARD_AXIS_* mask of a reduction over ``axes`` of any rank: adjacent
    axes that are both reduced or both kept are merged (size-1 axes join either side)."""
    rank = len(shape)
    if not axes:
        raise ValueError("a reduction over no axis is a copy")
    reduced = {_axis(a, rank) for a in axes}
    groups: list[list[int]] = []  # [size, reduced?]
    for a, d in enumerate(shape):
        r = int(a in reduced)
        if int(d) == 1 and groups:
            continue  # joins the previous group without changing the result
        if groups and groups[-1][1] == r:
            groups[-1][0] *= int(d)
        else:
            groups.append([int(d), r])
    if not any(r for _, r in groups):
        groups.append([1, 1])  # only size-1 axes reduced: a reduction over a size-1 axis
    if len(groups) > 4:
        raise ValueError(f"reducing axes {sorted(reduced)} of shape {list(shape)} needs more than 4 dims")
    groups = [[1, 0]] * (4 - len(groups)) + groups
    mask = 0
    for i, (_, r) in enumerate(groups):
        if r:
            mask |= AXIS_BITS[i]
    return tuple(s for s, _ in groups), mask  # type: ignore[return-value]
