"""ADD, MUL, QUANTIZE (int8 requantise), CONCATENATION and PAD vs TFLite's reference kernels."""

from __future__ import annotations

import numpy as np
from hypothesis import given
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

shapes = st.tuples(st.just(1), st.integers(1, 6), st.integers(1, 6), st.integers(1, 8))
ranges = st.sampled_from([0.1, 0.5, 1.0, 3.0, 10.0])


@KERNEL_SETTINGS
@given(shape=shapes, r1=ranges, r2=ranges, relu=st.booleans(), seed=st.integers(0, 2**16))
def test_add_matches_tflite(kernel_lib, shape, r1, r2, relu, seed):
    import tensorflow as tf

    @tf.function
    def f(a, b):
        y = a + b
        return tf.nn.relu(y) if relu else y

    ref = RefModel(convert_int8(f, [shape, shape], [r1, r2], seed=seed))
    assert ref.op_names == ["ADD"], ref.op_names
    op = ref.op("ADD")
    q1, q2, qo = (ref.quant(i) for i in (*op["inputs"], op["outputs"][0]))
    p = quant.add_params(q1.scale, q1.zero_point, q2.scale, q2.zero_point, qo.scale, qo.zero_point)
    act = quant.activation_range("RELU" if relu else "NONE", qo.scale, qo.zero_point)
    rng = np.random.default_rng(seed + 1)
    for _ in range(INPUTS_PER_MODEL):
        a, b = rand_int8(rng, shape), rand_int8(rng, shape)
        (want,) = ref.run(a, b)
        assert_bit_exact(kernel_lib.add(a, b, p, act), want, f"ADD {shape} r1={r1} r2={r2}")
        assert_bit_exact(kernel_lib.add_table(a, b, p, act), want, f"ADD by table {shape} r1={r1} r2={r2}")


@KERNEL_SETTINGS
@given(shape=shapes, r1=ranges, r2=ranges, seed=st.integers(0, 2**16))
def test_mul_matches_tflite(kernel_lib, shape, r1, r2, seed):
    import tensorflow as tf

    @tf.function
    def f(a, b):
        return a * b

    ref = RefModel(convert_int8(f, [shape, shape], [r1, r2], seed=seed))
    assert ref.op_names == ["MUL"], ref.op_names
    op = ref.op("MUL")
    q1, q2, qo = (ref.quant(i) for i in (*op["inputs"], op["outputs"][0]))
    off1, off2, p = quant.mul_params(
        q1.scale, q1.zero_point, q2.scale, q2.zero_point, qo.scale, qo.zero_point
    )
    rng = np.random.default_rng(seed + 1)
    for _ in range(INPUTS_PER_MODEL):
        a, b = rand_int8(rng, shape), rand_int8(rng, shape)
        (want,) = ref.run(a, b)
        assert_bit_exact(kernel_lib.mul(a, b, off1, off2, p), want, f"MUL {shape} r1={r1} r2={r2}")


@KERNEL_SETTINGS
@given(
    shape=shapes,
    c2=st.integers(1, 5),
    r=st.sampled_from([0.05, 0.2, 1.0, 4.0, 20.0]),
    squash=st.sampled_from(["sigmoid", "tanh"]),
    seed=st.integers(0, 2**16),
)
def test_quantize_and_rescaling_concat_match_tflite(kernel_lib, shape, c2, r, squash, seed):
    """sigmoid/tanh have a fixed output scale, so the converter requantises them (QUANTIZE
    int8->int8) to the concatenation's scale: checks QUANTIZE alone and a concatenation whose
    first input is requantised inside the kernel."""
    import tensorflow as tf

    shape_b = (*shape[:3], c2)

    @tf.function
    def f(a, b):
        return tf.concat([tf.math.sigmoid(a) if squash == "sigmoid" else tf.math.tanh(a), b], axis=-1)

    ref = RefModel(convert_int8(f, [shape, shape_b], [4.0, r], seed=seed))
    assert "QUANTIZE" in ref.op_names and "CONCATENATION" in ref.op_names, ref.op_names
    qop, cop = ref.op("QUANTIZE"), ref.op("CONCATENATION")
    q_in, q_out = ref.quant(qop["inputs"][0]), ref.quant(qop["outputs"][0])
    assert ref.dtype(qop["inputs"][0]) == np.int8 and ref.dtype(qop["outputs"][0]) == np.int8
    assert q_in.scale != q_out.scale
    requant = quant.requantize_params(q_in.scale, q_in.zero_point, q_out.scale, q_out.zero_point)
    assert cop["inputs"][0] == qop["outputs"][0]
    b_idx, y_idx = cop["inputs"][1], cop["outputs"][0]
    qb, qy = ref.quant(b_idx), ref.quant(y_idx)
    rescale_b = quant.requantize_params(qb.scale, qb.zero_point, qy.scale, qy.zero_point)
    rng = np.random.default_rng(seed + 1)
    for _ in range(INPUTS_PER_MODEL):
        a, b = rand_int8(rng, shape), rand_int8(rng, shape_b)
        (want,) = ref.run(a, b)
        squashed = ref.tensor(qop["inputs"][0])
        assert_bit_exact(kernel_lib.requantize(squashed, requant), ref.tensor(qop["outputs"][0]), "QUANTIZE")
        got = kernel_lib.concat([squashed, ref.tensor(b_idx)], [requant, rescale_b])
        assert_bit_exact(got, want, f"CONCATENATION with requantised input, r={r}")


@KERNEL_SETTINGS
@given(
    hw=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    channels=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_concat_matches_tflite(kernel_lib, hw, channels, seed):
    import tensorflow as tf

    shapes_ = [(1, *hw, c) for c in channels]

    @tf.function
    def f(*xs):
        return tf.concat(list(xs), axis=-1)

    ref = RefModel(convert_int8(f, shapes_, [1.0 + i for i in range(len(shapes_))], seed=seed))
    assert ref.op_names == ["CONCATENATION"], ref.op_names
    op = ref.op("CONCATENATION")
    qy = ref.quant(op["outputs"][0])
    rescales = []
    for idx in op["inputs"]:
        q = ref.quant(idx)
        rescales.append(quant.requantize_params(q.scale, q.zero_point, qy.scale, qy.zero_point))
    rng = np.random.default_rng(seed + 1)
    for _ in range(INPUTS_PER_MODEL):
        xs = [rand_int8(rng, s) for s in shapes_]
        (want,) = ref.run(*xs)
        assert_bit_exact(kernel_lib.concat(xs, rescales), want, f"CONCATENATION {channels}")


def test_requantize_fixed_point_matches_integer_model(kernel_lib):
    """MultiplyByQuantizedMultiplier over wide inputs and every shift, vs an exact big-int model
    of gemmlowp's rounding (including ties, which random model data seldom hits)."""
    rng = np.random.default_rng(11)
    x = rand_int8(rng, (4096,))
    checked = 0
    for shift in range(-31, 8):
        for _ in range(3):
            mult = int(rng.integers(1 << 30, 1 << 31))
            in_off = int(rng.integers(-(1 << 20), 1 << 20)) >> max(0, shift + 8)
            p = quant.RescaleParams(in_off, 0, mult, shift)
            vals = x.astype(np.int64) + in_off
            want = np.array([_ref_mbqm(int(v), mult, shift) for v in vals])
            unclamped = (want >= -128) & (want <= 127)
            got = kernel_lib.requantize(x, p).astype(np.int64)
            np.testing.assert_array_equal(got, np.clip(want, -128, 127), err_msg=f"shift={shift}")
            checked += int(unclamped.sum())
    assert checked > 20000
    # Exact ties. The doubling high multiply rounds a half up (x * 0.5: -1.5 -> -1), the
    # power-of-two divide rounds it away from zero (x * 0.25: -0.5 -> -1).
    xs = np.arange(-128, 128, dtype=np.int8)
    half = kernel_lib.requantize(xs, quant.RescaleParams(0, 0, 1 << 30, 0))
    np.testing.assert_array_equal(half, [_ref_mbqm(v, 1 << 30, 0) for v in range(-128, 128)])
    assert half[128 + 3] == 2 and half[128 - 3] == -1
    quarter = kernel_lib.requantize(xs, quant.RescaleParams(0, 0, 1 << 30, -1))
    np.testing.assert_array_equal(quarter, [_ref_mbqm(v, 1 << 30, -1) for v in range(-128, 128)])
    assert quarter[128 + 2] == 1 and quarter[128 - 2] == -1


def _ref_mbqm(x: int, mult: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    a = x * (1 << left)
    a = (a + (1 << 31)) % (1 << 32) - (1 << 31)  # int32 wrap, as the reference
    if a == mult == -(1 << 31):
        hi = (1 << 31) - 1
    else:
        ab = a * mult
        nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
        v = ab + nudge
        hi = abs(v) >> 31 if v >= 0 else -(abs(v) >> 31)
    mask = (1 << right) - 1
    rem = hi & mask
    threshold = (mask >> 1) + (1 if hi < 0 else 0)
    return (hi >> right) + (1 if rem > threshold else 0)


@KERNEL_SETTINGS
@given(
    shape=shapes,
    pads=st.tuples(*[st.integers(0, 3)] * 4),
    r=st.sampled_from([0.5, 1.0, 5.0]),
    seed=st.integers(0, 2**16),
)
def test_pad_matches_tflite(kernel_lib, shape, pads, r, seed):
    import tensorflow as tf

    t, b, left, rr = pads
    if sum(pads) == 0:
        pads = (1, 0, 0, 0)
        t = 1

    @tf.function
    def f(x):
        # Asymmetric range: the zero point is not 0, so the pad value really matters.
        return tf.pad(x + r, [[0, 0], [t, b], [left, rr], [0, 0]])

    ref = RefModel(convert_int8(f, [shape], [r], seed=seed))
    assert "PAD" in ref.op_names, ref.op_names
    op = ref.op("PAD")
    q_in, q_out = ref.quant(op["inputs"][0]), ref.quant(op["outputs"][0])
    assert (q_in.scale, q_in.zero_point) == (q_out.scale, q_out.zero_point)
    rng = np.random.default_rng(seed + 1)
    for _ in range(INPUTS_PER_MODEL):
        ref.run(rand_int8(rng, shape))
        x = ref.tensor(op["inputs"][0])
        got = kernel_lib.pad(x, (t, b, left, rr), q_out.zero_point)
        assert_bit_exact(got, ref.tensor(op["outputs"][0]), f"PAD {pads}")
