"""Kernel scratch buffers. The exact sizes belong to the kernel library (codegen's
``scratch_bytes``); until it is present we estimate with CMSIS-NN's ``*_get_buffer_size()``
formulas for a DSP-capable core (Cortex-M4/M7), and say so."""

from __future__ import annotations

from collections.abc import Callable

from hardtool.graph.ir import Graph, Op

ScratchFn = Callable[[Op, Graph], int]


def _align4(n: int) -> int:
    return (n + 3) // 4 * 4


def cmsis_nn_estimate(op: Op, graph: Graph) -> int:
    """Scratch bytes CMSIS-NN's wrappers ask for on Cortex-M with DSP (no MVE)."""
    o = op.options
    pad = o.get("explicit_padding", (0, 0, 0, 0))
    if op.name == "CONV_2D":
        _, kh, kw, cin = graph.tensors[op.inputs[1]].shape
        if kh == 1 and kw == 1:
            return 0  # arm_convolve_1x1_s8(_fast): no buffer
        return 2 * _align4(kh * kw * cin) * 2  # arm_convolve_s8: two im2col columns of int16
    if op.name == "DEPTHWISE_CONV_2D":
        _, kh, kw, cout = graph.tensors[op.inputs[1]].shape
        cin = graph.tensors[op.inputs[0]].shape[-1]
        dil = int(o.get("dilation_h_factor", 1)) * int(o.get("dilation_w_factor", 1))
        if cin != cout or dil != 1:
            return 0  # generic arm_depthwise_conv_s8: no buffer
        if kh == 3 and kw == 3 and max(pad) <= 1:
            return 0  # arm_depthwise_conv_3x3_s8: no buffer
        return cin * kh * kw * 2  # arm_depthwise_conv_s8_opt
    if op.name == "AVERAGE_POOL_2D":
        return graph.tensors[op.inputs[0]].shape[-1] * 4  # arm_avgpool_s8: int32 per channel
    if op.name == "HARD_RESIZE_ARGMAX":
        return int(o.get("num_classes", 0)) * 4  # one interpolated int32 value per class
    return 0


def default_scratch() -> tuple[ScratchFn, str]:
    """(function, 'exact' | 'estimate'): the kernel library's sizes when present, else the estimate."""
    try:
        from hardtool.codegen.scratch import scratch_bytes  # type: ignore[import-not-found]
    except ImportError:
        return cmsis_nn_estimate, "estimate"
    return scratch_bytes, "exact"
