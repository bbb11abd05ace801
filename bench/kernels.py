"""`make bench` → bench/kernels.json: the int8 kernels on the emulated Cortex-M7, in exact instructions.

Per layer class of issue 9's table: instructions per MAC (per element for ADD, per call for the
fused resize→argmax tail) of CMSIS-NN (measured once on the same emulator: CMSIS-NN
99f736a6, gcc 12.2 -O2, the same emulator and counting method), of our portable path and of our
DSP paths, each call counted exactly by the TCG plugin (firmware/tools/icount_plugin.c) and all
outputs checked equal. Then the whole HARD-Edge frame (codegen → build → flash-and-bench on QEMU,
portable build with -DHARD_NO_DSP and DSP build) with the kernel code each firmware links.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from bench.common import write_result
from hardtool.device.kernel_runner import QemuRunner, build_qemu_runner
from hardtool.kernels import calls as K
from hardtool.kernels import quant
from hardtool.kernels.runner import Program
from hardtool.kernels.weights import dw3x3_q15, gemm_q15_pairs

# CMSIS-NN on the same emulator (CMSIS-NN 99f736a6 built with gcc 12.2 -O2, counted with the same plugin).
CMSIS_NN = {
    "conv3x3_16x16_32x64": 2.35,
    "stem3x3_s2_3x16_128x256": 4.88,
    "conv1x1_32x32": 2.66,
    "dw3x3": 8.12,
    "dw3x3_d2": 32.8,
    "dw3x3_d4": 30.7,
    "add_16x32x32": 1_310_000 / (16 * 32 * 32),
    "resize_argmax_128x256x19": None,  # CMSIS-NN has no such kernel (plain C: 15.5 M)
}
GOALS = {
    "conv3x3_16x16_32x64": 2.0,
    "stem3x3_s2_3x16_128x256": 3.5,
    "conv1x1_32x32": 2.2,
    "dw3x3": 6.0,
    "dw3x3_d2": 8.0,
    "dw3x3_d4": 8.0,
    "add_16x32x32": 40.0,
    "resize_argmax_128x256x19": 6_000_000,
}
# the HARD-Edge frame's goals (issue 23): instructions a frame with the streamed-input plan the board
# firmware runs, and on the frame's own layers: instructions per MAC of its convolutions and its
# depthwise convolutions (each class summed over its layers), the resize -> argmax tail, and no ADD
# layer of its own (every residual ADD fused into its convolution's epilogue)
FRAME_GOAL = 30_000_000
FRAME_GOALS = {
    "frame_instructions_streamed": FRAME_GOAL,
    "conv_instructions_per_mac": 1.6,
    "depthwise_instructions_per_mac": 4.0,
    "tail_instructions": 3_000_000,
    "separate_add_layers": 0,
}
FRAME_CMSIS_NN = 94_400_000


def _rand(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(-128, 128, size=shape, dtype=np.int16).astype(np.int8)


def _conv_args(rng, cout: int, stride=1, dil=1, pad=0) -> K.ConvArgs:
    mult = rng.integers(1 << 30, (1 << 31) - 1, cout)
    return K.ConvArgs(-3, 5, mult, rng.integers(-10, -7, cout), (stride, stride), (dil, dil), (pad,) * 4)


def _conv_class(prog, rng, key, cin, cout, k, hw, stride, pad, per):
    """(key, unit divisor, {path: output}) for one CONV_2D class; calls go into prog."""
    x, w = _rand(rng, (1, *hw, cin)), _rand(rng, (cout, k, k, cin))
    b = rng.integers(-3000, 3000, cout).astype(np.int32)
    a = _conv_args(rng, cout, stride, 1, pad)
    special = "hard_convolve_1x1_s8" if k == 1 else "hard_convolve_im2col_s8"
    outs = {
        "portable": K.add_conv(prog, "hard_convolve_s8", x, w, b, a, scratch=0),
        "dsp_dispatch": K.add_conv(prog, "hard_convolve_s8", x, w, b, a),
        "dsp_specialised": K.add_conv(prog, special, x, w, b, a),
    }
    # the kernel CONV_2D's record chooses on a DSP target: the filter pre-widened to q15
    q15 = "hard_convolve_1x1_q15_s8" if k == 1 else "hard_convolve_im2col_q15_s8"
    outs["dsp_q15_filter"] = K.add_conv(prog, q15, x, w, b, a, w_data=gemm_q15_pairs(w))
    out_hw = a.out_hw(hw, (k, k))
    return key, out_hw[0] * out_hw[1] * cout * k * k * cin if per == "mac" else 1, outs


def _dw_class(prog, rng, key, c, hw, dil):
    x, w = _rand(rng, (1, *hw, c)), _rand(rng, (1, 3, 3, c))
    b = rng.integers(-3000, 3000, c).astype(np.int32)
    a = _conv_args(rng, c, 1, dil, dil)
    outs = {
        "portable": K.add_depthwise(prog, "hard_depthwise_conv_s8", x, w, b, a, scratch=0),
        "dsp_dispatch": K.add_depthwise(prog, "hard_depthwise_conv_s8", x, w, b, a),
        "dsp_specialised": K.add_depthwise(
            prog, "hard_depthwise_conv_3x3_s8", x, w, b, a, w_data=dw3x3_q15(w)
        ),
    }
    return key, hw[0] * hw[1] * c * 9, outs


def _cases(prog: Program) -> list:
    """Every class's calls (the portable path is measured on the portable build)."""
    rng = np.random.default_rng(9)
    cases = [
        _conv_class(prog, rng, "conv3x3_16x16_32x64", 16, 16, 3, (32, 64), 1, 1, "mac"),
        _conv_class(prog, rng, "stem3x3_s2_3x16_128x256", 3, 16, 3, (128, 256), 2, 1, "mac"),
        _conv_class(prog, rng, "conv1x1_32x32", 32, 32, 1, (16, 32), 1, 0, "mac"),
        _dw_class(prog, rng, "dw3x3", 32, (16, 32), 1),
        _dw_class(prog, rng, "dw3x3_d2", 32, (16, 32), 2),
        _dw_class(prog, rng, "dw3x3_d4", 32, (16, 32), 4),
    ]
    a, b = _rand(rng, (1, 16, 32, 32)), _rand(rng, (1, 16, 32, 32))
    p = quant.add_params(0.05, 3, 0.08, -7, 0.1, 2)
    add = K.add_add(prog, a, b, p)
    cases.append(("add_16x32x32", a.size, {"portable": add, "dsp_dispatch": add}))
    tail = K.add_resize_argmax(prog, _rand(rng, (1, 16, 32, 19)), (128, 256), half_pixel=True)
    cases.append(("resize_argmax_128x256x19", 1, {"portable": tail, "dsp_dispatch": tail}))
    return cases


def _class_rows(work: Path) -> list[dict]:
    from hardtool.device.icount import build_plugin

    plugin = build_plugin()
    prog = Program()
    cases = _cases(prog)
    runs = {
        "portable": QemuRunner(build_qemu_runner(work / "runner", dsp=False), plugin).run(prog),
        "dsp": QemuRunner(build_qemu_runner(work / "runner", dsp=True), plugin).run(prog),
    }
    for r in runs.values():
        r.check(prog.names)
    index = {b.offset: i for i, b in enumerate(prog.outputs)}
    rows = []
    for key, per, outs in cases:
        ref = runs["portable"].get(outs["portable"])
        row = {"class": key, "shapes": "test shape", "cmsis_nn": CMSIS_NN[key], "goal": GOALS[key]}
        for path, buf in outs.items():
            run = runs["portable" if path == "portable" else "dsp"]
            row[path] = run.counts[index[buf.offset]] / per
            row.setdefault("bit_exact", True)
            row["bit_exact"] &= bool(np.array_equal(run.get(buf), ref))
        best = min(v for k, v in row.items() if k.startswith("dsp"))
        row["dsp_best"], row["meets_goal"] = best, best <= GOALS[key]
        row["unit"] = "instructions" if per == 1 else "instructions/MAC"
        if key == "add_16x32x32":
            row["unit"] = "instructions/element"
        rows.append(row)
    return rows


def _frame_variant(model: Path, plan: Path, proj: Path, data: Path, variant: str) -> dict:
    """One build of the frame through codegen, build and flash-and-bench on QEMU."""
    from hardtool.codegen.generate import generate
    from hardtool.flash_and_bench.run import flash_and_bench

    # portable: the kernels a target without the DSP extension gets (dsp=False codegen), built
    # with -DHARD_NO_DSP; dsp (and dsp_streamed, its streamed-input plan): the DSP target's own choices
    generate(model, plan, "qemu", proj, force=True, dsp=variant != "portable")
    if variant == "portable":
        manifest = proj / "hardtool_build.json"
        m = json.loads(manifest.read_text())
        m["defines"] = {**m.get("defines", {}), "HARD_NO_DSP": 1}
        manifest.write_text(json.dumps(m, indent=2) + "\n")
    r = flash_and_bench(proj, data, n=1, board="qemu", progress=False, log=lambda *_: None, force=True)
    return {
        "codegen": "dsp=False: general portable kernels, -DHARD_NO_DSP"
        if variant == "portable"
        else "the DSP target's kernels" + (", the streamed-input plan" if variant == "dsp_streamed" else ""),
        "instructions": r["latency"]["mean"],
        "counter": r["latency"]["counter"],
        "bit_exact_with_host": r["agreement"]["bit_exact"],
        "flash_bytes": r["build"]["flash_used"],
        "kernel_code_bytes": linked_kernel_bytes(Path(r["build"]["elf"]).with_suffix(".map")),
        "ram_bytes": r["build"]["ram_used"],
        "by_op": {g["op"]: g for g in r["per_op_type"]},  # flash-and-bench's per-op-type table
        # the frame's own layers by kernel and class (instructions per MAC on these shapes)
        "frame_classes": frame_classes(json.loads((proj / "codegen.json").read_text()), r["per_layer"]),
    }


def _frame(work: Path) -> dict:
    """HARD-Edge 128×256 through codegen, build and flash-and-bench on QEMU: portable and DSP builds,
    and the DSP build of the streamed-input plan (as `hardtool run` plans it for the board)."""
    from bench.common import bench_data, demo_model
    from hardtool.memplan.files import plan_to_files
    from hardtool.memplan.plan import PlanOptions

    model = demo_model(work)
    doc, _, plan, _ = plan_to_files(model, model.parent, force=True, measure_tflm=False)
    streamed_dir = work / "kernels_frame" / "streamed_plan"
    sdoc, _, splan, _ = plan_to_files(
        model, streamed_dir, force=True, measure_tflm=False, options=PlanOptions(stream=True)
    )
    out: dict = {
        "model": "hard_edge 128x256 (bundled demo checkpoint)",
        "memplan_peak": doc["peak"]["total_bytes"],
        "memplan_peak_streamed": sdoc["peak"]["total_bytes"],
    }
    for variant, p in (("portable", plan), ("dsp", plan), ("dsp_streamed", splan)):
        out[variant] = _frame_variant(model, p, work / "kernels_frame" / variant, bench_data(work), variant)
    out["frame_classes"] = out["dsp"]["frame_classes"]
    out["cmsis_nn"] = FRAME_CMSIS_NN
    # the frame: the streamed-input plan the board runs; the layer classes: the DSP build's exact
    # per-layer counts (the streamed build's first layers are timed by SysTick, run band by band)
    out["goals"] = frame_goals(out["dsp_streamed"]["instructions"], out["dsp"]["frame_classes"])
    out["goals_note"] = (
        "frame_instructions_streamed: frame.dsp_streamed (its counter); the others: frame.dsp's own layers"
    )
    out["goal"] = FRAME_GOAL
    out["meets_goal"] = all(g["meets_goal"] for g in out["goals"].values())
    out["frames_per_s_at_216mhz_if_1_ipc"] = 216e6 / out["dsp_streamed"]["instructions"]
    out["kernel_code_growth_bytes"] = out["dsp"]["kernel_code_bytes"] - out["portable"]["kernel_code_bytes"]
    out["kernel_code_growth_goal"] = 24 * 1024
    return out


def frame_goals(instructions: float, classes: list[dict]) -> dict:
    """Each of FRAME_GOALS with what was measured and whether it is met: the frame's instructions,
    and from its own layers (frame_classes rows) the convolutions' and depthwise convolutions'
    instructions per MAC (summed over each class's layers), the resize -> argmax tail's
    instructions and how many ADD layers run as a pass of their own."""

    def per_mac(rows: list[dict]) -> float | None:
        macs = sum(r["macs"] for r in rows)
        return round(sum(r["instructions"] for r in rows) / macs, 3) if macs else None

    conv = [r for r in classes if r["kernel"].startswith("hard_convolve")]
    dw = [r for r in classes if r["kernel"].startswith("hard_depthwise")]
    tail = [r for r in classes if "argmax" in r["kernel"]]
    adds = [r for r in classes if r.get("op") == "ADD"]
    measured = {
        "frame_instructions_streamed": instructions,
        "conv_instructions_per_mac": per_mac(conv),
        "depthwise_instructions_per_mac": per_mac(dw),
        "tail_instructions": sum(r["instructions"] for r in tail) if tail else None,
        "separate_add_layers": sum(r["layers"] for r in adds),
    }
    return {
        k: {
            "goal": goal,
            "measured": measured[k],
            "meets_goal": measured[k] is not None and measured[k] <= goal,
        }
        for k, goal in FRAME_GOALS.items()
    }


def frame_classes(codegen: dict, per_layer: list[dict]) -> list[dict]:
    """The frame's own layers grouped by op, kernel and the reason's class (text before the colon):
    instructions per MAC (per element without MACs), summed over the class's layers."""
    table = {L["name"]: L for L in codegen["layer_table"]}
    groups: dict[tuple[str, str, str], dict] = {}
    for row in per_layer:
        layer = table.get(row["name"], {})
        kernel = layer.get("kernel", "?")
        what = layer.get("reason", "").split(":")[0].split(",")[0]
        op = row["name"].split("#")[0]  # the op's name (the layer table's "op" is its index)
        g = groups.setdefault(
            (op, kernel, what),
            {
                "op": op,
                "kernel": kernel,
                "class": what,
                "layers": 0,
                "instructions": 0.0,
                "macs": 0,
                "elements": 0,
            },
        )
        g["layers"] += 1
        g["instructions"] += row["mean"]
        g["macs"] += layer.get("macs", 0)
        g["elements"] += layer.get("elements", 0)
    rows = sorted(groups.values(), key=lambda g: -g["instructions"])
    for g in rows:
        g["per_mac"] = round(g["instructions"] / g["macs"], 3) if g["macs"] else None
        g["per_element"] = round(g["instructions"] / g["elements"], 2) if g["elements"] else None
    return rows


_MAP_SECTION = re.compile(r"^ (\.text|\.rodata)\S*")
_MAP_PLACED = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+\.o)$")


def linked_kernel_bytes(map_file: Path) -> int:
    """Code and read-only data the linker kept from the kernel objects (obj/NNN_hard_*.o)."""
    text = Path(map_file).read_text()
    text = text[text.index("Linker script and memory map") :]
    total, in_code = 0, False
    for line in text.splitlines():
        head = _MAP_SECTION.match(line)
        if head:
            in_code = True
            line = line[head.end() :]
        elif not line.startswith("  "):
            in_code = False
        placed = _MAP_PLACED.match(line) if in_code else None
        if placed and re.search(r"/\d+_hard_[^/]*\.o$", placed.group(3)) and int(placed.group(1), 16):
            total += int(placed.group(2), 16)
            in_code = False
    return total


def run_bench(out_dir: Path, work: Path) -> dict:
    rows = _class_rows(work)
    res = {
        "board": "qemu mps2-an500 (emulated Cortex-M7)",
        "unit": "instructions, exact (TCG plugin firmware/tools/icount_plugin.c)",
        "classes_note": "classes: test shapes (each row's 'shapes'), not the frame's; frame.<variant>.frame_classes"
        " (and frame.frame_classes, the DSP build's): the HARD-Edge frame's own layers",
        "cmsis_nn": "measured on the same emulator with exact instruction counts (CMSIS-NN 99f736a6, gcc 12 -O2)",
        "classes": rows,
        "frame": _frame(work),
    }
    res = write_result(out_dir / "kernels.json", res)
    return res
