"""GATHER with constant indices along any axis vs TFLite's reference kernel."""

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

FEW = settings(KERNEL_SETTINGS, max_examples=9)  # each example converts a model
shapes = st.integers(1, 4).flatmap(lambda r: st.tuples(*[st.integers(1, 5)] * r))


@FEW
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**16))
def test_gather_matches_tflite(kernel_lib, shape, data, seed):
    """Repeated and reordered indices, a 0-D, 1-D or 2-D index array, any axis."""
    import tensorflow as tf

    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    dim = shape[axis]
    idx_shape = data.draw(st.sampled_from([(), (3,), (2, 2)]))
    flat = data.draw(st.lists(st.integers(0, dim - 1), min_size=1, max_size=4))
    indices = np.resize(np.asarray(flat, np.int32), idx_shape)
    ref = RefModel(convert_int8(tf.function(lambda x: tf.gather(x, indices, axis=axis)), [shape]))
    assert ref.op_names == ["GATHER"], ref.op_names
    stored = ref.tensor(ref.op("GATHER")["inputs"][1])
    x = rand_int8(np.random.default_rng(seed), shape)
    (want,) = ref.run(x)
    got = kernel_lib.data.gather(x, stored, axis)
    assert_bit_exact(got.reshape(want.shape), want, f"GATHER {shape} {indices.tolist()} axis {axis}")


def test_gather_refuses_an_index_out_of_range(kernel_lib):
    """TFLite fails on an out-of-range index; so does the kernel (never a wild read)."""
    x = np.arange(12, dtype=np.int8).reshape(3, 4)
    assert kernel_lib.data.gather(x, np.array([2, 0]), 0).tolist() == [x[2].tolist(), x[0].tolist()]
    with pytest.raises(ValueError, match="returned -1"):
        kernel_lib.data.gather(x, np.array([3]), 0)
    with pytest.raises(ValueError, match="returned -1"):
        kernel_lib.data.gather(x, np.array([-1]), 1)
