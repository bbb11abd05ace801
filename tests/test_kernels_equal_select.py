"""EQUAL (int8 in, bool out) and SELECT_V2 (bool condition, int8 values) vs TFLite's reference
kernels, bit for bit: in the max-unpooling pattern the export gives (a stride-2 max-pool of x
over its windows' top rows == the 2×2 max-pool of x; the values where true, zero elsewhere, and
the other way round) and on two independent inputs with their own scales, broadcast, where
TFLite's rescaled comparison makes close values equal (scales below 1/256)."""

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

FEW = settings(KERNEL_SETTINGS, max_examples=8)  # each example converts a model
RANGES = st.sampled_from([(-1.0, 1.0), (-0.1, 0.1), (-0.02, 0.05), (-6.0, 2.0), (0.0, 0.3)])


def _dims4(a: np.ndarray) -> np.ndarray:
    return a.reshape((1,) * (4 - a.ndim) + a.shape)


def _check_ops(lib, ref: RefModel, inputs: list[np.ndarray], what: str) -> None:
    """Run the model; every EQUAL and SELECT_V2 in it, on the tensors TFLite fed it, equals TFLite."""
    ref.run(*inputs)
    for op in ref.ops:
        args = [_dims4(ref.tensor(i)) for i in op["inputs"]]
        want = _dims4(ref.tensor(op["outputs"][0]))
        if op["op_name"] == "EQUAL":
            q1, q2 = ref.quant(op["inputs"][0]), ref.quant(op["inputs"][1])
            p = quant.compare_params(q1.scale, q1.zero_point, q2.scale, q2.zero_point)
            got = lib.data.equal(args[0], args[1], p)
        elif op["op_name"] == "SELECT_V2":
            got = lib.data.select_v2(*args)
        else:
            continue
        assert_bit_exact(got.astype(np.int8), want.astype(np.int8), f"{op['op_name']} {what}")


@st.composite
def unpool_cases(draw):
    return {
        "h": draw(st.integers(1, 5)),
        "w": draw(st.integers(1, 5)),
        "c": draw(st.integers(1, 6)),
        "x_range": draw(RANGES),
        "y_range": draw(RANGES),
        "seed": draw(st.integers(0, 2**16)),
    }


@FEW
@given(case=unpool_cases())
def test_unpool_pattern_matches_tflite(kernel_lib, case):
    import tensorflow as tf

    h, w, c = case["h"], case["w"], case["c"]

    @tf.function
    def f(x, y):
        m = tf.nn.max_pool2d(x, 2, 2, "VALID")
        taken = tf.equal(tf.nn.max_pool2d(x, [1, 2], 2, "VALID"), m)
        return tf.where(taken, y, 0.0), tf.where(taken, 0.0, y)

    shapes = [(1, 2 * h, 2 * w, c), (1, h, w, c)]
    ref = RefModel(convert_int8(f, shapes, [case["x_range"], case["y_range"]], seed=case["seed"]))
    assert {"EQUAL", "SELECT_V2"} <= set(ref.op_names), ref.op_names
    rng = np.random.default_rng(case["seed"])
    for _ in range(INPUTS_PER_MODEL):
        _check_ops(kernel_lib, ref, [rand_int8(rng, s) for s in shapes], str(case))


@st.composite
def compare_cases(draw):
    h, w, c = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 8))
    return {
        "a": (1, h, w, c),
        "b": draw(st.sampled_from([(1, h, w, c), (1, 1, w, c), (1, h, 1, 1), (1, 1, 1, c)])),
        "a_range": draw(RANGES),
        "b_range": draw(RANGES),
        "seed": draw(st.integers(0, 2**16)),
    }


@FEW
@given(case=compare_cases())
def test_equal_two_scales_matches_tflite(kernel_lib, case):
    import tensorflow as tf

    @tf.function
    def f(a, b):
        return tf.where(tf.equal(a, b), a, b)

    shapes = [case["a"], case["b"]]
    ref = RefModel(convert_int8(f, shapes, [case["a_range"], case["b_range"]], seed=case["seed"]))
    assert "EQUAL" in ref.op_names, ref.op_names
    rng = np.random.default_rng(case["seed"])
    for _ in range(INPUTS_PER_MODEL):
        _check_ops(kernel_lib, ref, [rand_int8(rng, s) for s in shapes], str(case))


def test_small_scales_make_close_values_equal(kernel_lib):
    """Scale 1/1024: after the 8-bit shift four int8 steps round to one value, as in TFLite."""
    p = quant.compare_params(1 / 1024, 0, 1 / 1024, 0)
    a = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 16, 16)
    got = kernel_lib.data.equal(a, np.zeros_like(a), p)
    want = [
        quant._mbqm(int(v) * 256, p.input1_multiplier, p.input1_shift) == 0 for v in a.ravel()
    ]  # the rescaled zero is 0
    assert got.ravel().tolist() == want and 1 < sum(want) < 8
