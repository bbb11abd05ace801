"""A residual ADD fused into a convolution's output stage (core/graph/fuse, hard_fused_add): every
convolution entry point that takes it equals TFLite's reference CONV_2D followed by its reference
ADD, bit for bit, in place of the convolution's output or (when other ops read that output too)
into the ADD's own tensor besides it; a generated project with fused layers equals the reference
on every layer."""

from __future__ import annotations

import ctypes as C
import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from kernels_util import (  # noqa: F401  (the *_fixture import provides kernel_lib)
    KERNEL_SETTINGS,
    RefModel,
    assert_bit_exact,
    convert_int8,
    kernel_lib_fixture,
    rand_int8,
)

from hardtool.core.graph import load_tflite_bytes, lower
from hardtool.kernels import host as H
from hardtool.kernels import quant as Q
from hardtool.kernels.weights import gemm_q15_pairs
from hardtool.ops import conv as conv_record
from hardtool.ops.cgen import activation, padding, scale, zp

ACTS = ("NONE", "RELU", "RELU6")
# (entry point, filter in the q15 layout, 1x1 without padding only)
KERNELS = [
    ("hard_convolve_s8", False, False),
    ("hard_convolve_im2col_s8", False, False),
    ("hard_convolve_im2col_q15_s8", True, False),
    ("hard_convolve_1x1_s8", False, True),
    ("hard_convolve_1x1_q15_s8", True, True),
]


@st.composite
def cases(draw):
    k = draw(st.sampled_from([1, 3]))
    return {
        "k": k,
        "stride": draw(st.sampled_from([1, 2])),
        "pad": "VALID" if k == 1 else draw(st.sampled_from(["SAME", "VALID"])),
        "hw": (draw(st.integers(3, 7)), draw(st.integers(3, 7))),
        "cin": draw(st.integers(1, 9)),
        "cout": draw(st.integers(1, 9)),
        "conv_act": draw(st.sampled_from(ACTS)),
        "add_act": draw(st.sampled_from(ACTS)),
        "residual_first": draw(st.booleans()),
        "residual_range": draw(st.sampled_from([0.25, 1.0, 6.0])),
        "keeps_output": draw(st.booleans()),  # the convolution's output is a model output too
        "seed": draw(st.integers(0, 2**16)),
    }


def _model(case: dict) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(case["seed"])
    k, cin, cout = case["k"], case["cin"], case["cout"]
    w = (rng.normal(0, 1, (k, k, cin, cout)) * np.exp(rng.uniform(-2, 1, cout))).astype(np.float32)
    b = rng.normal(0, 1, cout).astype(np.float32)
    act = {"NONE": lambda v: v, "RELU": tf.nn.relu, "RELU6": tf.nn.relu6}
    stride = case["stride"]

    @tf.function
    def f(x, r):
        y = act[case["conv_act"]](tf.nn.conv2d(x, w, [1, stride, stride, 1], case["pad"]) + b)
        s = act[case["add_act"]](r + y if case["residual_first"] else y + r)
        return (s, y) if case.get("keeps_output") else s

    h, wd = case["hw"]
    oh = -(-h // stride) if case["pad"] == "SAME" else (h - k) // stride + 1
    ow = -(-wd // stride) if case["pad"] == "SAME" else (wd - k) // stride + 1
    shapes = [(1, h, wd, cin), (1, oh, ow, cout)]
    return convert_int8(f, shapes, [2.0, case["residual_range"]], seed=case["seed"])


def _fused_call(
    lib: H.KernelLib, g, op, fn: str, q15: bool, x: np.ndarray, r: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One fused layer through ``fn`` with the parameters codegen derives (ops/conv.py): (the
    convolution's output buffer, the sums: the same buffer unless the op keeps its output)."""
    xt, wt, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], conv_record.conv_output(g, op)
    out = g.tensors[op.outputs[-1]]
    sums = np.full(out.shape, 99, dtype=np.int8) if len(op.outputs) > 1 else None
    ap, first = conv_record._add_params(g, op)
    act = Q.activation_range(op.options["fused_add"]["activation"], scale(out), zp(out))
    table = Q.fused_add_table(ap, first)
    r = np.ascontiguousarray(r, dtype=np.int8)
    fused = H.FusedAdd(
        r.ctypes.data,
        table.ctypes.data,
        ap.output_multiplier,
        ap.output_shift,
        ap.output_offset,
        H.Activation(*act),
        None if sums is None else sums.ctypes.data,
    )
    pad = padding(op)
    a = activation(op, y)
    params = H.ConvParams(
        -zp(xt),
        zp(y),
        H.Tile(op.options.get("stride_h", 1), op.options.get("stride_w", 1)),
        H.Tile(1, 1),
        H.Padding(pad["top"], pad["bottom"], pad["left"], pad["right"]),
        H.Activation(a["min"], a["max"]),
        0,
        fused_add=C.addressof(fused),
    )
    mult, shift = Q.conv_channel_params(scale(xt), list(wt.quant.scale), scale(y))
    w = wt.data.astype(np.int8)
    padding_t = (pad["top"], pad["bottom"], pad["left"], pad["right"])
    stride = (op.options.get("stride_h", 1), op.options.get("stride_w", 1))
    bias = g.tensors[op.inputs[2]].data if op.inputs[2] >= 0 else None
    w_data = gemm_q15_pairs(w) if q15 else None
    got = lib._conv_like(fn, params, x, w, bias, w.shape[0], mult, shift, stride, (1, 1), padding_t, w_data)
    return got, got if sums is None else sums


@KERNEL_SETTINGS
@given(case=cases())
def test_fused_add_every_conv_entry_bit_exact(kernel_lib, case):
    model = _model(case)
    g = lower(load_tflite_bytes(model))
    fused = [op for op in g.ops if "fused_add" in op.options]
    assert [op.name for op in g.ops] == ["CONV_2D"] and len(fused) == 1, [op.name for op in g.ops]
    op = fused[0]
    assert len(op.outputs) == (2 if case["keeps_output"] else 1)
    ref = RefModel(model)
    rng = np.random.default_rng(case["seed"])
    x, r = rand_int8(rng, ref.shape(ref.inputs[0])), rand_int8(rng, ref.shape(ref.inputs[1]))
    by_name = dict(zip((ref._details[t]["name"] for t in ref.outputs), ref.run(x, r), strict=True))
    want = [by_name[g.tensors[t].name] for t in op.outputs]
    is_1x1 = case["k"] == 1
    for fn, q15, only_1x1 in KERNELS:
        if only_1x1 and not is_1x1:
            continue
        conv_out, sums = _fused_call(kernel_lib, g, op, fn, q15, x, r)
        assert_bit_exact(sums, want[-1], f"{fn} {case}: the ADD")
        if case["keeps_output"]:  # the convolution's own output as without the ADD
            assert_bit_exact(conv_out, want[0], f"{fn} {case}: the convolution's output")


def test_codegen_reports_and_runs_fused_adds(tmp_path):
    """A residual block: the ADD whose conv output nothing else reads is fused (the conv's own
    output tensor is gone from the plan), the one fed by a shared tensor runs alone; codegen.json
    says which and why, and every layer equals the reference."""
    import tensorflow as tf
    from test_codegen import assert_bit_exact as assert_project_bit_exact
    from test_codegen import project

    rng = np.random.default_rng(3)
    w1, w2 = (rng.normal(0, 0.5, (3, 3, 8, 8)).astype(np.float32) for _ in range(2))

    @tf.function
    def f(x):
        a = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
        b = tf.nn.relu(tf.nn.conv2d(a, w2, 1, "SAME") + x)  # fused: conv2's output feeds only this
        return tf.concat([b + a, a], axis=-1)  # a is read twice: this ADD runs alone

    tfl = tmp_path / "model_int8.tflite"
    tfl.write_bytes(convert_int8(f, [(1, 6, 8, 8)], [2.0]))
    proj = project(tfl, tmp_path)
    table = json.loads((proj / "codegen.json").read_text())["layer_table"]
    notes = {L["name"]: L.get("fusion", "") for L in table}
    assert sum("fused into the output stage of CONV_2D" in n for n in notes.values()) == 1, notes
    assert sum("runs alone" in n for n in notes.values()) == 1, notes
    plan = json.loads((tmp_path / "memplan.json").read_text())
    planned = {b["name"] for b in plan["buffers"] if b.get("tensor") is not None}
    assert len([n for n in notes if n.startswith("ADD#")]) == 1 and len(planned) == len(lower_tensors(tfl))
    assert_project_bit_exact(proj, n_inputs=3)


def lower_tensors(tfl) -> list[int]:
    from hardtool.core.graph import load_tflite

    return lower(load_tflite(tfl)).activations()


def test_fused_conv_writes_into_a_concat_slice(tmp_path):
    """A fused layer whose output is a channel slice of a concatenation writes its pixels
    output_stride apart while it reads the residual densely."""
    import tensorflow as tf
    from test_codegen import assert_bit_exact as assert_project_bit_exact
    from test_codegen import project

    rng = np.random.default_rng(5)
    w1, w2 = (
        rng.normal(0, 0.5, (1, 1, 8, 8)).astype(np.float32),
        rng.normal(0, 0.5, (3, 3, 8, 8)).astype(np.float32),
    )

    @tf.function
    def f(x):
        a = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
        return tf.concat([tf.nn.conv2d(a, w2, 1, "SAME") + x, x], axis=-1)

    tfl = tmp_path / "model_int8.tflite"
    tfl.write_bytes(convert_int8(f, [(1, 5, 7, 8)], [2.0]))
    proj = project(tfl, tmp_path)
    table = json.loads((proj / "codegen.json").read_text())["layer_table"]
    assert any("fused into the output stage" in L.get("fusion", "") for L in table), table
    model_c = (proj / "model.c").read_text()
    assert ".fused_add = &" in model_c and ".output_stride = 16" in model_c
    assert_project_bit_exact(proj, n_inputs=3)


def test_fused_adds_keep_a_convolution_output_other_ops_read(tmp_path):
    """HARD-Edge's last block: convolutions whose outputs feed a depthwise convolution and a chain
    of ADDs. Each ADD is fused into its convolution, which writes its own output (for the
    depthwise) and the sum (into the ADD's tensor): no ADD runs alone, the plan holds exactly the
    tensors that run and the project equals the reference on every layer and output."""
    import tensorflow as tf
    from test_codegen import assert_bit_exact as assert_project_bit_exact
    from test_codegen import project

    rng = np.random.default_rng(11)
    w0, w1, w2, w3 = (rng.normal(0, 0.5, (1, 1, 8, 8)).astype(np.float32) for _ in range(4))
    d1, d2 = (rng.normal(0, 0.5, (3, 3, 8, 1)).astype(np.float32) for _ in range(2))

    @tf.function
    def f(x):
        a = tf.nn.relu(tf.nn.conv2d(x, w0, 1, "SAME"))
        c1 = tf.nn.conv2d(a, w1, 1, "SAME")
        c2 = tf.nn.conv2d(tf.nn.depthwise_conv2d(c1, d1, [1, 1, 1, 1], "SAME"), w2, 1, "SAME")
        c3 = tf.nn.conv2d(tf.nn.depthwise_conv2d(c2, d2, [1, 1, 1, 1], "SAME"), w3, 1, "SAME")
        return tf.nn.relu(a + c1 + c2 + c3)

    tfl = tmp_path / "model_int8.tflite"
    tfl.write_bytes(convert_int8(f, [(1, 6, 9, 8)], [2.0]))
    proj = project(tfl, tmp_path)
    table = json.loads((proj / "codegen.json").read_text())["layer_table"]
    notes = [L.get("fusion", "") for L in table]
    assert not [L["name"] for L in table if L["name"].startswith("ADD#")], table
    assert sum("fused into the output stage of CONV_2D" in n for n in notes) == 3, notes
    assert sum("also keeps its own output" in n for n in notes) == 2, notes
    g = lower(load_tflite_bytes(tfl.read_bytes()))
    assert sorted(len(op.outputs) for op in g.ops if "fused_add" in op.options) == [1, 2, 2]
    plan = json.loads((tmp_path / "memplan.json").read_text())
    planned = {b["name"] for b in plan["buffers"] if b.get("tensor") is not None}
    assert len(planned) == len(g.activations())
    model_c = (proj / "model.c").read_text()
    assert model_c.count(".output = A(") == 2, "the two kept-output layers write the sums apart"
    assert_project_bit_exact(proj, n_inputs=3)


def test_fusion_keeping_the_output_waits_for_the_residual():
    """A convolution whose output other ops read takes the ADD only when the residual exists
    before it runs; otherwise the ADD runs alone and says why."""
    import tensorflow as tf

    from hardtool.core.graph.fuse import decide

    rng = np.random.default_rng(2)
    w = rng.normal(0, 0.5, (1, 1, 8, 8)).astype(np.float32)
    d = rng.normal(0, 0.5, (3, 3, 8, 1)).astype(np.float32)

    @tf.function
    def f(x):
        a = tf.nn.conv2d(x, w, 1, "SAME")  # read by the depthwise convolution, the ADD, the concat
        b = tf.nn.depthwise_conv2d(a, d, [1, 1, 1, 1], "SAME")  # made after a, not by a CONV_2D
        return tf.concat([a + b, a], axis=-1)

    g = load_tflite_bytes(convert_int8(f, [(1, 4, 5, 8)], [2.0]))
    (d,) = decide(g)
    assert d.conv is None and "the residual is made after the convolution runs" in d.reason, d.reason


def test_fused_add_whose_residual_is_the_convolutions_input(tmp_path):
    """relu(conv(a) + a): the ADD is fused though its residual is the convolution's own input; the
    planner then never runs the fused layer in place over that input, and the project equals the
    reference on every layer."""
    import tensorflow as tf
    from test_codegen import assert_bit_exact as assert_project_bit_exact
    from test_codegen import project

    rng = np.random.default_rng(7)
    w1, w2, w3 = (rng.normal(0, 0.5, (k, k, 8, 8)).astype(np.float32) for k in (3, 1, 1))

    @tf.function
    def f(x):
        a = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
        b = tf.nn.relu(tf.nn.conv2d(a, w2, 1, "SAME") + a)
        return tf.nn.conv2d(b, w3, 1, "SAME")

    tfl = tmp_path / "model_int8.tflite"
    tfl.write_bytes(convert_int8(f, [(1, 6, 9, 8)], [2.0]))
    proj = project(tfl, tmp_path)
    g = lower(load_tflite_bytes(tfl.read_bytes()))
    (op,) = [op for op in g.ops if "fused_add" in op.options]
    assert op.inputs[3] == op.inputs[0] and "ADD" not in [o.name for o in g.ops]
    plan = json.loads((tmp_path / "memplan.json").read_text())
    by_t = {b["tensor"]: b for b in plan["buffers"] if b.get("tensor") is not None}
    x, y = by_t[op.inputs[0]], by_t[op.outputs[0]]
    assert x["offset"] + x["size"] <= y["offset"] or y["offset"] + y["size"] <= x["offset"], (x, y)
    assert_project_bit_exact(proj, n_inputs=3)
