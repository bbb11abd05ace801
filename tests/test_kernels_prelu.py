"""PRELU vs TFLite's reference kernels (BroadcastPrelu4DSlow), bit for bit.

The converter fuses ``relu(x) + relu(-x) * (-alpha)`` with a constant alpha into PRELU (the
form onnx2tf gives torch's nn.PReLU): alpha [1, 1, C] (per channel, broadcast over H and W)
or a full [H, W, C] map, quantised per tensor."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from kernels_util import (  # noqa: F401  (the *_fixture imports provide kernel_lib and kernel_lib_dsp)
    INPUTS_PER_MODEL,
    KERNEL_SETTINGS,
    RefModel,
    assert_bit_exact,
    convert_int8,
    kernel_lib_dsp_fixture,
    kernel_lib_fixture,
    rand_int8,
)

from hardtool.kernels import quant

RANGES = st.sampled_from([(-1.0, 1.0), (-0.05, 0.02), (-7.0, 0.5), (-0.1, 12.0), (-60.0, 100.0)])


@st.composite
def prelu_cases(draw):
    h, w, c = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 9))
    return {
        "shape": (1, h, w, c),
        "alpha_shape": draw(st.sampled_from([(1, 1, c), (h, w, c), (1, w, c)])),
        "alpha_mean": draw(st.sampled_from([0.01, 0.25, 1.0, -0.5, 3.0])),
        "range": draw(RANGES),
        "seed": draw(st.integers(0, 2**16)),
    }


def _model(case: dict) -> RefModel:
    import tensorflow as tf

    rng = np.random.default_rng(case["seed"])
    alpha = rng.normal(case["alpha_mean"], 0.3, case["alpha_shape"]).astype(np.float32)

    @tf.function
    def f(x):
        return tf.nn.relu(x) + tf.nn.relu(-x) * (-alpha)

    return RefModel(convert_int8(f, [case["shape"]], [case["range"]], seed=case["seed"]))


def _check(libs, case: dict) -> None:
    ref = _model(case)
    assert ref.op_names == ["PRELU"], f"converter emitted {ref.op_names}"
    op = ref.op("PRELU")
    x_idx, a_idx = op["inputs"]
    qx, qa, qy = ref.quant(x_idx), ref.quant(a_idx), ref.quant(op["outputs"][0])
    assert qa.scales.size == 1, "PRELU's alpha is quantised per tensor"
    alpha = ref.tensor(a_idx)
    p = quant.prelu_params(qx.scale, qx.zero_point, qa.scale, qa.zero_point, qy.scale, qy.zero_point)
    rng = np.random.default_rng(case["seed"] + 1)
    for _ in range(INPUTS_PER_MODEL):
        x = rand_int8(rng, case["shape"])
        (want,) = ref.run(x)
        for lib in libs:
            assert_bit_exact(lib.prelu(x, alpha, p), want, f"PRELU {case}")


@KERNEL_SETTINGS
@given(case=prelu_cases())
def test_prelu_matches_tflite(kernel_lib, kernel_lib_dsp, case):
    _check([kernel_lib, kernel_lib_dsp], case)


def test_prelu_alpha_offset(kernel_lib):
    """A non-zero alpha zero point (the converter always gives 0) against the reference formula."""
    from kernels_util import ref_mbqm

    rng = np.random.default_rng(3)
    x = rand_int8(rng, (1, 3, 4, 5))
    alpha = rand_int8(rng, (1, 1, 5))
    p = quant.prelu_params(0.05, 7, 0.01, -9, 0.04, -3)
    got = kernel_lib.prelu(x, alpha, p)
    v = x.astype(np.int64) + p.input_offset
    a = alpha.astype(np.int64).reshape(1, 1, 1, 5) + p.alpha_offset
    want = np.empty_like(v)
    for i in np.ndindex(v.shape):
        if v[i] >= 0:
            want[i] = ref_mbqm(int(v[i]), p.identity_multiplier, p.identity_shift)
        else:
            want[i] = ref_mbqm(int(v[i] * a[0, 0, 0, i[3]]), p.alpha_multiplier, p.alpha_shift)
    want = np.clip(want + p.output_offset, -128, 127).astype(np.int8)
    assert_bit_exact(got, want, "PRELU alpha offset")
    assert (v < 0).any() and (v >= 0).any()
