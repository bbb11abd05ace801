"""SPLIT, SPLIT_V, PACK and UNPACK (any axis) vs TFLite's reference kernels: row copies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
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
shapes = st.integers(1, 4).flatmap(lambda r: st.tuples(*[st.integers(1, 5)] * r))


def _check_outputs(got: list[np.ndarray], want: list[np.ndarray], what: str) -> None:
    assert len(got) == len(want), what
    for g, w in zip(got, want, strict=True):
        assert_bit_exact(g.reshape(w.shape), w, what)


@FEW
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**16))
def test_split_and_split_v_match_tflite(kernel_lib, shape, data, seed):
    """SPLIT (equal parts) when the axis divides, SPLIT_V (sizes, one may be -1) otherwise."""
    import tensorflow as tf

    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    dim = shape[axis]
    equal = data.draw(st.sampled_from([n for n in (2, 3) if dim % n == 0] or [0]))
    if equal:
        arg, name = equal, "SPLIT"
    else:
        cuts = sorted(data.draw(st.sets(st.integers(1, max(dim - 1, 1)), max_size=2)) - {dim})
        arg = [b - a for a, b in zip([0, *cuts], [*cuts, dim], strict=True)]
        if len(arg) > 1 and data.draw(st.booleans()):
            arg[-1] = -1
        name = "SPLIT_V"
    ref = RefModel(
        convert_int8(tf.function(lambda x: [y * 1.0 for y in tf.split(x, arg, axis=axis)]), [shape])
    )
    if len(ref.outputs) == 1:
        return  # a one-way split converts to nothing
    assert name in ref.op_names, (name, ref.op_names)
    op = ref.op(name)
    sizes = [dim // equal] * equal if equal else layout_data.split_v_sizes(dim, [int(v) for v in arg])
    x = rand_int8(np.random.default_rng(seed), shape)
    want = ref.run(x)
    order = [ref.outputs.index(t) for t in op["outputs"]]  # model outputs in the op's order
    _check_outputs(
        kernel_lib.data.split(x, axis, sizes), [want[i] for i in order], f"{name} {shape} {arg} {axis}"
    )


@FEW
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**16))
def test_pack_and_unpack_match_tflite(kernel_lib, shape, data, seed):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    count = data.draw(st.integers(2, 3))
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    ref = RefModel(convert_int8(tf.function(lambda *xs: tf.stack(xs, axis=axis)), [shape] * count))
    assert ref.op_names == ["PACK"], ref.op_names
    xs = [rand_int8(rng, shape) for _ in range(count)]
    (want,) = ref.run(*xs)
    assert_bit_exact(kernel_lib.data.pack(xs, axis), want, f"PACK {shape} x{count} axis {axis}")

    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    if shape[axis] == 1:
        return  # unstacking one slice is a reshape
    ref = RefModel(convert_int8(tf.function(lambda x: [y * 1.0 for y in tf.unstack(x, axis=axis)]), [shape]))
    assert "UNPACK" in ref.op_names, ref.op_names
    op = ref.op("UNPACK")
    x = rand_int8(rng, shape)
    want = ref.run(x)
    order = [ref.outputs.index(t) for t in op["outputs"]]
    _check_outputs(kernel_lib.data.unpack(x, axis), [want[i] for i in order], f"UNPACK {shape} axis {axis}")


def test_row_copy_plans():
    """The [outer, axis, inner] views behind the calls, and the one -1 SPLIT_V allows."""
    c = layout_data.split_copies((2, 6, 3), 1, [1, 5])
    assert (c[1].input_offset, c[1].rows, c[1].row_size, c[1].input_stride) == (3, 2, 15, 18)
    p = layout_data.pack_copies((2, 3), 1, 4)
    assert (p[2].output_offset, p[2].rows, p[2].row_size, p[2].output_stride) == (6, 2, 3, 12)
    assert layout_data.split_v_sizes(7, [2, -1, 1]) == [2, 4, 1]
    with pytest.raises(ValueError, match="at most one -1"):
        layout_data.split_v_sizes(7, [-1, -1])
    with pytest.raises(ValueError, match="do not add up"):
        layout_data.split_copies((2, 6), 1, [2, 3])
