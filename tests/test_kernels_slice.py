"""STRIDED_SLICE, SLICE, PAD and PADV2 over any axes vs TFLite's reference kernels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from kernels_util import (  # noqa: F401  (kernel_lib_fixture provides the kernel_lib fixture)
    KERNEL_SETTINGS,
    RefModel,
    assert_bit_exact,
    convert_int8,
    kernel_lib_fixture,
    rand_int8,
)

from hardtool.kernels import layout

shapes = st.integers(1, 4).flatmap(lambda r: st.tuples(*[st.integers(1, 6)] * r))


def _one_op(fn, shape, op_name: str, seed: int, in_range=(-3.0, 1.0)):
    """The converted model, its op (hardtool IR, with options and constants) and the reference."""
    import tensorflow as tf

    from hardtool.core.graph import load_tflite_bytes

    model = convert_int8(tf.function(fn), [shape], [in_range], seed=seed)
    graph = load_tflite_bytes(model, validate=False)
    assume([o.name for o in graph.ops] == [op_name])  # trivial slices convert to other ops
    op = graph.ops[0]
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    assert x.quant.same_as(y.quant), (x.quant, y.quant)
    return graph, op, RefModel(model)


def _run(ref: RefModel, shape, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = rand_int8(np.random.default_rng(seed + 1), shape)
    (want,) = ref.run(x)
    return x, want


@st.composite
def strided_slices(draw):
    shape = draw(shapes)
    spec = {"begin": [], "end": [], "strides": [], "begin_mask": 0, "end_mask": 0, "shrink_axis_mask": 0}
    for axis, d in enumerate(shape):
        spec["begin"].append(draw(st.integers(-d, d - 1)))
        spec["end"].append(draw(st.integers(-d, d)))
        spec["strides"].append(draw(st.integers(1, 3)))
        spec["begin_mask"] |= draw(st.booleans()) << axis
        spec["end_mask"] |= draw(st.booleans()) << axis
        spec["shrink_axis_mask"] |= draw(st.sampled_from([0, 0, 0, 1])) << axis
    return shape, spec


@KERNEL_SETTINGS
@given(case=strided_slices(), seed=st.integers(0, 2**16))
def test_strided_slice_matches_tflite(kernel_lib, case, seed):
    """Negative indices, begin/end masks, strides up to 3, shrunk axes, ranks 1-4."""
    import tensorflow as tf

    shape, spec = case
    b, e, s = spec["begin"], spec["end"], spec["strides"]
    masks = {k: spec[k] for k in ("begin_mask", "end_mask", "shrink_axis_mask")}
    try:
        np.zeros(shape)[tuple(_np_index(shape, b, e, s, masks))].reshape(-1)[0]
    except IndexError:
        assume(False)  # an empty slice: TFLite has no empty tensors here
    graph, op, ref = _one_op(lambda x: tf.strided_slice(x, b, e, s, **masks), shape, "STRIDED_SLICE", seed)
    begin, end, strides = (graph.tensors[t].data.tolist() for t in op.inputs[1:4])
    sl = layout.strided_slice_4d(shape, begin, end, strides, **op.options)
    x, want = _run(ref, shape, seed)
    assert_bit_exact(
        kernel_lib.strided_slice(x, sl).reshape(want.shape), want, f"STRIDED_SLICE {shape} {spec}"
    )


def _np_index(shape, begin, end, strides, masks):
    """The same slice as Python indexing (to skip empty ones before converting)."""
    out = []
    for axis in range(len(shape)):
        if masks["shrink_axis_mask"] >> axis & 1:
            out.append(begin[axis] if not masks["begin_mask"] >> axis & 1 else 0)
            continue
        lo = None if masks["begin_mask"] >> axis & 1 else begin[axis]
        hi = None if masks["end_mask"] >> axis & 1 else end[axis]
        out.append(slice(lo, hi, strides[axis]))
    return out


@KERNEL_SETTINGS
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**16))
def test_slice_matches_tflite(kernel_lib, shape, data, seed):
    import tensorflow as tf

    begin = [data.draw(st.integers(0, d - 1)) for d in shape]
    size = [data.draw(st.sampled_from([-1, *range(1, d - b + 1)])) for d, b in zip(shape, begin, strict=True)]
    graph, op, ref = _one_op(lambda x: tf.slice(x, begin, size), shape, "SLICE", seed)
    b, n = (graph.tensors[t].data.tolist() for t in op.inputs[1:3])
    sl = layout.slice_4d(shape, b, n)
    x, want = _run(ref, shape, seed)
    assert_bit_exact(
        kernel_lib.strided_slice(x, sl).reshape(want.shape), want, f"SLICE {shape} {begin} {size}"
    )


@KERNEL_SETTINGS
@given(shape=shapes, data=st.data(), v2=st.booleans(), seed=st.integers(0, 2**16))
def test_pad_and_padv2_match_tflite(kernel_lib, shape, data, v2, seed):
    """Padding on every axis; PAD pads with the zero point, PADV2 with its (quantised) constant."""
    import tensorflow as tf

    pads = [[data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))] for _ in shape]
    assume(any(p[0] or p[1] for p in pads))
    value = data.draw(st.sampled_from([-2.5, 0.4, 0.9])) if v2 else 0.0
    name = "PADV2" if v2 else "PAD"
    graph, op, ref = _one_op(lambda x: tf.pad(x, pads, constant_values=value), shape, name, seed)
    paddings = graph.tensors[op.inputs[1]].data.tolist()
    if v2:
        const = graph.tensors[op.inputs[2]]
        assert const.quant.same_as(graph.tensors[op.outputs[0]].quant)
        pad_value = int(const.data.reshape(-1)[0])
    else:
        pad_value = graph.tensors[op.outputs[0]].quant.zero_point[0]
    x, want = _run(ref, shape, seed)
    assert_bit_exact(kernel_lib.pad4d(x, paddings, pad_value), want, f"{name} {shape} {pads} {value}")


def test_layout_refuses_what_the_kernels_cannot_do():
    with pytest.raises(ValueError, match="positive strides"):
        layout.strided_slice_4d((4, 4), [3, 0], [0, 4], [-1, 1])
    with pytest.raises(ValueError, match="ellipsis"):
        layout.strided_slice_4d((4, 4), [0, 0], [4, 4], [1, 1], ellipsis_mask=1)
    with pytest.raises(ValueError, match="empty"):
        layout.strided_slice_4d((4, 4), [3, 0], [1, 4], [1, 1])
    with pytest.raises(ValueError, match="rank 5"):
        layout.to_4d((2, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="do not broadcast"):
        layout.broadcast_4d((1, 3), (1, 4))
    # rank 5 with size-1 axes, or a unit-stride axis followed by a full axis, still fits
    assert layout.strided_slice_4d((1, 1, 5, 6, 3), [0] * 5, [1, 1, 3, 6, 3], [1] * 5).size == (1, 3, 6, 3)
    assert layout.slice_4d((2, 3, 4, 5, 6), [0, 0, 1, 0, 0], [2, 3, 2, 5, 6]).begin == (0, 1, 0, 0)
