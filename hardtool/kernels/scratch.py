"""Scratch bytes each int8 kernel needs, mirroring the C ``*_get_buffer_size()`` functions.

The memory planner reserves these buffers in the arena; keep this table in step with
firmware/kernels/ (tests/test_kernels_build.py and tests/test_kernels_dsp.py check both agree).
CONV_2D and DEPTHWISE_CONV_2D get the scratch of their ARMv7E-M paths (q15 im2col columns, a
row of zero points); the portable paths ignore it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from hardtool.kernels.support import mean_is_hw

if TYPE_CHECKING:
    from hardtool.core.graph.ir import Graph, Op

INT32_BYTES = 4
_XRUN_BYTES = 12  # hard_xrun: four int16 and an int32
_RQ_ENTRY_BYTES = 16  # hard_rq: multiplier, right shift, rounding constant, bias

# op type -> the dims keyword it needs; ops missing here need no scratch.
_NO_SCRATCH = frozenset(
    {
        "MAX_POOL_2D",
        "ADD",
        "MUL",
        "QUANTIZE",
        "CONCATENATION",
        "PAD",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "ARG_MAX",
        # generic-model kernels (hard_fc.c, hard_softmax.c, hard_activation.c, hard_broadcast.c,
        # hard_reduce.c's hard_mean_s8, hard_slice.c, hard_quantize.c, hard_float_io.c)
        "FULLY_CONNECTED",
        "SOFTMAX",
        "LOGISTIC",
        "TANH",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "RELU_0_TO_1",
        "LEAKY_RELU",
        "HARD_SWISH",
        "SUB",
        "MAXIMUM",
        "MINIMUM",
        "STRIDED_SLICE",
        "SLICE",
        "PADV2",
        "DEQUANTIZE",
    }
)


def _col_pair_bytes(k: int) -> int:
    """hard_col_pair_bytes(): two pixels' k values as q15, padded to groups of four."""
    return (k + 3) // 4 * 4 * INT32_BYTES


def _round4(n: int) -> int:
    return (n + 3) // 4 * 4


def kernel_scratch_bytes(
    kernel: str, input_shape: Sequence[int], filter_shape: Sequence[int], output_shape: Sequence[int] = ()
) -> int:
    """Scratch bytes of one convolution kernel call: mirrors its C ``*_get_buffer_size()``.

    Shapes are NHWC input, OHWI (conv) or 1HWC (depthwise) filter; the output shape is unused.
    """
    cin = int(input_shape[-1])
    cout, kh, kw, fc = (int(v) for v in filter_shape)
    k = kh * kw * fc
    # GEMM kernels: q15 column pair + 2 accumulators and a 16-byte requantisation entry per channel
    out_stage = 2 * cout * INT32_BYTES + cout * _RQ_ENTRY_BYTES
    if kernel == "hard_convolve_1x1_s8" or (kernel == "hard_convolve_s8" and kh == kw == 1):
        return _col_pair_bytes(cin) + out_stage
    if kernel in ("hard_convolve_s8", "hard_convolve_im2col_s8"):
        return _col_pair_bytes(k) + out_stage + _round4(k)
    if kernel in ("hard_depthwise_conv_s8", "hard_depthwise_conv_3x3_s8"):
        # a row of zero points, one accumulator and one requantisation entry per channel
        return _round4(cin) + cin * (INT32_BYTES + _RQ_ENTRY_BYTES)
    raise ValueError(f"no scratch rule for kernel {kernel!r}")


def scratch_bytes_for(op_type: str, **dims: int) -> int:
    """Scratch bytes for one kernel call.

    AVERAGE_POOL_2D and MEAN need ``channels`` (one int32 accumulator per channel; MEAN is what
    hard_mean_hw_s8 needs, used for a MEAN over H and W: ``scratch_bytes`` gives 0 for the
    general hard_mean_s8);
    HARD_RESIZE_ARGMAX needs ``input_width`` and ``channels`` (one vertically
    interpolated low-resolution row of int32, plus the column-run table of its fast path). CONV_2D and DEPTHWISE_CONV_2D need their
    shapes: use :func:`kernel_scratch_bytes`. Every other supported op needs none.
    """
    op = op_type.upper()
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        raise TypeError(f"{op} scratch depends on its shapes: use kernel_scratch_bytes()")
    if op in ("AVERAGE_POOL_2D", "MEAN"):
        return _positive(dims, "channels") * INT32_BYTES
    if op == "HARD_RESIZE_ARGMAX":
        width = _positive(dims, "input_width")
        # one interpolated row of int32, and 2 * width column runs of 12 bytes (ARMv7E-M path)
        return width * _positive(dims, "channels") * INT32_BYTES + 2 * width * _XRUN_BYTES
    if op in _NO_SCRATCH:
        return 0
    raise ValueError(f"no int8 kernel for op {op_type!r}")


def _positive(dims: dict[str, int], key: str) -> int:
    if key not in dims:
        raise TypeError(f"scratch size needs {key}=")
    value = int(dims[key])
    if value <= 0:
        raise ValueError(f"{key} must be positive, got {value}")
    return value


def scratch_bytes(op: Op, graph: Graph) -> int:
    """Scratch bytes of one op of a lowered graph (the memory planner's ``ScratchFn``).

    Op types this library has no kernel for need no scratch from it and give 0; codegen is
    where an unsupported op is reported.
    """
    name = op.name.upper()
    shape = graph.tensors[op.inputs[0]].shape
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        kernel = "hard_convolve_s8" if name == "CONV_2D" else "hard_depthwise_conv_s8"
        return kernel_scratch_bytes(kernel, shape, graph.tensors[op.inputs[1]].shape)
    if name not in _NO_SCRATCH and name not in ("AVERAGE_POOL_2D", "MEAN", "HARD_RESIZE_ARGMAX"):
        return 0
    if name == "MEAN":  # hard_mean_hw_s8 over H and W; the general hard_mean_s8 needs none
        try:
            if not mean_is_hw(graph, op):
                return 0
        except ValueError:  # a MEAN the kernels refuse: codegen reports it
            return 0
    # any rank: a rank-1 or scalar input has width / channels 1
    width, channels = (int(shape[-2]) if len(shape) >= 2 else 1), (int(shape[-1]) if shape else 1)
    return scratch_bytes_for(name, input_width=width, channels=channels)
