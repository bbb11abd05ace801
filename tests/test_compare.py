"""FP32 planning (memplan takes float32 models, codegen refuses them) and `hardtool compare` end to
end: two models converted and planned in FP32 and int8, a failing model reported beside them, the
table, compare.json and the chart."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from hardtool.core.graph import load_tflite, lower
from hardtool.memplan.contract import check_plan
from hardtool.memplan.files import plan_document
from tests.test_cli_errors import assert_one_line_error, run


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    """The same Keras three-branch toy (PAD + VALID convs, resize + concat, resize → argmax tail) as
    a float32 and as a full-int8 TFLite."""
    from bench.common import model_builders

    mm = model_builders()
    d = tmp_path_factory.mktemp("toys")
    return {"float32": mm.build("toy_float", d), "int8": mm.build("toy_hard", d)}


def _activation_bytes(graph) -> dict[str, int]:
    return {graph.tensors[t].name: graph.tensors[t].nbytes for t in graph.activations()}


def test_float_model_plans_with_float_sizes(toys):
    doc, plan, graph = plan_document(toys["float32"])
    check_plan(doc, plan.graph)  # every buffer inside the arena, no live overlap, the graph's sizes
    assert doc["precision"] == "float32"
    assert [op.name for op in plan.graph.ops][-1] == "HARD_RESIZE_ARGMAX"  # logits never held whole
    assert not any(op.name == "PAD" for op in plan.graph.ops)  # zero padding folded into the convs
    scratch = doc["peak"]["parts"]["scratch"]
    assert scratch["kind"] == "estimate" and "float" in scratch["source"]
    # the same network in int8: every activation (but the uint8 label map) is 4x smaller
    q_doc, q_plan, _ = plan_document(toys["int8"])
    f_sizes = {e["tensor"]: e["size"] for e in doc["buffers"] if e["tensor"] is not None}
    q_sizes = {e["tensor"]: e["size"] for e in q_doc["buffers"] if e["tensor"] is not None}
    assert len(f_sizes) == len(q_sizes)
    labels = plan.graph.outputs[0]
    assert sorted(v for t, v in f_sizes.items() if t != labels) == sorted(
        4 * v for t, v in q_sizes.items() if t != q_plan.graph.outputs[0]
    )
    assert f_sizes[labels] == q_sizes[q_plan.graph.outputs[0]]
    h, w = graph.tensors[graph.inputs[0]].shape[1:3]
    assert doc["peak"]["parts"]["input"]["bytes"] == h * w * 3 * 4
    # TFLite Micro runs the float file: measured, and no placement of its tensors beats their live bytes
    tflm = doc["tflm_arena"]
    assert tflm["head_bytes"] >= doc["tflm_layout"]["live_bytes_lower_bound"] > doc["arena_size"]


def test_memplan_and_codegen_cli_on_a_float_model(toys, tmp_path):
    r = run("memplan", str(toys["float32"]), "--out", str(tmp_path), "--no-tflm", "--json")
    assert r.returncode in (0, 3), r.stderr
    assert json.loads(r.stdout)["precision"] == "float32"
    assert "float32 model" in r.stderr and "codegen" in r.stderr
    assert_one_line_error(
        run("codegen", str(toys["float32"]), "-t", "host", "--out", str(tmp_path / "proj")),
        "float model",
        "int8",
    )
    assert not (tmp_path / "proj").exists()


def test_load_tflite_refuses_float_unless_asked(toys):
    from hardtool.core.errors import HardtoolError

    with pytest.raises(HardtoolError, match="float model"):
        load_tflite(toys["float32"])
    g = lower(load_tflite(toys["float32"], float_ok=True))
    assert g.tensors[g.inputs[0]].dtype == "float32"


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """hard_edge and edanet at 64x128 in two worker processes, fssnet given a broken checkpoint."""
    d = tmp_path_factory.mktemp("cmp")
    bad = d / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    out = d / "out"
    args = ["hard_edge", "edanet", "fssnet", "--input-size", "64", "128", "--calib-images", "2"]
    r = run("compare", *args, "--ckpt", f"fssnet={bad}", "--out", str(out), "--jobs", "2")
    return r, out, args


def test_compare_reports_models_and_the_failure(compared):
    r, out, _ = compared
    assert r.returncode == 0, r.stderr
    assert "HARD-Edge" in r.stdout and "EDANet" in r.stdout
    assert "failed fssnet: checkpoint" in r.stdout and "corrupt" in r.stdout
    doc = json.loads((out / "compare.json").read_text())
    assert [m["name"] for m in doc["models"]] == ["hard_edge", "edanet"]
    assert [f["name"] for f in doc["failed"]] == ["fssnet"] and "\n" not in doc["failed"][0]["error"]
    assert "synthetic" in doc["calibration"] and "random" in doc["weights"]
    assert not (out / "models" / "fssnet").exists()
    png = Image.open(out / "compare.png")
    assert png.format == "PNG" and png.size[0] >= 600


@pytest.mark.parametrize("name", ["hard_edge", "edanet"])
def test_compare_rows_match_their_plans(compared, name):
    """Each row's numbers are those of the plan files written beside the models, which are valid
    plans of the clean int8 and the float32 graph."""
    _, out, _ = compared
    doc = json.loads((out / "compare.json").read_text())
    row = next(m for m in doc["models"] if m["name"] == name)
    ref = next(m for m in doc["models"] if m["name"] == "hard_edge")
    for dt in ("float32", "int8"):
        model = out / row[dt]["file"]
        plan_doc = json.loads(model.with_name(f"model_{dt}.memplan.json").read_text())
        graph = lower(load_tflite(model, float_ok=True))
        check_plan(plan_doc, graph)
        assert plan_doc["precision"] == dt
        assert row[dt]["plan"]["peak_sram_bytes"] == plan_doc["peak"]["total_bytes"]
        assert row[dt]["plan"]["fits"] == (plan_doc["peak"]["total_bytes"] <= doc["budget_bytes"])
        assert row[dt]["tflm"]["arena_bytes"] == plan_doc["tflm_arena"]["arena_bytes"]
        g = load_tflite(model, float_ok=True)
        assert row[dt]["weights_bytes"] == sum(t.data.nbytes for t in g.tensors if t.data is not None)
        want = row[dt]["plan"]["peak_sram_bytes"] / ref[dt]["plan"]["peak_sram_bytes"]
        assert row["ratio_to_reference"][dt]["plan"] == pytest.approx(want, abs=0.006)
        assert (name in doc["fits"][dt]) == row[dt]["plan"]["fits"]
    assert not any(t.is_float for t in load_tflite(out / row["int8"]["file"]).tensors)
    assert row["float32"]["weights_bytes"] > 3 * row["int8"]["weights_bytes"]


def test_compare_refuses_to_clobber(compared):
    _, out, args = compared
    before = (out / "compare.json").read_bytes()
    assert_one_line_error(run("compare", *args, "--out", str(out)), "--force")
    assert (out / "compare.json").read_bytes() == before


def test_compare_json_of_failures_only(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"x")
    r = run(
        "compare", "fssnet", "--ckpt", f"fssnet={bad}", "--out", str(tmp_path / "o"), "--json", "--jobs", "1"
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["models"] == [] and doc["failed"][0]["name"] == "fssnet"
    assert "not measured" in doc["paper"]["notes"][0]


def test_compare_bad_arguments(tmp_path):
    assert_one_line_error(run("compare", "nonet", "--out", str(tmp_path / "a")), "unknown architecture")
    assert_one_line_error(
        run("compare", "hard_edge", "--ckpt", "enet=x.pt", "--out", str(tmp_path / "b")), "not among"
    )
    assert_one_line_error(run("compare", "--ckpt", "oops", "--out", str(tmp_path / "c")), "NAME=PATH")
    assert not any(tmp_path.iterdir())


def test_paper_comparison_arithmetic():
    """Ratios under each accounting and the closest one to the paper's figures, from given rows."""
    from hardtool.compare.paper import paper_comparison

    def entry(peak, arena, live, acts, weights):
        return {
            "plan": {"peak_sram_bytes": peak, "arena_bytes": peak - 100},
            "tflm": {"arena_bytes": arena},
            "tflm_order_live_bytes": live,
            "activations_total_bytes": acts,
            "weights_bytes": weights,
        }

    edge = {
        "name": "hard_edge",
        "int8": entry(1000, 4000, 3000, 9000, 50),
        "float32": entry(4000, 16000, 12000, 36000, 200),
    }
    dab = {
        "name": "dabnet",
        "int8": entry(3600, 4400, 3300, 47000, 700),
        "float32": entry(16000, 17000, 13000, 190000, 2800),
    }
    doc = paper_comparison([edge, dab], (128, 256), 327680)
    m = doc["measured"]
    assert m["dabnet_over_hard_edge"]["plan"] == {"float32": 4.0, "int8": 3.6}
    assert m["dabnet_over_hard_edge"]["activations_total"]["int8"] == pytest.approx(5.22, abs=0.01)
    assert m["closest_accounting"] == {
        "float32": "weights",
        "int8": "weights",
    }  # 14x is nearest 20.9 and 26.3
    assert m["hard_edge_int8_bytes"]["plan"] == 1000
    assert any("283.05 kB" in n for n in doc["notes"])
    assert np.isclose(doc["paper"]["dabnet_over_hard_edge"]["int8"], 26.3)
