"""QUANTIZE (int8 -> int8 requantisation, and the graph's edges: float32 / uint8 -> int8,
int8 -> uint8) and DEQUANTIZE int8 -> float32 (the float kernels are compiled only when a model
has float I/O: HARD_FLOAT_IO)."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.ir import Graph, Op
from hardtool.kernels import support as S
from hardtool.ops.activation import prepare_unary
from hardtool.ops.cgen import EmitContext, Layer, c_float, c_struct, requant_fields, scale, zp
from hardtool.ops.record import Kernel, Memory, OpRecord

FLOAT_KERNELS = ("hard_quantize_f32_s8", "hard_dequantize_s8_f32")
# (input, output) dtypes -> kernel
QUANTIZE_KERNELS = {
    ("int8", "int8"): "hard_requantize_s8",
    ("float32", "int8"): "hard_quantize_f32_s8",
    ("uint8", "int8"): "hard_requantize_u8_s8",
    ("int8", "uint8"): "hard_requantize_s8_u8",
}


def _pair(g: Graph, op: Op) -> tuple[str, str]:
    return S.tensor_of(g, op, 0).dtype, S.tensor_of(g, op, 0, True).dtype


def _refuse_quantize(g: Graph, op: Op) -> None:
    x, y = S.tensor_of(g, op, 0), S.tensor_of(g, op, 0, True)
    S.need(
        _pair(g, op) in QUANTIZE_KERNELS,
        f"QUANTIZE {x.dtype} -> {y.dtype}; supported: int8/uint8/float32 <-> int8",
    )
    S.need(y.quant is not None and (x.dtype == "float32" or x.quant is not None), "unquantised tensor")


def _refuse_dequantize(g: Graph, op: Op) -> None:
    x, y = S.tensor_of(g, op, 0), S.tensor_of(g, op, 0, True)
    S.int8(x)
    S.need(y.dtype == "float32", f"DEQUANTIZE to {y.dtype}; only int8 -> float32 is supported")


def _choose_quantize(g: Graph, op: Op, dsp: bool) -> Kernel:
    pair = _pair(g, op)
    S.need(pair in QUANTIZE_KERNELS, f"QUANTIZE {pair[0]} -> {pair[1]} has no kernel")
    return Kernel(QUANTIZE_KERNELS[pair])


def _affine(layer: Layer, p: str, s: float, z: int) -> None:
    layer.decls.append(
        c_struct("hard_affine_params", f"{p}_p", {"scale": c_float(np.float32(s)), "zero_point": z})
    )


def quantize(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    n = int(np.prod(y.shape))
    if x.dtype == "float32":
        _affine(layer, p, scale(y), zp(y))
    else:
        layer.decls.append(c_struct("hard_requant_params", f"{p}_p", requant_fields(x, y)))
    layer.call = f"st = {layer.kernel}(&{p}_p, {e.typed(x.index)}, {e.typed(y.index)}, {n});"


def dequantize(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    _affine(layer, p, scale(x), zp(x))
    layer.call = (
        f"st = {layer.kernel}(&{p}_p, {e.ptr(x.index)}, {e.typed(y.index)}, {int(np.prod(y.shape))});"
    )


RECORDS = [
    OpRecord(
        "QUANTIZE",
        arity=(1, 1, 1),
        prepare=prepare_unary,
        refuse=_refuse_quantize,
        memory=Memory.ELEMENTWISE,
        choose=_choose_quantize,
        emit=quantize,
        tflm="AddQuantize",
        summary="requantise int8, or float32 / uint8 <-> int8 at the graph's edges",
    ),
    OpRecord(
        "DEQUANTIZE",
        arity=(1, 1, 1),
        refuse=_refuse_dequantize,
        choose=lambda g, op, dsp: Kernel("hard_dequantize_s8_f32"),
        emit=dequantize,
        tflm="AddDequantize",
        summary="int8 -> float32 graph outputs",
    ),
]
