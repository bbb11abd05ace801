"""SUM and REDUCE_MAX over any axes (keep_dims or not).

REDUCE_MAX is checked against TFLite's reference kernels. SUM is checked against TFLite Micro's
interpreter: TFLite 2.19's BUILTIN_REF SUM on int8 with a rescale returns values unrelated to its
input (every output -1 on a 2x3 model, whatever the input), and its optimised kernel rounds in
float (off by one on about 1 output in 10); TFLite Micro's integer QuantizedMeanOrSum is the one
an MCU runs, and ours equals it on every output."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
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

from hardtool.kernels import layout_data, quant

FEW = settings(KERNEL_SETTINGS, max_examples=7)  # each example converts a model


@st.composite
def reductions(draw):
    rank = draw(st.integers(1, 5))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
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


def _model(fn, case) -> bytes:
    import tensorflow as tf

    f = tf.function(lambda x: fn(x, axis=case["axes"], keepdims=case["keep_dims"]))
    return convert_int8(f, [case["shape"]], [case["range"]], seed=case["seed"])


@FEW
@given(case=reductions())
def test_reduce_max_matches_tflite(kernel_lib, case):
    import tensorflow as tf

    ref = RefModel(_model(tf.reduce_max, case))
    if not ref.op_names:
        return  # a max over size-1 axes only converts to a reshape
    op = ref.op("REDUCE_MAX")
    qx, qy = ref.quant(op["inputs"][0]), ref.quant(op["outputs"][0])
    assert (qx.scale, qx.zero_point) == (qy.scale, qy.zero_point)  # TFLite's Eval requires it
    axes = [int(a) for a in ref.tensor(op["inputs"][1]).reshape(-1)]
    rng = np.random.default_rng(case["seed"] + 1)
    for _ in range(INPUTS_PER_MODEL):
        x = rand_int8(rng, case["shape"])
        (want,) = ref.run(x)
        assert_bit_exact(kernel_lib.data.reduce_max(x, axes).reshape(want.shape), want, f"REDUCE_MAX {case}")


@FEW
@given(case=reductions())
def test_sum_matches_tflite_micro(kernel_lib, case):
    """Input and output scales differ (the output is calibrated on the sum), so the rescale runs."""
    import tensorflow as tf
    from tflite_micro.python.tflite_micro import runtime

    model = _model(tf.reduce_sum, case)
    ref = RefModel(model)
    if not ref.op_names:
        return
    op = ref.op("SUM")
    qx, qy = ref.quant(op["inputs"][0]), ref.quant(op["outputs"][0])
    axes = [int(a) for a in ref.tensor(op["inputs"][1]).reshape(-1)]
    p = quant.reduce_sum_params(qx.scale, qx.zero_point, qy.scale, qy.zero_point)
    micro = runtime.Interpreter.from_bytes(model)
    rng = np.random.default_rng(case["seed"] + 1)
    for _ in range(INPUTS_PER_MODEL):
        x = rand_int8(rng, case["shape"])
        micro.set_input(x, 0)
        micro.invoke()
        want = np.array(micro.get_output(0))
        assert_bit_exact(kernel_lib.data.reduce_sum(x, axes, p).reshape(want.shape), want, f"SUM {case}")


def test_reductions_of_any_rank_fold_onto_4d():
    """Adjacent axes reduced together (or kept together) merge; size-1 axes join their neighbour."""
    assert layout_data.reduce_4d((2, 3, 4, 5, 6), [1, 2]) == ((1, 2, 12, 30), 4)
    assert layout_data.reduce_4d((2, 3, 4, 5, 6), [-1, 3]) == ((1, 1, 24, 30), 8)
    assert layout_data.reduce_4d((1, 4, 1, 3), [1]) == ((1, 1, 4, 3), 4)
    with pytest.raises(ValueError, match="more than 4 dims"):
        layout_data.reduce_4d((2, 3, 4, 5, 6), [0, 2, 4])  # reduced, kept, reduced, kept, reduced
