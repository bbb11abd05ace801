"""ctypes bindings of the data-movement, reduction and elementwise-math kernels (hard_data.h),
numpy in and out, for the kernel tests; shapes resolved by ``layout_data``."""

from __future__ import annotations

import ctypes as C
from typing import TYPE_CHECKING, Sequence

import numpy as np

from hardtool.kernels import layout, layout_data, quant
from hardtool.kernels.host import Activation, AddParams, Dims, PerTensorQuant, RequantParams

if TYPE_CHECKING:
    from hardtool.kernels.host import KernelLib

i32 = C.c_int32
_MAX = layout_data.MAX_TRANSPOSE_DIMS


class TransposeParams(C.Structure):
    _fields_ = [("rank", i32), ("input_shape", i32 * _MAX), ("perm", i32 * _MAX)]


class CopyRowsParams(C.Structure):
    _fields_ = [("rows", i32), ("row_size", i32), ("input_stride", i32), ("output_stride", i32)]


class GatherParams(C.Structure):
    _fields_ = [("outer", i32), ("axis_size", i32), ("inner", i32)]


class AbsParams(C.Structure):
    _fields_ = [("input_offset", i32), ("output_offset", i32), ("rescale", i32), ("quant", PerTensorQuant)]


class CompareParams(C.Structure):
    _fields_ = [(n, i32) for n in quant.CompareParams.__dataclass_fields__]


def transpose_params(shape: Sequence[int], perm: Sequence[int]) -> TransposeParams:
    s, p = layout_data.canonical_transpose(shape, perm)
    pad = [0] * (_MAX - len(s))
    return TransposeParams(len(s), (i32 * _MAX)(*s, *[1] * len(pad)), (i32 * _MAX)(*p, *pad))


def _s8(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int8)


class DataKernels:
    """The hard_data.h kernels on a loaded KernelLib (``KernelLib.data``)."""

    def __init__(self, lib: KernelLib):
        self.k = lib

    def _ptr(self, a: np.ndarray, offset: int = 0) -> C.c_void_p:
        return C.c_void_p(a.ctypes.data + offset)

    def transpose(self, x: np.ndarray, perm: Sequence[int]) -> np.ndarray:
        x = _s8(x)
        out = np.zeros(tuple(x.shape[int(p)] for p in perm), dtype=np.int8)
        params = transpose_params(x.shape, perm)
        self.k._call("hard_transpose_s8", C.byref(params), self._ptr(x), self._ptr(out))
        return out

    def _transpose_as(self, x: np.ndarray, plan, out_shape) -> np.ndarray:
        x = _s8(x)
        s, p = plan
        out = np.zeros(out_shape, dtype=np.int8)
        params = TransposeParams(len(s), (i32 * _MAX)(*s), (i32 * _MAX)(*p))
        self.k._call("hard_transpose_s8", C.byref(params), self._ptr(x), self._ptr(out))
        return out

    def depth_to_space(self, x: np.ndarray, block: int) -> np.ndarray:
        n, h, w, c = x.shape
        shape = (n, h * block, w * block, c // (block * block))
        return self._transpose_as(x, layout_data.depth_to_space(x.shape, block), shape)

    def space_to_depth(self, x: np.ndarray, block: int) -> np.ndarray:
        n, h, w, c = x.shape
        shape = (n, h // block, w // block, c * block * block)
        return self._transpose_as(x, layout_data.space_to_depth(x.shape, block), shape)

    def _copy(self, c: layout_data.RowCopy, src: np.ndarray, dst: np.ndarray) -> None:
        p = CopyRowsParams(c.rows, c.row_size, c.input_stride, c.output_stride)
        self.k._call(
            "hard_copy_rows_s8", C.byref(p), self._ptr(src, c.input_offset), self._ptr(dst, c.output_offset)
        )

    def split(self, x: np.ndarray, axis: int, sizes: Sequence[int]) -> list[np.ndarray]:
        x = _s8(x)
        a = int(axis) % x.ndim
        outs = []
        for c, s in zip(layout_data.split_copies(x.shape, a, sizes), sizes, strict=True):
            out = np.zeros((*x.shape[:a], s, *x.shape[a + 1 :]), dtype=np.int8)
            self._copy(c, x, out)
            outs.append(out)
        return outs

    def pack(self, xs: Sequence[np.ndarray], axis: int) -> np.ndarray:
        xs = [_s8(x) for x in xs]
        shape = xs[0].shape
        a = int(axis) % (len(shape) + 1)
        out = np.zeros((*shape[:a], len(xs), *shape[a:]), dtype=np.int8)
        for c, x in zip(layout_data.pack_copies(shape, a, len(xs)), xs, strict=True):
            self._copy(c, x, out)
        return out

    def unpack(self, x: np.ndarray, axis: int) -> list[np.ndarray]:
        x = _s8(x)
        a = int(axis) % x.ndim
        outs = []
        for c in layout_data.unpack_copies(x.shape, a):
            out = np.zeros((*x.shape[:a], *x.shape[a + 1 :]), dtype=np.int8)
            self._copy(c, x, out)
            outs.append(out)
        return outs

    def gather(self, x: np.ndarray, indices: np.ndarray, axis: int) -> np.ndarray:
        x = _s8(x)
        a = int(axis) % x.ndim
        idx = np.ascontiguousarray(np.asarray(indices).reshape(-1), dtype=np.int32)
        outer, n, inner = layout_data.outer_axis_inner(x.shape, a)
        out = np.zeros((*x.shape[:a], *np.shape(indices), *x.shape[a + 1 :]), dtype=np.int8)
        p = GatherParams(outer, n, inner)
        self.k._call(
            "hard_gather_s8", C.byref(p), self._ptr(idx), i32(idx.size), self._ptr(x), self._ptr(out)
        )
        return out

    def _reduce(self, fn: str, params, x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
        """The reduced values in kept-dims order (reshape to the output's shape)."""
        x = _s8(x)
        shape4, mask = layout_data.reduce_4d(x.shape, axes)
        reduced = {int(a) % x.ndim for a in axes}
        out = np.zeros(tuple(1 if i in reduced else d for i, d in enumerate(x.shape)), dtype=np.int8)
        args = [C.byref(Dims(*shape4)), i32(mask), self._ptr(x), self._ptr(out)]
        self.k._call(fn, *([] if params is None else [C.byref(params)]), *args)
        return out

    def reduce_sum(self, x: np.ndarray, axes: Sequence[int], p: quant.RescaleParams) -> np.ndarray:
        params = RequantParams(p.input_offset, p.output_offset, PerTensorQuant(p.multiplier, p.shift))
        return self._reduce("hard_reduce_sum_s8", params, x, axes)

    def reduce_max(self, x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
        return self._reduce("hard_reduce_max_s8", None, x, axes)

    def squared_difference(self, a: np.ndarray, b: np.ndarray, p: quant.AddParams) -> np.ndarray:
        a, b = _s8(a), _s8(b)
        s1, s2, so = layout.broadcast_4d(a.shape, b.shape)
        out = np.zeros(np.broadcast_shapes(a.shape, b.shape), dtype=np.int8)
        params = AddParams(
            p.input1_offset, p.input1_multiplier, p.input1_shift,
            p.input2_offset, p.input2_multiplier, p.input2_shift,
            p.left_shift, p.output_offset, p.output_multiplier, p.output_shift, Activation(-128, 127),
        )  # fmt: skip
        args = [C.byref(Dims(*s1)), self._ptr(a), C.byref(Dims(*s2)), self._ptr(b), C.byref(Dims(*so))]
        self.k._call("hard_squared_difference_s8", C.byref(params), *args, self._ptr(out))
        return out

    def abs(self, x: np.ndarray, p: quant.AbsParams) -> np.ndarray:
        x = _s8(x)
        out = np.zeros_like(x)
        params = AbsParams(
            p.input_offset, p.output_offset, int(p.rescale), PerTensorQuant(p.multiplier, p.shift)
        )
        self.k._call("hard_abs_s8", C.byref(params), self._ptr(x), self._ptr(out), i32(x.size))
        return out

    def equal(self, a: np.ndarray, b: np.ndarray, p: quant.CompareParams) -> np.ndarray:
        """hard_equal_s8 on 4-D (broadcastable) int8 tensors: a bool tensor."""
        a, b = _s8(a), _s8(b)
        shape = np.broadcast_shapes(a.shape, b.shape)
        out = np.zeros(shape, dtype=np.uint8)
        params = CompareParams(*(getattr(p, n) for n in quant.CompareParams.__dataclass_fields__))
        dims = [Dims(*d) for d in (a.shape, b.shape, shape)]
        args = (
            C.byref(dims[0]),
            self._ptr(a),
            C.byref(dims[1]),
            self._ptr(b),
            C.byref(dims[2]),
            self._ptr(out),
        )
        self.k._call("hard_equal_s8", C.byref(params), *args)
        return out.astype(bool)

    def select_v2(self, cond: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """hard_select_v2_s8 on 4-D (broadcastable) tensors: cond ? x : y."""
        cond = np.ascontiguousarray(cond, dtype=np.uint8)
        x, y = _s8(x), _s8(y)
        shape = np.broadcast_shapes(cond.shape, x.shape, y.shape)
        out = np.zeros(shape, dtype=np.int8)
        d = [Dims(*s) for s in (cond.shape, x.shape, y.shape, shape)]
        ptrs = (self._ptr(cond), self._ptr(x), self._ptr(y))
        args = [v for pair in zip([C.byref(v) for v in d[:3]], ptrs, strict=True) for v in pair]
        self.k._call("hard_select_v2_s8", *args, C.byref(d[3]), self._ptr(out))
        return out
