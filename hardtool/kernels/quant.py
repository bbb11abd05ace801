"""Integer parameters of the int8 kernels, derived from float scales exactly as TFLite does.

The C kernels never see a float: every multiplier/shift they use is computed here, with the
same double-precision arithmetic and rounding as TFLite's kernel Prepare functions, so that
the generated code is bit-exact with the reference interpreter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

INT8_MIN = -128
INT8_MAX = 127
ADD_LEFT_SHIFT = 20  # TFLite's int8 ADD/SUB headroom


def _round_half_away(x: float) -> int:
    """std::round: halves away from zero (Python's round() is half-to-even)."""
    r = math.floor(abs(x) + 0.5)
    return int(-r if x < 0 else r)


def quantize_multiplier(scale: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: ``scale ~= multiplier * 2**(shift - 31)``, multiplier in [2^30, 2^31)."""
    scale = float(scale)
    if not math.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale!r}")
    if scale == 0.0:
        return 0, 0
    q, shift = math.frexp(scale)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed > (1 << 31):
        raise ValueError(f"cannot quantize multiplier {scale!r}")
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:  # would shift every bit out: flush to zero like TFLite
        shift = 0
        q_fixed = 0
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one(scale: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplierSmallerThanOneExp: 0 < scale < 1, shift <= 0."""
    if not 0.0 < scale < 1.0:
        raise ValueError(f"expected 0 < scale < 1, got {scale!r}")
    mult, shift = quantize_multiplier(scale)
    if shift > 0:
        raise ValueError(f"scale {scale!r} rounds to a left shift")
    return mult, shift


def _f32(x: float) -> np.float32:
    return np.float32(x)


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8: the fused activation as a clamp (float32 math)."""

    def q(f: float) -> int:
        return int(zero_point) + _round_half_away(float(_f32(f) / _f32(scale)))

    act = activation.upper()
    if act in ("NONE", ""):
        return INT8_MIN, INT8_MAX
    if act == "RELU":
        return max(INT8_MIN, q(0.0)), INT8_MAX
    if act == "RELU6":
        return max(INT8_MIN, q(0.0)), min(INT8_MAX, q(6.0))
    if act == "RELU_N1_TO_1":
        return max(INT8_MIN, q(-1.0)), min(INT8_MAX, q(1.0))
    raise ValueError(f"unsupported fused activation {activation!r}")


def conv_channel_params(
    input_scale: float, filter_scales: Sequence[float], output_scale: float
) -> tuple[list[int], list[int]]:
    """Per-output-channel (multiplier, shift) of CONV_2D / DEPTHWISE_CONV_2D."""
    mults: list[int] = []
    shifts: list[int] = []
    for fs in filter_scales:
        m, s = quantize_multiplier(float(input_scale) * float(fs) / float(output_scale))
        mults.append(m)
        shifts.append(s)
    return mults, shifts


@dataclass(frozen=True)
class AddParams:
    """Fields of the C ``hard_add_params`` (activation excluded)."""

    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    left_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int


def add_params(s1: float, z1: int, s2: float, z2: int, s_out: float, z_out: int) -> AddParams:
    """ADD int8: both inputs rescaled to twice the larger input scale after a 20-bit left shift."""
    twice_max = 2.0 * max(float(s1), float(s2))
    m1, sh1 = quantize_multiplier_smaller_than_one(float(s1) / twice_max)
    m2, sh2 = quantize_multiplier_smaller_than_one(float(s2) / twice_max)
    mo, sho = quantize_multiplier_smaller_than_one(twice_max / ((1 << ADD_LEFT_SHIFT) * float(s_out)))
    return AddParams(-int(z1), m1, sh1, -int(z2), m2, sh2, ADD_LEFT_SHIFT, int(z_out), mo, sho)


@dataclass(frozen=True)
class RescaleParams:
    """input_offset / output_offset / (multiplier, shift): MUL, MEAN, QUANTIZE, concat inputs."""

    input_offset: int
    output_offset: int
    multiplier: int
    shift: int


def mul_params(
    s1: float, z1: int, s2: float, z2: int, s_out: float, z_out: int
) -> tuple[int, int, RescaleParams]:
    """MUL int8: (input1_offset, input2_offset, rescale by s1*s2/s_out)."""
    m, s = quantize_multiplier(float(s1) * float(s2) / float(s_out))
    return -int(z1), -int(z2), RescaleParams(0, int(z_out), m, s)


def requantize_params(s_in: float, z_in: int, s_out: float, z_out: int) -> RescaleParams:
    """QUANTIZE int8->int8 (and a concatenation input whose scale differs from the output's).

    Equal scales give multiplier 2^30 / shift 1, which with equal zero points the kernels
    recognise as a plain copy.
    """
    m, s = quantize_multiplier(float(s_in) / float(s_out))
    return RescaleParams(-int(z_in), int(z_out), m, s)


def mean_params(s_in: float, z_in: int, s_out: float, z_out: int) -> RescaleParams:
    """MEAN over H,W: the kernel rescales by s_in/s_out, then divides by the element count."""
    return requantize_params(s_in, z_in, s_out, z_out)


def same_padding(in_size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int, int]:
    """TFLite SAME padding: (pad_before, pad_after, out_size); the odd pixel goes after."""
    out = (in_size + stride - 1) // stride
    eff = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + eff - in_size, 0)
    return total // 2, total - total // 2, out


def valid_out_size(in_size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """TFLite VALID output size."""
    eff = (kernel - 1) * dilation + 1
    return (in_size - eff + stride) // stride
