"""`hardtool run`: quantize → memplan → codegen → build → flash-and-bench in one command, each
stage writing into the same output folder and printing its key numbers. The one module that
chains stages."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click

from hardtool.core.boards import DEFAULT_TARGET, emulated_board_for, get_board, get_target
from hardtool.core.errors import EXIT_DOES_NOT_FIT, EXIT_NOT_BIT_EXACT, HardtoolError, Interrupted
from hardtool.core.files import check_clobber, json_text
from hardtool.core.options import (
    allow_large_input_option,
    baud_option,
    board_option,
    flasher_option,
    force_option,
    input_size_option,
    json_option,
    lean_kernels_option,
    out_option,
    port_option,
)

Log = Callable[[str], None]


def _quantize(ckpt: Path, data: Path, out: Path, opts: dict, log: Log) -> dict:
    from hardtool.quantize.pipeline import quantize

    t = time.perf_counter()
    q = quantize(
        ckpt,
        data,
        out,
        opts["calib_images"],
        opts["input_size"],
        calib_split="train",
        eval_images=opts["eval_images"],
        force=opts["force"],
        progress=opts["progress"],
        log=log,
        allow_large_input=opts["allow_large_input"],
    )
    ev = q["eval"]
    log(
        f"[1/5] quantize   float mIoU {100 * ev['float']['miou']:.2f} %, int8 mIoU {100 * ev['int8']['miou']:.2f} % "
        f"on {ev['images']} images, {q['model_bytes']:,} B model → {out / 'model_int8.tflite'}"
    )
    return {
        "float_miou": ev["float"]["miou"],
        "int8_miou": ev["int8"]["miou"],
        "model_bytes": q["model_bytes"],
        "seconds": round(time.perf_counter() - t, 1),
    }


def _memplan(out: Path, log: Log, lean_kernels: bool = False, target: str = DEFAULT_TARGET) -> dict:
    from hardtool.memplan.files import plan_to_files
    from hardtool.memplan.plan import PlanOptions

    # every technique: the board firmware `run` builds feeds the model its input rows as they arrive
    opts = PlanOptions(stream=True, lean_kernels=lean_kernels)
    doc, _, _, png = plan_to_files(out / "model_int8.tflite", out, target, force=True, options=opts)
    peak, v = doc["peak"]["total_bytes"], doc["verdict"]
    tflm = (doc.get("tflm_arena") or {}).get("arena_bytes")
    log(
        f"[2/5] memplan    arena {doc['arena_size']:,} B, peak SRAM {peak:,} B of {doc['budget_bytes']:,} "
        f"({'fits' if v['fits'] else 'DOES NOT FIT'})"
        + (f"; TFLite Micro needs {tflm:,} B" if tflm else "")
        + (
            f"; {len(doc['lean_ops'])} convolutions on portable kernels (--lean-kernels)"
            if doc["lean_ops"]
            else ""
        )
    )
    if not v["fits"]:
        hint = "" if lean_kernels else " (--lean-kernels trades speed for less kernel scratch)"
        raise HardtoolError(
            f"the model needs {peak:,} B of SRAM, {v['over_bytes']:,} B over the budget; see {png}{hint}",
            exit_code=EXIT_DOES_NOT_FIT,
        )
    lean = len(doc["lean_ops"])
    return {"arena": doc["arena_size"], "peak": peak, "tflm_arena": tflm, "fits": v["fits"], "lean_ops": lean}


def _codegen_and_build(
    out: Path, board: str, baud: int | None, log: Log, target: str | None = None
) -> tuple[Path, dict, dict]:
    from hardtool.build.firmware import build_firmware
    from hardtool.codegen.generate import generate
    from hardtool.memplan.files import plan_paths

    template = "qemu" if get_board(board).emulated else "baremetal"
    proj = out / template
    model = out / "model_int8.tflite"
    chip = target if get_board(board).emulated else None
    cg = generate(
        model, plan_paths(model)[0], template, proj, force=True, uart_baud=baud, board=board, target=chip
    )
    log(
        f"[3/5] codegen    {cg['layers']} layers, {cg['weights_bytes']:,} B of weights, template {template} → {proj}"
    )
    b = build_firmware(proj)
    log(
        f"[4/5] build      RAM {b.ram_used:,} / {b.ram_total:,} B, flash {b.flash_used:,} / {b.flash_total:,} B "
        f"→ {b.elf}"
    )
    return (
        proj,
        {"template": template, "layers": cg["layers"], "weights_bytes": cg["weights_bytes"]},
        {"ram_used": b.ram_used, "flash_used": b.flash_used},
    )


def _bench(proj: Path, data: Path, ckpt: Path, board: str, port: str | None, opts: dict, log: Log) -> dict:
    from hardtool.flash_and_bench.run import flash_and_bench

    r = flash_and_bench(
        proj,
        data,
        opts["n"],
        port,
        opts["baud"],
        opts["flasher"],
        board,
        ckpt=ckpt,
        progress=opts["progress"],
        log=log,
        force=True,  # the project folder was just generated: a bench folder in it is an earlier run's
    )
    lat, agree = r["latency"], r["agreement"]
    unit = "instructions (emulated)" if r["board"]["emulated"] else "cycles"
    ms = f", {lat['ms']['mean']:.1f} ms" if "ms" in lat else ""
    log(
        f"[5/5] bench      {r['completed']} images: device mIoU {100 * r['miou']['device']:.2f} % "
        f"(host int8 {100 * r['miou']['host_int8']:.2f} %), {100 * (agree['fraction'] or 0):.4f} % pixels equal, "
        f"{lat.get('mean', 0):,.0f} {unit}/image{ms}, measured SRAM {r['sram']['measured_peak']:,} B "
        f"→ {proj / 'bench'}"
    )
    if r["interrupted"]:
        raise Interrupted(
            f"{r['completed']} of {r['requested']} images done; partial results in {r['files'][0]}"
        )
    return {
        "device_miou": r["miou"]["device"],
        "host_int8_miou": r["miou"]["host_int8"],
        "pixel_agreement": agree["fraction"],
        "latency_mean": lat.get("mean"),
        "latency_unit": lat["unit"],
        "measured_peak_sram": r["sram"]["measured_peak"],
        "bit_exact": agree["bit_exact"],
    }


def run_pipeline(
    ckpt: Path,
    data: Path,
    out: Path,
    n: int = 8,
    board: str = "auto",
    port: str | None = None,
    baud: int | None = None,
    flasher: str = "auto",
    calib_images: int = 64,
    eval_images: int | None = None,
    input_size: tuple[int, int] | None = None,
    force: bool = False,
    progress: bool = True,
    log: Log = print,
    allow_large_input: bool = False,
    lean_kernels: bool = False,
    target: str | None = None,
) -> dict:
    """All stages on one checkpoint; returns {stage: key numbers}. ``target``: the chip planned
    for, and (board auto) the emulated board of its core that runs it, with its limits."""
    from hardtool.flash_and_bench.run import resolve_board

    out = Path(out)
    check_clobber(out, force)  # every stage writes into OUT: refuse a used folder up front
    opts = {
        "n": n,
        "baud": baud,
        "flasher": flasher,
        "calib_images": calib_images,
        "eval_images": eval_images,
    }
    opts |= {"input_size": input_size, "force": force, "progress": progress}
    opts["allow_large_input"] = allow_large_input
    if target is not None and board == "auto":  # a bad --target fails before any stage runs
        board = emulated_board_for(get_target(target)).name
    summary: dict = {"quantize": _quantize(ckpt, data, out, opts, log)}
    summary["memplan"] = _memplan(out, log, lean_kernels, target or DEFAULT_TARGET)
    board, port = resolve_board(board, port, log)
    proj, summary["codegen"], summary["build"] = _codegen_and_build(out, board, baud, log, target)
    bench = _bench(proj, data, ckpt, board, port, opts, log)
    summary["bit_exact"] = bench.pop("bit_exact")
    summary["bench"] = bench
    return summary


@click.command("run")
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.option(
    "--data", type=click.Path(path_type=Path), required=True, help="Cityscapes-layout root (train + val)."
)
@out_option("build/<ckpt name>")
@click.option("--n", "n", type=int, default=8, show_default=True, help="Images to run on the device.")
@board_option("the DISCO board if one is connected, else the emulated board (with --target: its core's)")
@click.option(
    "--target",
    default=None,
    help="Chip to plan for (memplan's budget) and, with --board auto, run on the emulated board of "
    "its core with its limits (Cortex-M3 for the RP2040, M4 for the nRF52840, M7 for the STM32s "
    "F7/H7) [default: stm32f746ng].",
)
@port_option()
@baud_option()
@flasher_option()
@click.option("--calib-images", type=int, default=64, show_default=True)
@click.option("--eval-images", type=int, default=None, help="Host evaluation on the first N val images only.")
@input_size_option("default: the checkpoint's")
@allow_large_input_option()
@lean_kernels_option()
@force_option("an existing output folder")
@json_option()
def run_cmd(ckpt, out, input_size, as_json, **stages) -> None:
    """Run every stage on CKPT: quantize, memplan, codegen, build, flash-and-bench."""
    s = run_pipeline(
        ckpt,
        out=out or Path("build") / Path(ckpt).stem,
        input_size=tuple(input_size) if input_size else None,
        progress=not as_json,
        log=(lambda m: click.echo(m, err=True)) if as_json else click.echo,
        **stages,
    )
    if as_json:
        click.echo(json_text(s))
    if not s["bit_exact"]:
        raise SystemExit(EXIT_NOT_BIT_EXACT)
