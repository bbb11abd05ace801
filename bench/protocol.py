"""`make bench` → bench/protocol.json: the bench protocol's work per image on the device, in exact
instructions on the emulated board. The firmware is built with APP_PROTOCOL_MARKS: it marks the
handling of every received byte (frame parsing, CRC, bytes into the input buffer, ACKs, the result
frames), the counting plugin sums those regions and the model's run is taken out. The time the
firmware waits for the next byte (UART polling, which depends on the host) is not work and is not
in the regions; neither is the UART driver's own read of each byte.

The model: a HARD-style segmentation net (tests/model_builders.toy_hard) at 128×256×3, the input
HARD-Edge sends (98,304 bytes), the whole input in SRAM, a label map back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.common import model_builders, write_result

GOAL = 1_000_000  # issue 22: protocol work per image on the emulated board


def per_image_work(marks: list) -> list[tuple[int, int]]:
    """Per image (instructions of byte handling, of which in the RUN frame's handling: the input
    check, the ACK and the result frames), the model's run taken out: an image's share ends with
    the region in which its run happened."""
    from hardtool.device import icount as IC

    out, work, start, run_start, ran = [], 0, None, None, False
    for m in marks:
        if m.kind == IC.REGION_BEGIN:
            start = m.count
        elif m.kind == IC.RUN_BEGIN:
            run_start = m.count
        elif m.kind == IC.RUN_END:
            ran = m.count - run_start + 1
        elif m.kind == IC.REGION_END:
            work += m.count - start - 1
            if ran:
                out.append((work - ran, m.count - start - 1 - ran))
                work, ran = 0, False
    return out


def _project(work: Path) -> tuple[Path, dict]:
    from hardtool.codegen.generate import generate
    from hardtool.memplan.files import plan_to_files
    from hardtool.memplan.plan import PlanOptions

    folder = work / "protocol"
    tfl = model_builders().build("toy_hard", work / "keras", input_size=(128, 256))
    _, _, plan_json, _ = plan_to_files(
        tfl, folder, force=True, measure_tflm=False, options=PlanOptions(stream=False)
    )
    summary = generate(tfl, plan_json, "qemu", folder / "qemu", force=True)
    return folder / "qemu", summary


def measure(work: Path, n: int = 3) -> dict:
    from hardtool.build.firmware import build_firmware
    from hardtool.device.icount import try_plugin
    from hardtool.device.link import Link
    from hardtool.device.qemu import QemuBoard
    from hardtool.device.session import BenchSession

    proj, summary = _project(work)
    build = build_firmware(proj, out=proj / "build_marks", defines={"APP_PROTOCOL_MARKS": 1})
    plugin, note = try_plugin()
    if plugin is None:
        raise RuntimeError(note)
    rng = np.random.default_rng(0)
    shape = summary["inputs"][0]["dims"]
    with QemuBoard(build.elf, timeout=900, plugin=plugin) as board:
        sess = BenchSession(Link(board.serial), timeout=30.0, run_timeout=600.0)
        sess.hello()
        for i in range(n):
            sess.infer(i, rng.integers(-128, 128, shape).astype(np.int8))
        board.stop()
        per_image = per_image_work(board.marks())
    return {
        "model": "toy_hard 128x256x3 (tests/model_builders), label map out",
        "input_bytes": int(summary["inputs"][0]["bytes"]),
        "images": n,
        "instructions_per_image": [w for w, _ in per_image],
        "of_which_run_frame": [r for _, r in per_image],
        "instructions_per_input_byte": [round(w / summary["inputs"][0]["bytes"], 2) for w, _ in per_image],
    }


def run_bench(out_dir: Path, work: Path) -> dict:
    r = measure(work)
    res = {
        "board": "qemu mps2-an500 (emulated Cortex-M7), exact instruction counts",
        "protocol_work": r,
        "goals": {"protocol_work_per_image_le_1M": max(r["instructions_per_image"]) <= GOAL},
    }
    res = write_result(out_dir / "protocol.json", res)
    return res
