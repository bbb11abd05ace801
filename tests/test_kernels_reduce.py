"""MEAN over any axes (keep_dims or not) vs TFLite's reference kernel (QuantizedMeanOrSum)."""

from __future__ import annotations

import numpy as np
import pytest
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
def mean_cases(draw):
    rank = draw(st.integers(2, 4))
    shape = tuple(draw(st.integers(1, 7)) for _ in range(rank))
    axes = draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank))
    if len({a % rank for a in axes}) == rank and rank > 1:
        axes = axes[:1]  # TFLite models keep at least one dim
    return {
        "shape": shape,
        "axes": axes,
        "keep_dims": draw(st.booleans()),
        "range": draw(st.sampled_from([(-1.0, 1.0), (-0.05, 0.3), (-20.0, 2.0), (1.0, 3.0)])),
        "seed": draw(st.integers(0, 2**16)),
    }


@KERNEL_SETTINGS
@given(case=mean_cases())
def test_mean_matches_tflite(kernel_lib, case):
    """Axes in any order, negative and repeated; input and output scales differ (the output is
    calibrated on the mean), so the folded 1/count rescale is exercised."""
    import tensorflow as tf

    @tf.function
    def f(x):
        return tf.reduce_mean(x, axis=case["axes"], keepdims=case["keep_dims"])

    ref = RefModel(convert_int8(f, [case["shape"]], [case["range"]], seed=case["seed"]))
    assert ref.op_names == ["MEAN"], ref.op_names
    op = ref.op("MEAN")
    qx, qy = ref.quant(op["inputs"][0]), ref.quant(op["outputs"][0])
    axes = [int(a) for a in ref.tensor(op["inputs"][1]).reshape(-1)]
    p = quant.mean_params(qx.scale, qx.zero_point, qy.scale, qy.zero_point)
    rng = np.random.default_rng(case["seed"] + 1)
    for _ in range(INPUTS_PER_MODEL):
        x = rand_int8(rng, case["shape"])
        (want,) = ref.run(x)
        got = kernel_lib.mean(x, axes, p).reshape(want.shape)
        assert_bit_exact(got, want, f"MEAN {case}")


def test_mean_of_a_hw_reduction_equals_the_hw_kernel(kernel_lib):
    """The general kernel and hard_mean_hw_s8 agree where both apply (one fold, one rounding)."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        shape = (int(rng.integers(1, 3)), *(int(v) for v in rng.integers(1, 12, size=3)))
        p = quant.mean_params(float(rng.uniform(0.01, 1)), int(rng.integers(-128, 128)), 0.05, -3)
        x = rand_int8(rng, shape)
        assert_bit_exact(kernel_lib.mean(x, [1, 2], p), kernel_lib.mean_hw(x, p), f"{shape}")


def test_mean_axes_resolve_like_tflite():
    """Negative and repeated axes map onto the right-aligned 4-D shape; no axis is refused."""
    from hardtool.kernels import layout

    assert layout.mean_axes((2, 3, 4), [-1, 0, 2]) == ((1, 2, 3, 4), 2 | 8)
    assert layout.mean_axes((5, 6), [1]) == ((1, 1, 5, 6), 8)
    with pytest.raises(ValueError, match="no axis"):
        layout.mean_axes((2, 3), [])
    with pytest.raises(ValueError, match="out of range"):
        layout.mean_axes((2, 3), [2])
