"""Scratch bytes each int8 kernel needs, keyed by its C entry point: mirrors the C
``*_get_buffer_size()`` functions.

The op records (``hardtool.ops``) name a kernel per layer and take its scratch from here; the
memory planner reserves that buffer in the arena. Keep this in step with firmware/kernels/
(tests/test_kernels_build.py and tests/test_kernels_dsp.py check both agree). The general
CONV_2D and DEPTHWISE_CONV_2D entry points get the scratch of their ARMv7E-M paths (q15 im2col
columns, a row of zero points); the portable paths ignore it.
"""

from __future__ import annotations

from collections.abc import Sequence

INT32_BYTES = 4
_XRUN_BYTES = 12  # hard_xrun: four int16 and an int32
_RQ_ENTRY_BYTES = 16  # hard_rq: multiplier, right shift, rounding constant, bias
# one int32 accumulator per channel
PER_CHANNEL = frozenset({"hard_avgpool_s8", "hard_mean_hw_s8"})
CONV_KERNELS = frozenset(
    {
        "hard_convolve_s8",
        "hard_convolve_1x1_s8",
        "hard_convolve_1x1_q15_s8",
        "hard_convolve_im2col_s8",
        "hard_convolve_im2col_q15_s8",
        "hard_depthwise_conv_s8",
        "hard_depthwise_conv_3x3_s8",
    }
)


def _col_pair_bytes(k: int) -> int:
    """hard_col_pair_bytes(): two pixels' k values as q15, padded to groups of four."""
    return (k + 3) // 4 * 4 * INT32_BYTES


def _round4(n: int) -> int:
    return (n + 3) // 4 * 4


def _conv_scratch(kernel: str, input_shape: Sequence[int], filter_shape: Sequence[int]) -> int:
    cin = int(input_shape[-1])
    cout, kh, kw, fc = (int(v) for v in filter_shape)
    k = kh * kw * fc
    # GEMM kernels: q15 column pair (for the q15-filter kernels a column quad, twice that, and a word)
    # + 2 accumulators and a 16-byte requantisation entry per channel
    out_stage = 2 * cout * INT32_BYTES + cout * _RQ_ENTRY_BYTES
    if kernel == "hard_convolve_1x1_q15_s8":
        return 2 * _col_pair_bytes(cin) + INT32_BYTES + out_stage
    if kernel == "hard_convolve_1x1_s8" or (kernel == "hard_convolve_s8" and kh == kw == 1):
        return _col_pair_bytes(cin) + out_stage
    if kernel == "hard_convolve_im2col_q15_s8":
        return 2 * _col_pair_bytes(k) + INT32_BYTES + out_stage + _round4(k)
    if kernel in ("hard_convolve_s8", "hard_convolve_im2col_s8"):
        return _col_pair_bytes(k) + out_stage + _round4(k)
    # depthwise: a row of zero points, one accumulator and one requantisation entry per channel
    return _round4(cin) + cin * (INT32_BYTES + _RQ_ENTRY_BYTES)


def kernel_scratch_bytes(
    kernel: str,
    input_shape: Sequence[int],
    filter_shape: Sequence[int] = (),
    output_shape: Sequence[int] = (),
) -> int:
    """Scratch bytes of one call of C entry point ``kernel``: mirrors its ``*_get_buffer_size()``.

    Shapes are the NHWC input (any rank: a rank-1 or scalar input has width / channels 1), the
    OHWI (conv) or 1HWC (depthwise) filter for the convolutions; the output shape is unused.
    Every kernel not named here needs none (its ``*_get_buffer_size()`` returns 0)."""
    if kernel in CONV_KERNELS:
        if len(filter_shape) != 4:
            raise TypeError(f"{kernel} scratch depends on its filter shape")
        return _conv_scratch(kernel, input_shape, filter_shape)
    shape = [int(v) for v in input_shape]
    width, channels = (shape[-2] if len(shape) >= 2 else 1), (shape[-1] if shape else 1)
    if min(width, channels) <= 0:
        raise ValueError(f"input shape {shape} must be positive")
    if kernel in PER_CHANNEL:
        return channels * INT32_BYTES
    if kernel == "hard_resize_bilinear_argmax_s8":
        # one interpolated row of int32, and 2 * width column runs of 12 bytes (ARMv7E-M path)
        return width * channels * INT32_BYTES + 2 * width * _XRUN_BYTES
    return 0
