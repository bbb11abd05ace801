"""SQUARED_DIFFERENCE (with broadcasting), ABS and RSQRT on int8 vs TFLite's reference kernels.

DIV has no int8 kernel in TFLite (its reference DIV takes float32, int32 and uint8 only; the
converter leaves DIV in float32 in a full-int8 conversion), so there is nothing to match."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from kernels_util import (  # noqa: F401  (kernel_lib_fixture provides the kernel_lib fixture)
    INPUTS_PER_MODEL,
    KERNEL_SETTINGS,
    RefModel,
    assert_bit_exact,
    convert_int8,
    kernel_lib_fixture,
    rand_int8,
)

from hardtool.kernels import quant

FEW = settings(KERNEL_SETTINGS, max_examples=7)  # each example converts a model
ranges = st.sampled_from([(-1.0, 1.0), (-0.05, 0.3), (-20.0, 2.0), (1.0, 3.0), (-4.0, -1.0)])


@st.composite
def broadcast_pairs(draw):
    rank = draw(st.integers(1, 4))
    out = [draw(st.integers(1, 4)) for _ in range(rank)]
    a = [d if draw(st.booleans()) else 1 for d in out]
    b = [d if draw(st.booleans()) else 1 for d in out]
    return tuple(a), tuple(b[draw(st.integers(0, rank - 1)) :])


@FEW
@given(shapes=broadcast_pairs(), r1=ranges, r2=ranges, seed=st.integers(0, 2**16))
def test_squared_difference_matches_tflite(kernel_lib, shapes, r1, r2, seed):
    import tensorflow as tf

    f = tf.function(lambda a, b: tf.math.squared_difference(a, b))
    ref = RefModel(convert_int8(f, list(shapes), [r1, r2], seed=seed))
    assert ref.op_names == ["SQUARED_DIFFERENCE"], ref.op_names
    op = ref.op("SQUARED_DIFFERENCE")
    q1, q2, qy = (ref.quant(t) for t in (*op["inputs"], op["outputs"][0]))
    p = quant.squared_difference_params(
        q1.scale, q1.zero_point, q2.scale, q2.zero_point, qy.scale, qy.zero_point
    )
    rng = np.random.default_rng(seed)
    for _ in range(INPUTS_PER_MODEL):
        a, b = rand_int8(rng, shapes[0]), rand_int8(rng, shapes[1])
        (want,) = ref.run(a, b)
        got = kernel_lib.data.squared_difference(a, b, p)
        assert_bit_exact(got.reshape(want.shape), want, f"SQUARED_DIFFERENCE {shapes} {r1} {r2}")


@FEW
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 9)), r=ranges, seed=st.integers(0, 2**16))
def test_abs_matches_tflite(kernel_lib, shape, r, seed):
    """Output scale differs from the input's (rescaled) or equals it (offsets only)."""
    import tensorflow as tf

    ref = RefModel(convert_int8(tf.function(lambda x: tf.abs(x)), [shape], [r], seed=seed))
    assert ref.op_names == ["ABS"], ref.op_names
    every = RefModel(convert_int8(tf.function(lambda x: tf.abs(x)), [(256,)], [r], seed=seed))
    all_values = np.arange(-128, 128, dtype=np.int8)
    for model, xs in ((ref, rand_int8(np.random.default_rng(seed), shape)), (every, all_values)):
        o = model.op("ABS")
        a, b = model.quant(o["inputs"][0]), model.quant(o["outputs"][0])
        p = quant.abs_params(a.scale, a.zero_point, b.scale, b.zero_point)
        (want,) = model.run(xs)
        assert_bit_exact(kernel_lib.data.abs(xs, p), want, f"ABS {shape} {r}")


@FEW
@given(
    lo=st.sampled_from([0.0, 0.01, 0.5, 2.0]),
    span=st.sampled_from([0.1, 1.0, 8.0, 100.0]),
    seed=st.integers(0, 2**16),
)
def test_rsqrt_table_matches_tflite(kernel_lib, lo, span, seed):
    """The 256-entry table (quant.rsqrt_lut_s8, run by hard_lut_s8) on every input TFLite accepts
    (x at or above the zero point; below it TFLite's Eval fails)."""
    import tensorflow as tf

    ref = RefModel(
        convert_int8(tf.function(lambda x: tf.math.rsqrt(x)), [(256,)], [(lo, lo + span)], seed=seed)
    )
    assert ref.op_names == ["RSQRT"], ref.op_names
    op = ref.op("RSQRT")
    qx, qy = ref.quant(op["inputs"][0]), ref.quant(op["outputs"][0])
    table = quant.rsqrt_lut_s8(qx.scale, qx.zero_point, qy.scale, qy.zero_point)
    x = np.clip(np.arange(-128, 128), qx.zero_point, 127).astype(np.int8)
    (want,) = ref.run(x)
    assert_bit_exact(kernel_lib.lut(x, table), want, f"RSQRT [{lo}, {lo + span}]")


def test_inv_sqrt_multiplier_is_sqrt():
    """The Newton-Raphson port: multiplier * 2^shift / 2^31 ~= 1 / sqrt(value) (shift a left shift
    with reverse_shift -1, as RSQRT asks)."""
    for v in (2, 3, 100, 255, 65536, 1 << 29, (1 << 31) - 1):
        m, s = quant.inv_sqrt_multiplier_exp(v, -1)
        assert abs(m * 2.0**s / 2**31 * np.sqrt(v) - 1) < 1e-5, (v, m, s)
