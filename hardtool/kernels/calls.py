"""Kernel calls for a runner :class:`~hardtool.kernels.runner.Program`, from numpy arrays.

Each ``add_*`` function places its inputs in the program's arena, reserves the output (and the
scratch the kernel asks for, sized by the Python mirror in hardtool.kernels.scratch), appends
the call and returns the output buffer. The arguments follow the C entry points
(firmware/kernels/hard_kernels.h); the params structs are hostlib's ctypes structs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hardtool.kernels import host as H
from hardtool.kernels import quant
from hardtool.kernels import scratch as S
from hardtool.kernels.runner import Buf, Program

PaddingT = tuple[int, int, int, int]


def _words(obj) -> list[int]:
    """A params struct's int32 words; a trailing pointer (hard_conv_params' ``fused_add``) is left
    out: the runner reads the words before it and sets it NULL."""
    end = type(obj).tile_pixels.offset + 4 if hasattr(type(obj), "fused_add") else len(bytes(obj))
    return [int(v) for v in np.frombuffer(bytes(obj)[:end], dtype="<i4")]


def _dims(shape: Sequence[int]) -> list[int]:
    s = [int(v) for v in shape]
    while len(s) < 4:
        s.insert(1, 1)
    return s


def _ptr(buf: Buf | None) -> list[int]:
    return [-1 if buf is None else buf.offset]


def _ctx(prog: Program, size: int) -> list[int]:
    if size <= 0:
        return [-1, 0]
    return [prog.empty((size,), np.uint8, fill=0xA5).offset, size]


@dataclass(frozen=True)
class ConvArgs:
    """Quantisation and geometry of one convolution (TFLite conventions, as in hostlib)."""

    input_zp: int
    output_zp: int
    multipliers: Sequence[int]
    shifts: Sequence[int]
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: PaddingT = (0, 0, 0, 0)
    act: tuple[int, int] = (-128, 127)
    tile_pixels: int = 0  # the q15-filter GEMMs' output pixels per tile: 4 (0) or 2

    def out_hw(self, in_hw: Sequence[int], k_hw: Sequence[int]) -> tuple[int, int]:
        pt, pb, pl, pr = self.padding
        out_h = (in_hw[0] + pt + pb - ((k_hw[0] - 1) * self.dilation[0] + 1)) // self.stride[0] + 1
        out_w = (in_hw[1] + pl + pr - ((k_hw[1] - 1) * self.dilation[1] + 1)) // self.stride[1] + 1
        return out_h, out_w


@dataclass(frozen=True)
class FusedAddArgs:
    """A residual ADD in a convolution's output stage (``hard_fused_add``): the residual (the
    output's shape), TFLite's ADD parameters, whether the convolution is the ADD's input 1."""

    residual: np.ndarray
    params: quant.AddParams
    conv_first: bool = True
    act: tuple[int, int] = (-128, 127)


def _fused_words(prog: Program, f: FusedAddArgs, residual: Buf | None = None) -> list[int]:
    """``hard_fused_add``'s words for the runner, its residual and input table in the arena."""
    r = prog.array(np.ascontiguousarray(f.residual, dtype=np.int8)) if residual is None else residual
    table = prog.array(quant.fused_add_table(f.params, f.conv_first))
    p = f.params
    return [*_ptr(r), *_ptr(table), p.output_multiplier, p.output_shift, p.output_offset, *f.act, *_ptr(None)]


def _conv_common(
    prog: Program,
    fn: str,
    params,
    x: np.ndarray,
    w_dims,
    w_data,
    bias,
    a: ConvArgs,
    out_c: int,
    scratch,
    fused: FusedAddArgs | None = None,
):
    x = np.ascontiguousarray(x, dtype=np.int8)
    out_shape = (x.shape[0], *a.out_hw(x.shape[1:3], w_dims[1:3]), out_c)
    xb = prog.array(x)
    wb = prog.array(w_data)
    bb = None if bias is None else prog.array(np.asarray(bias, dtype=np.int32))
    mb = prog.array(np.asarray(a.multipliers, dtype=np.int32))
    sb = prog.array(np.asarray(a.shifts, dtype=np.int32))
    size = S.kernel_scratch_bytes(fn, x.shape, w_dims, out_shape) if scratch is None else scratch
    ctx = _ctx(prog, size)
    out = prog.empty(out_shape)
    extra = [] if fused is None else _fused_words(prog, fused)
    args = [*ctx, *_words(params), *extra, *_ptr(mb), *_ptr(sb), *_dims(x.shape), *_ptr(xb)]
    args += [*_dims(w_dims), *_ptr(wb), *_ptr(bb), *_dims(out_shape), *_ptr(out)]
    prog.call(fn if fused is None else f"{fn}+add", args, out)
    return out


def add_conv(
    prog: Program,
    fn: str,
    x: np.ndarray,
    w: np.ndarray,
    bias,
    a: ConvArgs,
    w_data: np.ndarray | None = None,
    scratch: int | None = None,
    fused: FusedAddArgs | None = None,
) -> Buf:
    """CONV_2D through ``fn`` (hard_convolve_s8, _1x1_s8, _im2col_s8); w is OHWI int8.

    ``w_data`` replaces the filter bytes the kernel reads (a re-laid-out filter); ``scratch``
    overrides the scratch size (default: the Python mirror of the kernel's); ``fused``: the
    residual ADD in its output stage."""
    w = np.ascontiguousarray(w, dtype=np.int8)
    params = H.ConvParams(
        -a.input_zp,
        a.output_zp,
        H.Tile(*a.stride),
        H.Tile(*a.dilation),
        H.Padding(*a.padding),
        H.Activation(*a.act),
        tile_pixels=a.tile_pixels,
    )
    data = w if w_data is None else w_data
    return _conv_common(prog, fn, params, x, w.shape, data, bias, a, w.shape[0], scratch, fused)


def add_depthwise(
    prog: Program,
    fn: str,
    x: np.ndarray,
    w: np.ndarray,
    bias,
    a: ConvArgs,
    ch_mult: int = 1,
    w_data: np.ndarray | None = None,
    scratch: int | None = None,
) -> Buf:
    """DEPTHWISE_CONV_2D through ``fn``; w is 1HWC int8 (C = input channels x ch_mult)."""
    w = np.ascontiguousarray(w, dtype=np.int8)
    params = H.DwConvParams(
        -a.input_zp,
        a.output_zp,
        ch_mult,
        H.Tile(*a.stride),
        H.Tile(*a.dilation),
        H.Padding(*a.padding),
        H.Activation(*a.act),
    )
    return _conv_common(
        prog, fn, params, x, w.shape, w if w_data is None else w_data, bias, a, w.shape[3], scratch
    )


def add_add(prog: Program, a: np.ndarray, b: np.ndarray, p: quant.AddParams, act=(-128, 127)) -> Buf:
    params = H.add_params(p, act)
    return _binary(prog, "hard_elementwise_add_s8", params, a, b)


def add_add_table(prog: Program, a: np.ndarray, b: np.ndarray, p: quant.AddParams, act=(-128, 127)) -> Buf:
    """The same ADD through hard_elementwise_add_table_s8 (the inputs' tables; b the residual),
    the call codegen emits for a same-shape ADD."""
    a = np.ascontiguousarray(a, dtype=np.int8)
    ab, words = prog.array(a), _fused_words(prog, FusedAddArgs(b, p, True, tuple(act)))
    out = prog.empty(a.shape)
    prog.call("hard_elementwise_add_table_s8", [*words, *_ptr(ab), *_ptr(out), a.size], out)
    return out


def add_mul(prog: Program, a, b, off1: int, off2: int, p: quant.RescaleParams, act=(-128, 127)) -> Buf:
    params = H.MulParams(
        off1, off2, p.output_offset, H.PerTensorQuant(p.multiplier, p.shift), H.Activation(*act)
    )
    return _binary(prog, "hard_elementwise_mul_s8", params, a, b)


def _binary(prog: Program, fn: str, params, a: np.ndarray, b: np.ndarray) -> Buf:
    a = np.ascontiguousarray(a, dtype=np.int8)
    b = np.ascontiguousarray(b, dtype=np.int8)
    ab, bb = prog.array(a), prog.array(b)
    out = prog.empty(a.shape)
    prog.call(fn, [*_words(params), *_ptr(ab), *_ptr(bb), *_ptr(out), a.size], out)
    return out


def add_avgpool(
    prog: Program,
    x: np.ndarray,
    pool: tuple[int, int],
    stride: tuple[int, int],
    padding: PaddingT,
    act=(-128, 127),
) -> Buf:
    x = np.ascontiguousarray(x, dtype=np.int8)
    out_h = (x.shape[1] + padding[0] + padding[1] - pool[0]) // stride[0] + 1
    out_w = (x.shape[2] + padding[2] + padding[3] - pool[1]) // stride[1] + 1
    out_shape = (x.shape[0], out_h, out_w, x.shape[3])
    params = H.PoolParams(H.Tile(*stride), H.Padding(*padding), H.Activation(*act))
    ctx = _ctx(prog, S.kernel_scratch_bytes("hard_avgpool_s8", x.shape))
    xb = prog.array(x)
    out = prog.empty(out_shape)
    args = [*ctx, *_words(params), *_dims(x.shape), *_ptr(xb), 1, pool[0], pool[1], 1]
    prog.call("hard_avgpool_s8", [*args, *_dims(out_shape), *_ptr(out)], out)
    return out


def add_resize(
    prog: Program, x: np.ndarray, size: tuple[int, int], align_corners=False, half_pixel=False
) -> Buf:
    x = np.ascontiguousarray(x, dtype=np.int8)
    out_shape = (x.shape[0], size[0], size[1], x.shape[3])
    xb = prog.array(x)
    out = prog.empty(out_shape)
    params = H.ResizeParams(int(align_corners), int(half_pixel))
    args = [*_words(params), *_dims(x.shape), *_ptr(xb), *_dims(out_shape), *_ptr(out)]
    prog.call("hard_resize_bilinear_s8", args, out)
    return out


def add_resize_argmax(
    prog: Program,
    x: np.ndarray,
    size: tuple[int, int],
    align_corners=False,
    half_pixel=False,
    rows: tuple[int, int] | None = None,
) -> Buf:
    """Fused RESIZE_BILINEAR -> ARG_MAX; ``rows=(begin, end)`` calls the row-range entry point."""
    x = np.ascontiguousarray(x, dtype=np.int8)
    out_dims = (1, size[0], size[1], x.shape[3])
    size_b = S.kernel_scratch_bytes("hard_resize_bilinear_argmax_s8", x.shape)
    ctx = _ctx(prog, size_b)
    xb = prog.array(x)
    out = prog.empty(size if rows is None else (rows[1] - rows[0], size[1]), np.uint8)
    params = H.ResizeParams(int(align_corners), int(half_pixel))
    args = [*ctx, *_words(params), *_dims(x.shape), *_ptr(xb), *_dims(out_dims), *_ptr(out)]
    if rows is None:
        prog.call("hard_resize_bilinear_argmax_s8", args, out)
    else:
        prog.call("hard_resize_bilinear_argmax_s8_rows", [*args, *rows], out)
    return out
