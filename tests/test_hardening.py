"""Bad input, tried as a new user would: every case gives one line and the right exit code, never
an internal error, and nothing is lost or overwritten. One test per case of issue 15."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hardtool.core.errors import HardtoolError
from hardtool.core.files import json_text, strict
from hardtool.core.graph import load_tflite_bytes
from hardtool.core.graph.edit import rewrite
from tests.test_cli_errors import assert_one_line_error, run


@pytest.fixture(scope="module")
def edge(zoo_model) -> bytes:
    return Path(zoo_model("hard_edge")).read_bytes()


def memplan(*args) -> object:
    """`hardtool memplan ARGS` in this process (CliRunner): (exit code, exception, output)."""
    from hardtool.cli import cli

    return CliRunner().invoke(cli, ["memplan", *map(str, args)])


def _first(model, name: str):
    code = next(
        i for i, c in enumerate(model.operatorCodes) if max(c.builtinCode, c.deprecatedBuiltinCode) == name
    )
    return next(op for op in model.subgraphs[0].operators if op.opcodeIndex == code)


def edited(data: bytes, change) -> bytes:
    return rewrite(data, change)


CONV, DEPTHWISE = 3, 4  # BuiltinOperator codes


def _stride_zero(m):
    _first(m, CONV).builtinOptions.strideH = 0


def _dilation_minus_one(m):
    _first(m, DEPTHWISE).builtinOptions.dilationWFactor = -1


def _rank_lost(m):
    t = m.subgraphs[0].tensors[_first(m, DEPTHWISE).inputs[0]]
    t.shape = [int(d) for d in t.shape][1:]


def _weight_zp_int_min(m):
    q = m.subgraphs[0].tensors[_first(m, CONV).inputs[1]].quantization
    q.zeroPoint = [-(2**31)] + [0] * (len(q.scale) - 1)


def _zero_points_4096(m):
    op = _first(m, CONV)
    q = m.subgraphs[0].tensors[op.outputs[0]].quantization
    q.zeroPoint = [int(q.zeroPoint[0])] * 4096


@pytest.mark.parametrize(
    "change, says",
    [
        (_stride_zero, r"op #\d+ CONV_2D: stride_h is 0"),
        (_dilation_minus_one, r"op #\d+ DEPTHWISE_CONV_2D: dilation_w_factor is -1"),
        (_rank_lost, r"op #\d+ \w+: .*tensor \d+ .*\[\d+, \d+, \d+\]"),  # at its producer or reader
        (_weight_zp_int_min, r"zero point -2147483648 outside \[0, 0\]"),
        (_zero_points_4096, r"has 1 scales but 4096 zero points"),
    ],
    ids=["stride 0", "dilation -1", "rank lost", "weight zero point INT_MIN", "4096 zero points"],
)
def test_corrupted_graph_field_is_one_line_naming_it(edge, change, says):
    with pytest.raises(HardtoolError, match=says) as e:
        load_tflite_bytes(edited(edge, change), "m.tflite")
    assert "\n" not in str(e.value) and "re-export it" in str(e.value)


def test_corrupted_graph_through_memplan_and_codegen(edge, tmp_path):
    """The same models on the command line: exit 2, one line, no plan and no C written."""
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(edited(edge, _stride_zero))
    assert_one_line_error(run("memplan", str(bad), "--no-tflm"), "stride_h is 0")
    bad.write_bytes(edited(edge, _zero_points_4096))
    plan = tmp_path / "p.json"
    plan.write_text("{}")
    r = run("codegen", str(bad), "--plan", str(plan), "-t", "host", "--out", str(tmp_path / "c"))
    assert_one_line_error(r, "4096 zero points")
    assert r.returncode == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tflite", "p.json"]


# ---- sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, says",
    [(("0", "0"), "at least 32"), (("-8", "16"), "at least 32"), (("4096", "4096"), "--allow-large-input")],
)
def test_input_size_is_checked_before_anything_is_allocated(size, says, demo_ckpt, synth_data, tmp_path):
    r = run(
        "quantize",
        str(demo_ckpt),
        "--data",
        str(synth_data),
        "--out",
        str(tmp_path / "q"),
        "--input-size",
        *size,
    )
    assert_one_line_error(r, says)
    assert r.returncode == 2 and not (tmp_path / "q").exists()


def test_absurd_tensor_size_is_refused(edge):
    def huge(m):
        t = m.subgraphs[0].tensors[m.subgraphs[0].inputs[0]]
        t.shape = [1, 1 << 20, 1 << 12, 3]

    with pytest.raises(HardtoolError, match="2 GiB"):
        load_tflite_bytes(edited(edge, huge), "m.tflite")


def test_budget_out_of_range(tmp_path, edge):
    (tmp_path / "m.tflite").write_bytes(edge)
    r = memplan(tmp_path / "m.tflite", "--no-tflm", "--budget", "99999999999999999999")
    assert isinstance(r.exception, HardtoolError) and "4 GiB" in str(r.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite"]


# ---- output paths -----------------------------------------------------------------------------


def test_memplan_out_that_cannot_be_made(tmp_path, edge):
    model = tmp_path / "m.tflite"
    model.write_bytes(edge)
    assert_one_line_error(
        run("memplan", str(model), "--no-tflm", "--out", "/proc/nope"), "cannot write /proc/nope"
    )
    (tmp_path / "file").write_text("x")
    assert_one_line_error(
        run("memplan", str(model), "--no-tflm", "--out", str(tmp_path / "file")), "is a file"
    )


def test_png_in_a_missing_folder_is_refused_not_created(tmp_path, edge):
    (tmp_path / "m.tflite").write_bytes(edge)
    r = memplan(tmp_path / "m.tflite", "--no-tflm", "--png", tmp_path / "nonexistent_dir" / "x.png")
    assert isinstance(r.exception, HardtoolError) and "does not exist" in str(r.exception)
    assert not (tmp_path / "nonexistent_dir").exists() and not (tmp_path / "m.memplan.json").exists()


def test_two_models_in_one_folder_are_both_planned_and_generated(tmp_path, edge):
    from hardtool.codegen.generate import generate
    from hardtool.memplan.files import default_plan

    a, b = tmp_path / "a.tflite", tmp_path / "b.tflite"
    a.write_bytes(edge)
    b.write_bytes(edited(edge, lambda m: setattr(m, "description", "another model")))
    for model in (a, b):
        r = memplan(model, "--no-tflm")
        assert r.exit_code == 0, r.output
    docs = {m: json.loads((tmp_path / f"{m}.memplan.json").read_text()) for m in ("a", "b")}
    assert docs["a"]["model_sha256"] != docs["b"]["model_sha256"]
    assert (tmp_path / "a.memplan.png").is_file() and (tmp_path / "b.memplan.png").is_file()
    for model in (a, b):  # codegen finds each model's own plan by default
        assert default_plan(model) == tmp_path / f"{model.stem}.memplan.json"
        summary = generate(model, default_plan(model), "host", tmp_path / f"{model.stem}_host")
        assert summary["model_sha256"] == docs[model.stem]["model_sha256"]
    legacy = tmp_path / "legacy"  # a plan named memplan.json (older hardtool, `hardtool run`) still works
    legacy.mkdir()
    shutil.copy(a, legacy / "model_int8.tflite")
    shutil.copy(tmp_path / "a.memplan.json", legacy / "memplan.json")
    assert default_plan(legacy / "model_int8.tflite") == legacy / "memplan.json"


def test_quantize_force_leaves_other_files_alone(tmp_path, synth_data, zoo_model):
    """--force replaces quantize's own outputs only: a plan beside them survives byte for byte."""
    out = tmp_path / "q"
    src = str(zoo_model("hard_edge"))
    args = ("quantize", src, "--data", str(synth_data), "--out", str(out), "--eval-images", "1", "--json")
    assert run(*args).returncode == 0
    assert memplan(out / "model_int8.tflite", "--no-tflm").exit_code == 0
    keep = {p.name: p.read_bytes() for p in out.iterdir() if "memplan" in p.name}
    assert set(keep) == {"model_int8.memplan.json", "model_int8.memplan.png"}
    assert_one_line_error(run(*args), "--force")
    r = run(*args, "--force")
    assert r.returncode == 0, r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if "memplan" in p.name} == keep
    report = (out / "quant_report.json").read_text()
    json.loads(report, parse_constant=lambda c: pytest.fail(f"{c} in quant_report.json"))


# ---- inputs that are not what they claim -------------------------------------------------------


def test_checkpoint_that_is_a_folder(tmp_path, synth_data):
    (tmp_path / "x.pt").mkdir()
    r = run("quantize", str(tmp_path / "x.pt"), "--data", str(synth_data), "--out", str(tmp_path / "o"))
    assert_one_line_error(r, "is a folder")
    assert_one_line_error(run("eval", str(tmp_path / "x.pt"), "--data", str(synth_data)), "is a folder")


def test_unknown_serial_url_is_one_line():
    from hardtool.device.link import Link

    with pytest.raises(HardtoolError, match="cannot open serial port bogus://x"):
        Link("bogus://x")


@pytest.mark.parametrize(
    "args, says",
    [
        (("--timeout", "0"), "--timeout must be at least 0.1"),
        (("--fault-proxy", "corrupt=2"), "not one of corrupt, drop, insert, delay"),
        (("--fault-proxy", "drop=0.01", "--board", "disco"), "emulated board only"),
    ],
)
def test_flash_and_bench_arguments_fail_before_anything_runs(args, says, tmp_path):
    assert_one_line_error(run("flash-and-bench", str(tmp_path), "--data", str(tmp_path), *args), says)


def test_usage_errors_are_one_line(tmp_path):
    assert_one_line_error(run("memplan"), "missing argument", "hardtool memplan --help")
    assert_one_line_error(run("memplan", "m.tflite", "--bogus"), "no such option")


# ---- strict JSON ------------------------------------------------------------------------------


def test_reports_are_strict_json():
    doc = {"iou": {"road": 0.5, "train": float("nan")}, "x": [float("inf"), np.float32("nan"), np.int64(3)]}
    text = json_text(doc)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"iou": {"road": 0.5, "train": None}, "x": [None, None, 3]}
    assert strict((1.0, math.nan)) == [1.0, None]


def test_rank_one_tensors_plan():
    """An elementwise op on rank-1 tensors: sizing its (zero) scratch needs no H or W."""
    from hardtool.core.graph import Graph, Op, Quant, Tensor
    from hardtool.memplan.plan import plan_graph

    q = Quant((0.1,), (0,))
    t = [Tensor(0, "a", (8,), "int8", q), Tensor(1, "b", (8,), "int8", q), Tensor(2, "y", (8,), "int8", q)]
    g = Graph(t, [Op(0, "ADD", (0, 1), (2,))], (0, 1), (2,))
    assert plan_graph(g).arena >= 16
