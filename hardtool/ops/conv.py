"""CONV_2D and DEPTHWISE_CONV_2D (PAD folded in by lower()), per-channel requantisation.

The kernel choice is CMSIS-NN's wrapper decision made once, on the host: on a DSP target a
pointwise convolution without padding runs the 4-pixel x 2-channel GEMM, every other convolution the
q15 im2col GEMM, both over a filter pre-widened to q15 ("gemm q15 pairs" layout), a 3x3
depthwise with channel multiplier 1 the specialised kernel reading the "dw q15" filter layout; without the DSP extension the general entry points (their portable
paths). Without the scratch those kernels ask for, codegen takes the general entry point
(``hardtool.ops.tables.choose``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hardtool.core.graph.ir import Graph, Op, Tensor
from hardtool.core.graph.validate import Check, conv_quant, spatial, tensor_label
from hardtool.kernels import quant as Q
from hardtool.kernels import support as S
from hardtool.kernels import weights
from hardtool.kernels.scratch import kernel_scratch_bytes
from hardtool.ops import conv_flash, conv_grouped, conv_tune
from hardtool.ops.cgen import (
    EmitContext,
    Layer,
    activation,
    c_struct,
    channel_consts,
    dims,
    fused_add_decls,
    padding,
    scale,
    tile,
    zp,
)
from hardtool.ops.record import Kernel, Memory, OpRecord

DW_MAX_TAPS = 64  # HARD_DW_MAX_TAPS: larger depthwise windows take the portable loop


# ---------------------------------------------------------------- Prepare (graph validation)


def _prepare(c: Check, depthwise: bool) -> None:
    x, w, b, y = c.inp(0), c.inp(1), c.inp(2), c.out()
    for t in (x, w, y):
        c.rank(t, 4)
    c.const(w, "filter")
    c.same_type(x, y)
    c.ensure(w.dtype == "int8" or w.dtype == x.dtype, f"filter {tensor_label(w)} is {w.dtype}")
    cin = x.shape[3]
    if depthwise:
        cout = w.shape[3]
        c.ensure(w.shape[0] == 1, f"filter {list(w.shape)} must be [1, kh, kw, C]")
        c.ensure(cout % cin == 0, f"filter has {cout} channels, not a multiple of the input's {cin}")
    else:
        cout = w.shape[0]
        c.ensure(
            cin % w.shape[3] == 0, f"input has {cin} channels, not a multiple of the filter's {w.shape[3]}"
        )
    c.ensure(y.shape[3] == cout, f"output has {y.shape[3]} channels, the filter makes {cout}")
    spatial(c, x, y, w.shape[1], w.shape[2])
    c.activation()
    if x.quant is not None and w.quant is not None and y.quant is not None:
        conv_quant(c, x, w, b, y, 3 if depthwise else 0, cout)


def _refuse(g: Graph, op: Op) -> None:
    x, y = S.tensor_of(g, op, 0), S.tensor_of(g, op, 0, True)
    S.int8(x, y)
    S.const(g, op, 1, "filter")
    S.need(len(x.shape) == 4, "input is not 4-D NHWC")
    if conv_grouped.is_grouped(g, op):
        conv_grouped.refuse(g, op)
    if "fused_add" in op.options:
        S.need(not conv_grouped.is_grouped(g, op), "a grouped convolution has no fused ADD epilogue")
        _add_params(g, op)


# ---------------------------------------------------------------- the kernel choice


def _shapes(g: Graph, op: Op) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return g.tensors[op.inputs[0]].shape, g.tensors[op.inputs[1]].shape


def choose_conv(g: Graph, op: Op, dsp: bool) -> Kernel:
    if conv_grouped.is_grouped(g, op):
        return conv_grouped.choose(g, op, dsp)
    x, w = _shapes(g, op)
    pads = tuple(op.options.get("explicit_padding", (0, 0, 0, 0)))
    if not dsp:
        kernel = "hard_convolve_s8"
        return Kernel(kernel, None, kernel_scratch_bytes(kernel, x, w), "general entry point (no DSP)")
    what = _what(x, w, pads)
    int8_only = op.options.get(conv_flash.INT8_FILTER)  # codegen: the q15 copy does not fit the flash
    measured = conv_tune.tuned(g, op)
    if measured is not None and not (int8_only and measured[0].layout):
        best, how, tuned = measured  # the kernel, filter layout and tile codegen --tune counted fastest
        flash = f", filter pre-widened to q15 (+{conv_flash.q15_extra_bytes(g, op)} bytes of flash)"
        reason = f"{what}: {how}{flash if best.layout else ''}"
        scratch = kernel_scratch_bytes(best.kernel, x, w)
        return Kernel(best.kernel, best.layout, scratch, reason, best.tile_pixels, tuned)
    if int8_only:
        kernel = (
            "hard_convolve_1x1_s8"
            if "hard_convolve_1x1_s8" in conv_tune.layouts(g, op)
            else "hard_convolve_im2col_s8"
        )
        return Kernel(kernel, None, kernel_scratch_bytes(kernel, x, w), f"{what}: {int8_only}")
    return _choose_q15(x, w, pads)


def _what(x: tuple[int, ...], w: tuple[int, ...], pads: tuple[int, ...]) -> str:
    """The layer's class in codegen.json's reason (the text before the colon)."""
    if w[1] == w[2] == 1:
        return "padded 1x1" if any(pads) else "pointwise without padding"
    return "3-channel stem" if x[-1] == 3 else f"{w[1]}x{w[2]} kernel"


def _choose_q15(x: tuple[int, ...], w: tuple[int, ...], pads: tuple[int, ...]) -> Kernel:
    """DSP targets by rule: the GEMMs over a filter pre-widened to q15 (one LDRD per two channels'
    words, no SXTB16), at the flash cost of the int8 filter once more, said in the reason."""
    extra = f"filter pre-widened to q15 (+{conv_flash.q15_filter_bytes(w) - int(np.prod(w))} bytes of flash)"
    what = _what(x, w, pads)
    if w[1] == w[2] == 1 and not any(pads):
        kernel, what = "hard_convolve_1x1_q15_s8", f"{what}: 4-pixel x 2-channel q15 GEMM"
    else:
        kernel, what = "hard_convolve_im2col_q15_s8", f"{what}: q15 im2col column quads + 4x2 q15 GEMM"
    return Kernel(kernel, "gemm_q15_pairs", kernel_scratch_bytes(kernel, x, w), f"{what}, {extra}")


def choose_depthwise(g: Graph, op: Op, dsp: bool) -> Kernel:
    x, w = _shapes(g, op)
    mult = w[-1] // x[-1]
    if dsp and mult == 1 and w[1] == w[2] == 3:
        kernel = "hard_depthwise_conv_3x3_s8"
        dil = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
        reason = f"3x3, dilation {dil[0]}x{dil[1]}: tap pairs per SMLAD, doubled q15 filter, requantised from registers"
        return Kernel(kernel, "dw3x3_q15", kernel_scratch_bytes(kernel, x, w), reason)
    if not dsp:
        reason = "general entry point (no DSP)"
    elif mult != 1:
        reason = f"channel multiplier {mult}: portable loop (the SIMD path needs multiplier 1)"
    elif w[1] * w[2] > DW_MAX_TAPS:
        reason = f"{w[1]}x{w[2]} window over {DW_MAX_TAPS} taps: portable loop"
    else:
        reason = f"{w[1]}x{w[2]} window: four channels per SMLABB/SMLATT inside"
    kernel = "hard_depthwise_conv_s8"
    return Kernel(kernel, None, kernel_scratch_bytes(kernel, x, w), reason)


# ---------------------------------------------------------------- emitters


def conv_output(g: Graph, op: Op) -> Tensor:
    """The tensor the convolution itself computes: its output (also with a fused residual ADD
    that keeps it, core/graph/fuse), or with one in the ADD's place the ADD's output shape in the
    convolution's own quantisation."""
    y = g.tensors[op.outputs[0]]
    fused = op.options.get("fused_add")
    return y if fused is None or len(op.outputs) > 1 else replace(y, quant=fused["conv_quant"])


def _add_params(g: Graph, op: Op) -> tuple[Q.AddParams, bool]:
    """The fused ADD's parameters (TFLite's Prepare) and whether the convolution is its input 1."""
    fused = op.options["fused_add"]
    c, r, y = conv_output(g, op), g.tensors[op.inputs[3]], g.tensors[op.outputs[-1]]
    S.need(c.quant is not None and r.quant is not None and y.quant is not None, "unquantised fused ADD")
    first = fused["conv_side"] == 0
    a, b = (c, r) if first else (r, c)
    try:
        return Q.add_params(scale(a), zp(a), scale(b), zp(b), scale(y), zp(y)), first
    except ValueError as err:
        raise S.Refused(f"fused ADD: {err}") from None


def _fused_add(e: EmitContext, op: Op, layer: Layer, p: str) -> str:
    """Declare the fused residual ADD (its input table in flash and ``hard_fused_add``); returns
    the ``fused_add`` field's value."""
    ap, first = _add_params(e.graph, op)
    y, act = e.t(op.outputs[-1]), op.options["fused_add"]["activation"]
    lo, hi = Q.activation_range(act, scale(y), zp(y))
    keeps = len(op.outputs) > 1  # the sums to their own tensor, the convolution's output kept
    out = e.ptr(y.index) if keeps else None
    fused_add_decls(layer, p, ap, first, e.ptr(op.inputs[3]), {"min": lo, "max": hi}, out)
    where = "into its own tensor, " if keeps else ""
    layer.path += f"; residual ADD in the output stage ({where}input tables in flash: +2048 bytes)"
    return f"&{p}_add"


def _weights(
    e: EmitContext, op: Op, layer: Layer, p: str, depthwise: bool
) -> tuple[Tensor, Tensor, str, Tensor]:
    """Declare weights (in the chosen kernel's layout), per-channel multipliers / shifts and
    bias; returns (x, w, bias expr, y: the convolution's own output, see ``conv_output``)."""
    x, w, y = e.t(op.inputs[0]), e.t(op.inputs[1]), conv_output(e.graph, op)
    b = e.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    data = w.data.astype(np.int8)
    if layer.layout is not None:
        data = getattr(weights, layer.layout)(data)
    bias = channel_consts(layer, p, x, w, y, b, data)
    kh, kw = w.shape[1], w.shape[2]
    layer.macs = int(np.prod(y.shape)) * kh * kw * (1 if depthwise else w.shape[3])
    return x, w, bias, y


def filter_arg(layer: Layer, p: str) -> str:
    """The filter argument: the int8 array, or a re-laid-out array seen as ``const int8_t *``."""
    return f"{p}_w" if layer.layout is None else f"(const int8_t *)(const void *){p}_w"


def _call(e: EmitContext, op: Op, layer: Layer, p: str, x: Tensor, w: Tensor, bias: str, y: Tensor) -> str:
    return (
        f"{{ static const hard_per_channel_quant q = {{.multiplier = {p}_mult, .shift = {p}_shift}};\n"
        f"    static const hard_dims in = {dims(x.shape)}, f = {dims(w.shape)}, out = {dims(y.shape)};\n"
        f"    const hard_context ctx = {e.ctx(op)};\n"
        f"    st = {layer.kernel}(&ctx, &{p}_p, &q, &in, {e.ptr(x.index)}, &f, {filter_arg(layer, p)}, "
        f"{bias}, &out, {e.ptr(y.index)}); }}"
    )


def conv_2d(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    if conv_grouped.is_grouped(e.graph, op):
        return conv_grouped.emit(e, op, layer, p)
    x, w, bias, y = _weights(e, op, layer, p, depthwise=False)
    params = {
        "input_offset": -zp(x),
        "output_offset": zp(y),
        "stride": tile(op, "stride"),
        "dilation": tile(op, "dilation"),
        "padding": padding(op),
        "activation": activation(op, y),
    } | e.stride_field(y.index)
    if layer.tile_pixels:
        params["tile_pixels"] = layer.tile_pixels  # the GEMM tile codegen --tune chose
    if "fused_add" in op.options:
        params["fused_add"] = _fused_add(e, op, layer, p)
    layer.decls.append(c_struct("hard_conv_params", f"{p}_p", params))
    layer.call = _call(e, op, layer, p, x, w, bias, y)


def depthwise_conv_2d(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, w, bias, y = _weights(e, op, layer, p, depthwise=True)
    params = {
        "input_offset": -zp(x),
        "output_offset": zp(y),
        "ch_mult": y.shape[-1] // x.shape[-1],
        "stride": tile(op, "stride"),
        "dilation": tile(op, "dilation"),
        "padding": padding(op),
        "activation": activation(op, y),
    } | e.stride_field(y.index)
    layer.decls.append(c_struct("hard_dw_conv_params", f"{p}_p", params))
    layer.call = _call(e, op, layer, p, x, w, bias, y)


def cmsis_conv_scratch(g: Graph, op: Op) -> int:
    """TFLite Micro's CMSIS-NN CONV_2D scratch: arm_convolve_1x1_s8(_fast) none; arm_convolve_s8
    two im2col columns of int16."""
    _, kh, kw, cin = g.tensors[op.inputs[1]].shape
    return 0 if kh == kw == 1 else 2 * ((kh * kw * cin + 3) // 4 * 4) * 2


def cmsis_depthwise_scratch(g: Graph, op: Op) -> int:
    """TFLite Micro's CMSIS-NN DEPTHWISE_CONV_2D scratch: arm_depthwise_conv_s8_opt's; the generic
    and the 3x3 kernels take none."""
    pad = op.options.get("explicit_padding", (0, 0, 0, 0))
    _, kh, kw, cout = g.tensors[op.inputs[1]].shape
    cin = g.tensors[op.inputs[0]].shape[-1]
    dil = int(op.options.get("dilation_h_factor", 1)) * int(op.options.get("dilation_w_factor", 1))
    if cin != cout or dil != 1 or (kh == kw == 3 and max(pad) <= 1):
        return 0
    return cin * kh * kw * 2


RECORDS = [
    OpRecord(
        "CONV_2D",
        arity=(2, 3, 1),
        prepare=lambda c: _prepare(c, depthwise=False),
        refuse=_refuse,
        memory=Memory.SPATIAL,
        strided_output=True,
        params="hard_conv_params",
        folds_pad=True,
        fuses_add=True,
        streams_rows=True,
        lean=True,
        choose=choose_conv,
        emit=conv_2d,
        tflm="AddConv2D",
        tflm_scratch=cmsis_conv_scratch,
        summary="2-D convolution, per-channel int8, grouped too (1x1 GEMM, im2col GEMM, per-group GEMM)",
    ),
    OpRecord(
        "DEPTHWISE_CONV_2D",
        arity=(2, 3, 1),
        prepare=lambda c: _prepare(c, depthwise=True),
        refuse=_refuse,
        memory=Memory.SPATIAL,
        strided_output=True,
        params="hard_dw_conv_params",
        folds_pad=True,
        streams_rows=True,
        lean=True,
        choose=choose_depthwise,
        emit=depthwise_conv_2d,
        tflm="AddDepthwiseConv2D",
        tflm_scratch=cmsis_depthwise_scratch,
        summary="depthwise convolution, any multiplier (3x3 specialised kernel)",
    ),
]
