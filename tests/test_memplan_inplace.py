"""Below the op-by-op bound, bit for bit: concatenation inputs produced in their channel slice,
outputs written over inputs that die there (elementwise and spatial ops), the streamed input and
the band-by-band first stage, each on a small model, through codegen's host code against TFLite's
reference kernels; concatenation inputs relocated into their slice ahead of the concat (host and
emulated board); the contract check refusing hand-edited plans; codegen refusing a streamed plan
a template cannot feed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import model_builders as mb
import pytest

from hardtool.codegen.generate import generate
from hardtool.core.errors import HardtoolError
from hardtool.core.graph import load_tflite, lower
from hardtool.memplan.contract import PlanError, check_plan
from hardtool.memplan.lifetimes import blocks_for_order, live_profile, static_groups
from hardtool.memplan.plan import PlanOptions, plan_file, to_json
from hardtool.ops.tables import SPATIAL_OPS, inplace_gap, scratch_bytes
from tests.test_codegen import assert_bit_exact
from tests.test_memplan_lean import emulated, run_on_qemu

OFF = dict(strided_concat=False, inplace=False, stream=False, patch=False)


def wide_stem():
    """A stem whose first output is 8x the input (op by op its peak is input + stem output), then
    a residual ADD whose first input dies there (a depthwise convolution's: the ADD runs alone)."""
    _, keras, L = mb._keras()
    inp = keras.Input((64, 64, 3), batch_size=1)
    x = mb._conv(L, inp, 24)
    x = mb._conv(L, x, 8, s=2)
    y = L.Add()([mb._dw(L, x), x])
    return keras.Model(inp, mb._conv(L, y, 4, k=1, act=None))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inplace_models")
    (d / "wide_stem.tflite").write_bytes(mb.to_tflite(wide_stem()))
    return {
        "unet": mb.build("unet", d, input_size=(16, 16)),
        "unet64": mb.build("unet", d, input_size=(64, 64)),
        "toy": mb.build("toy_hard", d, input_size=(32, 64)),
        "stem": d / "wide_stem.tflite",
    }


def project(tflite: Path, out: Path, opts: PlanOptions, template: str = "host") -> tuple[Path, dict, object]:
    p = plan_file(tflite, options=opts)
    doc = to_json(p)
    out.mkdir(parents=True, exist_ok=True)
    (out / "memplan.json").write_text(json.dumps(doc))
    generate(tflite, out / "memplan.json", template, out / template, force=True)
    return out / template, doc, p


def test_concat_inputs_written_in_their_slice(models, tmp_path):
    opts = PlanOptions(**OFF | {"strided_concat": True, "inplace": True})
    proj, doc, p = project(models["unet"], tmp_path, opts)
    views = [e for e in doc["buffers"] if e.get("view")]
    assert views and all(e["alias_reason"] == "concat" for e in views)
    assert p.arena < plan_file(models["unet"], options=PlanOptions(**OFF | {"inplace": True})).arena
    assert_bit_exact(proj, n_inputs=2)


@pytest.mark.parametrize("model", ["toy", "stem"])
def test_elementwise_and_spatial_ops_in_place(models, tmp_path, model):
    proj, doc, p = project(models[model], tmp_path, PlanOptions(**OFF | {"inplace": True}))
    ops = {e["name"] for e in doc["inplace_ops"]}
    assert ops & SPATIAL_OPS and ("ADD" in ops or model == "toy"), ops
    assert p.arena < plan_file(models[model], options=PlanOptions(**OFF)).arena
    assert_bit_exact(proj, n_inputs=2)


@pytest.mark.parametrize("patch", [False, True])
def test_streamed_input(models, tmp_path, patch):
    proj, doc, p = project(models["stem"], tmp_path, PlanOptions(**OFF | {"stream": True, "patch": patch}))
    st = doc["stage"]
    assert st["streamed"] and (len(st["ops"]) > 1) == patch
    window = next(e for e in doc["buffers"] if e["tensor"] == p.graph.inputs[0])
    assert window["stage"] == "window" and window["size"] < p.graph.tensors[p.graph.inputs[0]].nbytes
    assert p.arena < plan_file(models["stem"], options=PlanOptions(**OFF)).arena
    assert_bit_exact(proj, n_inputs=2)


def test_band_stage_without_streaming(models, tmp_path):
    proj, doc, p = project(models["stem"], tmp_path, PlanOptions(**OFF | {"patch": True}))
    st = doc["stage"]
    assert st and not st["streamed"] and len(st["ops"]) >= 2 and st["band_rows"] < 16
    assert p.arena < plan_file(models["stem"], options=PlanOptions(**OFF)).arena
    assert_bit_exact(proj, n_inputs=2)


def test_contract_refuses_hand_edited_overlaps(models):
    g = lower(load_tflite(models["toy"]))
    doc = to_json(plan_file(models["toy"], options=PlanOptions(**OFF | {"inplace": True})))
    check_plan(doc, g)
    by_t = {e["tensor"]: e for e in doc["buffers"] if e["tensor"] is not None}
    spatial = [
        op
        for op in g.ops
        if op.name in SPATIAL_OPS and by_t[op.outputs[0]].get("alias_of") is not None and op.index
    ]
    assert spatial
    bad = copy.deepcopy(doc)
    op = spatial[0]
    gap = inplace_gap(op, g)
    y = next(e for e in bad["buffers"] if e["tensor"] == op.outputs[0])
    y["offset"] = by_t[op.inputs[0]]["offset"] - gap + 16  # output starts too close to the input
    with pytest.raises(PlanError, match="overlap"):
        check_plan(bad, g)
    # a concat slice moved by one byte
    g = lower(load_tflite(models["unet"]))
    cdoc = to_json(
        plan_file(models["unet"], options=PlanOptions(**OFF | {"strided_concat": True, "inplace": True}))
    )
    check_plan(cdoc, g)
    view = next(e for e in cdoc["buffers"] if e.get("view"))
    view["offset"] += 1
    with pytest.raises(PlanError):
        check_plan(cdoc, g)
    for order in ([[0]] + doc["order"][1:], ["0"] + doc["order"][1:], {"0": 0}):  # not op indices
        with pytest.raises(PlanError, match="order is not a list of op indices"):
            check_plan(copy.deepcopy(doc) | {"order": order}, g)


def relocated(doc: dict, g) -> list[tuple[dict, dict, int]]:
    """(relocated input, concat output, concat step) of every relocation in the plan."""
    by_t = {e["tensor"]: e for e in doc["buffers"] if e["tensor"] is not None}
    pos = {op: s for s, op in enumerate(doc["order"])}
    return [
        (by_t[t], by_t[op.outputs[0]], pos[op.index])
        for op in g.ops
        if op.name == "CONCATENATION"
        for t in op.inputs
        if by_t[t].get("alias_reason") == "relocate"
    ]


def test_concat_inputs_relocated_into_their_slice(models, tmp_path):
    opts = PlanOptions(**OFF | {"strided_concat": True, "inplace": True})
    proj, doc, p = project(models["unet64"], tmp_path, opts)
    g = p.graph
    moves = relocated(doc, g)
    assert moves
    for x, y, concat_step in moves:  # at the top of the output's bytes, gone before the concat
        assert x["offset"] + x["size"] == y["offset"] + y["size"] and x["last_step"] < concat_step
        assert y["first_step"] <= x["last_step"]
    scratch = {op.index: scratch_bytes(op, g) for op in g.ops}
    kept = blocks_for_order(g, p.order, static_groups(g, True), scratch, p.stage, relocate=False)
    assert p.lower_bound < max(live_profile(kept, len(p.order)))  # the relocation lowers the peak
    assert_bit_exact(proj, n_inputs=2)
    bad = copy.deepcopy(doc)  # the relocated input 16 bytes below the top: refused
    x = next(e for e in bad["buffers"] if e["tensor"] == moves[0][0]["tensor"])
    x["offset"] -= 16
    with pytest.raises(PlanError):
        check_plan(bad, g)
    bad = copy.deepcopy(doc)  # kept to its concat while a slice is written over it: refused
    x = next(e for e in bad["buffers"] if e["tensor"] == moves[0][0]["tensor"])
    x["last_step"] = moves[0][2]
    with pytest.raises(PlanError, match="overlap"):
        check_plan(bad, g)


@emulated
def test_relocated_concat_inputs_bit_exact_on_the_emulated_board(models, tmp_path):
    proj, doc, p = project(models["unet64"], tmp_path, PlanOptions(), template="qemu")
    assert relocated(doc, p.graph)
    cg = json.loads((proj / "codegen.json").read_text())
    r = run_on_qemu(proj, cg, tmp_path)
    assert r["completed"] == 2 and r["agreement"]["bit_exact"]


def test_codegen_refuses_a_streamed_plan_the_template_cannot_feed(models, tmp_path):
    with pytest.raises(HardtoolError) as e:  # the Mbed application fills the whole input
        project(models["stem"], tmp_path, PlanOptions(stream=True), template="mbed")
    msg = str(e.value)
    assert "\n" not in msg and "CONV_2D" in msg and "mbed" in msg and "--no-stream" in msg
    assert not (tmp_path / "mbed").exists()
