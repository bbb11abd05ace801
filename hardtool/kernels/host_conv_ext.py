"""ctypes bindings of PRELU, TRANSPOSE_CONV and grouped CONV_2D (firmware/kernels/hard_conv_ext.h).

A mixin of ``host.KernelLib``: numpy in, numpy out, every status checked. The shared structs
(Dims, Tile, ...) live in ``host``; it is imported when a method runs, since ``host`` imports
this module to build ``KernelLib``.
"""

from __future__ import annotations

import ctypes as C
from collections.abc import Sequence

import numpy as np

from hardtool.kernels import quant
from hardtool.kernels.scratch_conv_ext import grouped_gemm_buffer_size, transpose_conv_gemm_buffer_size

i32 = C.c_int32
PaddingT = tuple[int, int, int, int]  # top, bottom, left, right


def _host():
    from hardtool.kernels import host

    return host


class PreluParams(C.Structure):
    _fields_ = [
        ("input_offset", i32),
        ("alpha_offset", i32),
        ("output_offset", i32),
        ("identity_multiplier", i32),
        ("identity_shift", i32),
        ("alpha_multiplier", i32),
        ("alpha_shift", i32),
    ]


def _transpose_conv_params_type():
    H = _host()

    class TransposeConvParams(C.Structure):
        _fields_ = [
            ("input_offset", i32),
            ("output_offset", i32),
            ("stride", H.Tile),
            ("padding", H.Padding),
            ("activation", H.Activation),
        ]

    return TransposeConvParams


def _dims4(shape: Sequence[int]) -> tuple[int, int, int, int]:
    """A shape of rank <= 4 as NHWC dims (missing leading dims are 1)."""
    s = [int(v) for v in shape]
    return tuple([1] * (4 - len(s)) + s)  # type: ignore[return-value]


class ConvExt:
    """Methods of ``KernelLib`` for the kernels of hard_conv_ext.h."""

    def prelu(self, x: np.ndarray, alpha: np.ndarray, p: quant.PreluParams) -> np.ndarray:
        """x of rank <= 4, alpha broadcastable to it (each dim 1 or equal) -> x's shape."""
        H = _host()
        x = np.ascontiguousarray(x, dtype=np.int8)
        a = np.ascontiguousarray(alpha, dtype=np.int8)
        out = np.zeros_like(x)
        params = PreluParams(
            p.input_offset,
            p.alpha_offset,
            p.output_offset,
            p.identity_multiplier,
            p.identity_shift,
            p.alpha_multiplier,
            p.alpha_shift,
        )
        xd, ad = H.Dims(*_dims4(x.shape)), H.Dims(*_dims4(a.shape))
        args = [C.byref(params), C.byref(xd), H._ptr(x), C.byref(ad), H._ptr(a), H._ptr(out)]
        self._call("hard_prelu_s8", *args)
        return out

    def transpose_conv(
        self,
        x: np.ndarray,
        w: np.ndarray,
        bias: np.ndarray | None,
        out_hw: tuple[int, int],
        *,
        input_zp: int,
        output_zp: int,
        multipliers: Sequence[int],
        shifts: Sequence[int],
        stride: tuple[int, int],
        padding: PaddingT,
        act: tuple[int, int] = (-128, 127),
        gemm: bool = False,
    ) -> np.ndarray:
        """x NHWC int8, w OHWI int8 -> [N, out_h, out_w, O]; ``gemm`` picks the SIMD kernel."""
        H = _host()
        x = H._nhwc(x)
        w = np.ascontiguousarray(w, dtype=np.int8)
        out = np.zeros((x.shape[0], *out_hw, w.shape[0]), dtype=np.int8)
        P = _transpose_conv_params_type()
        params = P(-input_zp, output_zp, H.Tile(*stride), H.Padding(*padding), H.Activation(*act))
        if gemm:
            fn = "hard_transpose_conv_gemm_s8"
            size = transpose_conv_gemm_buffer_size(x.shape[3], w.shape[1:3], stride, w.shape[0])
            get = getattr(self.lib, fn + "_get_buffer_size")
            get.restype = i32
            dims = [C.byref(H._dims(s)) for s in (x.shape, w.shape, out.shape)]
            assert get(*dims, C.byref(H.Tile(*stride))) == size, "Python and C scratch sizes differ"
        else:
            fn = "hard_transpose_conv_s8"
            size = self.buffer_size(fn, x.shape, w.shape, out.shape)
        return self._conv_call(fn, params, size, x, w, bias, multipliers, shifts, out)

    def grouped_conv2d(
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
        gemm: bool = False,
    ) -> np.ndarray:
        """x NHWC int8, w OHWI int8 with I = x channels / groups."""
        H = _host()
        x = H._nhwc(x)
        w = np.ascontiguousarray(w, dtype=np.int8)
        kh, kw = w.shape[1], w.shape[2]
        out_h = (x.shape[1] + padding[0] + padding[1] - ((kh - 1) * dilation[0] + 1)) // stride[0] + 1
        out_w = (x.shape[2] + padding[2] + padding[3] - ((kw - 1) * dilation[1] + 1)) // stride[1] + 1
        out = np.zeros((x.shape[0], out_h, out_w, w.shape[0]), dtype=np.int8)
        params = H.ConvParams(
            -input_zp, output_zp, H.Tile(*stride), H.Tile(*dilation), H.Padding(*padding), H.Activation(*act)
        )
        fn = "hard_convolve_grouped_gemm_s8" if gemm else "hard_convolve_grouped_s8"
        size = self.buffer_size(fn, x.shape, w.shape, out.shape)
        if gemm:
            assert size == grouped_gemm_buffer_size(w.shape), "Python and C scratch sizes differ"
        return self._conv_call(fn, params, size, x, w, bias, multipliers, shifts, out)

    def _conv_call(self, fn, params, size, x, w, bias, multipliers, shifts, out) -> np.ndarray:
        H = _host()
        mult, shift = H._i32_array(multipliers), H._i32_array(shifts)
        q = H.PerChannelQuant(C.cast(mult, C.POINTER(i32)), C.cast(shift, C.POINTER(i32)))
        b = None if bias is None else np.ascontiguousarray(bias, dtype=np.int32)
        ctx, _buf = self._context(size)
        self._call(
            fn,
            C.byref(ctx),
            C.byref(params),
            C.byref(q),
            C.byref(H._dims(x.shape)),
            H._ptr(x),
            C.byref(H._dims(w.shape)),
            H._ptr(w),
            None if b is None else H._ptr(b),
            C.byref(H._dims(out.shape)),
            H._ptr(out),
        )
        return out
