"""Flash budget of the q15 filter copies: codegen pre-widens a conv filter to q15 only as far as
the chip's flash holds the model with the copies; the layers that gain least per byte keep their
int8 filter and the int8-filter kernels, and codegen.json says so and what the copies cost."""

from __future__ import annotations

import json

import numpy as np

from hardtool.core.graph.ir import Graph, Op, Quant, Tensor
from hardtool.kernels.weights import gemm_q15_pairs
from hardtool.ops import tables
from hardtool.ops.conv_flash import (
    CODE_RESERVE_BYTES,
    mark_int8_filters,
    plan_filter_flash,
    q15_filter_bytes,
)


def _graph() -> Graph:
    """x (1,6,6,64) -> 3x3 conv 64->64 (37 KB filter) -> 1x1 conv 64->16 (1 KB filter)."""
    q = Quant(scale=(0.05,), zero_point=(0,))
    rng = np.random.default_rng(0)
    t = [
        Tensor(0, "x", (1, 6, 6, 64), "int8", q),
        Tensor(1, "w3", (64, 3, 3, 64), "int8", q, rng.integers(-9, 9, (64, 3, 3, 64)).astype(np.int8)),
        Tensor(2, "b3", (64,), "int32", q, np.zeros(64, np.int32)),
        Tensor(3, "y", (1, 6, 6, 64), "int8", q),
        Tensor(4, "w1", (16, 1, 1, 64), "int8", q, rng.integers(-9, 9, (16, 1, 1, 64)).astype(np.int8)),
        Tensor(5, "b1", (16,), "int32", q, np.zeros(16, np.int32)),
        Tensor(6, "z", (1, 6, 6, 16), "int8", q),
    ]
    opts = {"explicit_padding": (1, 1, 1, 1), "stride_h": 1, "stride_w": 1}
    ops = [
        Op(0, "CONV_2D", (0, 1, 2), (3,), opts),
        Op(1, "CONV_2D", (3, 4, 5), (6,), {"explicit_padding": (0, 0, 0, 0)}),
    ]
    return Graph(tensors=t, ops=ops, inputs=(0,), outputs=(6,), lowered=True)


def test_q15_bytes_are_the_layouts():
    for shape in [(64, 3, 3, 64), (3, 1, 1, 5), (8, 3, 3, 3)]:
        w = np.ones(shape, np.int8)
        assert q15_filter_bytes(shape) == gemm_q15_pairs(w).nbytes


def test_everything_q15_when_it_fits():
    g = _graph()
    plan = plan_filter_flash(g, 1 << 20)
    assert plan.int8_layers == {}
    assert plan.q15_extra_bytes == sum(
        q15_filter_bytes(g.tensors[i].shape) - g.tensors[i].nbytes for i in (1, 4)
    )
    marked = mark_int8_filters(g, plan)
    assert marked is g
    kinds = [tables.choose(g, op, True).symbol for op in g.ops]
    assert kinds == ["hard_convolve_im2col_q15_s8", "hard_convolve_1x1_q15_s8"]


def test_the_layer_that_gains_least_per_byte_keeps_int8_when_flash_is_short():
    g = _graph()
    weights = sum(t.nbytes for t in g.tensors if t.is_constant)
    # room for the 1x1 layer's q15 copy, not for the 3x3 one's
    flash = CODE_RESERVE_BYTES + weights + q15_filter_bytes((16, 1, 1, 64))
    plan = plan_filter_flash(g, flash)
    assert list(plan.int8_layers) == [0]
    assert plan.q15_extra_bytes == q15_filter_bytes((16, 1, 1, 64)) - 16 * 64
    g2 = mark_int8_filters(g, plan)
    big, small = (tables.choose(g2, op, True) for op in g2.ops)
    assert (big.symbol, big.layout) == ("hard_convolve_im2col_s8", None)
    assert "would not fit the flash" in big.reason and f"{plan.budget_bytes:,}" in big.reason
    assert (small.symbol, small.layout) == ("hard_convolve_1x1_q15_s8", "gemm_q15_pairs")
    assert plan.summary()["q15_layers_kept_int8"] == 1
    # the portable choice does not look at the mark
    assert tables.choose(g2, g2.ops[0], False).symbol == "hard_convolve_s8"


def test_codegen_keeps_an_int8_filter_that_would_overflow_the_boards_flash(tmp_path):
    """A 3x3 conv with 576 KB of int8 filter on the emulated board (1 MB flash): its q15 copy
    (1.15 MB) would not fit, so it runs the int8-filter kernel; the small 1x1 keeps q15; the
    calls match codegen.json and the C equals TFLite's reference kernels."""
    from hardtool.kernels.hostrun import HostModel
    from tests.model_builders import _keras, to_tflite
    from tests.test_codegen import project, reference
    from tests.test_ops import assert_calls_match_codegen_json

    _, keras, L = _keras()
    inp = keras.Input((4, 4, 256), batch_size=1)
    y = L.Conv2D(256, 3, padding="same", activation="relu")(inp)
    model = keras.Model(inp, L.Conv2D(8, 1)(y))
    path = tmp_path / "big.tflite"
    path.write_bytes(to_tflite(model))
    proj = project(path, tmp_path, "qemu")
    summary = json.loads((proj / "codegen.json").read_text())
    table = {L["kernel"]: L for L in summary["layer_table"]}
    assert table["hard_convolve_im2col_s8"].get("layout") is None
    assert "would not fit the flash" in table["hard_convolve_im2col_s8"]["reason"]
    assert table["hard_convolve_1x1_q15_s8"]["layout"] == "gemm_q15_pairs"
    assert summary["filter_flash"]["q15_layers_kept_int8"] == 1
    assert summary["filter_flash"]["budget_bytes"] == (1 << 20) - CODE_RESERVE_BYTES
    assert_calls_match_codegen_json(proj)
    it, hm = reference(proj / "model_int8.tflite"), HostModel(proj)
    d = it.get_input_details()[0]
    x = np.random.default_rng(3).integers(-128, 128, d["shape"]).astype(np.int8)
    it.set_tensor(d["index"], x)
    it.invoke()
    (got,) = hm.run([x])[0]
    want = it.get_tensor(it.get_output_details()[0]["index"])
    assert np.array_equal(want.reshape(got.shape), got)
