"""`make bench` → bench/cores.json: HARD-Edge and the MLPerf Tiny models on every emulated core
(firmware/cores/*.json: Cortex-M3 portable, M4 / M7 / M33 / M55 DSP paths).

Per model and core: the model's generated project (host template) built for the core and run on
its QEMU machine on random int8 inputs, its outputs compared byte for byte with the native
build's; and the instructions per inference, estimated as the sum of per-layer counts on that
core's kernel runner (each layer's kernel call with its exact shapes counted exactly by the TCG
plugin, `hardtool fit`'s method; layers of other ops are listed as not counted) beside the
exact count of one inference (the whole run on two inputs minus the run on one, with the plugin:
one input's semihosted file I/O included)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.common import demo_model, mlperf_dir
from hardtool.core.boards import cores
from hardtool.core.files import atomic_write_json
from hardtool.core.graph import load_tflite
from hardtool.device import icount
from hardtool.device.model_on_core import build_model_on_core, instructions_per_inference, run_model_on_core
from hardtool.fit import counts

MLPERF = ("vww_96_int8", "resnet8_quant", "kws_ref_model", "ad01_int8")
INPUTS = 2


def _project(model: Path, work: Path) -> tuple[Path, bytes, bytes]:
    """(host project, INPUTS random samples, the native build's outputs)."""
    from hardtool.codegen.generate import generate
    from hardtool.memplan.files import plan_to_files

    _, _, plan, _ = plan_to_files(model, work, measure_tflm=False, force=True)
    generate(model, plan, "host", work / "proj", force=True)
    subprocess.run(["make", "-s", "-C", str(work / "proj")], check=True, capture_output=True)
    g = load_tflite(model)
    n = sum(g.tensors[t].nbytes for t in g.inputs)
    data = np.random.default_rng(0).integers(-128, 128, INPUTS * n).astype(np.int8).tobytes()
    want = subprocess.run([str(work / "proj" / "model_host")], input=data, capture_output=True, check=True)
    return work / "proj", data, want.stdout


def measure(model: Path, work: Path) -> dict:
    """Every core's row for one model: bit-exact with the native build, exact and estimated
    instructions per inference."""
    proj, data, want = _project(model, work)
    graph = load_tflite(model)
    plugin, _ = icount.try_plugin()
    rows = {}
    for core in cores():
        elf = build_model_on_core(proj, core, work / "elf")
        got = run_model_on_core(elf, core, data)
        per_layer = counts.layer_counts(graph, core)
        n, left_out = counts.frame_instructions(graph, per_layer) if per_layer else (None, [])
        one = data[: len(data) // INPUTS]
        rows[core] = {
            "bit_exact_with_host": got == want,
            "instructions_exact": instructions_per_inference(elf, core, one, plugin) if plugin else None,
            "instructions_estimated": n,
            "ops_not_counted": left_out,
        }
    return rows


def models(work: Path, only: tuple[str, ...] | None = None) -> dict[str, Path]:
    """HARD-Edge (the bundled checkpoint at 128x256) and the MLPerf Tiny files that are present."""
    found = {"hard_edge": demo_model(work)}
    d = mlperf_dir()
    found |= {m: d / f"{m}.tflite" for m in MLPERF if d and (d / f"{m}.tflite").is_file()}
    return {k: v for k, v in found.items() if not only or k in only}


def run_bench(out_dir: Path, work: Path, only: tuple[str, ...] | None = None) -> dict:
    """Every model on every core; with ``only``, those models, kept beside the others measured before."""
    path = Path(out_dir) / "cores.json"
    before = json.loads(path.read_text())["models"] if only and path.is_file() else {}
    res = {
        "method": counts.METHOD,
        "bit_exact": f"{INPUTS} random int8 inputs, outputs compared with the native build",
        "cores": {c.name: c.title for c in cores().values()},
        "models": before
        | {name: measure(p, Path(work) / "cores" / name) for name, p in models(Path(work), only).items()},
    }
    atomic_write_json(path, res)
    return res


if __name__ == "__main__":  # python -m bench.cores MODEL ...: only those models
    from bench.common import ROOT

    print(run_bench(ROOT / "bench", ROOT / "build" / "bench", tuple(sys.argv[1:]) or None))
