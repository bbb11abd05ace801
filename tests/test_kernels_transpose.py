"""TRANSPOSE (ranks 1-6), the channel shuffle (RESHAPE -> TRANSPOSE -> RESHAPE) as one transpose,
DEPTH_TO_SPACE and SPACE_TO_DEPTH vs TFLite's kernels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from kernels_util import (  # noqa: F401  (kernel_lib_fixture provides the kernel_lib fixture)
    KERNEL_SETTINGS,
    RefModel,
    assert_bit_exact,
    convert_int8,
    kernel_lib_fixture,
    rand_int8,
)

from hardtool.kernels import layout_data

FEW = settings(KERNEL_SETTINGS, max_examples=7)  # each example converts a model


def interpreter(model: bytes, reference: bool = True):
    """TFLite's interpreter with the reference kernels, or (for op versions BUILTIN_REF does not
    register: 6-D TRANSPOSE, int8 DEPTH_TO_SPACE) the builtin ones: for a pure permutation of
    bytes both are the same copy."""
    import tensorflow as tf

    kind = tf.lite.experimental.OpResolverType
    it = tf.lite.Interpreter(
        model_content=model,
        experimental_op_resolver_type=kind.BUILTIN_REF
        if reference
        else kind.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    it.allocate_tensors()
    return it


def run(it, *xs: np.ndarray) -> list[np.ndarray]:
    for d, x in zip(it.get_input_details(), xs, strict=True):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def op_names(it) -> list[str]:
    return [o["op_name"] for o in it._get_ops_details()]


@st.composite
def transposes(draw):
    rank = draw(st.integers(1, 6))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    perm = tuple(draw(st.permutations(range(rank))))
    assume(len(layout_data.canonical_transpose(shape, perm)[0]) > 1)  # else the converter drops it
    return shape, perm


@FEW
@given(case=transposes(), seed=st.integers(0, 2**16))
def test_transpose_matches_tflite(kernel_lib, case, seed):
    """Any permutation of ranks 1-6 (size-1 axes included), one int8 copy."""
    import tensorflow as tf

    shape, perm = case
    model = convert_int8(tf.function(lambda x: tf.transpose(x, perm) * 1.0), [shape], seed=seed)
    it = interpreter(model, reference=len(shape) < 6)
    rng = np.random.default_rng(seed)
    for _ in range(2):
        x = rand_int8(rng, shape)
        (want,) = run(it, x)
        assert_bit_exact(kernel_lib.data.transpose(x, perm).reshape(want.shape), want, f"TRANSPOSE {case}")


@FEW
@given(
    hw=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    groups=st.integers(2, 4),
    per_group=st.integers(2, 5),
    seed=st.integers(0, 2**16),
)
def test_channel_shuffle_is_one_transpose(kernel_lib, hw, groups, per_group, seed):
    """ShuffleNet's shuffle (reshape to [n, h, w, g, c/g], swap the last two, reshape back) is one
    3-D transpose of the input bytes: the reshapes are aliases, so the unit costs one copy."""
    import tensorflow as tf

    c = groups * per_group
    shape = (1, *hw, c)

    def shuffle(x):
        y = tf.reshape(x, [1, hw[0], hw[1], groups, per_group])
        return tf.reshape(tf.transpose(y, [0, 1, 2, 4, 3]), [1, hw[0], hw[1], c])

    ref = RefModel(convert_int8(tf.function(shuffle), [shape], seed=seed))
    assert "TRANSPOSE" in ref.op_names, ref.op_names
    op = ref.op("TRANSPOSE")
    five = ref.shape(op["inputs"][0])
    perm = [int(v) for v in ref.tensor(op["inputs"][1])]
    in_shape, small = layout_data.canonical_transpose(five, perm)
    assert len(in_shape) <= 3, (five, perm, in_shape)
    x = rand_int8(np.random.default_rng(seed), shape)
    (want,) = ref.run(x)
    got = kernel_lib.data.transpose(x.reshape(in_shape), small)
    assert_bit_exact(got.reshape(want.shape), want, f"shuffle {shape} g={groups}")


@FEW
@given(
    block=st.integers(2, 3),
    hw=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    c=st.integers(1, 4),
    batch=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_depth_to_space_and_space_to_depth_match_tflite(kernel_lib, block, hw, c, batch, seed):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    d2s_shape = (batch, *hw, c * block * block)
    model = convert_int8(tf.function(lambda x: tf.nn.depth_to_space(x, block)), [d2s_shape], seed=seed)
    it = interpreter(model, reference=False)  # BUILTIN_REF has no int8 (version 2) DEPTH_TO_SPACE
    assert op_names(it) == ["DEPTH_TO_SPACE"], op_names(it)
    x = rand_int8(rng, d2s_shape)
    (want,) = run(it, x)
    assert_bit_exact(kernel_lib.data.depth_to_space(x, block), want, f"DEPTH_TO_SPACE {d2s_shape} {block}")

    s2d_shape = (batch, hw[0] * block, hw[1] * block, c)
    ref = RefModel(
        convert_int8(tf.function(lambda x: tf.nn.space_to_depth(x, block)), [s2d_shape], seed=seed)
    )
    assert ref.op_names == ["SPACE_TO_DEPTH"], ref.op_names
    x = rand_int8(rng, s2d_shape)
    (want,) = ref.run(x)
    assert_bit_exact(kernel_lib.data.space_to_depth(x, block), want, f"SPACE_TO_DEPTH {s2d_shape} {block}")


def test_canonical_transpose_merges_and_drops_axes():
    assert layout_data.canonical_transpose((1, 4, 4, 2, 3), (0, 1, 2, 4, 3)) == ((16, 2, 3), (0, 2, 1))
    assert layout_data.canonical_transpose((2, 3, 4), (0, 1, 2)) == ((24,), (0,))
    assert layout_data.canonical_transpose((1, 1), (1, 0)) == ((1,), (0,))
    assert layout_data.canonical_transpose((2, 1, 2), (0, 1, 2)) == ((4,), (0,))  # a size-1 axis between
    assert layout_data.canonical_transpose((2, 1, 3), (2, 1, 0)) == ((2, 3), (1, 0))
    with pytest.raises(ValueError, match="not a permutation"):
        layout_data.canonical_transpose((2, 3), (0, 0))


def test_transpose_kernel_refuses_bad_params(kernel_lib):
    import ctypes as C

    from hardtool.kernels.host_data import TransposeParams, i32

    x = np.zeros(8, np.int8)
    bad = TransposeParams(2, (i32 * 6)(2, 4, 1, 1, 1, 1), (i32 * 6)(1, 1, 0, 0, 0, 0))
    with pytest.raises(ValueError, match="hard_transpose_s8 returned -1"):
        kernel_lib._call(
            "hard_transpose_s8", C.byref(bad), C.c_void_p(x.ctypes.data), C.c_void_p(x.ctypes.data)
        )
