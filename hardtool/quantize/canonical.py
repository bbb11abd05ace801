"""Canonicalise converter output so TFLite Micro and MCU kernel libraries run it unchanged.

1. A grouped CONV_2D with one input channel per group and one
output channel per group is a depthwise conv. onnx2tf sometimes emits such depthwise layers as
grouped CONV_2D, which TFLite Micro does not run and which no MCU kernel library treats as
depthwise. Rewriting it as DEPTHWISE_CONV_2D (filter [O,kh,kw,1] → [1,kh,kw,O], per-channel
axis 0 → 3, same options) is exact: both compute the same sums with the same requantisation.
2. ONNX ArgMax yields int64 indices; TFLite Micro's ARG_MAX writes only int32. Class indices
fit either, so the label map is made int32."""

from __future__ import annotations

import numpy as np


def _schema():
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


def canonicalize(tflite: bytes) -> tuple[bytes, int]:
    """Return the rewritten model and the number of ops rewritten."""
    import flatbuffers

    s = _schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    codes = model.operatorCodes

    def code_of(i: int) -> int:
        c = codes[i]
        return max(c.builtinCode, c.deprecatedBuiltinCode)

    dw_index = next((i for i in range(len(codes)) if code_of(i) == s.BuiltinOperator.DEPTHWISE_CONV_2D), None)
    changed = 0
    for sg in model.subgraphs:
        for op in sg.operators:
            if code_of(op.opcodeIndex) != s.BuiltinOperator.CONV_2D:
                continue
            x, w = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]]
            o, kh, kw, cin = (int(v) for v in w.shape)
            if not (cin == 1 and o == int(x.shape[3]) and o > 1):
                continue
            if dw_index is None:
                c = s.OperatorCodeT()
                c.builtinCode = c.deprecatedBuiltinCode = s.BuiltinOperator.DEPTHWISE_CONV_2D
                c.version = 3
                codes.append(c)
                dw_index = len(codes) - 1
            data = (
                np.asarray(model.buffers[w.buffer].data, dtype=np.uint8).view(np.int8).reshape(o, kh, kw, 1)
            )
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
            op.opcodeIndex = dw_index
            changed += 1
    for sg in model.subgraphs:
        for op in sg.operators:
            if code_of(op.opcodeIndex) == s.BuiltinOperator.ARG_MAX and op.builtinOptions is not None:
                out = sg.tensors[op.outputs[0]]
                if out.type == s.TensorType.INT64:
                    out.type = s.TensorType.INT32
                    op.builtinOptions.outputType = s.TensorType.INT32
                    changed += 1
    if not changed:
        return tflite, 0
    b = flatbuffers.Builder(len(tflite) + 4096)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), changed
