"""flash-and-bench as a function: build the firmware, flash a board or launch the emulated one,
stream images over the serial protocol, compare with the host references. It reads the project
folder codegen wrote (hardtool_build.json, codegen.json, memplan.json, model_int8.tflite)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hardtool.core.boards import EMULATED_BOARD, get_board
from hardtool.core.errors import HardtoolError
from hardtool.flash_and_bench import report as R

PROJECT_FILES = ("hardtool_build.json", "codegen.json", "model_int8.tflite", "memplan.json")


def read_project(build_dir: Path) -> dict:
    """The project's manifest, codegen summary and plan; a one-line error if it is not one."""
    build_dir = Path(build_dir)
    missing = [n for n in PROJECT_FILES if not (build_dir / n).is_file()]
    if not build_dir.is_dir() or missing:
        raise HardtoolError(
            f"{build_dir} is not a firmware project made by hardtool codegen (missing "
            f"{', '.join(missing) if build_dir.is_dir() else 'folder'}); make one with: "
            "hardtool codegen MODEL.tflite -t qemu (or -t baremetal for the board)"
        )
    return {name.split(".")[0]: json.loads((build_dir / name).read_text()) for name in PROJECT_FILES[:2]} | {
        "memplan": json.loads((build_dir / "memplan.json").read_text())
    }


def resolve_board(board: str, port: str | None, log: Callable[[str], None]) -> tuple[str, str | None]:
    """(board name, port): 'auto' → the DISCO board when a port is given or an ST-LINK is found,
    else the emulated board (and say so)."""
    if board != "auto":
        return get_board(board).name, port
    if port:
        return get_board("disco").name, port
    from hardtool.device.flashers import find_board_port

    try:
        return get_board("disco").name, find_board_port()
    except HardtoolError:
        log(
            "no STM32F746G-DISCO found: running on the emulated board (QEMU mps2-an500); "
            "latency is reported in emulated instructions"
        )
        return EMULATED_BOARD, None


def _float_predictor(build_dir: Path, ckpt: Path | None):
    """The float model for the same images: --ckpt, or the checkpoint named in quant_report.json."""
    from hardtool.models.checkpoint import load_checkpoint
    from hardtool.predict import torch_predictor

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


@dataclass
class Inputs:
    """The images, their ground truth, the int8 inputs and the host references' outputs."""

    names: list[str]
    rgbs: list[np.ndarray]
    gts: list[np.ndarray]
    xs: list[np.ndarray]
    host: list[np.ndarray]
    floats: list[np.ndarray] | None


def prepare_inputs(build_dir: Path, data: Path, split: str, n: int, ckpt: Path | None) -> Inputs:
    from hardtool.data.cityscapes import find_samples, load_rgb, load_train_ids
    from hardtool.quantize.runtime import Int8Model

    samples = find_samples(data, split)[:n]
    ref = Int8Model(Path(build_dir) / "model_int8.tflite")
    float_pred = _float_predictor(Path(build_dir), ckpt)
    rgbs = [load_rgb(s.image, ref.input_size) for s in samples]
    gts = [load_train_ids(s, ref.input_size) for s in samples]
    xs = [ref.quantize_input(rgb)[0] for rgb in rgbs]
    host = [ref.run_int8(x[None]) for x in xs]
    floats = [float_pred(r) for r in rgbs] if float_pred else None
    return Inputs([s.image.name for s in samples], rgbs, gts, xs, host, floats)


@dataclass
class DeviceRun:
    """What came back from the device (possibly partial, after Ctrl-C)."""

    results: list = field(default_factory=list)
    hello: object = None
    stats: dict = field(default_factory=dict)
    interrupted: bool = False
    seconds: float = 0.0


def _open_link(board: str, build, port: str | None, baud: int, flasher: str, n: int, log):
    """(link, emulator or None): the emulated board started, or the real one flashed and opened."""
    from hardtool.device.link import Link, open_port

    if get_board(board).emulated:
        from hardtool.device.qemu import QemuBoard

        emu = QemuBoard(build.elf, timeout=max(300.0, 60.0 + 60.0 * n))
        emu.start()
        return Link(emu.serial), emu
    from hardtool.device.flashers import find_board_port, flash

    used = flash(build.bin, build.elf, flasher)
    log(f"flashed {build.bin.name} with {used}")
    return Link(open_port(port or find_board_port(), baud)), None


def run_on_device(board: str, build, xs: list[np.ndarray], model_sha: str, opts: dict, log, progress: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hardtool.device.session import BenchSession

    run, emu, t0 = DeviceRun(), None, time.monotonic()
    try:
        link, emu = _open_link(board, build, opts["port"], opts["baud"], opts["flasher"], len(xs), log)
        sess = BenchSession(link, timeout=opts["timeout"], run_timeout=opts["run_timeout"])
        run.hello = sess.hello()
        if run.hello.model_hash != model_sha:
            raise HardtoolError(
                f"the board runs another model (hash {run.hello.model_hash[:12]}…, expected "
                f"{model_sha[:12]}…); flash this build or pass the right BUILD_DIR"
            )
        cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*cols, transient=True, disable=not progress) as bar:
            task = bar.add_task("images on the device", total=len(xs))
            for i, x in enumerate(xs):
                run.results.append(sess.infer(i, x))
                bar.advance(task)
        run.stats = vars(sess.stats).copy()
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        if emu is not None:
            emu.stop()
    run.seconds = time.monotonic() - t0
    return run


def _sram(project: dict, build, results: list) -> dict:
    arena = int(project["memplan"]["arena_size"])
    stack_reserved = int(project["hardtool_build"]["stack_size"])
    stack_hw = max((r.stack_high_water for r in results), default=0)
    statics = build.statics_bytes  # .data + .bss - arena of the linked image
    return {
        "arena": arena,
        "stack_high_water": stack_hw,
        "stack_reserved": stack_reserved,
        "statics": statics,
        "measured_peak": arena + stack_hw + statics,
        "memplan_peak": int(project["memplan"]["peak"]["total_bytes"]),
        "memplan_statics_estimate": int(project["memplan"]["peak"]["parts"]["runtime_statics"]["bytes"]),
        "ram_used_linker": build.ram_used,
    }


def _agreement(device: list[np.ndarray], host: list[np.ndarray]) -> dict:
    if device:
        return R.agreement(device, host)
    return {"fraction": None, "pixels": 0, "pixels_equal": 0, "bit_exact": False, "differing_images": []}


def assemble_report(board: str, port, project: dict, build, inp: Inputs, run: DeviceRun, meta: dict) -> dict:
    k, hello, results = len(run.results), run.hello, run.results
    device = [r.labels for r in results]
    emulated = get_board(board).emulated
    preds = {"device": device, "host_int8": inp.host[:k]} | ({"float": inp.floats[:k]} if inp.floats else {})
    acc = R.accuracy(inp.gts[:k], preds)
    layers = project["codegen"]["layer_table"]
    moved = k * (inp.xs[0].nbytes if inp.xs else 0)
    return {
        "board": {
            "kind": get_board(board).nickname,
            "emulated": emulated,
            "name": hello.board if hello else board,
            "port": port,
            "build_id": hello.build_id if hello else None,
            "core_clock_hz": hello.core_clock_hz if hello else None,
        },
        **meta,
        "requested": len(inp.xs),
        "completed": k,
        "interrupted": run.interrupted,
        "miou": {"device": acc.get("device"), "host_int8": acc.get("host_int8"), "float": acc.get("float")},
        "agreement": _agreement(device, inp.host[:k]),
        "latency": R.latency_stats(
            [r.total for r in results],
            results[0].unit if results else (hello.unit if hello else "cycles"),
            hello.core_clock_hz if hello and not emulated else None,
        ),
        "per_layer": R.per_layer(
            [L["name"] for L in layers], [r.layer_counts for r in results], [L["macs"] for L in layers]
        ),
        "sram": _sram(project, build, results),
        "build": {"ram_used": build.ram_used, "flash_used": build.flash_used, "elf": str(build.elf)},
        "protocol": {**run.stats, "seconds": round(run.seconds, 2), "input_bytes": moved}
        | {"bytes_per_s": moved / run.seconds if run.seconds > 0 else 0.0},
        "images": [
            {"index": r.index, "file": inp.names[r.index], "total": r.total}
            | {"equal_to_host": bool(np.array_equal(r.labels, inp.host[r.index]))}
            for r in results
        ],
    }


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
    """Run N images of DATA on the device (or the emulated board); writes bench.json and masks.png."""
    from hardtool.build.firmware import build_firmware
    from hardtool.data.cityscapes import find_samples

    build_dir = Path(build_dir)
    if n <= 0:
        raise HardtoolError("--n must be at least 1")
    find_samples(data, split)  # data errors before any slow step
    project = read_project(build_dir)
    board, port = resolve_board(board, port, log)
    own = project["hardtool_build"]["board"]
    if not get_board(board).emulated and own != board:
        raise HardtoolError(
            f"{build_dir} was generated for {own}; for the board generate the "
            "baremetal template: hardtool codegen MODEL.tflite -t baremetal"
        )
    # a project for the board runs on the emulated board too: built there with its board support
    build = build_firmware(
        build_dir, out=build_dir / ("build" if own == board else f"build_{board}"), board=board
    )
    inp = prepare_inputs(build_dir, data, split, n, ckpt)
    model_sha = hashlib.sha256((build_dir / "model_int8.tflite").read_bytes()).hexdigest()
    opts = {"port": port, "baud": baud, "flasher": flasher, "timeout": timeout, "run_timeout": run_timeout}
    run = run_on_device(board, build, inp.xs, model_sha, opts, log, progress)
    if not run.results and not run.interrupted:
        raise HardtoolError("no image completed on the device")
    meta = {"model_sha256": model_sha, "data": str(data), "split": split}
    report = assemble_report(board, port, project, build, inp, run, meta)
    out = Path(out) if out else build_dir / "bench"
    out.mkdir(parents=True, exist_ok=True)
    k = len(run.results)
    R.write_outputs(out, report, inp.rgbs[:k], inp.gts[:k], [r.labels for r in run.results])
    return report
