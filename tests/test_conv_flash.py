"""Flash budget of the q15 filter copies: codegen pre-widens a conv filter to q15 only as far as
the chip's flash holds the model with the copies, counting every constant array it emits (the
weights, biases, multipliers and shifts, tables, the copies) and the code beside them; the layers
that gain least per byte keep their int8 filter and the int8-filter kernels, and codegen.json says
so and what the copies cost. When the code estimate is short, `hardtool build` names the
``--flash-reserve`` that links."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Graph, Op, Quant, Tensor
from hardtool.kernels.weights import gemm_q15_pairs
from hardtool.ops import tables
from hardtool.ops.cgen import Layer, c_array
from hardtool.ops.conv_flash import (
    Q15_LAYOUT,
    array_bytes,
    code_estimate,
    mark_int8_filters,
    plan_filter_flash,
    q15_filter_bytes,
)

needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed"
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


def _layers(g: Graph, table: bool = False) -> list[Layer]:
    """The layers as codegen emits them with every q15 copy: the copy, the bias, the per-channel
    multipliers and shifts (and, with ``table``, a fused ADD's 2 KB input table on the second)."""
    out = []
    for op in g.ops:
        w, o = g.tensors[op.inputs[1]].data, g.tensors[op.inputs[1]].shape[0]
        decls = [c_array(f"l{op.index}_w", gemm_q15_pairs(w))]
        decls += [c_array(f"l{op.index}_{k}", np.zeros(o, np.int32)) for k in ("b", "mult", "shift")]
        if table and op.index == 1:
            decls.append(c_array("l1_addtab", np.zeros(512, np.int32), align=4))
        out.append(Layer(op.index, op.index, f"CONV_2D#{op.index}", decls, layout=Q15_LAYOUT))
    return out


def _copies(g: Graph) -> int:
    return sum(q15_filter_bytes(g.tensors[i].shape) - g.tensors[i].nbytes for i in (1, 4))


def test_q15_bytes_are_the_layouts():
    for shape in [(64, 3, 3, 64), (3, 1, 1, 5), (8, 3, 3, 3)]:
        w = np.ones(shape, np.int8)
        assert q15_filter_bytes(shape) == gemm_q15_pairs(w).nbytes


def test_array_bytes_are_the_generated_arrays():
    decls = [
        c_array("a", np.zeros(10, np.int32)),
        c_array("b", np.zeros(3, np.int8)),
        "static const x y = {0};",
    ]
    assert array_bytes(decls) == 43
    assert array_bytes([c_array("q", gemm_q15_pairs(np.ones((64, 3, 3, 64), np.int8)))]) == q15_filter_bytes(
        (64, 3, 3, 64)
    )


def test_everything_q15_when_it_fits():
    g = _graph()
    layers = _layers(g)
    plan = plan_filter_flash(g, layers, 1 << 20)
    assert plan.int8_layers == {}
    assert plan.q15_extra_bytes == _copies(g)
    assert plan.code_bytes == code_estimate(2)
    assert plan.data_bytes == sum(array_bytes(L.decls) for L in layers)
    assert plan.summary()["fits_estimate"]
    marked = mark_int8_filters(g, plan)
    assert marked is g
    kinds = [tables.choose(g, op, True).symbol for op in g.ops]
    assert kinds == ["hard_convolve_im2col_q15_s8", "hard_convolve_1x1_q15_s8"]


def test_the_layer_that_gains_least_per_byte_keeps_int8_when_flash_is_short():
    g = _graph()
    layers = _layers(g)
    data = sum(array_bytes(L.decls) for L in layers)
    # room for the 1x1 layer's q15 copy, not for the 3x3 one's
    flash = code_estimate(2) + data - (q15_filter_bytes((64, 3, 3, 64)) - 64 * 9 * 64)
    plan = plan_filter_flash(g, layers, flash)
    assert list(plan.int8_layers) == [0]
    assert plan.q15_extra_bytes == q15_filter_bytes((16, 1, 1, 64)) - 16 * 64
    assert plan.data_bytes == flash - code_estimate(2) == plan.budget_bytes
    g2 = mark_int8_filters(g, plan)
    big, small = (tables.choose(g2, op, True) for op in g2.ops)
    assert (big.symbol, big.layout) == ("hard_convolve_im2col_s8", None)
    assert "would not fit the flash" in big.reason and f"{plan.budget_bytes:,}" in big.reason
    assert (small.symbol, small.layout) == ("hard_convolve_1x1_q15_s8", "gemm_q15_pairs")
    assert plan.summary()["q15_layers_kept_int8"] == 1
    # the portable choice does not look at the mark
    assert tables.choose(g2, g2.ops[0], False).symbol == "hard_convolve_s8"


def test_the_budget_counts_the_arrays_beside_the_filters():
    """The same flash with a fused ADD's 2 KB table beside the filters: the weights and copies
    alone would fit, with the table they do not, so the 1x1 layer keeps int8 too; and a reserve
    given for the code replaces the estimate."""
    g = _graph()
    flash = code_estimate(2) + sum(array_bytes(L.decls) for L in _layers(g)) + 1024
    assert plan_filter_flash(g, _layers(g), flash).int8_layers == {}
    plan = plan_filter_flash(g, _layers(g, table=True), flash)
    assert list(plan.int8_layers) == [0]
    assert plan.data_bytes <= plan.budget_bytes
    own = plan_filter_flash(g, _layers(g, table=True), flash, reserve=0)
    assert (own.code_bytes, own.code_source, own.int8_layers) == (0, "--flash-reserve", {})


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
    ff = summary["filter_flash"]
    assert (
        ff["budget_bytes"]
        == (1 << 20) - code_estimate(summary["layers"])
        == ff["flash_bytes"] - ff["code_reserve_bytes"]
    )
    assert_calls_match_codegen_json(proj)
    it, hm = reference(proj / "model_int8.tflite"), HostModel(proj)
    d = it.get_input_details()[0]
    x = np.random.default_rng(3).integers(-128, 128, d["shape"]).astype(np.int8)
    it.set_tensor(d["index"], x)
    it.invoke()
    (got,) = hm.run([x])[0]
    want = it.get_tensor(it.get_output_details()[0]["index"])
    assert np.array_equal(want.reshape(got.shape), got)


def _elf_arrays(proj, elf) -> int:
    """Bytes the linked image holds of the arrays model.c declares."""
    names = set(re.findall(r"static const \w+ (\w+)\[\d+\] __attribute__", (proj / "model.c").read_text()))
    nm = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True)
    rows = [line.split() for line in nm.stdout.splitlines()]
    return sum(int(r[1], 16) for r in rows if len(r) == 4 and r[3] in names)


@needs_arm
def test_a_model_whose_q15_copy_would_overflow_is_budgeted_so_the_build_links(tmp_path):
    """A 3x3 conv 240->240 (518 KB int8 filter, 1.04 MB q15 copy) on the emulated board (1 MB
    flash): the copy and its arrays fit the flash, not with the code. Codegen's budget keeps the
    filter int8 and the build links, the ELF's arrays exactly the bytes codegen counted, the image
    within the estimate. Told the code takes nothing (--flash-reserve 0), codegen keeps the copy,
    the link overflows and the error names the reserve that links; with it, it does."""
    from hardtool.build.firmware import build_firmware
    from hardtool.codegen.generate import generate
    from tests.model_builders import _keras, to_tflite
    from tests.test_codegen import project

    _, keras, L = _keras()
    inp = keras.Input((4, 4, 240), batch_size=1)
    path = tmp_path / "wide.tflite"
    path.write_bytes(to_tflite(keras.Model(inp, L.Conv2D(240, 3, padding="same")(inp))))
    proj = project(path, tmp_path, "qemu")
    ff = json.loads((proj / "codegen.json").read_text())["filter_flash"]
    assert ff["q15_layers_kept_int8"] == 1 and ff["q15_extra_bytes"] == 0
    res = build_firmware(proj)
    assert res.flash_used <= min(res.flash_total, ff["data_bytes"] + ff["code_reserve_bytes"])
    assert _elf_arrays(proj, res.elf) == ff["data_bytes"]

    generate(path, tmp_path / "memplan.json", "qemu", tmp_path / "r0", force=True, flash_reserve=0)
    ff0 = json.loads((tmp_path / "r0" / "codegen.json").read_text())["filter_flash"]
    assert ff0["q15_layers_kept_int8"] == 0 and ff0["data_bytes"] <= 1 << 20
    with pytest.raises(HardtoolError, match="FLASH overflowed") as e:
        build_firmware(tmp_path / "r0")
    fix = re.search(r"`hardtool codegen --flash-reserve (\d+)`", str(e.value))
    assert fix is not None, str(e.value)
    generate(
        path, tmp_path / "memplan.json", "qemu", tmp_path / "fixed", force=True, flash_reserve=int(fix[1])
    )
    assert (
        json.loads((tmp_path / "fixed" / "codegen.json").read_text())["filter_flash"]["q15_layers_kept_int8"]
        == 1
    )
    assert build_firmware(tmp_path / "fixed").flash_used <= 1 << 20


def test_codegen_flash_reserve_option(tmp_path):
    """`--flash-reserve` replaces the code estimate; one larger than the flash leaves the arrays no
    room, so codegen keeps every filter int8 and warns that the build will not fit; a negative
    one is refused (exit 2)."""
    from click.testing import CliRunner

    from hardtool.codegen.cli import codegen_cmd
    from tests.model_builders import _keras, to_tflite
    from tests.test_codegen import project

    _, keras, L = _keras()
    inp = keras.Input((4, 4, 16), batch_size=1)
    path = tmp_path / "small.tflite"
    path.write_bytes(to_tflite(keras.Model(inp, L.Conv2D(16, 3, padding="same")(inp))))
    project(path, tmp_path, "qemu")
    args = [str(path), "--plan", str(tmp_path / "memplan.json"), "-t", "qemu", "--force"]
    res = CliRunner().invoke(
        codegen_cmd, [*args, "--out", str(tmp_path / "big"), "--flash-reserve", "2000000"]
    )
    assert res.exit_code == 0, res.output
    assert "warning:" in res.output and "the build will not fit" in res.output
    ff = json.loads((tmp_path / "big" / "codegen.json").read_text())["filter_flash"]
    assert (ff["code_reserve_bytes"], ff["code_reserve"], ff["fits_estimate"]) == (
        2000000,
        "--flash-reserve",
        False,
    )
    assert ff["q15_layers_kept_int8"] == 1 and ff["q15_extra_bytes"] == 0
    own = json.loads((tmp_path / "qemu" / "codegen.json").read_text())["filter_flash"]
    assert (
        own["fits_estimate"]
        and own["q15_layers_kept_int8"] == 0
        and own["code_reserve"].startswith("estimate")
    )
    res = CliRunner().invoke(codegen_cmd, [*args, "--out", str(tmp_path / "neg"), "--flash-reserve", "-1"])
    assert res.exit_code == 2 and "--flash-reserve" in res.output
