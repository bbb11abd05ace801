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

from hardtool.core import interrupt
from hardtool.core.boards import EMULATED_BOARD, get_board
from hardtool.core.errors import HardtoolError
from hardtool.core.files import check_clobber, free_path, output_dir
from hardtool.flash_and_bench import report as R

PROJECT_FILES = ("hardtool_build.json", "codegen.json", "model_int8.tflite", "memplan.json")
OUTPUTS = ("bench.json", "masks.png")  # a complete run; an interrupted one writes bench.partial*.json
MIN_TIMEOUT = 0.1  # seconds: below this not even a HELLO round trip fits


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
    stop: list = field(default_factory=list)  # emulator / proxy shutdown, in order
    proxy: object = None


def _open_link(board: str, build, opts: dict, n: int, log, run: DeviceRun):
    """The link to the emulated board (started, behind the fault proxy if asked) or to the real one
    (flashed and opened); what must be stopped afterwards goes into ``run.stop``."""
    from hardtool.device.link import Link, open_port

    if get_board(board).emulated:
        from hardtool.device.qemu import QemuBoard

        emu = QemuBoard(build.elf, timeout=max(300.0, 60.0 + 60.0 * n), connect=not opts["fault_proxy"])
        run.stop.append(emu.stop)
        emu.start()
        if not opts["fault_proxy"]:
            return Link(emu.serial)
        from hardtool.device.faultproxy import FaultProxy

        proxy = FaultProxy(emu.port, **opts["fault_proxy"])
        run.stop.insert(0, proxy.close)
        run.proxy = proxy
        return Link(proxy.url)
    from hardtool.device.flashers import find_board_port, flash

    used = flash(build.bin, build.elf, opts["flasher"])
    log(f"flashed {build.bin.name} with {used}")
    return Link(open_port(opts["port"] or find_board_port(), opts["baud"]))


def run_on_device(board: str, build, xs: list[np.ndarray], model_sha: str, opts: dict, log, progress: bool):
    """Every image on the device; Ctrl-C (or a link error it caused) ends the run early with the
    results so far, marked ``interrupted``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hardtool.device.session import BenchSession

    run, sess, t0 = DeviceRun(), None, time.monotonic()
    try:
        link = _open_link(board, build, opts, len(xs), log, run)
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
    except KeyboardInterrupt:
        run.interrupted = True
    except HardtoolError:
        if not interrupt.requested():
            raise
        run.interrupted = True  # the link failed because of the same Ctrl-C
    finally:
        for stop in run.stop:
            stop()
        if sess is not None:
            run.stats = vars(sess.stats).copy()
        if run.proxy is not None:
            run.stats["faults_injected"] = dict(run.proxy.counts)
    if run.interrupted:
        interrupt.consume()  # handled: the run stops here and keeps what it has
    run.seconds = time.monotonic() - t0
    return run


def _sram(project: dict, build, results: list) -> dict:
    arena = int(project["memplan"]["arena_size"])
    stack_reserved = int(project["hardtool_build"]["stack_size"])
    stack_hw = max((r.stack_high_water for r in results), default=0)
    statics = build.ram_used - arena - stack_reserved
    return {
        "arena": arena,
        "stack_high_water": stack_hw,
        "stack_reserved": stack_reserved,
        "statics": statics,
        "measured_peak": arena + stack_hw + statics,
        "memplan_peak": int(project["memplan"]["peak"]["total_bytes"]),
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


def _check_args(n: int, timeout: float, board: str, fault_proxy: str | None) -> dict:
    """Argument errors before any slow step; returns the fault proxy's settings ({} for none)."""
    from hardtool.device.faultproxy import parse_spec

    if n <= 0:
        raise HardtoolError("--n must be at least 1")
    if not timeout >= MIN_TIMEOUT:
        raise HardtoolError(
            f"--timeout must be at least {MIN_TIMEOUT} s (seconds to wait for one reply), not {timeout}"
        )
    faults = parse_spec(fault_proxy) if fault_proxy else {}
    if fault_proxy and not get_board(board).emulated:
        raise HardtoolError("--fault-proxy works with the emulated board only (add --board qemu)")
    return faults


def _write(out: Path, report: dict, inp: Inputs, run: DeviceRun) -> list[str]:
    """bench.json + masks.png; an interrupted run's go to new bench.partial[.N].json / masks.partial[.N].png
    beside them, so a complete report is never replaced by a partial one."""
    k = len(run.results)
    json_path, png_path = out / OUTPUTS[0], out / OUTPUTS[1]
    if run.interrupted:
        json_path = free_path(out / "bench.partial.json")
        png_path = out / json_path.name.replace("bench.", "masks.").replace(".json", ".png")
    report["files"] = [str(json_path), str(png_path)]
    R.write_outputs(json_path, png_path, report, inp.rgbs[:k], inp.gts[:k], [r.labels for r in run.results])
    return report["files"]


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
    force: bool = False,
    fault_proxy: str | None = None,
) -> dict:
    """Run N images of DATA on the device (or the emulated board); writes bench.json and masks.png
    (``report["files"]``). After Ctrl-C the partial results go to new files (``report["interrupted"]``)."""
    from hardtool.build.firmware import build_firmware
    from hardtool.data.cityscapes import find_samples

    build_dir = Path(build_dir)
    out = Path(out) if out else build_dir / "bench"
    faults = _check_args(n, timeout, "qemu" if board == "auto" and fault_proxy else board, fault_proxy)
    find_samples(data, split)  # data errors before any slow step
    project = read_project(build_dir)
    board, port = resolve_board("qemu" if faults else board, port, log)
    own = project["hardtool_build"]["board"]
    if not get_board(board).emulated and own != board:
        raise HardtoolError(
            f"{build_dir} was generated for {own}; for the board generate the "
            "baremetal template: hardtool codegen MODEL.tflite -t baremetal"
        )
    for name in OUTPUTS:  # a complete report is replaced only with --force (partial ones never)
        check_clobber(out / name, force)
    with output_dir(out):
        # a project for the board runs on the emulated board too: built there with its board support
        build = build_firmware(
            build_dir, out=build_dir / ("build" if own == board else f"build_{board}"), board=board
        )
        inp = prepare_inputs(build_dir, data, split, n, ckpt)
        model_sha = hashlib.sha256((build_dir / "model_int8.tflite").read_bytes()).hexdigest()
        opts = {
            "port": port,
            "baud": baud,
            "flasher": flasher,
            "timeout": timeout,
            "run_timeout": run_timeout,
        }
        run = run_on_device(board, build, inp.xs, model_sha, opts | {"fault_proxy": faults}, log, progress)
        if not run.results:
            if run.interrupted:
                raise KeyboardInterrupt  # nothing to keep
            raise HardtoolError("no image completed on the device")
        meta = {"model_sha256": model_sha, "data": str(data), "split": split}
        report = assemble_report(board, port, project, build, inp, run, meta)
        _write(out, report, inp, run)
    return report
