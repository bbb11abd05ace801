"""flash-and-bench as a function: build (or reuse) the firmware, flash a board or launch the
emulated one, stream images over the serial protocol, compare with the host references."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hardtool.bench import report as R
from hardtool.errors import HardtoolError

QEMU_BOARD, DISCO_BOARD = "qemu_mps2_an500", "stm32f746g_disco"


def _project(build_dir: Path) -> dict:
    build_dir = Path(build_dir)
    need = ["hardtool_build.json", "model_int8.tflite", "memplan.json"]
    missing = [n for n in need if not (build_dir / n).is_file()]
    if not build_dir.is_dir() or missing:
        raise HardtoolError(
            f"{build_dir} is not a firmware project made by hardtool codegen (missing "
            f"{', '.join(missing) if build_dir.is_dir() else 'folder'}); make one with: "
            "hardtool codegen MODEL.tflite -t qemu (or -t baremetal for the board)"
        )
    return json.loads((build_dir / "hardtool_build.json").read_text())


def resolve_board(board: str, port: str | None, log: Callable[[str], None]) -> tuple[str, str | None]:
    """'auto' → 'disco' when a port is given or an ST-LINK is found, else 'qemu' (and say so)."""
    if board != "auto":
        return board, port
    if port:
        return "disco", port
    from hardtool.firmware.flashers import find_board_port

    try:
        return "disco", find_board_port()
    except HardtoolError:
        log(
            "no STM32F746G-DISCO found: running on the emulated board (QEMU mps2-an500); "
            "latency is reported in emulated instructions"
        )
        return "qemu", None


def choose_board(
    build_dir: Path, board: str, port: str | None, log: Callable[[str], None]
) -> tuple[str, Path, str | None]:
    """(board kind, project folder to build, serial port). Falls back to QEMU when no board is found."""
    manifest = _project(build_dir)
    board, port = resolve_board(board, port, log)
    if board == "qemu":
        if manifest["board"] == QEMU_BOARD:
            return "qemu", build_dir, None
        emu = build_dir / "emulated"
        if not (emu / "hardtool_build.json").is_file():
            from hardtool.codegen.generate import generate

            generate(build_dir / "model_int8.tflite", build_dir / "memplan.json", "qemu", emu, force=True)
            log(f"generated the qemu project for the emulated board in {emu}")
        return "qemu", emu, None
    if manifest["board"] != DISCO_BOARD:
        raise HardtoolError(
            f"{build_dir} was generated for {manifest['board']}; for the board generate the "
            "baremetal template: hardtool codegen MODEL.tflite -t baremetal"
        )
    if port is None:
        from hardtool.firmware.flashers import find_board_port

        port = find_board_port()
    return "disco", build_dir, port


def _float_predictor(build_dir: Path, ckpt: Path | None):
    """The float model for the same images: --ckpt, or the checkpoint named in quant_report.json."""
    from hardtool.evaluate import torch_predictor
    from hardtool.models.checkpoint import load_checkpoint

    if ckpt is None:
        for rep in (build_dir.parent / "quant_report.json", build_dir / "quant_report.json"):
            if rep.is_file():
                r = json.loads(rep.read_text())
                src = r.get("input")
                if r.get("input_kind") == "checkpoint" and isinstance(src, str) and Path(src).is_file():
                    ckpt = Path(src)
                    break
    if ckpt is None:
        return None
    model, info = load_checkpoint(ckpt)
    return torch_predictor(model, info.mean, info.std)


def flash_and_bench(
    build_dir: Path,
    data: Path,
    n: int = 10,
    port: str | None = None,
    baud: int = 115200,
    flasher: str = "auto",
    board: str = "auto",
    out: Path | None = None,
    ckpt: Path | None = None,
    split: str = "val",
    timeout: float = 2.0,
    run_timeout: float = 300.0,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hardtool.bench.link import Link
    from hardtool.bench.session import BenchSession
    from hardtool.codegen.generate import build_layers
    from hardtool.data.cityscapes import find_samples, load_rgb, load_train_ids
    from hardtool.firmware.build import build_firmware
    from hardtool.graph import load_tflite, lower
    from hardtool.quantize.runtime import Int8Model

    build_dir = Path(build_dir)
    if n <= 0:
        raise HardtoolError("--n must be at least 1")
    samples = find_samples(data, split)[:n]  # data errors before any slow step
    kind, project, port = choose_board(build_dir, board, port, log)
    out = Path(out) if out else build_dir / "bench"
    model_path = project / "model_int8.tflite"
    model_sha = hashlib.sha256(model_path.read_bytes()).hexdigest()
    plan = json.loads((project / "memplan.json").read_text())
    graph = lower(load_tflite(model_path))
    layers, _ = build_layers(graph, plan)
    res_build = build_firmware(project)
    manifest = json.loads((project / "hardtool_build.json").read_text())

    ref = Int8Model(model_path)
    float_pred = _float_predictor(build_dir, ckpt)
    rgbs, gts, xs = [], [], []
    for s in samples:
        rgb = load_rgb(s.image, ref.input_size)
        rgbs.append(rgb)
        gts.append(load_train_ids(s, ref.input_size))
        xs.append(ref.quantize_input(rgb)[0])
    host = [ref.run_int8(x[None]) for x in xs]
    floats = [float_pred(r) for r in rgbs] if float_pred else None

    results, hello, interrupted, stats = [], None, False, {}
    t0 = time.monotonic()
    board_ctx = None
    try:
        if kind == "qemu":
            from hardtool.firmware.qemu import start_counting_board

            board_ctx = start_counting_board(res_build.elf, max(300.0, 60.0 + 60.0 * len(xs)), log)
            link = Link(board_ctx.serial)
        else:
            from hardtool.bench.link import open_port
            from hardtool.firmware.flashers import flash

            used = flash(res_build.bin, res_build.elf, flasher)
            log(f"flashed {res_build.bin.name} with {used}")
            link = Link(open_port(port, baud))
        sess = BenchSession(link, timeout=timeout, run_timeout=run_timeout)
        hello = sess.hello()
        if hello.model_hash != model_sha:
            raise HardtoolError(
                f"the board runs another model (hash {hello.model_hash[:12]}…, expected "
                f"{model_sha[:12]}…); flash this build or pass the right BUILD_DIR"
            )
        cols = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*cols, transient=True, disable=not progress) as bar:
            task = bar.add_task("images on the device", total=len(xs))
            for i, x in enumerate(xs):
                results.append(sess.infer(i, x))
                bar.advance(task)
        stats = vars(sess.stats).copy()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if board_ctx is not None:
            board_ctx.stop()
    counter = "cycle counter (DWT->CYCCNT)" if kind != "qemu" else "systick (40-instruction granularity)"
    if board_ctx is not None and board_ctx.plugin is not None:
        from hardtool.firmware.icount import exact_counts

        results, counter = exact_counts(results, board_ctx.marks())
    elapsed = time.monotonic() - t0
    k = len(results)
    if k == 0 and not interrupted:
        raise HardtoolError("no image completed on the device")
    device = [r.labels for r in results]
    unit = results[0].unit if results else (hello.unit if hello else "cycles")
    acc = R.accuracy(
        gts[:k], {"device": device, "host_int8": host[:k], **({"float": floats[:k]} if floats else {})}
    )
    stack_hw = max((r.stack_high_water for r in results), default=0)
    stack_reserved = int(manifest.get("stack_size", 16384))
    arena = int(plan["arena_size"])
    statics = res_build.ram_used - arena - stack_reserved
    bytes_moved = k * (xs[0].nbytes if xs else 0)
    report = {
        "board": {
            "kind": kind,
            "emulated": kind == "qemu",
            "name": hello.board if hello else kind,
            "port": port,
            "build_id": hello.build_id if hello else None,
            "core_clock_hz": hello.core_clock_hz if hello else None,
        },
        "model_sha256": model_sha,
        "data": str(data),
        "split": split,
        "requested": len(xs),
        "completed": k,
        "interrupted": interrupted,
        "miou": {"device": acc.get("device"), "host_int8": acc.get("host_int8"), "float": acc.get("float")},
        "agreement": R.agreement(device, host[:k])
        if k
        else {
            "fraction": float("nan"),
            "pixels": 0,
            "pixels_equal": 0,
            "bit_exact": False,
            "differing_images": [],
        },
        "latency": {
            **R.latency_stats(
                [r.total for r in results], unit, hello.core_clock_hz if hello and kind != "qemu" else None
            ),
            "counter": counter,
        },
        "per_layer": R.per_layer(
            [L.name for L in layers], [r.layer_counts for r in results], [L.macs for L in layers]
        ),
        "sram": {
            "arena": arena,
            "stack_high_water": stack_hw,
            "stack_reserved": stack_reserved,
            "statics": statics,
            "measured_peak": arena + stack_hw + statics,
            "memplan_peak": int(plan["peak"]["total_bytes"]),
            "ram_used_linker": res_build.ram_used,
        },
        "build": {
            "ram_used": res_build.ram_used,
            "flash_used": res_build.flash_used,
            "elf": str(res_build.elf),
        },
        "protocol": {
            **stats,
            "seconds": round(elapsed, 2),
            "input_bytes": bytes_moved,
            "bytes_per_s": bytes_moved / elapsed if elapsed > 0 else 0.0,
        },
        "images": [
            {
                "index": r.index,
                "file": samples[r.index].image.name,
                "total": r.total,
                "equal_to_host": bool(np.array_equal(r.labels, host[r.index])),
            }
            for r in results
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    R.write_outputs(out, report, rgbs[:k], gts[:k], device)
    return report
