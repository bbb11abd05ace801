"""`hardtool flash-and-bench`: on-device accuracy, bit-exactness and latency."""

from __future__ import annotations

from pathlib import Path

import click

from hardtool.core.errors import EXIT_NOT_BIT_EXACT, Interrupted
from hardtool.core.files import json_text
from hardtool.core.options import (
    baud_option,
    board_option,
    flasher_option,
    force_option,
    json_option,
    port_option,
)


@click.command("flash-and-bench")
@click.argument("build_dir", type=click.Path(path_type=Path))
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="Cityscapes-layout root, or a folder of input files (raw input bytes or .npy, one sample "
    "per file; optional labels.csv with file,class for top-1 accuracy).",
)
@click.option("--split", default="val", show_default=True)
@click.option("--n", "n", type=int, default=10, show_default=True, help="Inputs to stream.")
@port_option()
@baud_option()
@flasher_option()
@board_option("the project's emulated board, or the DISCO board if one is connected, else the emulated board")
@click.option(
    "--target",
    default=None,
    help="Run on the emulated board of this chip's core (Cortex-M3 for the RP2040, M4 for the "
    "nRF52840 and STM32F429, M7 for the STM32s F7/H7), linked with its limits.",
)
@click.option(
    "--ckpt",
    type=click.Path(path_type=Path),
    default=None,
    help="Float checkpoint for the float mIoU (default: the one named in quant_report.json).",
)
@click.option(
    "--timeout",
    type=float,
    default=2.0,
    show_default=True,
    help="Seconds to wait for one reply (≥ 0.1); a port that disappears is opened again if it returns within this time.",
)
@click.option(
    "--fault-proxy",
    default=None,
    metavar="SPEC",
    help="Emulated board only: corrupt / drop / insert / delay bytes on the serial link, reset the "
    "board or unplug the port for 0.5 s, to soak-test it, e.g. corrupt=1e-3,reset=1e-5,unplug=1e-5,seed=1 "
    "(rates per byte).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Report folder [default: BUILD_DIR/bench]."
)
@force_option("an existing bench.json / masks.png")
@json_option()
def flash_and_bench_cmd(
    build_dir,
    data,
    split,
    n,
    port,
    baud,
    flasher,
    board,
    target,
    ckpt,
    timeout,
    fault_proxy,
    out,
    force,
    as_json,
) -> None:
    """Flash BUILD_DIR's firmware (or launch the emulated board), stream N inputs over the serial
    protocol and report every output's agreement with the host int8 reference (TFLite's reference
    kernels on the same bytes), device mIoU (label maps on Cityscapes data with its 19 classes) or
    top-1 accuracy (labels.csv), latency per input and per layer (core cycles on the board; on the
    emulated board exact instruction counts from a QEMU plugin, or SysTick's when it cannot load),
    and measured SRAM vs memplan. Writes bench.json (and masks.png for label maps); a failure after
    inputs ran still writes what was measured. Ctrl-C keeps the inputs done so far in new files
    beside them (bench.partial.json, masks.partial.png) and exits 130."""
    from hardtool.flash_and_bench.report import print_report
    from hardtool.flash_and_bench.run import flash_and_bench

    def log(msg: str) -> None:
        click.echo(msg, err=as_json)

    r = flash_and_bench(
        build_dir,
        data,
        n,
        port,
        baud,
        flasher,
        board,
        out,
        ckpt,
        split,
        timeout,
        progress=not as_json,
        log=log,
        force=force,
        fault_proxy=fault_proxy,
        target=target,
    )
    if as_json:
        click.echo(json_text(r))
    else:
        print_report(r)
        click.echo(f"wrote {' and '.join(r['files'])}")
    if r["interrupted"]:
        raise Interrupted(
            f"{r['completed']} of {r['requested']} inputs done; partial results in {r['files'][0]}"
        )
    if not r["agreement"].get("bit_exact"):
        raise SystemExit(EXIT_NOT_BIT_EXACT)
