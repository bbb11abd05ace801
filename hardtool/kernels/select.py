"""Which C kernel a layer gets, and why (codegen knows every shape, so it picks per layer).

``select_kernel(op, graph)`` names the entry point of firmware/kernels/hard_kernels.h for one
op of a lowered graph, the filter layout it reads (a function of hardtool.kernels.weights, or
None for the filter as TFLite stores it), its scratch bytes and a one-line reason, which says
why a layer falls back to a general kernel. Every entry point named here also exists on
targets without the DSP extension (the same code, DSP instructions emulated in C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hardtool.kernels.scratch import kernel_scratch_bytes, scratch_bytes

if TYPE_CHECKING:
    from hardtool.core.graph.ir import Graph, Op

DW_MAX_TAPS = 64  # HARD_DW_MAX_TAPS: larger depthwise windows take the portable loop
ARGMAX_FAST_CLASSES = 32  # the eight-pixel resize->argmax path keys up to 32 classes

# Ops whose kernel does not depend on the shapes (they pick their fast path inside).
_FIXED = {
    "ADD": (
        "hard_elementwise_add_s8",
        "single-multiply requantisation inside when TFLite's parameters allow",
    ),
    "MUL": ("hard_elementwise_mul_s8", "single-multiply requantisation inside when the shift allows"),
    "AVERAGE_POOL_2D": ("hard_avgpool_s8", "four channels per SXTAB16 inside (windows up to 255 taps)"),
    "MAX_POOL_2D": ("hard_max_pool_s8", "portable"),
    "MEAN": ("hard_mean_hw_s8", "portable"),
    "QUANTIZE": ("hard_requantize_s8", "portable"),
    "CONCATENATION": ("hard_concatenation_c_s8", "portable"),
    "PAD": ("hard_pad_s8", "portable"),
    "RESIZE_BILINEAR": ("hard_resize_bilinear_s8", "portable"),
    "RESIZE_NEAREST_NEIGHBOR": ("hard_resize_nearest_s8", "portable"),
    "ARG_MAX": ("hard_argmax_c_s8", "portable"),
}


@dataclass(frozen=True)
class KernelChoice:
    kernel: str  # C entry point
    layout: str | None  # hardtool.kernels.weights function for the filter, None = as stored
    scratch: int  # bytes (the kernel's *_get_buffer_size())
    reason: str


def _conv(op: Op, graph: Graph) -> KernelChoice:
    x, w = graph.tensors[op.inputs[0]].shape, graph.tensors[op.inputs[1]].shape
    pads = tuple(op.options.get("explicit_padding", (0, 0, 0, 0)))
    if w[1] == w[2] == 1 and not any(pads):
        kernel, reason = "hard_convolve_1x1_s8", "pointwise without padding: 2x2-blocked int8 x q15 GEMM"
    else:
        what = "3-channel stem" if x[-1] == 3 else f"{w[1]}x{w[2]} kernel"
        if w[1] == w[2] == 1:
            what = "padded 1x1"
        kernel, reason = "hard_convolve_im2col_s8", f"{what}: q15 im2col column pairs + GEMM"
    return KernelChoice(kernel, None, kernel_scratch_bytes(kernel, x, w), reason)


def _depthwise(op: Op, graph: Graph) -> KernelChoice:
    x, w = graph.tensors[op.inputs[0]].shape, graph.tensors[op.inputs[1]].shape
    mult = w[-1] // x[-1]
    if mult == 1 and w[1] == w[2] == 3:
        kernel = "hard_depthwise_conv_3x3_s8"
        dil = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
        reason = f"3x3, dilation {dil[0]}x{dil[1]}: four channels per SMLABB/SMLATT, q15 filter"
        return KernelChoice(kernel, "dw3x3_q15", kernel_scratch_bytes(kernel, x, w), reason)
    if mult != 1:
        reason = f"channel multiplier {mult}: portable loop (the SIMD path needs multiplier 1)"
    elif w[1] * w[2] > DW_MAX_TAPS:
        reason = f"{w[1]}x{w[2]} window over {DW_MAX_TAPS} taps: portable loop"
    else:
        reason = f"{w[1]}x{w[2]} window: four channels per SMLABB/SMLATT inside"
    kernel = "hard_depthwise_conv_s8"
    return KernelChoice(kernel, None, kernel_scratch_bytes(kernel, x, w), reason)


def select_kernel(op: Op, graph: Graph, dsp: bool = True) -> KernelChoice:
    """The kernel for one op of a lowered graph; ``dsp=False`` keeps the general entry points.

    Raises ValueError for an op the library has no kernel for."""
    name = op.name.upper()
    if name == "CONV_2D" and dsp:
        return _conv(op, graph)
    if name == "DEPTHWISE_CONV_2D" and dsp:
        return _depthwise(op, graph)
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        kernel = "hard_convolve_s8" if name == "CONV_2D" else "hard_depthwise_conv_s8"
        return KernelChoice(kernel, None, scratch_bytes(op, graph), "general entry point (no DSP)")
    if name == "HARD_RESIZE_ARGMAX":
        classes = graph.tensors[op.inputs[0]].shape[-1]
        fast = classes <= ARGMAX_FAST_CLASSES
        reason = "eight pixels per SIMD key maximum inside" if fast else f"{classes} classes: portable loop"
        return KernelChoice("hard_resize_bilinear_argmax_s8", None, scratch_bytes(op, graph), reason)
    if name in _FIXED:
        kernel, reason = _FIXED[name]
        return KernelChoice(kernel, None, scratch_bytes(op, graph), reason)
    raise ValueError(f"no int8 kernel for op {op.name!r}")
