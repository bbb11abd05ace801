"""TRANSPOSE_CONV vs TFLite's reference kernels (reference_integer_ops::TransposeConv), bit for bit.

Any kernel size, stride and output size TFLite allows for SAME and VALID padding, with and
without bias, per-channel weights; the portable gather kernel and the SIMD one (its DSP
intrinsics emulated in C on the host), in the plain and the emulated-DSP library builds."""

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


def _out_size(draw, size: int, k: int, s: int, mode: str) -> int:
    """An output size whose forward conv (SAME or VALID) has ``size`` outputs."""
    if mode == "SAME":
        return draw(st.integers((size - 1) * s + 1, size * s))
    return draw(st.integers((size - 1) * s + k, (size - 1) * s + k + s - 1))


@st.composite
def tconv_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    mode = draw(st.sampled_from(["SAME", "VALID"]))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    out_hw = (_out_size(draw, h, kh, stride[0], mode), _out_size(draw, w, kw, stride[1], mode))
    return {
        "k": (kh, kw),
        "stride": stride,
        "mode": mode,
        "in_shape": (1, h, w, draw(st.integers(1, 9))),
        "out_hw": out_hw,
        "cout": draw(st.integers(1, 7)),
        "bias": draw(st.booleans()),
        "act": draw(st.sampled_from(["NONE", "RELU"])),
        "seed": draw(st.integers(0, 2**16)),
        "in_range": draw(st.sampled_from([0.5, 1.0, (-0.2, 3.0)])),
    }


def _build(case: dict) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(case["seed"])
    cin, cout = case["in_shape"][3], case["cout"]
    w = rng.normal(0, 1, (*case["k"], cout, cin)).astype(np.float32)  # HWOI as TF's filter
    w *= np.exp(rng.uniform(-2, 1, cout)).astype(np.float32)[None, None, :, None]
    bias = rng.normal(0, 1, cout).astype(np.float32)
    out_shape = [1, *case["out_hw"], cout]

    @tf.function
    def f(x):
        y = tf.nn.conv2d_transpose(x, w, out_shape, [1, *case["stride"], 1], case["mode"])
        if case["bias"]:
            y = y + bias
        return tf.nn.relu(y) if case["act"] == "RELU" else y

    return convert_int8(f, [case["in_shape"]], [case["in_range"]], seed=case["seed"])


def _check(libs, case: dict) -> None:
    ref = RefModel(_build(case))
    assert ref.op_names[0] == "TRANSPOSE_CONV", f"converter emitted {ref.op_names}"
    op = ref.op("TRANSPOSE_CONV")
    fused = ref.op_names == ["TRANSPOSE_CONV"]  # the RELU fused, or none asked
    assert fused or ref.op_names == ["TRANSPOSE_CONV", "RELU"], ref.op_names
    _, w_idx, x_idx = op["inputs"][:3]
    b_idx = op["inputs"][3] if len(op["inputs"]) > 3 else -1
    qin, qw, qout = ref.quant(x_idx), ref.quant(w_idx), ref.quant(op["outputs"][0])
    weights = ref.tensor(w_idx)
    bias = ref.tensor(b_idx) if b_idx >= 0 else None
    assert (bias is not None) == case["bias"], "the converter drops the bias input when there is none"
    cout = case["cout"]
    scales = qw.scales if qw.scales.size == cout else np.full(cout, qw.scale)
    mults, shifts = quant.conv_channel_params(qin.scale, scales, qout.scale)
    act_name = case["act"] if fused else "NONE"
    act = quant.activation_range(act_name, qout.scale, qout.zero_point)
    pt, pb = quant.transpose_conv_padding(case["out_hw"][0], case["k"][0], case["stride"][0], case["mode"])
    pl, pr = quant.transpose_conv_padding(case["out_hw"][1], case["k"][1], case["stride"][1], case["mode"])
    rng = np.random.default_rng(case["seed"] + 1)
    for _ in range(INPUTS_PER_MODEL):
        x = rand_int8(rng, case["in_shape"])
        ref.run(x)
        want = ref.tensor(op["outputs"][0])
        kw = dict(
            input_zp=qin.zero_point,
            output_zp=qout.zero_point,
            multipliers=mults,
            shifts=shifts,
            stride=case["stride"],
            padding=(pt, pb, pl, pr),
            act=act,
        )
        for lib in libs:
            for gemm in (False, True):
                got = lib.transpose_conv(x, weights, bias, case["out_hw"], gemm=gemm, **kw)
                assert_bit_exact(got, want, f"TRANSPOSE_CONV gemm={gemm} {case}")


@KERNEL_SETTINGS
@given(case=tconv_cases())
def test_transpose_conv_matches_tflite(kernel_lib, kernel_lib_dsp, case):
    _check([kernel_lib, kernel_lib_dsp], case)


def test_transpose_conv_unet_upsampler(kernel_lib):
    """The U-Net upsampler (k 2, stride 2, VALID: every output pixel sees one tap), wide enough
    that both kernels run their four-channel groups, the fast requantisation and the clamp."""
    rng = np.random.default_rng(11)
    x = rand_int8(rng, (1, 4, 5, 24))
    w = rand_int8(rng, (13, 2, 2, 24))
    b = rng.integers(-5000, 5000, 13).astype(np.int32)
    kw = dict(input_zp=-7, output_zp=4, multipliers=[1 << 30] * 13, shifts=[-9] * 13, stride=(2, 2))
    kw["padding"] = (0, 0, 0, 0)
    plain = kernel_lib.transpose_conv(x, w, b, (8, 10), **kw)
    simd = kernel_lib.transpose_conv(x, w, b, (8, 10), gemm=True, **kw)
    assert_bit_exact(simd, plain, "gather kernels")
    # every output pixel is exactly one input pixel times one filter tap
    acc = np.einsum("hwi,oyxi->hywxo", x[0].astype(np.int64) + 7, w.astype(np.int64)).reshape(8, 10, 13) + b
    from kernels_util import ref_mbqm

    want = np.vectorize(lambda v: ref_mbqm(int(v), 1 << 30, -9))(acc) + 4
    assert_bit_exact(plain[0], np.clip(want, -128, 127).astype(np.int8), "k2 s2 formula")
    assert len(np.unique(plain)) > 50
