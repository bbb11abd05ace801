"""`make bench` → bench/cores.json: HARD-Edge and the MLPerf Tiny models on every emulated core
(firmware/cores/*.json: Cortex-M3 portable, M4 / M7 / M33 / M55 DSP paths).

Per model and core: the model's generated project (host template) built for the core and run on
its QEMU machine on random int8 inputs, its outputs compared byte for byte with the native
build's; and the instructions per inference, estimated as the sum of per-layer counts on that
core's kernel runner (each layer's kernel call with its exact shapes counted exactly by the TCG
plugin; layers of other ops are listed as not counted) beside the exact count of one inference
(the whole run on two inputs minus the run on one, with the plugin: one input's semihosted file
I/O included). The host template emits the portable entry points on every core, and so are its
layers counted.

And per model and core the bench firmware (the qemu template, as `hardtool run` builds it: the
kernels codegen chooses for the core, q15 filters in flash on the DSP cores, the input streamed
into the first stage) on the core's emulated board (its UART, over the serial protocol,
flash-and-bench): bit-exact with the host int8 reference, its exact instructions per frame beside
`hardtool fit`'s estimate for the same plan and kernels, and the linked image's flash and SRAM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.common import demo_model, mlperf_dir, write_result
from hardtool.core.boards import DEFAULT_TARGET, cores, get_board, get_core, targets
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
        per_layer = counts.layer_counts(graph, core, dsp=False)
        n, left_out = counts.frame_instructions(graph, per_layer, dsp=False) if per_layer else (None, [])
        one = data[: len(data) // INPUTS]
        rows[core] = {
            "bit_exact_with_host": got == want,
            "instructions_exact": instructions_per_inference(elf, core, one, plugin) if plugin else None,
            "instructions_estimated": n,
            "ops_not_counted": left_out,
            "bench_firmware": firmware_row(
                model, work / "firmware" / core, core, data[: len(data) // INPUTS]
            ),
        }
    return rows


def firmware_row(model: Path, work: Path, core: str, sample: bytes) -> dict:
    """One input through the bench firmware on ``core``'s emulated board (its own chip's limits)."""
    from hardtool.codegen.generate import generate
    from hardtool.core.errors import HardtoolError
    from hardtool.flash_and_bench.run import flash_and_bench
    from hardtool.memplan.files import plan_to_files
    from hardtool.memplan.plan import PlanOptions

    board = get_board(str(get_core(core).board))
    work.mkdir(parents=True, exist_ok=True)
    (work / "samples").mkdir(exist_ok=True)
    (work / "samples" / "input.bin").write_bytes(sample)
    opts = PlanOptions(stream=True)
    # the board's chip (a machine's own memory, M33 / M55: planned as for the default chip)
    target = board.chip.name if board.chip.name in targets() else DEFAULT_TARGET
    _, plan, path, _ = plan_to_files(model, work, target, measure_tflm=False, force=True, options=opts)
    try:
        generate(model, path, "qemu", work / "qemu", force=True, board=board.name)
        r = flash_and_bench(
            work / "qemu", work / "samples", n=1, progress=False, log=lambda *_: None, force=True
        )
    except HardtoolError as e:
        return {"board": board.name, "error": str(e)}
    graph = load_tflite(model)
    per_layer = counts.layer_counts(graph, core, stage=plan.stage)
    n = counts.frame_instructions(graph, per_layer, get_core(core).dsp, plan.stage)[0] if per_layer else None
    return {
        "board": board.name,
        "limits": board.chip.name,
        "bit_exact_with_host_int8": r["agreement"]["bit_exact"],
        "instructions_exact": r["images"][0]["total"],
        "counter": r["latency"]["counter"],
        "instructions_fit": n,
        "flash_bytes": r["build"]["flash_used"],
        "sram_measured_peak": r["sram"]["measured_peak"],
        "sram_memplan_peak": r["sram"]["memplan_peak"],
    }


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
    res = write_result(path, res)
    return res


if __name__ == "__main__":  # python -m bench.cores MODEL ...: only those models
    from bench.common import ROOT

    print(run_bench(ROOT / "bench", ROOT / "build" / "bench", tuple(sys.argv[1:]) or None))
