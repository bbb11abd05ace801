"""AVERAGE_POOL_2D, MAX_POOL_2D and MEAN over H,W vs TFLite's reference kernels."""

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


@st.composite
def pool_cases(draw):
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    mode = draw(st.sampled_from(["SAME", "VALID"]))
    h = draw(st.integers(ph if mode == "VALID" else 1, 10))
    w = draw(st.integers(pw if mode == "VALID" else 1, 10))
    return {
        "pool": (ph, pw),
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "mode": mode,
        "in_shape": (1, h, w, draw(st.integers(1, 7))),
        "seed": draw(st.integers(0, 2**16)),
    }


def _pool_model(case: dict, kind: str) -> RefModel:
    import tensorflow as tf

    ksize, strides, padding = list(case["pool"]), list(case["stride"]), case["mode"]

    @tf.function
    def f(x):
        if kind == "avg":
            return tf.nn.avg_pool2d(x, ksize, strides, padding)
        return tf.nn.max_pool2d(x, ksize, strides, padding)

    return RefModel(convert_int8(f, [case["in_shape"]], seed=case["seed"]))


def _check_pool(kernel_lib, case: dict, kind: str) -> None:
    name = "AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D"
    ref = _pool_model(case, kind)
    assert ref.op_names == [name], f"converter emitted {ref.op_names}"
    op = ref.op(name)
    qin, qout = ref.quant(op["inputs"][0]), ref.quant(op["outputs"][0])
    assert (qin.scale, qin.zero_point) == (qout.scale, qout.zero_point)
    _, h, w, _ = case["in_shape"]
    if case["mode"] == "SAME":
        pt, pb, _ = quant.same_padding(h, case["pool"][0], case["stride"][0])
        pl, pr, _ = quant.same_padding(w, case["pool"][1], case["stride"][1])
        pads = (pt, pb, pl, pr)
    else:
        pads = (0, 0, 0, 0)
    run = kernel_lib.avg_pool if kind == "avg" else kernel_lib.max_pool
    rng = np.random.default_rng(case["seed"] + 1)
    for _ in range(INPUTS_PER_MODEL):
        x = rand_int8(rng, case["in_shape"])
        (want,) = ref.run(x)
        got = run(x, case["pool"], case["stride"], pads)
        assert_bit_exact(got, want, f"{name} {case}")


@KERNEL_SETTINGS
@given(case=pool_cases())
def test_avg_pool_matches_tflite(kernel_lib, case):
    _check_pool(kernel_lib, case, "avg")


@KERNEL_SETTINGS
@given(case=pool_cases())
def test_max_pool_matches_tflite(kernel_lib, case):
    _check_pool(kernel_lib, case, "max")


@KERNEL_SETTINGS
@given(
    h=st.integers(1, 12),
    w=st.integers(2, 12),  # a 1x1 mean is an identity the converter removes
    c=st.integers(1, 8),
    out_gain=st.sampled_from([0.25, 1.0, 3.0]),
    seed=st.integers(0, 2**16),
)
def test_mean_hw_matches_tflite(kernel_lib, h, w, c, out_gain, seed):
    import tensorflow as tf

    @tf.function
    def f(x):
        # The gain makes the output scale differ from the input's (the rescaling path).
        return tf.reduce_mean(x, axis=[1, 2], keepdims=True) * out_gain

    ref = RefModel(convert_int8(f, [(1, h, w, c)], seed=seed))
    assert ref.op_names[0] == "MEAN", ref.op_names
    op = ref.op("MEAN")
    qin, qout = ref.quant(op["inputs"][0]), ref.quant(op["outputs"][0])
    params = quant.mean_params(qin.scale, qin.zero_point, qout.scale, qout.zero_point)
    rng = np.random.default_rng(seed + 1)
    for _ in range(INPUTS_PER_MODEL):
        x = rand_int8(rng, (1, h, w, c))
        ref.run(x)
        want = ref.tensor(op["outputs"][0])
        got = kernel_lib.mean_hw(x, params)
        assert_bit_exact(got, want, f"MEAN h={h} w={w} c={c} gain={out_gain}")


def test_pool_activation_clamp(kernel_lib):
    """Fused activation clamps in both pools (converted models rarely make it bite)."""
    rng = np.random.default_rng(3)
    x = rand_int8(rng, (1, 6, 7, 5))
    for run in (kernel_lib.avg_pool, kernel_lib.max_pool):
        free = run(x, (2, 2), (1, 1))
        clamped = run(x, (2, 2), (1, 1), act=(-10, 40))
        np.testing.assert_array_equal(clamped, np.clip(free, -10, 40))
        assert (free < -10).any() and (free > 40).any()
