"""Host build of the int8 kernel library, callable from Python through ctypes.

The same C sources run on the MCU; on the host they are the int8 reference for tests and for
comparing device output pixel by pixel (the fused resize+argmax epilogue in particular).
"""

from __future__ import annotations

import ctypes as C
from pathlib import Path
from typing import Sequence

import numpy as np

from hardtool.kernels import layout, quant
from hardtool.kernels.build import EMULATE_DSP, HOST_DEFINES, build_kernel_library, kernel_dir, kernel_sources  # noqa: F401
from hardtool.kernels.host_conv_ext import ConvExt

# ---------------------------------------------------------------- C structs
i32 = C.c_int32


class Context(C.Structure):
    _fields_ = [("buf", C.c_void_p), ("size", i32)]


class Dims(C.Structure):
    _fields_ = [("n", i32), ("h", i32), ("w", i32), ("c", i32)]


class Tile(C.Structure):
    _fields_ = [("h", i32), ("w", i32)]


class Padding(C.Structure):
    _fields_ = [("top", i32), ("bottom", i32), ("left", i32), ("right", i32)]


class Activation(C.Structure):
    _fields_ = [("min", i32), ("max", i32)]


class PerTensorQuant(C.Structure):
    _fields_ = [("multiplier", i32), ("shift", i32)]


class PerChannelQuant(C.Structure):
    _fields_ = [("multiplier", C.POINTER(i32)), ("shift", C.POINTER(i32))]


class ConvParams(C.Structure):
    _fields_ = [
        ("input_offset", i32),
        ("output_offset", i32),
        ("stride", Tile),
        ("dilation", Tile),
        ("padding", Padding),
        ("activation", Activation),
        ("output_stride", i32),
        ("tile_pixels", i32),  # the q15-filter GEMMs' output pixels per tile: 4 (0) or 2
        ("fused_add", C.c_void_p),  # const hard_fused_add *: None, or a FusedAdd's address
    ]


class FusedAdd(C.Structure):
    _fields_ = [
        ("residual", C.c_void_p),
        ("table", C.c_void_p),
        ("output_multiplier", i32),
        ("output_shift", i32),
        ("output_offset", i32),
        ("activation", Activation),
        ("output", C.c_void_p),  # None: the sums replace the convolution's output
    ]


class DwConvParams(C.Structure):
    _fields_ = [
        ("input_offset", i32),
        ("output_offset", i32),
        ("ch_mult", i32),
        ("stride", Tile),
        ("dilation", Tile),
        ("padding", Padding),
        ("activation", Activation),
        ("output_stride", i32),
    ]


class PoolParams(C.Structure):
    _fields_ = [("stride", Tile), ("padding", Padding), ("activation", Activation), ("output_stride", i32)]


class RequantParams(C.Structure):
    _fields_ = [("input_offset", i32), ("output_offset", i32), ("quant", PerTensorQuant)]


class AddParams(C.Structure):
    _fields_ = [
        ("input1_offset", i32),
        ("input1_multiplier", i32),
        ("input1_shift", i32),
        ("input2_offset", i32),
        ("input2_multiplier", i32),
        ("input2_shift", i32),
        ("left_shift", i32),
        ("output_offset", i32),
        ("output_multiplier", i32),
        ("output_shift", i32),
        ("activation", Activation),
    ]


def add_params(p: quant.AddParams, act=(-128, 127)) -> AddParams:
    """The C struct of ADD's (or SUB's) parameters with the fused activation's range."""
    return AddParams(
        p.input1_offset,
        p.input1_multiplier,
        p.input1_shift,
        p.input2_offset,
        p.input2_multiplier,
        p.input2_shift,
        p.left_shift,
        p.output_offset,
        p.output_multiplier,
        p.output_shift,
        Activation(*act),
    )


class MulParams(C.Structure):
    _fields_ = [
        ("input1_offset", i32),
        ("input2_offset", i32),
        ("output_offset", i32),
        ("quant", PerTensorQuant),
        ("activation", Activation),
    ]


class ConcatInput(C.Structure):
    _fields_ = [("data", C.c_void_p), ("channels", i32), ("requant", RequantParams)]


class PadParams(C.Structure):
    _fields_ = [("padding", Padding), ("pad_value", i32)]


class ResizeParams(C.Structure):
    _fields_ = [("align_corners", i32), ("half_pixel_centers", i32), ("output_stride", i32)]


class FcParams(C.Structure):
    _fields_ = [
        ("input_offset", i32),
        ("filter_offset", i32),
        ("output_offset", i32),
        ("activation", Activation),
    ]


class SoftmaxParams(C.Structure):
    _fields_ = [("input_multiplier", i32), ("input_left_shift", i32), ("diff_min", i32)]


class ReluParams(C.Structure):
    _fields_ = [
        ("input_offset", i32),
        ("output_offset", i32),
        ("quant", PerTensorQuant),
        ("activation", Activation),
    ]


class LeakyReluParams(C.Structure):
    _fields_ = [
        ("input_offset", i32),
        ("output_offset", i32),
        ("identity", PerTensorQuant),
        ("alpha", PerTensorQuant),
    ]


class HardSwishParams(C.Structure):
    _fields_ = [
        ("input_zero_point", i32),
        ("output_zero_point", i32),
        ("reluish_multiplier", i32),
        ("reluish_exponent", i32),
        ("output_multiplier", i32),
        ("output_exponent", i32),
    ]


class SliceParams(C.Structure):
    _fields_ = [("begin", Dims), ("stride", Dims)]


class Pad4dParams(C.Structure):
    _fields_ = [("before", Dims), ("after", Dims), ("pad_value", i32)]


class AffineParams(C.Structure):
    _fields_ = [("scale", C.c_float), ("zero_point", i32)]


HARD_OK = 0
PaddingT = tuple[int, int, int, int]  # top, bottom, left, right


def _nhwc(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.int8)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"expected an NHWC (or HWC) int8 array, got shape {a.shape}")
    return a


def _dims(shape: Sequence[int]) -> Dims:
    n, h, w, c = (int(v) for v in shape)
    return Dims(n, h, w, c)


def _ptr(a: np.ndarray) -> C.c_void_p:
    return C.c_void_p(a.ctypes.data)


def _i32_array(values: Sequence[int]) -> C.Array:
    return (i32 * len(values))(*[int(v) for v in values])


def _rescale(p: quant.RescaleParams) -> RequantParams:
    return RequantParams(p.input_offset, p.output_offset, PerTensorQuant(p.multiplier, p.shift))


class KernelLib(ConvExt):
    """numpy-in / numpy-out wrappers over the C kernels; every call checks the status."""

    def __init__(self, path: Path):
        self.lib = C.CDLL(str(path))

    @property
    def data(self):
        """The data-movement, reduction and math kernels of hard_data.h (``host_data.DataKernels``)."""
        from hardtool.kernels.host_data import DataKernels

        return DataKernels(self)

    def _call(self, fn_name: str, *args) -> None:
        fn = getattr(self.lib, fn_name)
        fn.restype = C.c_int
        status = fn(*args)
        if status != HARD_OK:
            raise ValueError(f"{fn_name} returned {status}")

    def buffer_size(self, fn_name: str, *dims: Sequence[int]) -> int:
        """Call ``<fn_name>_get_buffer_size`` with hard_dims built from the given shapes."""
        fn = getattr(self.lib, fn_name + "_get_buffer_size")
        fn.restype = i32
        return int(fn(*[C.byref(_dims(d)) for d in dims]))

    @staticmethod
    def _context(size: int) -> tuple[Context, np.ndarray]:
        buf = np.zeros(max(size // 4, 1), dtype=np.int32)  # int32 storage: 4-byte aligned
        return Context(buf.ctypes.data, size), buf

    # ------------------------------------------------------------ conv
    def conv2d(
        self,
        x: np.ndarray,
        w: np.ndarray,
        bias: np.ndarray | None,
        *,
        input_zp: int,
        output_zp: int,
        multipliers: Sequence[int],
        shifts: Sequence[int],
        stride: tuple[int, int] = (1, 1),
        dilation: tuple[int, int] = (1, 1),
        padding: PaddingT = (0, 0, 0, 0),
        act: tuple[int, int] = (-128, 127),
    ) -> np.ndarray:
        """x NHWC int8, w OHWI int8, bias int32[O] or None."""
        x = _nhwc(x)
        w = np.ascontiguousarray(w, dtype=np.int8)
        o = w.shape[0]
        params = ConvParams(
            -input_zp, output_zp, Tile(*stride), Tile(*dilation), Padding(*padding), Activation(*act)
        )
        return self._conv_like(
            "hard_convolve_s8", params, x, w, bias, o, multipliers, shifts, stride, dilation, padding
        )

    def depthwise_conv2d(
        self,
        x: np.ndarray,
        w: np.ndarray,
        bias: np.ndarray | None,
        *,
        input_zp: int,
        output_zp: int,
        multipliers: Sequence[int],
        shifts: Sequence[int],
        ch_mult: int = 1,
        stride: tuple[int, int] = (1, 1),
        dilation: tuple[int, int] = (1, 1),
        padding: PaddingT = (0, 0, 0, 0),
        act: tuple[int, int] = (-128, 127),
    ) -> np.ndarray:
        """x NHWC int8, w 1HWC int8 (C = in channels * ch_mult)."""
        x = _nhwc(x)
        w = np.ascontiguousarray(w, dtype=np.int8)
        oc = w.shape[3]
        params = DwConvParams(
            -input_zp, output_zp, ch_mult, Tile(*stride), Tile(*dilation), Padding(*padding), Activation(*act)
        )
        return self._conv_like(
            "hard_depthwise_conv_s8", params, x, w, bias, oc, multipliers, shifts, stride, dilation, padding
        )

    def _conv_like(
        self,
        fn: str,
        params,
        x: np.ndarray,
        w: np.ndarray,
        bias: np.ndarray | None,
        out_c: int,
        multipliers: Sequence[int],
        shifts: Sequence[int],
        stride,
        dilation,
        padding,
        w_data: np.ndarray | None = None,
    ) -> np.ndarray:
        """The call both convolutions share: output size, per-channel quant, scratch, the kernel call
        (``w_data``: the filter bytes the kernel reads when re-laid-out, e.g. gemm q15 pairs)."""
        kh, kw = w.shape[1], w.shape[2]
        out_h = (x.shape[1] + padding[0] + padding[1] - ((kh - 1) * dilation[0] + 1)) // stride[0] + 1
        out_w = (x.shape[2] + padding[2] + padding[3] - ((kw - 1) * dilation[1] + 1)) // stride[1] + 1
        out = np.zeros((x.shape[0], out_h, out_w, out_c), dtype=np.int8)
        mult, shift = _i32_array(multipliers), _i32_array(shifts)
        q = PerChannelQuant(C.cast(mult, C.POINTER(i32)), C.cast(shift, C.POINTER(i32)))
        b = None if bias is None else np.ascontiguousarray(bias, dtype=np.int32)
        size = self.buffer_size(fn, x.shape, w.shape, out.shape)
        ctx, _buf = self._context(size)
        self._call(
            fn,
            C.byref(ctx),
            C.byref(params),
            C.byref(q),
            C.byref(_dims(x.shape)),
            _ptr(x),
            C.byref(_dims(w.shape)),
            _ptr(w if w_data is None else np.ascontiguousarray(w_data)),
            None if b is None else _ptr(b),
            C.byref(_dims(out.shape)),
            _ptr(out),
        )
        return out

    # ------------------------------------------------------------ pooling
    def _pool(self, fn: str, x, pool, stride, padding, act) -> np.ndarray:
        x = _nhwc(x)
        out_h = (x.shape[1] + padding[0] + padding[1] - pool[0]) // stride[0] + 1
        out_w = (x.shape[2] + padding[2] + padding[3] - pool[1]) // stride[1] + 1
        out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]), dtype=np.int8)
        params = PoolParams(Tile(*stride), Padding(*padding), Activation(*act))
        ctx, _buf = self._context(self.buffer_size(fn, x.shape, out.shape))
        fdims = Dims(1, pool[0], pool[1], 1)
        self._call(
            fn,
            C.byref(ctx),
            C.byref(params),
            C.byref(_dims(x.shape)),
            _ptr(x),
            C.byref(fdims),
            C.byref(_dims(out.shape)),
            _ptr(out),
        )
        return out

    def avg_pool(self, x, pool, stride, padding: PaddingT = (0, 0, 0, 0), act=(-128, 127)) -> np.ndarray:
        return self._pool("hard_avgpool_s8", x, pool, stride, padding, act)

    def max_pool(self, x, pool, stride, padding: PaddingT = (0, 0, 0, 0), act=(-128, 127)) -> np.ndarray:
        return self._pool("hard_max_pool_s8", x, pool, stride, padding, act)

    def mean_hw(self, x: np.ndarray, p: quant.RescaleParams) -> np.ndarray:
        x = _nhwc(x)
        out = np.zeros((x.shape[0], 1, 1, x.shape[3]), dtype=np.int8)
        ctx, _buf = self._context(self.buffer_size("hard_mean_hw_s8", x.shape))
        params = _rescale(p)
        self._call(
            "hard_mean_hw_s8", C.byref(ctx), C.byref(params), C.byref(_dims(x.shape)), _ptr(x), _ptr(out)
        )
        return out

    # ------------------------------------------------------------ elementwise
    def add(self, a: np.ndarray, b: np.ndarray, p: quant.AddParams, act=(-128, 127)) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=np.int8)
        b = np.ascontiguousarray(b, dtype=np.int8)
        assert a.shape == b.shape
        out = np.zeros_like(a)
        params = add_params(p, act)
        self._call("hard_elementwise_add_s8", C.byref(params), _ptr(a), _ptr(b), _ptr(out), i32(a.size))
        return out

    def add_table(self, a: np.ndarray, b: np.ndarray, p: quant.AddParams, act=(-128, 127)) -> np.ndarray:
        """The same ADD through hard_elementwise_add_table_s8 (the inputs' tables)."""
        a = np.ascontiguousarray(a, dtype=np.int8)
        b = np.ascontiguousarray(b, dtype=np.int8)
        assert a.shape == b.shape
        out = np.zeros_like(a)
        table = quant.fused_add_table(p, True)
        fa = FusedAdd(
            b.ctypes.data,
            table.ctypes.data,
            p.output_multiplier,
            p.output_shift,
            p.output_offset,
            Activation(*act),
        )
        self._call("hard_elementwise_add_table_s8", C.byref(fa), _ptr(a), _ptr(out), i32(a.size))
        return out

    def mul(
        self, a: np.ndarray, b: np.ndarray, off1: int, off2: int, p: quant.RescaleParams, act=(-128, 127)
    ) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=np.int8)
        b = np.ascontiguousarray(b, dtype=np.int8)
        assert a.shape == b.shape
        out = np.zeros_like(a)
        params = MulParams(
            off1, off2, p.output_offset, PerTensorQuant(p.multiplier, p.shift), Activation(*act)
        )
        self._call("hard_elementwise_mul_s8", C.byref(params), _ptr(a), _ptr(b), _ptr(out), i32(a.size))
        return out

    def requantize(self, x: np.ndarray, p: quant.RescaleParams) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.zeros_like(x)
        params = _rescale(p)
        self._call("hard_requantize_s8", C.byref(params), _ptr(x), _ptr(out), i32(x.size))
        return out

    def concat(self, xs: Sequence[np.ndarray], rescales: Sequence[quant.RescaleParams]) -> np.ndarray:
        """Concatenate NHWC arrays along channels, requantising each input to the output scale."""
        xs = [_nhwc(x) for x in xs]
        rows = int(np.prod(xs[0].shape[:3]))
        out = np.zeros((*xs[0].shape[:3], sum(x.shape[3] for x in xs)), dtype=np.int8)
        arr = (ConcatInput * len(xs))(
            *[ConcatInput(x.ctypes.data, x.shape[3], _rescale(p)) for x, p in zip(xs, rescales, strict=True)]
        )
        self._call("hard_concatenation_c_s8", arr, i32(len(xs)), i32(rows), _ptr(out))
        return out

    def pad(self, x: np.ndarray, padding: PaddingT, value: int) -> np.ndarray:
        x = _nhwc(x)
        top, bottom, left, right = padding
        out = np.zeros(
            (x.shape[0], x.shape[1] + top + bottom, x.shape[2] + left + right, x.shape[3]), dtype=np.int8
        )
        params = PadParams(Padding(*padding), value)
        self._call(
            "hard_pad_s8",
            C.byref(params),
            C.byref(_dims(x.shape)),
            _ptr(x),
            C.byref(_dims(out.shape)),
            _ptr(out),
        )
        return out

    # ------------------------------------------------------------ resize / argmax
    def resize_bilinear(
        self,
        x: np.ndarray,
        size: tuple[int, int],
        align_corners: bool = False,
        half_pixel_centers: bool = False,
    ) -> np.ndarray:
        return self._resize("hard_resize_bilinear_s8", x, size, align_corners, half_pixel_centers)

    def resize_nearest(
        self,
        x: np.ndarray,
        size: tuple[int, int],
        align_corners: bool = False,
        half_pixel_centers: bool = False,
    ) -> np.ndarray:
        return self._resize("hard_resize_nearest_s8", x, size, align_corners, half_pixel_centers)

    def _resize(self, fn, x, size, align_corners, half_pixel_centers) -> np.ndarray:
        x = _nhwc(x)
        out = np.zeros((x.shape[0], size[0], size[1], x.shape[3]), dtype=np.int8)
        params = ResizeParams(int(align_corners), int(half_pixel_centers))
        self._call(
            fn, C.byref(params), C.byref(_dims(x.shape)), _ptr(x), C.byref(_dims(out.shape)), _ptr(out)
        )
        return out

    def argmax(self, x: np.ndarray) -> np.ndarray:
        x = _nhwc(x)
        out = np.zeros(x.shape[:3], dtype=np.uint8)
        self._call("hard_argmax_c_s8", C.byref(_dims(x.shape)), _ptr(x), _ptr(out))
        return out

    def resize_argmax(
        self,
        x: np.ndarray,
        size: tuple[int, int],
        align_corners: bool = False,
        half_pixel_centers: bool = False,
        rows_per_call: int | None = None,
    ) -> np.ndarray:
        """Fused bilinear upsample + argmax -> uint8 [H, W] labels (batch 1).

        rows_per_call streams the map in bands of that many rows, as a device would.
        """
        x = _nhwc(x)
        if x.shape[0] != 1:
            raise ValueError("the fused epilogue takes batch 1")
        out = np.zeros(size, dtype=np.uint8)
        odims = Dims(1, size[0], size[1], x.shape[3])
        params = ResizeParams(int(align_corners), int(half_pixel_centers))
        ctx, _buf = self._context(self.buffer_size("hard_resize_bilinear_argmax_s8", x.shape))
        if rows_per_call is None:
            self._call(
                "hard_resize_bilinear_argmax_s8",
                C.byref(ctx),
                C.byref(params),
                C.byref(_dims(x.shape)),
                _ptr(x),
                C.byref(odims),
                _ptr(out),
            )
            return out
        band = np.zeros((rows_per_call, size[1]), dtype=np.uint8)
        for y0 in range(0, size[0], rows_per_call):
            y1 = min(y0 + rows_per_call, size[0])
            self._call(
                "hard_resize_bilinear_argmax_s8_rows",
                C.byref(ctx),
                C.byref(params),
                C.byref(_dims(x.shape)),
                _ptr(x),
                C.byref(odims),
                i32(y0),
                i32(y1),
                _ptr(band),
            )
            out[y0:y1] = band[: y1 - y0]
        return out

    # ------------------------------------------------------------ generic-model kernels
    def fully_connected(
        self, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, p: quant.FcParams, act=(-128, 127)
    ) -> np.ndarray:
        """x of any shape flattened to [batches, depth]; w [units, depth] int8 -> int8 [batches, units]."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        w = np.ascontiguousarray(w, dtype=np.int8)
        batches, depth, units = layout.fc_shape(x.shape, w.shape)
        out = np.zeros((batches, units), dtype=np.int8)
        params = FcParams(p.input_offset, p.filter_offset, p.output_offset, Activation(*act))
        mult, shift = _i32_array(p.multipliers), _i32_array(p.shifts)
        if p.per_channel:
            fn = "hard_fully_connected_per_channel_s8"
            q = PerChannelQuant(C.cast(mult, C.POINTER(i32)), C.cast(shift, C.POINTER(i32)))
        else:
            fn = "hard_fully_connected_s8"
            q = PerTensorQuant(p.multipliers[0], p.shifts[0])
        b = None if bias is None else np.ascontiguousarray(bias, dtype=np.int32)
        ctx, _buf = self._context(self.buffer_size(fn, (units, 1, 1, depth)))
        dims = [Dims(batches, 1, 1, depth), Dims(units, 1, 1, depth), Dims(batches, 1, 1, units)]
        self._call(
            fn,
            C.byref(ctx),
            C.byref(params),
            C.byref(q),
            C.byref(dims[0]),
            _ptr(x),
            C.byref(dims[1]),
            _ptr(w),
            None if b is None else _ptr(b),
            C.byref(dims[2]),
            _ptr(out),
        )
        return out

    def softmax(self, x: np.ndarray, p: quant.SoftmaxParams) -> np.ndarray:
        """Softmax along the last axis."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.zeros_like(x)
        depth = x.shape[-1]
        params = SoftmaxParams(p.input_multiplier, p.input_left_shift, p.diff_min)
        self._call("hard_softmax_s8", C.byref(params), i32(x.size // depth), i32(depth), _ptr(x), _ptr(out))
        return out

    def _unary(self, fn: str, params, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.zeros_like(x)
        self._call(fn, params, _ptr(x), _ptr(out), i32(x.size))
        return out

    def lut(self, x: np.ndarray, table: np.ndarray) -> np.ndarray:
        """LOGISTIC / TANH: a 256-entry table indexed by (uint8_t)x."""
        t = np.ascontiguousarray(table, dtype=np.int8)
        assert t.shape == (256,)
        return self._unary("hard_lut_s8", _ptr(t), x)

    def relu(self, x: np.ndarray, p: quant.ReluParams) -> np.ndarray:
        q = PerTensorQuant(p.multiplier, p.shift)
        params = ReluParams(p.input_offset, p.output_offset, q, Activation(p.act_min, p.act_max))
        return self._unary("hard_relu_s8", C.byref(params), x)

    def leaky_relu(self, x: np.ndarray, p: quant.LeakyReluParams) -> np.ndarray:
        ident = PerTensorQuant(p.identity_multiplier, p.identity_shift)
        alpha = PerTensorQuant(p.alpha_multiplier, p.alpha_shift)
        params = LeakyReluParams(p.input_offset, p.output_offset, ident, alpha)
        return self._unary("hard_leaky_relu_s8", C.byref(params), x)

    def hard_swish(self, x: np.ndarray, p: quant.HardSwishParams) -> np.ndarray:
        params = HardSwishParams(
            p.input_zero_point,
            p.output_zero_point,
            p.reluish_multiplier,
            p.reluish_exponent,
            p.output_multiplier,
            p.output_exponent,
        )
        return self._unary("hard_hard_swish_s8", C.byref(params), x)

    def _binary(self, fn: str, params, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=np.int8)
        b = np.ascontiguousarray(b, dtype=np.int8)
        s1, s2, so = layout.broadcast_4d(a.shape, b.shape)
        out = np.zeros(np.broadcast_shapes(a.shape, b.shape), dtype=np.int8)
        args = [C.byref(_dims(s1)), _ptr(a), C.byref(_dims(s2)), _ptr(b), C.byref(_dims(so)), _ptr(out)]
        self._call(fn, *([] if params is None else [C.byref(params)]), *args)
        return out

    def broadcast_add(self, a: np.ndarray, b: np.ndarray, p: quant.AddParams, act=(-128, 127)) -> np.ndarray:
        """ADD, or SUB with ``quant.sub_params``, broadcasting over 4-D shapes."""
        params = add_params(p, act)
        return self._binary("hard_broadcast_add_s8", params, a, b)

    def broadcast_mul(
        self, a: np.ndarray, b: np.ndarray, off1: int, off2: int, p: quant.RescaleParams, act=(-128, 127)
    ) -> np.ndarray:
        q = PerTensorQuant(p.multiplier, p.shift)
        params = MulParams(off1, off2, p.output_offset, q, Activation(*act))
        return self._binary("hard_broadcast_mul_s8", params, a, b)

    def maximum(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._binary("hard_maximum_s8", None, a, b)

    def minimum(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._binary("hard_minimum_s8", None, a, b)

    def mean(self, x: np.ndarray, axes: Sequence[int], p: quant.RescaleParams) -> np.ndarray:
        """MEAN over ``axes``; the result keeps the reduced axes as size 1 (keep_dims=True)."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        shape4, mask = layout.mean_axes(x.shape, axes)
        keep = tuple(1 if a in {int(v) % x.ndim for v in axes} else d for a, d in enumerate(x.shape))
        out = np.zeros(keep, dtype=np.int8)
        params = _rescale(p)
        self._call("hard_mean_s8", C.byref(params), C.byref(_dims(shape4)), i32(mask), _ptr(x), _ptr(out))
        return out

    def strided_slice(self, x: np.ndarray, spec: layout.SliceSpec) -> np.ndarray:
        """The 4-D window of ``spec`` (shape spec.size); reshape for shrunk axes."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.zeros(spec.size, dtype=np.int8)
        params = SliceParams(_dims(spec.begin), _dims(spec.stride))
        self._call(
            "hard_strided_slice_s8",
            C.byref(params),
            C.byref(_dims(spec.input_shape)),
            _ptr(x),
            C.byref(_dims(spec.size)),
            _ptr(out),
        )
        return out

    def pad4d(self, x: np.ndarray, paddings: Sequence[Sequence[int]], value: int) -> np.ndarray:
        """PAD / PADV2 over any axes with a constant value; the result has x's rank."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        shape4, before, after = layout.pad_4d(x.shape, paddings)
        out_shape = tuple(d + int(p[0]) + int(p[1]) for d, p in zip(x.shape, paddings, strict=True))
        out = np.zeros(out_shape, dtype=np.int8)
        out4 = tuple(d + b + a for d, b, a in zip(shape4, before, after, strict=True))
        params = Pad4dParams(_dims(before), _dims(after), value)
        self._call(
            "hard_pad4d_s8", C.byref(params), C.byref(_dims(shape4)), _ptr(x), C.byref(_dims(out4)), _ptr(out)
        )
        return out

    def requantize_s8_u8(self, x: np.ndarray, p: quant.RescaleParams) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.zeros(x.shape, dtype=np.uint8)
        self._call("hard_requantize_s8_u8", C.byref(_rescale(p)), _ptr(x), _ptr(out), i32(x.size))
        return out

    def requantize_u8_s8(self, x: np.ndarray, p: quant.RescaleParams) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.uint8)
        out = np.zeros(x.shape, dtype=np.int8)
        self._call("hard_requantize_u8_s8", C.byref(_rescale(p)), _ptr(x), _ptr(out), i32(x.size))
        return out

    def quantize_f32(self, x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
        """QUANTIZE float32 -> int8 (needs the library built with HARD_FLOAT_IO)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.zeros(x.shape, dtype=np.int8)
        params = AffineParams(float(np.float32(scale)), zero_point)
        self._call("hard_quantize_f32_s8", C.byref(params), _ptr(x), _ptr(out), i32(x.size))
        return out

    def dequantize_f32(self, x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
        """DEQUANTIZE int8 -> float32 (needs the library built with HARD_FLOAT_IO)."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.zeros(x.shape, dtype=np.float32)
        params = AffineParams(float(np.float32(scale)), zero_point)
        self._call("hard_dequantize_s8_f32", C.byref(params), _ptr(x), _ptr(out), i32(x.size))
        return out
