"""Kernel scratch of a float32 model, for planning only: hardtool has no float kernels (codegen
refuses float models), so the scratch is what a float reference runtime needs, an estimate.

TensorFlow Lite Micro's reference float kernels (tensorflow/lite/micro/kernels/) request no
scratch buffer for CONV_2D, DEPTHWISE_CONV_2D, pooling, elementwise ops, CONCATENATION, PAD,
RESIZE_*, ARG_MAX, FULLY_CONNECTED, SOFTMAX or TRANSPOSE_CONV; MEAN (reduce_common.cc) asks for two
int index buffers (one int per input dimension, one per reduced axis). The fused resize → argmax
epilogue of `lower()` does not exist in TFLM: planned as our int8 epilogue is, it holds one
vertically interpolated low-resolution row, here of float32."""

from __future__ import annotations

from hardtool.core.graph import Graph, Op

FLOAT_BYTES = INT_BYTES = 4
SOURCE = (
    "estimate: TFLite Micro's reference float kernels (none except MEAN's index buffers); the fused "
    "resize->argmax epilogue holds one float32 row of the low-resolution logits"
)


def float_scratch_bytes(op: Op, graph: Graph) -> int:
    """Scratch bytes of one op of a lowered float graph (a memplan ``ScratchFn``)."""
    shape = graph.tensors[op.inputs[0]].shape if op.inputs and op.inputs[0] >= 0 else ()
    if op.name == "HARD_RESIZE_ARGMAX":
        return int(shape[-2]) * int(shape[-1]) * FLOAT_BYTES
    if op.name == "MEAN" and len(op.inputs) > 1 and op.inputs[1] >= 0:
        axes = graph.tensors[op.inputs[1]]
        n_axes = int(axes.data.size) if axes.data is not None else len(shape)
        return (len(shape) + n_axes) * INT_BYTES
    return 0
