"""LOGISTIC, TANH, HARD_SWISH, RELU family and LEAKY_RELU vs TFLite's reference kernels.

Each op is elementwise int8 -> int8, so every model is checked on all 256 input values: the
kernel is verified as a whole function for that model's quantisation parameters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernels_util import (  # noqa: F401  (kernel_lib_fixture provides the kernel_lib fixture)
    KERNEL_SETTINGS,
    RefModel,
    assert_bit_exact,
    convert_int8,
    kernel_lib_fixture,
    patch_options,
)

from hardtool.kernels import quant

ALL_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
# calibration ranges: symmetric, one-sided, tiny, huge (zero points and scales at their extremes)
RANGES = st.sampled_from([(-1.0, 1.0), (-0.02, 0.05), (-7.0, 0.5), (-0.1, 12.0), (-100.0, 60.0), (0.0, 4.0)])


def _unary_ref(fn, in_range, seed: int, op_name: str) -> tuple[RefModel, quant.Quant, quant.Quant]:
    import tensorflow as tf

    ref = RefModel(convert_int8(tf.function(fn), [ALL_INT8.shape], [in_range], seed=seed))
    assert op_name in ref.op_names, ref.op_names
    op = ref.op(op_name)
    return ref, op, (ref.quant(op["inputs"][0]), ref.quant(op["outputs"][0]))


def _run_all_values(ref: RefModel, op: dict) -> tuple[np.ndarray, np.ndarray]:
    """Feed the op's input tensor every int8 value (the op reads the graph input directly)."""
    assert op["inputs"][0] == ref.inputs[0]
    (want,) = ref.run(ALL_INT8)
    return ALL_INT8, want


@KERNEL_SETTINGS
@given(kind=st.sampled_from(["LOGISTIC", "TANH"]), in_range=RANGES, seed=st.integers(0, 2**16))
def test_logistic_and_tanh_tables_match_tflite(kernel_lib, kind, in_range, seed):
    import tensorflow as tf

    fn = tf.math.sigmoid if kind == "LOGISTIC" else tf.math.tanh
    ref, op, (qx, qy) = _unary_ref(fn, in_range, seed, kind)
    table = quant.lut_s8(kind, qx.scale, qx.zero_point, qy.scale, qy.zero_point)
    x, want = _run_all_values(ref, op)
    assert_bit_exact(kernel_lib.lut(x, table), want, f"{kind} range={in_range}")


@KERNEL_SETTINGS
@given(in_range=RANGES, seed=st.integers(0, 2**16))
def test_hard_swish_matches_tflite(kernel_lib, in_range, seed):
    import tensorflow as tf

    ref, op, (qx, qy) = _unary_ref(
        lambda x: x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0), in_range, seed, "HARD_SWISH"
    )
    p = quant.hard_swish_params(qx.scale, qx.zero_point, qy.scale, qy.zero_point)
    x, want = _run_all_values(ref, op)
    assert_bit_exact(kernel_lib.hard_swish(x, p), want, f"HARD_SWISH range={in_range}")


@KERNEL_SETTINGS
@given(kind=st.sampled_from(["RELU", "RELU6", "RELU_N1_TO_1"]), in_range=RANGES, seed=st.integers(0, 2**16))
def test_relu_family_matches_tflite(kernel_lib, kind, in_range, seed):
    """Standalone activations requantise: their output scale differs from the input's."""
    import tensorflow as tf

    fns = {"RELU": tf.nn.relu, "RELU6": tf.nn.relu6, "RELU_N1_TO_1": lambda x: tf.clip_by_value(x, -1.0, 1.0)}
    ref, op, (qx, qy) = _unary_ref(fns[kind], in_range, seed, kind)
    p = quant.relu_params(kind, qx.scale, qx.zero_point, qy.scale, qy.zero_point)
    x, want = _run_all_values(ref, op)
    assert_bit_exact(kernel_lib.relu(x, p), want, f"{kind} range={in_range}")


def test_relu_0_to_1_matches_tflite_builtin(kernel_lib):
    """RELU_0_TO_1 is not in the BUILTIN_REF resolver; its one kernel (Relu0to1Eval, the same
    QuantizedReluX as RELU) runs under BUILTIN_WITHOUT_DEFAULT_DELEGATES. The model is a
    RELU_N1_TO_1 model with its operator code patched."""
    import tensorflow as tf

    for seed, in_range in enumerate([(-1.0, 1.0), (-0.3, 2.0), (-5.0, 0.4)]):
        model = convert_int8(
            tf.function(lambda x: tf.clip_by_value(x, -1.0, 1.0)), [ALL_INT8.shape], [in_range], seed
        )
        interp = tf.lite.Interpreter(
            model_content=_retype(model, "RELU_N1_TO_1", "RELU_0_TO_1"),
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        interp.allocate_tensors()
        (ops,) = [o for o in interp._get_ops_details() if o["op_name"] == "RELU_0_TO_1"]
        qx = interp.get_tensor_details()[ops["inputs"][0]]["quantization"]
        qy = interp.get_tensor_details()[ops["outputs"][0]]["quantization"]
        interp.set_tensor(interp.get_input_details()[0]["index"], ALL_INT8)
        interp.invoke()
        want = interp.get_tensor(interp.get_output_details()[0]["index"])
        p = quant.relu_params("RELU_0_TO_1", qx[0], qx[1], qy[0], qy[1])
        assert_bit_exact(kernel_lib.relu(ALL_INT8, p), want, f"RELU_0_TO_1 range={in_range}")


def _retype(model: bytes, old: str, new: str) -> bytes:
    import flatbuffers

    from hardtool.core.graph.reader import schema

    s = schema()
    m = s.ModelT.InitFromPackedBuf(bytearray(model), 0)
    for code in m.operatorCodes:
        if max(code.builtinCode, code.deprecatedBuiltinCode) == getattr(s.BuiltinOperator, old):
            code.builtinCode = getattr(s.BuiltinOperator, new)
            code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    b = flatbuffers.Builder(len(model) + 256)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@KERNEL_SETTINGS
@given(alpha=st.sampled_from([0.01, 0.2, 0.7, 1.5, -0.3]), in_range=RANGES, seed=st.integers(0, 2**16))
def test_leaky_relu_matches_tflite(kernel_lib, alpha, in_range, seed):
    import tensorflow as tf

    ref, op, (qx, qy) = _unary_ref(lambda x: tf.nn.leaky_relu(x, 0.2), in_range, seed, "LEAKY_RELU")
    ref = RefModel(patch_options(ref.model, "LEAKY_RELU", alpha=alpha))  # alphas beyond (0, 1) too
    op = ref.op("LEAKY_RELU")
    p = quant.leaky_relu_params(alpha, qx.scale, qx.zero_point, qy.scale, qy.zero_point)
    x, want = _run_all_values(ref, op)
    assert_bit_exact(kernel_lib.leaky_relu(x, p), want, f"LEAKY_RELU alpha={alpha} range={in_range}")


@pytest.mark.parametrize("kind", ["LOGISTIC", "TANH"])
def test_lut_is_computed_in_float32(kind):
    """The table matches a float64 evaluation except where float32 rounding decides a tie."""
    table = quant.lut_s8(
        kind, 0.05, 3, 1 / 256 if kind == "LOGISTIC" else 1 / 128, -128 if kind == "LOGISTIC" else 0
    )
    x = 0.05 * (np.arange(-128, 128) - 3)
    exact = 1 / (1 + np.exp(-x)) * 256 - 128 if kind == "LOGISTIC" else np.tanh(x) * 128
    wanted = np.clip(np.floor(np.abs(exact) + 0.5) * np.sign(exact), -128, 127)
    got = table[np.arange(-128, 128) & 0xFF].astype(np.int64)
    assert np.count_nonzero(got != wanted) <= 2 and np.abs(got - wanted).max() <= 1
