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
from hardtool.core.boards import DEFAULT_BOARD, EMULATED_BOARD, emulated_board_for, get_board, get_target
from hardtool.core.errors import HardtoolError
from hardtool.core.files import check_clobber, free_path, output_dir
from hardtool.flash_and_bench import report as R
from hardtool.flash_and_bench import samples as S

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
    project = {name.split(".")[0]: json.loads((build_dir / name).read_text()) for name in PROJECT_FILES[:2]}
    if project["codegen"].get("protocol", "hardtool") != "hardtool":
        raise HardtoolError(
            f"{build_dir} speaks the {project['codegen']['protocol']} protocol: run it with that benchmark's "
            "runner, or generate it without --protocol for flash-and-bench"
        )
    return project | {"memplan": json.loads((build_dir / "memplan.json").read_text())}


def resolve_board(board: str, port: str | None, log: Callable[[str], None]) -> tuple[str, str | None]:
    """(board name, port): 'auto' → the default board (the STM32F746G-DISCO) when a port is given
    or its ST-LINK is found, else the emulated board (and say so)."""
    if board != "auto":
        return get_board(board).name, port
    if port:
        return DEFAULT_BOARD, port
    from hardtool.device.flashers import find_board_port

    try:
        return DEFAULT_BOARD, find_board_port(DEFAULT_BOARD)
    except HardtoolError:
        log(
            f"no {get_board(DEFAULT_BOARD).title} found: running on the emulated board "
            f"(QEMU {get_board(EMULATED_BOARD).emulator['machine']}); latency is reported in emulated instructions"
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
    """The samples, the int8 inputs, the host int8 reference's outputs and what the accuracy
    needs: Cityscapes images and ground truth, or labels.csv classes."""

    kind: str  # "cityscapes" or "files"
    names: list[str]
    xs: list[list[np.ndarray]]  # per sample, one array per model input
    host: list[list[np.ndarray]]  # per sample, every output of TFLite's reference kernels
    rgbs: list[np.ndarray] = field(default_factory=list)
    gts: list[np.ndarray] = field(default_factory=list)
    floats: list[np.ndarray] | None = None
    classes: list[int | None] | None = None

    @property
    def input_bytes(self) -> int:
        return sum(x.nbytes for x in self.xs[0]) if self.xs else 0


def _cityscapes_inputs(
    build_dir: Path, data: Path, split: str, n: int, ckpt: Path | None, labels: bool
) -> Inputs:
    from hardtool.data.cityscapes import find_samples, load_rgb, load_train_ids
    from hardtool.quantize.runtime import Int8Model

    samples = find_samples(data, split)[:n]
    ref = Int8Model(Path(build_dir) / "model_int8.tflite")
    float_pred = _float_predictor(Path(build_dir), ckpt) if labels else None
    rgbs = [load_rgb(s.image, ref.input_size) for s in samples]
    gts = [load_train_ids(s, ref.input_size) for s in samples]
    xs = [[ref.quantize_input(rgb)] for rgb in rgbs]
    host = S.reference_outputs(ref.path, xs)
    floats = [float_pred(r) for r in rgbs] if float_pred else None
    return Inputs("cityscapes", [s.image.name for s in samples], xs, host, rgbs, gts, floats)


def prepare_inputs(
    build_dir: Path, data: Path, split: str, n: int, ckpt: Path | None, codegen: dict
) -> Inputs:
    """Cityscapes images (a root with leftImg8bit/) or a folder of input files, with the host
    int8 reference's outputs for the same bytes."""
    if S.is_sample_folder(data):
        folder = S.read_samples(data, codegen["inputs"], n)
        host = S.reference_outputs(Path(build_dir) / "model_int8.tflite", folder.inputs)
        return Inputs("files", folder.names, folder.inputs, host, classes=folder.classes)
    return _cityscapes_inputs(build_dir, data, split, n, ckpt, codegen.get("labels") is not None)


@dataclass
class DeviceRun:
    """What came back from the device (possibly partial, after Ctrl-C)."""

    results: list = field(default_factory=list)
    counter: str = "cycle counter (DWT->CYCCNT)"  # what the latencies count
    hello: object = None
    stats: dict = field(default_factory=dict)
    interrupted: bool = False
    error: str | None = None  # what stopped the run early (results so far are kept)
    seconds: float = 0.0
    stop: list = field(default_factory=list)  # emulator / proxy shutdown, in order
    proxy: object = None
    emulator: object = None  # the emulated board, when its instructions are counted
    baud: int = 0  # the UART rate both ends use


def _open_link(board: str, build, opts: dict, n: int, log, run: DeviceRun):
    """The link to the emulated board (started, behind the fault proxy if asked) or to the real one
    (flashed and opened); what must be stopped afterwards goes into ``run.stop``."""
    from hardtool.device.link import Link

    if get_board(board).emulated:
        from hardtool.device.qemu import start_counting_board

        machine = get_board(board).emulator["machine"]
        if opts["fault_proxy"]:
            from hardtool.device.faultproxy import FaultProxy
            from hardtool.device.qemu import QemuBoard

            # the watchdog for a forgotten emulator: a noisy line (1e-3 errors per byte) takes
            # minutes per 100 kB input, in frames of 64 bytes and resends
            emu = QemuBoard(build.elf, timeout=max(900.0, 60.0 + 600.0 * n), connect=False, machine=machine)
            run.stop.append(emu.stop)
            emu.start()
            proxy = FaultProxy(emu.port, **opts["fault_proxy"])
            run.stop.insert(0, proxy.close)
            run.proxy = proxy
            run.counter = "systick (40-instruction granularity)"  # no plugin behind the proxy
            return Link(proxy.url, reopen_within=opts["timeout"])  # the proxy can unplug the port
        emu = start_counting_board(build.elf, max(300.0, 60.0 + 60.0 * n), log, machine)
        run.stop.append(emu.stop)
        run.emulator = emu
        return Link(emu.serial)
    from hardtool.device.flashers import find_board_port, flash

    used = flash(build.bin, build.elf, opts["flasher"], board)
    log(f"flashed {build.bin.name} with {used}")
    # opened by name, so a cable pulled and put back within --timeout is opened again
    return Link(opts["port"] or find_board_port(board), opts["baud"], reopen_within=opts["timeout"])


def run_on_device(board: str, build, xs: list, model_sha: str, opts: dict, log, progress: bool) -> DeviceRun:
    """Every input on the device; Ctrl-C (or a link error it caused) ends the run early with the
    results so far, marked ``interrupted``; another failure after inputs ran keeps them too, with
    the error."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hardtool.device.session import BenchSession

    run, sess, t0 = DeviceRun(baud=opts["baud"]), None, time.monotonic()
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
            task = bar.add_task("inputs on the device", total=len(xs))
            for i, x in enumerate(xs):
                run.results.append(sess.infer(i, x))
                bar.advance(task)
    except KeyboardInterrupt:
        run.interrupted = True
    except HardtoolError as e:
        if interrupt.requested():
            run.interrupted = True  # the link failed because of the same Ctrl-C
        elif not run.results:
            raise
        else:
            run.error = str(e)  # keep what was measured; flash_and_bench reports it, then fails
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
    emu = run.emulator
    if emu is not None:
        from hardtool.device.icount import exact_counts

        run.counter = "systick (40-instruction granularity)"
        if emu.plugin is not None:
            run.results, run.counter = exact_counts(run.results, emu.marks())
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


def _miou(inp: Inputs, device: list, labels: dict | None, k: int) -> tuple[dict, str | None]:
    """mIoU of device, host int8 and float on Cityscapes ground truth, when the model's label map
    has the data's classes; else why there is none."""
    none = {"device": None, "host_int8": None, "float": None}
    if inp.kind != "cityscapes" or labels is None:
        return none, None if inp.kind == "files" else "the model does not end in ARG_MAX (no label map)"
    if labels["num_classes"] != R.NUM_CLASSES:
        return none, f"the model has {labels['num_classes']} classes, the data's labels {R.NUM_CLASSES}"
    shape = inp.gts[0].shape if inp.gts else None
    if shape != (labels["h"], labels["w"]):
        return none, f"the label map is {labels['h']}x{labels['w']}, the ground truth {shape}"
    preds = {
        "device": [d[0].reshape(shape) for d in device],
        "host_int8": [h[0].reshape(shape) for h in inp.host[:k]],
    } | ({"float": inp.floats[:k]} if inp.floats else {})
    return none | R.accuracy(inp.gts[:k], preds), None


def _board_info(board: str, port, hello) -> dict:
    return {
        "kind": get_board(board).nickname,
        "emulated": get_board(board).emulated,
        "name": hello.board if hello else board,
        "port": port,
        "build_id": hello.build_id if hello else None,
        "core_clock_hz": hello.core_clock_hz if hello else None,
    }


def assemble_report(board: str, port, project: dict, build, inp: Inputs, run: DeviceRun, meta: dict) -> dict:
    k, hello, results = len(run.results), run.hello, run.results
    cg = project["codegen"]
    device = [S.device_arrays(r.outputs, cg["outputs"]) for r in results]
    miou, why = _miou(inp, device, cg.get("labels"), k)
    layers = cg["layer_table"]
    moved = k * inp.input_bytes
    agreement = S.compare_outputs(device, inp.host[:k], cg["outputs"])
    unit = results[0].unit if results else (hello.unit if hello else "cycles")
    rows = R.per_layer(
        [L["name"] for L in layers], [r.layer_counts for r in results], [L["macs"] for L in layers]
    )
    return {
        "board": _board_info(board, port, hello),
        **meta,
        "requested": len(inp.xs),
        "completed": k,
        "interrupted": run.interrupted,
        "error": run.error,
        "miou": miou | ({"note": why} if why else {}),
        "accuracy": S.top1(device, inp.classes, cg.get("labels") is not None),
        "host_accuracy": S.top1(inp.host, inp.classes, cg.get("labels") is not None),
        "agreement": agreement,
        "latency": R.latency_stats(
            [r.total for r in results], unit, hello.core_clock_hz if hello and unit == "cycles" else None
        )
        | {"counter": run.counter},
        "per_layer": rows,
        "per_op_type": R.per_op_type(rows, [L.get("elements", 0) for L in layers]),
        "sram": _sram(project, build, results),
        "build": {"ram_used": build.ram_used, "flash_used": build.flash_used, "elf": str(build.elf)},
        "protocol": {**run.stats, "seconds": round(run.seconds, 2), "input_bytes": moved}
        | {"bytes_per_s": moved / run.seconds if run.seconds > 0 else 0.0}
        | {"images_per_s": k / run.seconds if run.seconds > 0 else 0.0, "baud": run.baud},
        "images": [
            {"index": r.index, "file": inp.names[r.index], "total": r.total}
            | {"equal_to_host": r.index not in agreement["differing_images"]}
            for r in results
        ],
    }


def check_data(data: Path, split: str, codegen: dict, n: int) -> None:
    """Data errors before any slow step: a Cityscapes root, or a folder of input files that fit."""
    from hardtool.data.cityscapes import find_samples

    if S.is_sample_folder(data):
        S.read_samples(data, codegen["inputs"], n)
        return
    dims = [t["dims"] for t in codegen["inputs"]]
    if len(dims) != 1 or len(dims[0]) != 4 or dims[0][3] != 3:
        raise HardtoolError(
            f"{data} holds Cityscapes images, but the model's inputs are {dims}, not one NHWC RGB image; "
            "give --data a folder of input files (raw input bytes or .npy, one per sample)"
        )
    find_samples(data, split)


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
    """bench.json, and masks.png for a label map on Cityscapes images; an interrupted run's go to
    new bench.partial[.N].json / masks.partial[.N].png beside them, so a complete report is never
    replaced by a partial one."""
    k = len(run.results)
    labels = [r.labels for r in run.results]
    masks = inp.kind == "cityscapes" and k > 0 and all(lb is not None for lb in labels)
    if masks and inp.gts and max(int(lb.max()) for lb in labels) >= R.NUM_CLASSES:
        masks = False  # more classes than the palette: no picture
    json_path, png_path = out / OUTPUTS[0], out / OUTPUTS[1]
    if run.interrupted:
        json_path = free_path(out / "bench.partial.json")
        png_path = out / json_path.name.replace("bench.", "masks.").replace(".json", ".png")
    report["files"] = [str(json_path)] + ([str(png_path)] if masks else [])
    report["masks_png"] = bool(masks)
    R.write_outputs(
        json_path, png_path if masks else None, report, inp.rgbs[:k], inp.gts[:k], labels if masks else []
    )
    return report["files"]


def host_baud(project: dict, build_dir: Path, baud: int | None) -> int:
    """The host talks at the rate the firmware's UART was built for (hardtool_build.json)."""
    built = int(project["hardtool_build"].get("uart_baud", 115200))
    if baud is not None and baud <= 0:
        raise HardtoolError(
            f"--baud {baud}: a baud rate must be a positive number of bits per second "
            f"(this firmware's: {built:,})"
        )
    if baud is not None and baud != built:
        raise HardtoolError(
            f"--baud {baud:,}: the firmware in {build_dir} runs its UART at {built:,} baud; drop --baud, "
            f"or regenerate it with hardtool codegen --baud {baud}"
        )
    return built


def _target(
    project: dict, build_dir: Path, board: str, port: str | None, faults: dict, log, target: str | None = None
) -> tuple[str, str | None]:
    """(board, port) to run on: the project's board, or the emulated one for any project (an
    emulated core's project: its own board; with ``target``: the emulated board of its core)."""
    own = project["hardtool_build"]["board"]
    if target is not None:
        if board != "auto" and not get_board(board).emulated:
            raise HardtoolError(
                f"--target picks an emulated board; drop it to run on the {get_board(board).title}"
            )
        board = board if board != "auto" else emulated_board_for(get_target(target)).name
    if board == "auto" and get_board(own).emulated:
        board = own
    board, port = resolve_board("qemu" if faults and board == "auto" else board, port, log)
    if not get_board(board).emulated and own != board:
        raise HardtoolError(
            f"{build_dir} was generated for {own}; for the board generate the "
            "baremetal template: hardtool codegen MODEL.tflite -t baremetal"
        )
    return board, port


def _build_folder(project: dict, build_dir: Path, board: str, target: str | None) -> Path:
    """The project's build folder, or one beside it for another board (or chip's limits)."""
    if project["hardtool_build"]["board"] == board and target is None:
        return build_dir / "build"
    return build_dir / (f"build_{board}" + (f"_{target}" if target else ""))


def flash_and_bench(
    build_dir: Path,
    data: Path,
    n: int = 10,
    port: str | None = None,
    baud: int | None = None,
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
    target: str | None = None,
) -> dict:
    """Run N inputs of DATA on the device (or the emulated board; ``target``: that chip's core's, with
    its limits); writes bench.json and, for label maps on Cityscapes images, masks.png."""
    from hardtool.build.firmware import build_firmware

    build_dir = Path(build_dir)
    out = Path(out) if out else build_dir / "bench"
    faults = _check_args(n, timeout, "qemu" if board == "auto" and fault_proxy else board, fault_proxy)
    project = read_project(build_dir)
    baud = host_baud(project, build_dir, baud)
    check_data(data, split, project["codegen"], n)
    board, port = _target(project, build_dir, board, port, faults, log, target)
    for name in OUTPUTS:  # a complete report is replaced only with --force (partial ones never)
        check_clobber(out / name, force)
    with output_dir(out):
        # a project for the board runs on the emulated board too: built there with its board support
        build = build_firmware(
            build_dir, out=_build_folder(project, build_dir, board, target), board=board, target=target
        )
        inp = prepare_inputs(build_dir, data, split, n, ckpt, project["codegen"])
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
            raise HardtoolError("no input completed on the device")
        meta = {"model_sha256": model_sha, "data": str(data), "split": split}
        report = assemble_report(board, port, project, build, inp, run, meta)
        _write(out, report, inp, run)
    if run.error:
        where = report["files"][0]
        raise HardtoolError(
            f"{run.error} (after {len(run.results)} of {len(inp.xs)} inputs; measured: {where})"
        )
    return report
