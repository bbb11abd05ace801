"""SUB, ADD, MUL, MAXIMUM, MINIMUM with 4-D broadcasting vs TFLite's reference kernels."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
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

from hardtool.kernels import quant

RANGES = st.sampled_from([(-1.0, 1.0), (-0.05, 0.2), (-9.0, 1.0), (0.0, 30.0)])


@st.composite
def broadcast_shapes(draw):
    """An output shape of rank 1-4 and two input shapes that broadcast to it (numpy rules)."""
    rank = draw(st.integers(1, 4))
    out = [draw(st.integers(1, 5)) for _ in range(rank)]
    if rank == 4:
        out[0] = 1
    shapes = []
    for _ in range(2):
        keep = draw(st.lists(st.booleans(), min_size=rank, max_size=rank))
        shape = [d if k else 1 for d, k in zip(out, keep, strict=True)]
        shapes.append(tuple(shape[draw(st.integers(0, rank - 1)) :]))  # lower rank: right-aligned
    return shapes


def _binary_ref(fn, shapes, ranges, seed, op_name, params=None) -> tuple[RefModel, dict, object]:
    """The converted one-op model under BUILTIN_REF, and ``params(q1, q2, q_out)`` computed before
    the interpreter prepares it: ADD/SUB whose output rescale is >= 1 (an almost constant output)
    abort inside TFLite's Prepare, so such models are skipped instead."""
    import tensorflow as tf

    from hardtool.core.graph import load_tflite_bytes

    model = convert_int8(tf.function(fn), shapes, ranges, seed=seed)
    graph = load_tflite_bytes(model, validate=False)
    assert [o.name for o in graph.ops] == [op_name], [o.name for o in graph.ops]
    gop = graph.ops[0]
    quants = [graph.tensors[t].quant for t in (*gop.inputs, *gop.outputs)]
    derived = None
    if params is not None:
        try:
            derived = params(*[(q.scale[0], q.zero_point[0]) for q in quants])
        except ValueError:
            assume(False)
    ref = RefModel(model)
    return ref, ref.op(op_name), derived


def _check(ref: RefModel, op: dict, run, what: str, seed: int) -> None:
    rng = np.random.default_rng(seed + 1)
    a_idx, b_idx = op["inputs"]
    for _ in range(INPUTS_PER_MODEL):
        xs = [rand_int8(rng, ref.shape(i)) for i in ref.inputs]
        (want,) = ref.run(*xs)
        assert_bit_exact(run(ref.tensor(a_idx), ref.tensor(b_idx)), want, what)


@KERNEL_SETTINGS
@given(
    kind=st.sampled_from(["SUB", "ADD", "MUL"]),
    shapes=broadcast_shapes(),
    r1=RANGES,
    r2=RANGES,
    relu=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_arithmetic_broadcast_matches_tflite(kernel_lib, kind, shapes, r1, r2, relu, seed):
    import tensorflow as tf

    ops = {"SUB": tf.subtract, "ADD": tf.add, "MUL": tf.multiply}

    def f(a, b):
        y = ops[kind](a, b)
        return tf.nn.relu(y) if relu else y

    def params(q1, q2, qo):
        args = (*q1, *q2, *qo)
        act = quant.activation_range("RELU" if relu else "NONE", *qo)
        if kind == "MUL":
            return quant.mul_params(*args), act
        return (quant.sub_params(*args) if kind == "SUB" else quant.add_params(*args)), act

    ref, op, (p, act) = _binary_ref(f, shapes, [r1, r2], seed, kind, params)
    if kind == "MUL":
        off1, off2, rescale = p
        run = lambda a, b: kernel_lib.broadcast_mul(a, b, off1, off2, rescale, act)  # noqa: E731
    else:
        run = lambda a, b: kernel_lib.broadcast_add(a, b, p, act)  # noqa: E731
    _check(ref, op, run, f"{kind} {shapes} relu={relu}", seed)


@KERNEL_SETTINGS
@given(kind=st.sampled_from(["MAXIMUM", "MINIMUM"]), shapes=broadcast_shapes(), seed=st.integers(0, 2**16))
def test_maximum_minimum_broadcast_match_tflite(kernel_lib, kind, shapes, seed):
    """Inputs and output share one scale and zero point (the converter requires it)."""
    import tensorflow as tf

    fn = tf.maximum if kind == "MAXIMUM" else tf.minimum
    ref, op, _ = _binary_ref(fn, shapes, [(-2.0, 5.0), (-2.0, 5.0)], seed, kind)
    q = [ref.quant(i) for i in (*op["inputs"], op["outputs"][0])]
    assert len({(x.scale, x.zero_point) for x in q}) == 1, q
    run = kernel_lib.maximum if kind == "MAXIMUM" else kernel_lib.minimum
    _check(ref, op, run, f"{kind} {shapes}", seed)
