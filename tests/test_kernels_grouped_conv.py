"""Grouped CONV_2D (filter input channels = input channels / groups) vs TFLite's reference
kernels (reference_integer_ops::ConvPerChannel), bit for bit: the portable kernel and the SIMD
GEMM one, in the plain and the emulated-DSP library builds."""

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


@st.composite
def grouped_cases(draw):
    groups = draw(st.integers(2, 4))
    cin_g, cout_g = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dil = draw(st.sampled_from([(1, 1), (1, 1), (2, 1), (2, 2)]))
    mode = draw(st.sampled_from(["SAME", "VALID"]))
    eff = ((kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1)
    stride = (1, 1) if dil != (1, 1) else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    return {
        "groups": groups,
        "k": (kh, kw),
        "dil": dil,
        "stride": stride,
        "mode": mode,
        "in_shape": (1, draw(st.integers(eff[0], 7)), draw(st.integers(eff[1], 7)), groups * cin_g),
        "cout": groups * cout_g,
        "act": draw(st.sampled_from(["NONE", "RELU", "RELU6"])),
        "seed": draw(st.integers(0, 2**16)),
    }


def _build(case: dict) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(case["seed"])
    cin_g = case["in_shape"][3] // case["groups"]
    w = rng.normal(0, 1, (*case["k"], cin_g, case["cout"])).astype(np.float32)
    w *= np.exp(rng.uniform(-2, 1, case["cout"])).astype(np.float32)
    bias = rng.normal(0, 1, case["cout"]).astype(np.float32)

    @tf.function
    def f(x):
        y = tf.nn.conv2d(x, w, [1, *case["stride"], 1], case["mode"], dilations=[1, *case["dil"], 1]) + bias
        return {"RELU": tf.nn.relu, "RELU6": tf.nn.relu6}.get(case["act"], tf.identity)(y)

    return convert_int8(f, [case["in_shape"]], seed=case["seed"])


def _check(libs, case: dict) -> None:
    ref = RefModel(_build(case))
    assert ref.op_names == ["CONV_2D"], f"converter emitted {ref.op_names}"
    op = ref.op("CONV_2D")
    x_idx, w_idx, b_idx = op["inputs"][:3]
    qin, qw, qout = ref.quant(x_idx), ref.quant(w_idx), ref.quant(op["outputs"][0])
    weights, bias = ref.tensor(w_idx), ref.tensor(b_idx)
    assert weights.shape[3] * case["groups"] == case["in_shape"][3], "not a grouped CONV_2D"
    cout = case["cout"]
    scales = qw.scales if qw.scales.size == cout else np.full(cout, qw.scale)
    mults, shifts = quant.conv_channel_params(qin.scale, scales, qout.scale)
    _, h, w, _ = case["in_shape"]
    pads = (0, 0, 0, 0)
    if case["mode"] == "SAME":
        pt, pb, _ = quant.same_padding(h, case["k"][0], case["stride"][0], case["dil"][0])
        pl, pr, _ = quant.same_padding(w, case["k"][1], case["stride"][1], case["dil"][1])
        pads = (pt, pb, pl, pr)
    kw = dict(
        input_zp=qin.zero_point,
        output_zp=qout.zero_point,
        multipliers=mults,
        shifts=shifts,
        stride=case["stride"],
        dilation=case["dil"],
        padding=pads,
        act=quant.activation_range(case["act"], qout.scale, qout.zero_point),
    )
    rng = np.random.default_rng(case["seed"] + 1)
    for _ in range(INPUTS_PER_MODEL):
        x = rand_int8(rng, case["in_shape"])
        (want,) = ref.run(x)
        for lib in libs:
            for gemm in (False, True):
                assert_bit_exact(
                    lib.grouped_conv2d(x, weights, bias, gemm=gemm, **kw), want, f"gemm={gemm} {case}"
                )


@KERNEL_SETTINGS
@given(case=grouped_cases())
def test_grouped_conv2d_matches_tflite(kernel_lib, kernel_lib_dsp, case):
    _check([kernel_lib, kernel_lib_dsp], case)


def test_grouped_conv2d_one_group_is_conv2d(kernel_lib):
    """With one group the kernels equal CONV_2D's (and without bias, and with the clamp)."""
    rng = np.random.default_rng(5)
    x = rand_int8(rng, (1, 6, 7, 8))
    w = rand_int8(rng, (5, 3, 3, 8))
    kw = dict(input_zp=3, output_zp=-5, multipliers=[1 << 30] * 5, shifts=[-7] * 5, padding=(1, 1, 1, 1))
    want = kernel_lib.conv2d(x, w, None, act=(-40, 90), **kw)
    for gemm in (False, True):
        assert_bit_exact(
            kernel_lib.grouped_conv2d(x, w, None, act=(-40, 90), gemm=gemm, **kw), want, "1 group"
        )
    assert (want == -40).any() and (want == 90).any()
