"""The one kernel choice, measured: on the emulated board the function codegen.json names for a
layer is the kernel entry point that runs for that layer, and no other one runs for it.

The firmware runs under the exact instruction-count plugin (firmware/tools/icount_plugin.c) told
to log each execution of every kernel entry point (option ``entries=``) between the per-layer
marks flash-and-bench times layers with, so every call falls into its layer."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from hardtool.core.toolchain import find_toolchain, run_tool
from hardtool.device import icount
from tests.test_codegen import project
from tests.test_ops import HEADER, MLPERF_DIR, record_kernels

pytestmark = [
    pytest.mark.skipif(
        shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
        reason="needs qemu-system-arm and arm-none-eabi-gcc",
    ),
    pytest.mark.slow,  # a firmware build and a run on the emulator per model
]
RELOCATION = {"hard_concatenation_c_s8"}  # a relocated layer copies its concatenation first


def kernel_entry_points(elf: Path) -> dict[int, str]:
    """{address: name} of every top-level kernel entry point (a kernel some op record can choose,
    all declared in the kernel headers) that the ELF links."""
    declared = record_kernels()
    assert declared and all(re.search(rf"\b{k}\s*\(", HEADER) for k in declared)
    out = {}
    for line in run_tool([find_toolchain().tool("nm"), str(elf)]).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "Tt" and parts[2] in declared:
            out[int(parts[0], 16) & ~1] = parts[2]
    return out


def per_layer_calls(proj: Path, tmp: Path) -> list[list[str]]:
    """Build the project's firmware, run one input on the emulated board, and return the kernel
    entry points executed inside each layer's marks, in the order the layers ran."""
    from hardtool.build.firmware import build_firmware
    from hardtool.device.link import Link
    from hardtool.device.qemu import QemuBoard
    from hardtool.device.session import BenchSession

    build = build_firmware(proj)
    names = kernel_entry_points(build.elf)
    watch = tmp / "entries.txt"
    watch.write_text("".join(f"{a:x}\n" for a in sorted(names)))
    board = QemuBoard(build.elf, timeout=600.0, plugin=icount.build_plugin(), entries=watch)
    try:
        board.start()
        sess = BenchSession(Link(board.serial), run_timeout=600.0)
        n = sess.hello().input_bytes
        sess.infer(0, np.random.default_rng(0).integers(-128, 128, n, dtype=np.int8).tobytes())
    finally:
        board.stop()
    return [[names[a] for a in region] for region in icount.layer_entries(board.marks_log)]


def layer_order(summary: dict, regions: int) -> list[dict]:
    """codegen.json's layers in the order their marks come: the stage's layers once per patch
    (band by band), then every other layer once."""
    table = summary["layer_table"]
    staged = [L for L in table if L.get("stage")]
    rest = [L for L in table if not L.get("stage")]
    patches = (regions - len(rest)) // len(staged) if staged else 0
    return staged * patches + rest


def assert_chosen_kernels_run(proj: Path, tmp: Path) -> dict[str, int]:
    summary = json.loads((proj / "codegen.json").read_text())
    calls = per_layer_calls(proj, tmp)
    order = layer_order(summary, len(calls))
    assert len(order) == len(calls), (len(order), len(calls))
    seen: dict[str, int] = {}
    for layer, ran in zip(order, calls, strict=True):
        want = layer["kernel"]
        if want == "memmove":  # a C library copy: no kernel entry point may run
            assert ran == [], (layer["name"], ran)
            continue
        assert ran and ran[-1] == want, (layer["name"], want, ran)  # it ran, once, last
        assert set(ran[:-1]) <= RELOCATION and ran.count(want) == 1, (layer["name"], want, ran)
        seen[want] = seen.get(want, 0) + 1
    return seen


def test_hard_edge_runs_the_kernels_codegen_json_names(zoo_model, tmp_path):
    proj = project(zoo_model("hard_edge"), tmp_path, "qemu")
    seen = assert_chosen_kernels_run(proj, tmp_path)
    assert seen.get("hard_depthwise_conv_3x3_s8", 0) > 0 and seen.get("hard_convolve_1x1_q15_s8", 0) > 0


def test_mlperf_tiny_runs_the_kernels_codegen_json_names(tmp_path):
    path = MLPERF_DIR / "vww_96_int8.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    proj = project(path, tmp_path, "qemu")
    seen = assert_chosen_kernels_run(proj, tmp_path)
    assert seen.get("hard_depthwise_conv_3x3_s8", 0) > 0
