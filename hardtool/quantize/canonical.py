"""Canonicalise converter output so TFLite Micro and MCU kernel libraries run it unchanged.

1. A grouped CONV_2D with one input channel per group and one
output channel per group is a depthwise conv. onnx2tf sometimes emits such depthwise layers as
grouped CONV_2D, which TFLite Micro does not run and which no MCU kernel library treats as
depthwise. Rewriting it as DEPTHWISE_CONV_2D (filter [O,kh,kw,1] → [1,kh,kw,O], per-channel
axis 0 → 3, same options) is exact: both compute the same sums with the same requantisation.
2. ONNX ArgMax yields int64 indices; TFLite Micro's ARG_MAX writes only int32. Class indices
fit either, so the label map is made int32."""

from __future__ import annotations

from typing import Any

import numpy as np

from hardtool.core.graph.edit import rewrite
from hardtool.core.graph.reader import schema


def _code_of(model: Any, i: int) -> int:
    c = model.operatorCodes[i]
    return max(c.builtinCode, c.deprecatedBuiltinCode)


def _depthwise_code(model: Any, s: Any) -> int:
    """Index of the DEPTHWISE_CONV_2D operator code, added when the model has none."""
    for i in range(len(model.operatorCodes)):
        if _code_of(model, i) == s.BuiltinOperator.DEPTHWISE_CONV_2D:
            return i
    c = s.OperatorCodeT()
    c.builtinCode = c.deprecatedBuiltinCode = s.BuiltinOperator.DEPTHWISE_CONV_2D
    c.version = 3
    model.operatorCodes.append(c)
    return len(model.operatorCodes) - 1


def _as_depthwise(model: Any, s: Any, sg: Any, op: Any) -> None:
    """Rewrite one grouped CONV_2D (one channel per group) as DEPTHWISE_CONV_2D in place."""
    w = sg.tensors[op.inputs[1]]
    o, kh, kw, _ = (int(v) for v in w.shape)
    data = np.asarray(model.buffers[w.buffer].data, dtype=np.uint8).view(np.int8).reshape(o, kh, kw, 1)
    nb = s.BufferT()
    nb.data = list(np.ascontiguousarray(data.transpose(3, 1, 2, 0)).view(np.uint8).ravel())
    model.buffers.append(nb)
    w.buffer = len(model.buffers) - 1
    w.shape = [1, kh, kw, o]
    if w.quantization is not None:
        w.quantization.quantizedDimension = 3
    co = op.builtinOptions
    do = s.DepthwiseConv2DOptionsT()
    do.padding, do.strideW, do.strideH = co.padding, co.strideW, co.strideH
    do.depthMultiplier = 1
    do.fusedActivationFunction = co.fusedActivationFunction
    do.dilationWFactor, do.dilationHFactor = co.dilationWFactor, co.dilationHFactor
    op.builtinOptionsType = s.BuiltinOptions.DepthwiseConv2DOptions
    op.builtinOptions = do
    op.opcodeIndex = _depthwise_code(model, s)


def _grouped_convs(model: Any, s: Any) -> list[tuple[Any, Any]]:
    """(subgraph, op) of every CONV_2D with one input channel and one output channel per group."""
    found = []
    for sg in model.subgraphs:
        for op in sg.operators:
            if _code_of(model, op.opcodeIndex) != s.BuiltinOperator.CONV_2D:
                continue
            x, w = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]]
            o, _, _, cin = (int(v) for v in w.shape)
            if cin == 1 and o == int(x.shape[3]) and o > 1:
                found.append((sg, op))
    return found


def _int64_argmaxes(model: Any, s: Any) -> list[tuple[Any, Any]]:
    found = []
    for sg in model.subgraphs:
        for op in sg.operators:
            if _code_of(model, op.opcodeIndex) == s.BuiltinOperator.ARG_MAX and op.builtinOptions is not None:
                if sg.tensors[op.outputs[0]].type == s.TensorType.INT64:
                    found.append((sg, op))
    return found


def canonicalize(tflite: bytes) -> tuple[bytes, int]:
    """Return the rewritten model and the number of ops rewritten."""
    s = schema()
    changed = 0

    def change(model: Any) -> None:
        nonlocal changed
        for sg, op in _grouped_convs(model, s):
            _as_depthwise(model, s, sg, op)
            changed += 1
        for sg, op in _int64_argmaxes(model, s):
            sg.tensors[op.outputs[0]].type = s.TensorType.INT32
            op.builtinOptions.outputType = s.TensorType.INT32
            changed += 1

    out = rewrite(tflite, change)
    return (out, changed) if changed else (tflite, 0)
