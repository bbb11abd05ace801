"""FULLY_CONNECTED vs TFLite's reference kernels, bit for bit, on the portable and the DSP path."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from kernels_util import (  # noqa: F401  (the *_fixture imports provide the kernel_lib fixtures)
    INPUTS_PER_MODEL,
    KERNEL_SETTINGS,
    RefModel,
    assert_bit_exact,
    convert_int8,
    kernel_lib_dsp_fixture,
    kernel_lib_fixture,
    rand_int8,
    ref_mbqm,
)

from hardtool.kernels import quant

ACTS = ("NONE", "RELU", "RELU6")


@st.composite
def fc_cases(draw):
    lo = draw(st.sampled_from([-8.0, -1.0, -0.05, 0.0]))
    return {
        "lead": draw(st.sampled_from([(1,), (3,), (1, 4), (2, 3)])),  # 3-D inputs keep their dims
        "depth": draw(st.integers(1, 40)),  # below, at and above multiples of the DSP step of 4
        "units": draw(st.integers(1, 9)),  # odd counts leave the DSP path one unit to do alone
        "bias": draw(st.booleans()),
        "per_channel": draw(st.booleans()),
        "act": draw(st.sampled_from(ACTS)),
        "range": (lo, draw(st.sampled_from([0.05, 1.0, 8.0]))),  # asymmetric: zero points far from 0
        "seed": draw(st.integers(0, 2**16)),
    }


def _build(case: dict) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(case["seed"])
    w = rng.normal(0, 1, (case["depth"], case["units"])).astype(np.float32)
    w *= np.exp(rng.uniform(-2, 1, case["units"])).astype(np.float32)  # distinct per-unit scales
    b = rng.normal(0, 1, case["units"]).astype(np.float32)

    @tf.function
    def f(x):
        y = tf.tensordot(x, w, axes=1)
        if case["bias"]:
            y = y + b
        if case["act"] == "RELU":
            y = tf.nn.relu(y)
        elif case["act"] == "RELU6":
            y = tf.nn.relu6(y)
        return y

    flags = {"_experimental_disable_per_channel_quantization_for_dense_layers": not case["per_channel"]}
    shape = (*case["lead"], case["depth"])
    return convert_int8(f, [shape], [case["range"]], seed=case["seed"], **flags)


@KERNEL_SETTINGS
@given(case=fc_cases())
def test_fully_connected_matches_tflite(kernel_lib, kernel_lib_dsp, case):
    ref = RefModel(_build(case))
    assert ref.op_names == ["FULLY_CONNECTED"], ref.op_names
    op = ref.op("FULLY_CONNECTED")
    x_idx, w_idx, b_idx = (*op["inputs"], -1)[:3]
    assert (b_idx >= 0) == case["bias"], op["inputs"]
    qx, qw, qy = ref.quant(x_idx), ref.quant(w_idx), ref.quant(op["outputs"][0])
    assert (qw.scales.size > 1) == case["per_channel"] or case["units"] == 1
    assert np.all(qw.zero_points == 0)
    p = quant.fc_params(qx.scale, qx.zero_point, qw.scales, qy.scale, qy.zero_point)
    act = quant.activation_range(case["act"], qy.scale, qy.zero_point)
    w = ref.tensor(w_idx)
    bias = ref.tensor(b_idx) if b_idx >= 0 else None
    rng = np.random.default_rng(case["seed"] + 1)
    for _ in range(INPUTS_PER_MODEL):
        x = rand_int8(rng, ref.shape(x_idx))
        (want,) = ref.run(x)
        for lib, path in ((kernel_lib, "portable"), (kernel_lib_dsp, "DSP")):
            got = lib.fully_connected(x, w, bias, p, act).reshape(want.shape)
            assert_bit_exact(got, want, f"FULLY_CONNECTED {path} {case}")


def test_dsp_path_equals_portable_on_extremes(kernel_lib, kernel_lib_dsp):
    """Offsets at both ends of their range, a non-zero filter offset (which TFLite int8 models
    never have), long rows and saturating values: the SMLAD path gives the portable result."""
    rng = np.random.default_rng(5)
    for trial in range(60):
        depth, units, batches = int(rng.integers(1, 300)), int(rng.integers(1, 8)), int(rng.integers(1, 3))
        x = rand_int8(rng, (batches, depth))
        w = rand_int8(rng, (units, depth))
        if trial % 3 == 0:
            x[:] = -128 if trial % 2 else 127
            w[:] = -128
        bias = rng.integers(-(1 << 20), 1 << 20, units).astype(np.int32)
        per_channel = bool(trial % 2)
        n = units if per_channel else 1
        p = quant.FcParams(
            input_offset=int(rng.choice([-127, 128, int(rng.integers(-127, 129))])),
            filter_offset=int(rng.choice([0, -5, 128])),
            output_offset=int(rng.integers(-128, 128)),
            multipliers=tuple(int(v) for v in rng.integers(1 << 30, 1 << 31, n)),
            shifts=tuple(int(v) for v in rng.integers(-20, 2, n)),
            per_channel=per_channel,
        )
        want = kernel_lib.fully_connected(x, w, bias, p)
        assert_bit_exact(kernel_lib_dsp.fully_connected(x, w, bias, p), want, f"trial {trial}")
        assert_bit_exact(want, _numpy_fc(x, w, bias, p), f"trial {trial} vs numpy")


def _numpy_fc(x, w, bias, p: quant.FcParams) -> np.ndarray:
    """The reference formula in int64 numpy (no wrap-around occurs at these sizes)."""
    acc = (w.astype(np.int64) + p.filter_offset) @ (x.astype(np.int64) + p.input_offset).T
    acc = acc.T + bias
    out = np.empty(acc.shape, dtype=np.int64)
    for (b, o), v in np.ndenumerate(acc):
        k = o if p.per_channel else 0
        out[b, o] = ref_mbqm(int(v), p.multipliers[k], p.shifts[k]) + p.output_offset
    return np.clip(out, -128, 127)


def _witness_model(weight_seed: int, units_scale: list[float], seed: int, per_channel: bool) -> RefModel:
    import tensorflow as tf

    rng = np.random.default_rng(weight_seed)
    w = rng.normal(0, 1, (4, len(units_scale))).astype(np.float32) * np.float32(units_scale)
    b = rng.normal(0, 1, len(units_scale)).astype(np.float32)
    f = tf.function(lambda x: tf.tensordot(x, w, axes=1) + b)
    flags = {"_experimental_disable_per_channel_quantization_for_dense_layers": not per_channel}
    return RefModel(convert_int8(f, [(1, 4)], [(-2.0, 3.0)], seed=seed, **flags))


def _check_witness(kernel_lib, ref: RefModel, x: tuple, alternative: tuple[int, int]) -> None:
    op = ref.op("FULLY_CONNECTED")
    xi, wi, bi = op["inputs"]
    qx, qw, qy = ref.quant(xi), ref.quant(wi), ref.quant(op["outputs"][0])
    p = quant.fc_params(qx.scale, qx.zero_point, qw.scales, qy.scale, qy.zero_point)
    xs = np.array([x], dtype=np.int8)
    (want,) = ref.run(xs)
    w, bias = ref.tensor(wi), ref.tensor(bi)
    assert_bit_exact(kernel_lib.fully_connected(xs, w, bias, p), want, "witness")
    mults, shifts = list(p.multipliers), list(p.shifts)
    mults[0], shifts[0] = alternative
    other = quant.FcParams(
        p.input_offset, p.filter_offset, p.output_offset, tuple(mults), tuple(shifts), p.per_channel
    )
    assert kernel_lib.fully_connected(xs, w, bias, other)[0, 0] != want[0, 0], (
        "the input does not tell them apart"
    )


def test_per_tensor_multiplier_uses_the_float32_scale_product(kernel_lib):
    """Per-tensor weights: TFLite multiplies input and filter scale in float32 before widening
    (GetQuantizedConvolutionMultipler). An input found offline where the double product would
    round the other way proves the difference matters and that we follow the reference."""
    ref = _witness_model(119, [1.0], seed=19, per_channel=False)
    op = ref.op("FULLY_CONNECTED")
    qx, qw, qy = (ref.quant(i) for i in (op["inputs"][0], op["inputs"][1], op["outputs"][0]))
    double_product = quant.quantize_multiplier(qx.scale * float(qw.scales[0]) / qy.scale)
    _check_witness(kernel_lib, ref, (-128, -128, -47, 89), double_product)


def test_per_channel_multiplier_uses_the_double_scale_product(kernel_lib):
    """Per-channel weights: double(s_in) * double(s_w[c]) / double(s_out); a float32 product
    gives a different output on this input (found offline)."""
    ref = _witness_model(201, [1.0, 7.0], seed=1, per_channel=True)
    op = ref.op("FULLY_CONNECTED")
    qx, qw, qy = (ref.quant(i) for i in (op["inputs"][0], op["inputs"][1], op["outputs"][0]))
    float_product = float(np.float32(qx.scale) * np.float32(qw.scales[0]))
    _check_witness(
        kernel_lib, ref, (-128, -47, -127, 90), quant.quantize_multiplier(float_product / qy.scale)
    )
