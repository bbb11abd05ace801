"""``lean_kernels``: the convolutions whose DSP scratch sets the peak get none, so their kernels
run the portable path. The plan is smaller, lists those ops, gives them no scratch buffer, and the
firmware built from it stays bit-exact with TFLite's reference kernels on the emulated Cortex-M7
(where the DSP paths are the default, so the portable path is really the one taken)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import model_builders as mb
import numpy as np
import pytest

from bench.common import mlperf_dir
from hardtool.codegen.generate import generate
from hardtool.memplan.plan import PlanOptions, plan_file, to_json
from tests.test_cli_errors import run

MLPERF_DIR = mlperf_dir() or Path("shared/mlperf-tiny")  # absent: the tests that need it skip
emulated = pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)


def lean_project(tflite: Path, out: Path) -> tuple[dict, dict, int]:
    """(plan document, codegen summary, the arena without lean kernels) for a QEMU project."""
    plain = plan_file(tflite, options=PlanOptions())
    doc = to_json(plan_file(tflite, options=PlanOptions(lean_kernels=True)))
    out.mkdir(parents=True, exist_ok=True)
    (out / "memplan.json").write_text(json.dumps(doc))
    cg = generate(tflite, out / "memplan.json", "qemu", out / "qemu", force=True)
    return doc, cg, plain.arena


def run_on_qemu(proj: Path, cg: dict, out: Path, n: int = 2) -> dict:
    from hardtool.flash_and_bench.run import flash_and_bench

    rng = np.random.default_rng(0)
    folder = out / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        xs = [rng.integers(-128, 128, t["dims"]).astype(t["dtype"]) for t in cg["inputs"]]
        (folder / f"input{i}.bin").write_bytes(b"".join(x.tobytes() for x in xs))
    return flash_and_bench(proj, folder, n=n, board="qemu", progress=False, log=lambda *_: None)


def check_lean(doc: dict, cg: dict, plain_arena: int) -> None:
    lean = {e["op"]: e for e in doc["lean_ops"]}
    assert lean and doc["options"]["lean_kernels"] and doc["arena_size"] < plain_arena
    scratch_ops = {b["op"] for b in doc["buffers"] if b["kind"] == "scratch"}
    assert not scratch_ops & set(lean), "a lean op still has a scratch buffer"
    assert all(e["scratch_saved"] > 0 and e["macs"] > 0 for e in lean.values())
    paths = {L["op"]: L.get("reason", "") for L in cg["layer_table"]}
    assert all(paths[op].startswith("portable") for op in lean), paths
    assert any(not p.startswith("portable") for op, p in paths.items() if op not in lean)


@emulated
def test_lean_plan_is_smaller_and_bit_exact_on_the_emulated_board(tmp_path):
    tfl = mb.build("toy_hard", tmp_path / "keras", input_size=(32, 64))
    doc, cg, plain = lean_project(tfl, tmp_path)
    check_lean(doc, cg, plain)
    r = run_on_qemu(tmp_path / "qemu", cg, tmp_path)
    assert r["completed"] == 2 and r["agreement"]["bit_exact"]


@emulated
@pytest.mark.parametrize("name", ["resnet8_quant", "strm_ww_int8"])
def test_lean_mlperf_tiny_bit_exact_on_the_emulated_board(name, tmp_path):
    path = MLPERF_DIR / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    tfl = tmp_path / "model_int8.tflite"
    shutil.copy(path, tfl)
    doc, cg, plain = lean_project(tfl, tmp_path)
    check_lean(doc, cg, plain)
    r = run_on_qemu(tmp_path / "qemu", cg, tmp_path)
    assert r["completed"] == 2 and r["agreement"]["bit_exact"]


def test_memplan_cli_lean_kernels_flag(tmp_path):
    tfl = mb.build("toy_hard", tmp_path / "keras", input_size=(32, 64))
    res = run("memplan", str(tfl), "--out", str(tmp_path), "--no-tflm", "--lean-kernels")
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / f"{tfl.stem}.memplan.json").read_text())
    assert doc["lean_ops"] and "Lean kernels" in res.stdout
    tech = doc["techniques"]["by_technique"]["lean_kernels"]
    assert tech["enabled"] and tech["saved_bytes"] > 0


def residual_block() -> bytes:
    """ResNet-8's shape in small: its peak is a 3x3 convolution next to the residual it is added to."""
    _, keras, L = mb._keras()
    inp = keras.Input((16, 16, 3), batch_size=1)
    x = mb._conv(L, inp, 16)
    y = mb._conv(L, mb._conv(L, x, 16), 16, act=None)
    y = L.ReLU()(L.Add()([x, y]))
    return mb.to_tflite(keras.Model(inp, mb._conv(L, y, 4, k=1, act=None)))


def test_run_plans_with_lean_kernels_when_asked(tmp_path):
    from hardtool.pipeline import _memplan

    (tmp_path / "model_int8.tflite").write_bytes(residual_block())
    lines: list[str] = []
    lean = _memplan(tmp_path, lines.append, lean_kernels=True)
    plain = _memplan(tmp_path, lines.append)
    assert lean["lean_ops"] and lean["arena"] < plain["arena"] and not plain["lean_ops"]
    assert "portable kernels (--lean-kernels)" in lines[0] and "portable" not in lines[1]
