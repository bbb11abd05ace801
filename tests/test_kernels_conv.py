"""CONV_2D and DEPTHWISE_CONV_2D kernels vs TFLite's reference kernels, bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from kernels_util import (  # noqa: F401  (the *_fixture imports provide kernel_lib and host_runner)
    INPUTS_PER_MODEL,
    KERNEL_SETTINGS,
    RefModel,
    assert_bit_exact,
    convert_int8,
    host_runner_fixture,
    kernel_lib_fixture,
    rand_int8,
)

from hardtool.kernels import calls as K
from hardtool.kernels import quant
from hardtool.kernels.runner import Program
from hardtool.kernels.weights import dw3x3_q15, gemm_q15_pairs

ACTS = ("NONE", "RELU", "RELU6")


@st.composite
def conv_cases(draw, depthwise: bool):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    mode = draw(st.sampled_from(["SAME", "VALID", "EXPLICIT"]))
    eff = ((kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1)
    pads = (0, 0, 0, 0)
    if mode == "EXPLICIT":
        pads = tuple(draw(st.integers(0, 3)) for _ in range(4))
    h = draw(st.integers(max(1, eff[0] - pads[0] - pads[1]), 9))
    w = draw(st.integers(max(1, eff[1] - pads[2] - pads[3]), 9))
    cin = draw(st.integers(1, 6))
    cout = draw(st.integers(1, 3)) * cin if depthwise else draw(st.integers(1, 6))
    return {
        "k": (kh, kw),
        "dil": dil,
        "stride": stride,
        "mode": mode,
        "pads": pads,
        "in_shape": (1, h, w, cin),
        "cout": cout,
        "act": draw(st.sampled_from(ACTS)),
        "seed": draw(st.integers(0, 2**16)),
        "in_range": draw(st.sampled_from([0.5, 1.0, 4.0])),
    }


def _build(case: dict, depthwise: bool) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(case["seed"])
    kh, kw = case["k"]
    cin = case["in_shape"][3]
    if depthwise:
        w = rng.normal(0, 1, (kh, kw, cin, case["cout"] // cin)).astype(np.float32)
    else:
        w = rng.normal(0, 1, (kh, kw, cin, case["cout"])).astype(np.float32)
    # Spread the per-channel weight scales so the per-channel multipliers really differ.
    w *= np.exp(rng.uniform(-2, 1, w.shape[-1])).astype(np.float32)
    bias = rng.normal(0, 1, case["cout"]).astype(np.float32)
    strides = [1, *case["stride"], 1]
    dil = [1, *case["dil"], 1]
    padding = "VALID" if case["mode"] == "EXPLICIT" else case["mode"]
    t, b, left, r = case["pads"]

    @tf.function
    def f(x):
        if case["mode"] == "EXPLICIT":
            x = tf.pad(x, [[0, 0], [t, b], [left, r], [0, 0]])
        if depthwise:
            y = tf.raw_ops.DepthwiseConv2dNative(
                input=x, filter=w, strides=strides, padding=padding, dilations=dil
            )
        else:
            y = tf.raw_ops.Conv2D(input=x, filter=w, strides=strides, padding=padding, dilations=dil)
        y = y + bias
        if case["act"] == "RELU":
            y = tf.nn.relu(y)
        elif case["act"] == "RELU6":
            y = tf.nn.relu6(y)
        return y

    return convert_int8(f, [case["in_shape"]], [case["in_range"]], seed=case["seed"])


def _padding(case: dict, filt_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    _, h, w, _ = case["in_shape"]
    if case["mode"] == "EXPLICIT":
        return case["pads"]
    if case["mode"] == "VALID":
        return (0, 0, 0, 0)
    pt, pb, _ = quant.same_padding(h, filt_hw[0], case["stride"][0], case["dil"][0])
    pl, pr, _ = quant.same_padding(w, filt_hw[1], case["stride"][1], case["dil"][1])
    return (pt, pb, pl, pr)


def _optimised(prog: Program, x, weights, bias, kw: dict, case: dict, depthwise: bool) -> list:
    """The specialised entry points that take this case (hard_kernels.h), as runner calls."""
    a = K.ConvArgs(**kw)
    if depthwise:
        if case["k"] != (3, 3) or case["cout"] != case["in_shape"][3]:
            return []
        q15 = dw3x3_q15(weights)
        return [K.add_depthwise(prog, "hard_depthwise_conv_3x3_s8", x, weights, bias, a, w_data=q15)]
    outs = [
        K.add_conv(prog, "hard_convolve_im2col_s8", x, weights, bias, a),
        K.add_conv(prog, "hard_convolve_im2col_q15_s8", x, weights, bias, a, w_data=gemm_q15_pairs(weights)),
    ]
    if case["k"] == (1, 1) and not any(a.padding):
        outs.append(K.add_conv(prog, "hard_convolve_1x1_s8", x, weights, bias, a))
        q15 = gemm_q15_pairs(weights)
        outs.append(K.add_conv(prog, "hard_convolve_1x1_q15_s8", x, weights, bias, a, w_data=q15))
    return outs


def _check(kernel_lib, host_runner, case: dict, depthwise: bool) -> None:
    name = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
    ref = RefModel(_build(case, depthwise))
    padded = case["mode"] == "EXPLICIT" and any(case["pads"])  # an all-zero tf.pad is dropped
    expected_ops = (["PAD"] if padded else []) + [name]
    assert ref.op_names == expected_ops, f"converter emitted {ref.op_names}"
    op = ref.op(name)
    x_idx, w_idx, b_idx = op["inputs"][:3]
    y_idx = op["outputs"][0]
    qin, qw, qout = ref.quant(x_idx), ref.quant(w_idx), ref.quant(y_idx)
    model_in = ref.quant(ref.inputs[0])
    # The PAD fold relies on PAD keeping the input's quantisation (pad value = zero point).
    assert (qin.scale, qin.zero_point) == (model_in.scale, model_in.zero_point)
    weights = ref.tensor(w_idx)
    bias = ref.tensor(b_idx)
    assert weights.dtype == np.int8 and bias.dtype == np.int32
    cout = case["cout"]
    scales = qw.scales if qw.scales.size == cout else np.full(cout, qw.scale)
    mults, shifts = quant.conv_channel_params(qin.scale, scales, qout.scale)
    act = quant.activation_range(case["act"], qout.scale, qout.zero_point)
    pads = _padding(case, weights.shape[1:3])

    rng = np.random.default_rng(case["seed"] + 1)
    prog, expected = Program(), []
    for _ in range(INPUTS_PER_MODEL):
        x = rand_int8(rng, case["in_shape"])
        (want,) = ref.run(x)
        kw = dict(
            input_zp=qin.zero_point,
            output_zp=qout.zero_point,
            multipliers=mults,
            shifts=shifts,
            stride=case["stride"],
            dilation=case["dil"],
            padding=pads,
            act=act,
        )
        if depthwise:
            got = kernel_lib.depthwise_conv2d(x, weights, bias, ch_mult=cout // case["in_shape"][3], **kw)
        else:
            got = kernel_lib.conv2d(x, weights, bias, **kw)
        assert_bit_exact(got, want, f"{name} {case}")
        expected += [(buf, want) for buf in _optimised(prog, x, weights, bias, kw, case, depthwise)]
    res = host_runner.run(prog)
    res.check(prog.names)
    for (buf, want), fn in zip(expected, prog.names, strict=True):
        assert_bit_exact(res.get(buf), want, f"{fn} {case}")


@KERNEL_SETTINGS
@given(case=conv_cases(depthwise=False))
def test_conv2d_matches_tflite(kernel_lib, host_runner, case):
    _check(kernel_lib, host_runner, case, depthwise=False)


@KERNEL_SETTINGS
@given(case=conv_cases(depthwise=True))
def test_depthwise_conv2d_matches_tflite(kernel_lib, host_runner, case):
    _check(kernel_lib, host_runner, case, depthwise=True)


def test_conv2d_activation_clamp_and_no_bias(kernel_lib):
    """The clamp bites and a NULL bias equals a zero bias (cases a converted model rarely hits)."""
    rng = np.random.default_rng(7)
    x = rand_int8(rng, (1, 5, 6, 3))
    w = rand_int8(rng, (4, 3, 3, 3))
    kw = dict(input_zp=3, output_zp=-5, multipliers=[1 << 30] * 4, shifts=[-6] * 4, padding=(1, 1, 1, 1))
    free = kernel_lib.conv2d(x, w, None, **kw)
    assert len(np.unique(free)) > 10
    clamped = kernel_lib.conv2d(x, w, np.zeros(4, np.int32), act=(-20, 30), **kw)
    np.testing.assert_array_equal(clamped, np.clip(free, -20, 30))
    assert (free < -20).any() and (free > 30).any()
