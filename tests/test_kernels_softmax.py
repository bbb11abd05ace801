"""SOFTMAX int8 vs TFLite's reference kernel (reference_ops::Softmax, gemmlowp fixed point)."""

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
    patch_options,
    rand_int8,
)

from hardtool.kernels import quant


@KERNEL_SETTINGS
@given(
    shape=st.sampled_from([(1, 1), (1, 2), (3, 10), (2, 37), (1, 3, 4, 5), (1, 1, 1, 300)]),
    in_range=st.sampled_from([(-0.05, 0.02), (-1.0, 1.0), (-8.0, 3.0), (-60.0, 40.0)]),
    beta=st.sampled_from([1.0, 0.3, 2.0, 7.5]),
    seed=st.integers(0, 2**16),
)
def test_softmax_matches_tflite(kernel_lib, shape, in_range, beta, seed):
    """Input scales from tiny to huge (all differences inside or outside diff_min) and betas
    the converter never sets (patched into the model), on 2-D and 4-D tensors."""
    import tensorflow as tf

    model = convert_int8(tf.function(lambda x: tf.nn.softmax(x)), [shape], [in_range], seed=seed)
    ref = RefModel(patch_options(model, "SOFTMAX", beta=beta))
    assert ref.op_names == ["SOFTMAX"], ref.op_names
    op = ref.op("SOFTMAX")
    qx, qy = ref.quant(op["inputs"][0]), ref.quant(op["outputs"][0])
    assert (qy.scale, qy.zero_point) == (1 / 256, -128)
    p = quant.softmax_params(beta, qx.scale)
    rng = np.random.default_rng(seed + 1)
    for k in range(INPUTS_PER_MODEL):
        x = rand_int8(rng, shape)
        if k == 0:
            x[..., : shape[-1] // 2] = x[..., :1]  # ties, and rows of equal values
        (want,) = ref.run(x)
        assert_bit_exact(kernel_lib.softmax(x, p), want, f"SOFTMAX {shape} range={in_range} beta={beta}")


def test_softmax_params_follow_preprocess_softmax_scaling():
    """beta * scale * 2^26 as a multiplier with a left shift; diff_min from the input radius."""
    p = quant.softmax_params(1.0, 1 / 16)
    assert (p.input_multiplier, p.input_left_shift) == (1 << 30, 23)
    assert p.diff_min == -((31 << 26) >> 23)  # 248: exactly representable, floor is exact
    huge = quant.softmax_params(1.0, 1e6)  # capped at 2^31 - 1: only the row maximum survives
    assert (huge.input_multiplier, huge.input_left_shift, huge.diff_min) == ((1 << 31) - 1, 31, 0)
