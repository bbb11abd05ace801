"""`hardtool run`: quantize → memplan → codegen → build → flash-and-bench in one command, each
stage writing into the same output folder and printing its key numbers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import click

from hardtool.errors import HardtoolError


def run_pipeline(
    ckpt: Path,
    data: Path,
    out: Path,
    n: int = 8,
    board: str = "auto",
    port: str | None = None,
    baud: int = 115200,
    flasher: str = "auto",
    calib_images: int = 64,
    eval_images: int | None = None,
    input_size: tuple[int, int] | None = None,
    force: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """All stages on one checkpoint; returns {stage: key numbers}."""
    from hardtool.bench.run import flash_and_bench, resolve_board
    from hardtool.codegen.generate import generate
    from hardtool.firmware.build import build_firmware
    from hardtool.memplan.cli import plan_to_files
    from hardtool.quantize.pipeline import quantize

    out = Path(out)
    summary: dict = {}
    t = time.perf_counter()
    q = quantize(
        ckpt,
        data,
        out,
        calib_images,
        input_size,
        calib_split="train",
        eval_images=eval_images,
        force=force,
        progress=progress,
        log=log,
    )
    ev = q["eval"]
    summary["quantize"] = {
        "float_miou": ev["float"]["miou"],
        "int8_miou": ev["int8"]["miou"],
        "model_bytes": q["model_bytes"],
        "seconds": round(time.perf_counter() - t, 1),
    }
    log(
        f"[1/5] quantize   float mIoU {100 * ev['float']['miou']:.2f} %, int8 mIoU {100 * ev['int8']['miou']:.2f} % "
        f"on {ev['images']} images, {q['model_bytes']:,} B model → {out / 'model_int8.tflite'}"
    )

    doc, _, _, _ = plan_to_files(out / "model_int8.tflite", out, force=True)
    peak, v = doc["peak"]["total_bytes"], doc["verdict"]
    tflm = (doc.get("tflm_arena") or {}).get("arena_bytes")
    summary["memplan"] = {"arena": doc["arena_size"], "peak": peak, "tflm_arena": tflm, "fits": v["fits"]}
    log(
        f"[2/5] memplan    arena {doc['arena_size']:,} B, peak SRAM {peak:,} B of {doc['budget_bytes']:,} "
        f"({'fits' if v['fits'] else 'DOES NOT FIT'})" + (f"; TFLite Micro needs {tflm:,} B" if tflm else "")
    )
    if not v["fits"]:
        raise HardtoolError(
            f"the model needs {peak:,} B of SRAM, {v['over_bytes']:,} B over the budget; "
            f"see {out / 'memplan.png'}",
            exit_code=3,
        )

    kind, port = resolve_board(board, port, log)
    template = "qemu" if kind == "qemu" else "baremetal"
    proj = out / template
    cg = generate(out / "model_int8.tflite", out / "memplan.json", template, proj, force=True)
    summary["codegen"] = {"template": template, "layers": cg["layers"], "weights_bytes": cg["weights_bytes"]}
    log(
        f"[3/5] codegen    {cg['layers']} layers, {cg['weights_bytes']:,} B of weights, template {template} → {proj}"
    )

    b = build_firmware(proj)
    summary["build"] = {"ram_used": b.ram_used, "flash_used": b.flash_used}
    log(
        f"[4/5] build      RAM {b.ram_used:,} / {b.ram_total:,} B, flash {b.flash_used:,} / {b.flash_total:,} B → {b.elf}"
    )

    r = flash_and_bench(proj, data, n, port, baud, flasher, kind, ckpt=ckpt, progress=progress, log=log)
    lat = r["latency"]
    unit = "instructions (emulated)" if r["board"]["emulated"] else "cycles"
    ms = f", {lat['ms']['mean']:.1f} ms" if "ms" in lat else ""
    summary["bench"] = {
        "device_miou": r["miou"]["device"],
        "host_int8_miou": r["miou"]["host_int8"],
        "pixel_agreement": r["agreement"]["fraction"],
        "latency_mean": lat.get("mean"),
        "latency_unit": lat["unit"],
        "measured_peak_sram": r["sram"]["measured_peak"],
    }
    log(
        f"[5/5] bench      {r['completed']} images: device mIoU {100 * r['miou']['device']:.2f} % "
        f"(host int8 {100 * r['miou']['host_int8']:.2f} %), {100 * r['agreement']['fraction']:.4f} % pixels equal, "
        f"{lat.get('mean', 0):,.0f} {unit}/image{ms}, measured SRAM {r['sram']['measured_peak']:,} B "
        f"→ {proj / 'bench'}"
    )
    summary["bit_exact"] = r["agreement"]["bit_exact"]
    return summary


@click.command("run")
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.option(
    "--data", type=click.Path(path_type=Path), required=True, help="Cityscapes-layout root (train + val)."
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Output folder [default: build/<ckpt name>]."
)
@click.option("--n", "n", type=int, default=8, show_default=True, help="Images to run on the device.")
@click.option("--board", type=click.Choice(["auto", "disco", "qemu"]), default="auto", show_default=True)
@click.option("--port", default=None)
@click.option("--baud", type=int, default=115200, show_default=True)
@click.option("--flasher", default="auto", show_default=True)
@click.option("--calib-images", type=int, default=64, show_default=True)
@click.option("--eval-images", type=int, default=None, help="Host evaluation on the first N val images only.")
@click.option(
    "--input-size", nargs=2, type=int, default=None, help="H W to deploy at (default: the checkpoint's)."
)
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--json", "as_json", is_flag=True)
def run_cmd(
    ckpt, data, out, n, board, port, baud, flasher, calib_images, eval_images, input_size, force, as_json
) -> None:
    """Run every stage on CKPT: quantize, memplan, codegen, build, flash-and-bench."""
    out = out or Path("build") / Path(ckpt).stem
    s = run_pipeline(
        ckpt,
        data,
        out,
        n,
        board,
        port,
        baud,
        flasher,
        calib_images,
        eval_images,
        tuple(input_size) if input_size else None,
        force,
        progress=not as_json,
        log=(lambda m: click.echo(m, err=True)) if as_json else click.echo,
    )
    if as_json:
        click.echo(json.dumps(s, indent=2))
    if not s["bit_exact"]:
        raise SystemExit(4)
