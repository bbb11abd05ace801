"""QUANTIZE int8 <-> uint8, QUANTIZE float32 -> int8 and DEQUANTIZE int8 -> float32 (graph
inputs/outputs of uint8 and float models) vs TFLite's reference kernels."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from kernels_util import (  # noqa: F401  (kernel_lib_fixture provides the kernel_lib fixture)
    KERNEL_SETTINGS,
    RefModel,
    assert_bit_exact,
    convert_int8,
    kernel_lib_fixture,
    ref_mbqm,
)

from hardtool.kernels import quant

RANGES = st.sampled_from([(-1.0, 1.0), (-0.05, 0.2), (-9.0, 1.0), (0.0, 30.0), (-300.0, 2.0)])


def _model(io_type: str, in_range, seed: int) -> RefModel:
    """tanh between the I/O conversions: its fixed output scale forces a real requantisation."""
    import tensorflow as tf

    return RefModel(
        convert_int8(tf.function(tf.math.tanh), [(1, 256)], [in_range], seed=seed, io_type=io_type)
    )


def _io_ops(ref: RefModel) -> tuple[dict, dict]:
    first, last = ref.ops[0], ref.ops[-1]
    assert first["inputs"][0] == ref.inputs[0] and last["outputs"][0] == ref.outputs[0], ref.op_names
    return first, last


@KERNEL_SETTINGS
@given(in_range=RANGES, seed=st.integers(0, 2**16))
def test_uint8_io_requantisation_matches_tflite(kernel_lib, in_range, seed):
    ref = _model("uint8", in_range, seed)
    q_in, q_out = _io_ops(ref)
    assert ref.op_names == ["QUANTIZE", "TANH", "QUANTIZE"], ref.op_names
    x = np.arange(256, dtype=np.uint8).reshape(1, 256)
    (want,) = ref.run(x)
    a, b = ref.quant(q_in["inputs"][0]), ref.quant(q_in["outputs"][0])
    p_in = quant.requantize_params(a.scale, a.zero_point, b.scale, b.zero_point)
    assert_bit_exact(kernel_lib.requantize_u8_s8(x, p_in), ref.tensor(q_in["outputs"][0]), "uint8 -> int8")
    c, d = ref.quant(q_out["inputs"][0]), ref.quant(q_out["outputs"][0])
    p_out = quant.requantize_params(c.scale, c.zero_point, d.scale, d.zero_point)
    assert_bit_exact(
        kernel_lib.requantize_s8_u8(ref.tensor(q_out["inputs"][0]), p_out), want, "int8 -> uint8"
    )
    every = np.arange(-128, 128, dtype=np.int8)  # the whole int8 -> uint8 map, not only tanh's outputs
    want_all = np.clip(np.array([_requant(int(v), p_out) for v in every]), 0, 255)
    assert_bit_exact(kernel_lib.requantize_s8_u8(every, p_out), want_all, "int8 -> uint8, all values")


def _requant(v: int, p: quant.RescaleParams) -> int:
    return ref_mbqm(v + p.input_offset, p.multiplier, p.shift) + p.output_offset


@KERNEL_SETTINGS
@given(in_range=RANGES, seed=st.integers(0, 2**16))
def test_float_io_matches_tflite(kernel_lib, in_range, seed):
    """Float inputs on every rounding tie, beyond the int8 range, +-0 and tiny values; every
    int8 value through DEQUANTIZE."""
    ref = _model("float32", in_range, seed)
    q_op, dq_op = _io_ops(ref)
    assert (q_op["op_name"], dq_op["op_name"]) == ("QUANTIZE", "DEQUANTIZE"), ref.op_names
    qi = ref.quant(q_op["outputs"][0])
    scale = np.float32(qi.scale)
    ks = np.arange(-128, 128, dtype=np.float32) - qi.zero_point
    ties = (ks[:128] + np.float32(0.5)) * scale  # exactly halfway (in float32) between two levels
    # beyond the int8 range, but not beyond int32 after dividing: the reference's float -> int32
    # cast is undefined there (x86 turns +1e9 / scale into INT32_MIN, i.e. -128)
    far = np.array([-2e5, -3e4, 1e-30, -0.0, 0.0, 7e4, 2e5], dtype=np.float32)
    x = (
        np.concatenate([ties, (ks[128:] - np.float32(0.5)) * scale, far[:0]])
        .astype(np.float32)
        .reshape(1, 256)
    )
    x[0, :7] = far
    (want,) = ref.run(x)
    assert_bit_exact(
        kernel_lib.quantize_f32(x, qi.scale, qi.zero_point), ref.tensor(q_op["outputs"][0]), "QUANTIZE"
    )
    qd = ref.quant(dq_op["inputs"][0])
    got = kernel_lib.dequantize_f32(ref.tensor(dq_op["inputs"][0]), qd.scale, qd.zero_point)
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))  # bit for bit, -0.0 included
    every = np.arange(-128, 128, dtype=np.int8)
    exact = (np.float64(np.float32(qd.scale)) * (every.astype(np.float64) - qd.zero_point)).astype(np.float32)
    np.testing.assert_array_equal(kernel_lib.dequantize_f32(every, qd.scale, qd.zero_point), exact)
