"""Integer parameters of the int8 kernels, derived from float scales exactly as TFLite does.

The C kernels never see a float: every multiplier/shift they use is computed here, with the
same double-precision arithmetic and rounding as TFLite's kernel Prepare functions, so that
the generated code is bit-exact with the reference interpreter.
"""

from __future__ import annotations

import functools
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


# ---------------------------------------------------------------- generic-model kernels
# TFLite computes some of the following in float32 (its Prepare functions divide float
# scales before widening to double); those use numpy float32 here so every bit matches.


@dataclass(frozen=True)
class FcParams:
    """FULLY_CONNECTED: offsets and one (multiplier, shift) per unit, or a single one per-tensor."""

    input_offset: int
    filter_offset: int
    output_offset: int
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    per_channel: bool


def fc_params(
    s_in: float, z_in: int, filter_scales: Sequence[float], s_out: float, z_out: int, filter_zp: int = 0
) -> FcParams:
    """FULLY_CONNECTED int8 as TFLite's Prepare.

    Per-tensor weights: GetQuantizedConvolutionMultipler, whose input*filter scale product is
    float32 (then widened). Per-channel: double(s_in) * double(s_w[c]) / double(s_out).
    """
    scales = [float(s) for s in filter_scales]
    if len(scales) == 1:
        product = float(_f32(s_in) * _f32(scales[0]))
        m, s = quantize_multiplier(product / float(_f32(s_out)))
        return FcParams(-int(z_in), -int(filter_zp), int(z_out), (m,), (s,), False)
    pairs = [quantize_multiplier(float(_f32(s_in)) * float(_f32(fs)) / float(_f32(s_out))) for fs in scales]
    return FcParams(
        -int(z_in), -int(filter_zp), int(z_out), tuple(p[0] for p in pairs), tuple(p[1] for p in pairs), True
    )


@dataclass(frozen=True)
class SoftmaxParams:
    """Fields of the C ``hard_softmax_params``."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


SOFTMAX_DIFF_INTEGER_BITS = 5  # TFLite's kScaledDiffIntegerBits: differences in Q5.26


def softmax_params(beta: float, s_in: float) -> SoftmaxParams:
    """SOFTMAX int8 (BUILTIN_REF): PreprocessSoftmaxScaling(beta, s_in, 5) and -CalculateInputRadius."""
    bits = SOFTMAX_DIFF_INTEGER_BITS
    real = min(float(_f32(beta)) * float(_f32(s_in)) * float(1 << (31 - bits)), (1 << 31) - 1.0)
    if not real > 1.0:
        raise ValueError(f"softmax beta * input scale {real / (1 << (31 - bits))!r} is too small for int8")
    mult, shift = quantize_multiplier(real)
    radius = math.floor(((1 << bits) - 1) * float(1 << (31 - bits)) / float(1 << shift))
    return SoftmaxParams(mult, shift, -int(radius))


@functools.lru_cache(maxsize=1)
def _libm():
    """The C math library TFLite's float32 transforms call (expf, tanhf), or None (then numpy's
    float32 functions stand in; they can differ from libm in the last bit)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("m")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    for fn in ("expf", "tanhf"):
        getattr(lib, fn).restype = ctypes.c_float
        getattr(lib, fn).argtypes = [ctypes.c_float]
    return lib


def _lut_transform(kind: str):
    """The float32 function TFLite's LOGISTIC / TANH Prepare tabulates (libm's expf/tanhf)."""
    lib = _libm()
    expf = (lambda v: np.float32(lib.expf(float(v)))) if lib else (lambda v: np.exp(np.float32(v)))
    tanhf = (lambda v: np.float32(lib.tanhf(float(v)))) if lib else (lambda v: np.tanh(np.float32(v)))
    one = np.float32(1.0)
    if kind == "LOGISTIC":
        return lambda v: one / (one + expf(-v))
    if kind == "TANH":
        return tanhf
    raise ValueError(f"no lookup table for {kind!r}")


def lut_s8(kind: str, s_in: float, z_in: int, s_out: float, z_out: int) -> np.ndarray:
    """LOGISTIC / TANH int8: TFLite's LUTPopulate<int8_t> table, indexed by ``(uint8_t)x``.

    Every step in float32 as the reference: dequantise, transform, multiply by 1/s_out,
    round half away from zero, add the zero point, clamp.
    """
    fn = _lut_transform(kind.upper())
    inverse_scale = np.float32(1.0) / _f32(s_out)
    table = np.zeros(256, dtype=np.int8)
    for val in range(INT8_MIN, INT8_MAX + 1):
        transformed = fn(_f32(s_in) * np.float32(val - int(z_in)))
        rescaled = np.float32(_round_half_away(float(np.float32(transformed * inverse_scale))))
        quantized = int(np.float32(rescaled + np.float32(z_out)))
        table[val & 0xFF] = min(max(quantized, INT8_MIN), INT8_MAX)
    return table


@dataclass(frozen=True)
class ReluParams:
    """Fields of the C ``hard_relu_params``."""

    input_offset: int
    output_offset: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


_RELU_BOUNDS = {
    "RELU": (0.0, math.inf),
    "RELU6": (0.0, 6.0),
    "RELU_N1_TO_1": (-1.0, 1.0),
    "RELU_0_TO_1": (0.0, 1.0),
}


def relu_params(kind: str, s_in: float, z_in: int, s_out: float, z_out: int) -> ReluParams:
    """Standalone RELU / RELU6 / RELU_N1_TO_1 / RELU_0_TO_1 int8 (TFLite ReluPrepare + QuantizedReluX).

    The multiplier comes from a float32 division; the clamp is zp + roundf(bound / s_out).
    """
    lo, hi = _RELU_BOUNDS[kind.upper()]
    m, s = quantize_multiplier(float(_f32(s_in) / _f32(s_out)))

    def q(bound: float) -> int:
        return int(z_out) + _round_half_away(float(_f32(bound) / _f32(s_out)))

    act_max = INT8_MAX if math.isinf(hi) else min(INT8_MAX, q(hi))
    return ReluParams(-int(z_in), int(z_out), m, s, max(INT8_MIN, q(lo)), act_max)


@dataclass(frozen=True)
class LeakyReluParams:
    """Fields of the C ``hard_leaky_relu_params``."""

    input_offset: int
    output_offset: int
    identity_multiplier: int
    identity_shift: int
    alpha_multiplier: int
    alpha_shift: int


def leaky_relu_params(alpha: float, s_in: float, z_in: int, s_out: float, z_out: int) -> LeakyReluParams:
    """LEAKY_RELU int8 (TFLite LeakyReluPrepare): s_in * alpha / s_out and s_in / s_out in float32."""
    alpha_real = float(_f32(s_in) * _f32(alpha) / _f32(s_out))
    ma, sa = quantize_multiplier(alpha_real)
    mi, si = quantize_multiplier(float(_f32(s_in) / _f32(s_out)))
    return LeakyReluParams(-int(z_in), int(z_out), mi, si, ma, sa)


@dataclass(frozen=True)
class HardSwishParams:
    """Fields of the C ``hard_hard_swish_params`` (16-bit fixed-point multipliers)."""

    input_zero_point: int
    output_zero_point: int
    reluish_multiplier: int
    reluish_exponent: int
    output_multiplier: int
    output_exponent: int


def _downscale_to_int16(multiplier: int) -> int:
    """TFLite DownScaleInt32ToInt16Multiplier."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (multiplier + (1 << 15)) >> 16


def hard_swish_params(s_in: float, z_in: int, s_out: float, z_out: int) -> HardSwishParams:
    """HARD_SWISH int8 (TFLite HardSwishPrepare, float32 scales)."""
    hires_input_scale = np.float32(1.0 / 128.0) * _f32(s_in)
    reluish_scale = np.float32(3.0) / np.float32(32768.0)
    om, oe = quantize_multiplier(float(hires_input_scale / _f32(s_out)))
    if oe > 0:
        raise ValueError(f"hard swish output scale {s_out!r} is below input scale / 64; TFLite rejects it")
    rm, re = quantize_multiplier(float(hires_input_scale / reluish_scale))
    return HardSwishParams(int(z_in), int(z_out), _downscale_to_int16(rm), re, _downscale_to_int16(om), oe)


def sub_params(s1: float, z1: int, s2: float, z2: int, s_out: float, z_out: int) -> AddParams:
    """SUB int8: ADD's parameters with input 2's multiplier negated (as TFLite's sub kernel)."""
    from dataclasses import replace

    p = add_params(s1, z1, s2, z2, s_out, z_out)
    return replace(p, input2_multiplier=-p.input2_multiplier)


@dataclass(frozen=True)
class PreluParams:
    """Fields of the C ``hard_prelu_params``."""

    input_offset: int
    alpha_offset: int
    output_offset: int
    identity_multiplier: int
    identity_shift: int
    alpha_multiplier: int
    alpha_shift: int


def prelu_params(
    s_in: float, z_in: int, s_alpha: float, z_alpha: int, s_out: float, z_out: int
) -> PreluParams:
    """PRELU int8 (TFLite PreluPrepare): s_in / s_out and s_in * s_alpha / s_out, each computed in
    float32 (the tensors' float scales) before QuantizeMultiplier widens it."""
    mi, si = quantize_multiplier(float(_f32(s_in) / _f32(s_out)))
    ma, sa = quantize_multiplier(float(_f32(s_in) * _f32(s_alpha) / _f32(s_out)))
    return PreluParams(-int(z_in), -int(z_alpha), int(z_out), mi, si, ma, sa)


def transpose_conv_padding(out_size: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """TRANSPOSE_CONV (before, after) padding of one axis: TFLite's ComputePaddingHeightWidth run
    on the *output* size (the conv whose gradient this is); the kernels use only 'before'."""
    if padding.upper() == "SAME":
        conv_out = (out_size + stride - 1) // stride
    else:
        conv_out = (out_size - kernel + stride) // stride
    total = max((conv_out - 1) * stride + kernel - out_size, 0)
    return total // 2, total - total // 2


# ------------------------------------------------- SQUARED_DIFFERENCE, ABS, RSQRT, SUM (int8)
SQUARED_DIFFERENCE_LEFT_SHIFT = 7  # TFLite's int8 SquaredDifference headroom


def squared_difference_params(s1: float, z1: int, s2: float, z2: int, s_out: float, z_out: int) -> AddParams:
    """SQUARED_DIFFERENCE int8 (squared_difference.cc Prepare): inputs rescaled to twice the larger
    input scale (a float32 product) after a 7-bit left shift, the squared difference to the output
    by twice_max^2 / (2^14 * s_out) (that denominator a float32 product)."""
    twice_max = float(_f32(2.0) * max(_f32(s1), _f32(s2)))
    m1, sh1 = quantize_multiplier_smaller_than_one(float(_f32(s1)) / twice_max)
    m2, sh2 = quantize_multiplier_smaller_than_one(float(_f32(s2)) / twice_max)
    denom = float(_f32(1 << (2 * SQUARED_DIFFERENCE_LEFT_SHIFT)) * _f32(s_out))
    mo, sho = quantize_multiplier_smaller_than_one(twice_max * twice_max / denom)
    return AddParams(-int(z1), m1, sh1, -int(z2), m2, sh2, SQUARED_DIFFERENCE_LEFT_SHIFT, int(z_out), mo, sho)


@dataclass(frozen=True)
class AbsParams:
    """Fields of the C ``hard_abs_params``."""

    input_offset: int
    output_offset: int
    rescale: bool
    multiplier: int
    shift: int


def abs_params(s_in: float, z_in: int, s_out: float, z_out: int) -> AbsParams:
    """ABS int8 (elementwise.cc): rescale only when the float32 scales differ, by their float32 quotient."""
    rescale = bool(_f32(s_in) != _f32(s_out))
    m, s = quantize_multiplier(float(_f32(s_in) / _f32(s_out))) if rescale else (0, 0)
    return AbsParams(-int(z_in), int(z_out), rescale, m, s)


def reduce_sum_params(s_in: float, z_in: int, s_out: float, z_out: int) -> RescaleParams:
    """SUM int8 with a rescale: the sum minus zero point * count, times s_in / s_out."""
    return requantize_params(s_in, z_in, s_out, z_out)


_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


def _wrap32(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def _srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul on Python ints."""
    if a == b == _I32_MIN:
        return _I32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    q = abs(ab + nudge) >> 31
    return q if ab + nudge >= 0 else -q


def _rdbpot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def _sat_shl(x: int, exponent: int) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT for exponent >= 0."""
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return _I32_MAX
    if x < -threshold:
        return _I32_MIN
    return _wrap32(x << exponent)


def _mbqm(x: int, mult: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier (double rounding, the int32 wrap of the left shift included)."""
    return _rdbpot(_srdhm(_wrap32(x * (1 << max(shift, 0))), mult), max(-shift, 0))


def inv_sqrt_multiplier_exp(value: int, reverse_shift: int) -> tuple[int, int]:
    """TFLite's GetInvSqrtQuantizedMultiplierExp (gemmlowp Newton-Raphson in Q3.28)."""
    if value <= 1:
        return _I32_MAX, 0
    shift = 11
    while value >= (1 << 29):
        value //= 4
        shift += 1
    pairs = ((32 - value.bit_length()) - 1) // 2 - 1
    shift -= pairs
    value <<= 2 * pairs
    half_input = _rdbpot(value >> 1, 1)
    half_three = (1 << 28) + (1 << 27)
    x = 1 << 28  # F3 one
    for _ in range(5):
        x3 = _sat_shl(_srdhm(_srdhm(x, x), x), 6)  # Rescale<3>(F9)
        x = _sat_shl(_wrap32(_srdhm(half_three, x) - _srdhm(half_input, x3)), 3)  # Rescale<3>(F6)
    x = _srdhm(x, 1518500250)  # times sqrt(2)/2 in Q0.31
    if shift < 0:
        x = _wrap32(x << -shift)
        shift = 0
    return x, shift * reverse_shift


def rsqrt_lut_s8(s_in: float, z_in: int, s_out: float, z_out: int) -> np.ndarray:
    """RSQRT int8 (elementwise.cc RsqrtEvalQuantizedInt8) as the 256-entry table hard_lut_s8
    indexes by (uint8_t)x. Inputs below the zero point (negative reals, which TFLite's Eval
    refuses) map like the zero point: to 127."""
    k_shift = 20
    mult, shift = quantize_multiplier(1.0 / float(np.sqrt(_f32(s_in), dtype=np.float32) * _f32(s_out)))
    table = np.zeros(256, dtype=np.int8)
    for q in range(INT8_MIN, INT8_MAX + 1):
        value = q - int(z_in)
        if value <= 0:
            out = INT8_MAX
        else:
            inv_mult, inv_shift = inv_sqrt_multiplier_exp(value, -1)
            data = _mbqm(1, inv_mult, inv_shift + k_shift)
            out = min(max(_mbqm(data, mult, shift - k_shift) + int(z_out), INT8_MIN), INT8_MAX)
        table[q & 0xFF] = out
    return table


def fused_add_table(p: AddParams, conv_first: bool) -> np.ndarray:
    """The 512 int32 of ``hard_fused_add.table``: twice TFLite's rescaled ADD input
    ``MultiplyByQuantizedMultiplierSmallerThanOneExp((x + offset) << left_shift, m, shift)`` for
    every int8 x (doubled: the kernels' single-multiply requantisation takes 2x), the
    convolution's input first (``conv_first``: it is the ADD's input 1), then the residual's."""
    sides = [
        (p.input1_offset, p.input1_multiplier, p.input1_shift),
        (p.input2_offset, p.input2_multiplier, p.input2_shift),
    ]
    if not conv_first:
        sides.reverse()
    table = [
        2 * _mbqm((x + off) << p.left_shift, m, s)
        for off, m, s in sides
        for x in range(INT8_MIN, INT8_MAX + 1)
    ]
    return np.array(table, dtype=np.int32)


COMPARE_LEFT_SHIFT = 8  # TFLite's comparisons: values shifted left by 8 before rescaling


@dataclass(frozen=True)
class CompareParams:
    """Fields of the C ``hard_compare_params`` (EQUAL of int8 tensors)."""

    left_shift: int
    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int


def compare_params(s1: float, z1: int, s2: float, z2: int) -> CompareParams:
    """TFLite's int8 comparison: each input rescaled by its own scale (a multiplier below one,
    from the float32 scale) after an 8-bit left shift; the rescaled values are compared."""
    m1, sh1 = quantize_multiplier_smaller_than_one(float(_f32(s1)))
    m2, sh2 = quantize_multiplier_smaller_than_one(float(_f32(s2)))
    return CompareParams(COMPARE_LEFT_SHIFT, -int(z1), m1, sh1, -int(z2), m2, sh2)
