"""The kernel runner on the emulated board: the kernels and a small program interpreter built for
QEMU mps2-an500 (portable or DSP paths), fed a list of kernel calls over semihosting, with exact
instruction counts per call from the plugin. Tests and the kernel benchmark use it to compare the
DSP paths with the portable ones and with TFLite's reference kernels on the real instruction set."""

from __future__ import annotations

import shutil
import struct
import tempfile
from pathlib import Path

from hardtool.core.boards import C_FLAGS, EMULATED_BOARD, get_board
from hardtool.core.errors import HardtoolError
from hardtool.device import icount
from hardtool.device.qemu import run_semihosted
from hardtool.kernels.runner import (
    FIRMWARE,
    MAGIC,
    TOOLS,
    Program,
    Result,
    build_cached,
    cache_dir,
    check_ran,
    digest,
    runner_includes,
    runner_inputs,
    runner_sources,
)


def build_qemu_runner(out_dir: Path | None = None, dsp: bool = True) -> Path:
    """Firmware that runs programs on QEMU mps2-an500; dsp=False builds the portable paths only.

    Built once per source version (cached by digest in ``out_dir``, default :func:`cache_dir`)."""
    from hardtool.core.toolchain import find_toolchain

    tc = find_toolchain()
    bsp = FIRMWARE / "bsp"
    board = get_board(EMULATED_BOARD)  # its board support from the registry, its own linker script
    srcs = [
        *runner_sources(),
        TOOLS / "runner_qemu.c",
        *((board.bsp_dir / s).resolve() for s in board.sources),
    ]
    cpu = board.cpu_flags
    flags = [*cpu, *C_FLAGS, *runner_includes(), f"-I{bsp / 'common'}"] + ([] if dsp else ["-DHARD_NO_DSP"])
    link = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"]
    script = TOOLS / "runner_qemu.ld"
    key = digest([*runner_inputs(), *srcs], tc.gcc, *flags, *link)
    elf = Path(out_dir or cache_dir()) / f"kernel_runner_{'dsp' if dsp else 'portable'}_{key}.elf"
    if not elf.is_file():
        build_cached(
            [tc.gcc, *flags, *map(str, srcs), f"-Wl,-T,{script}", *link], elf, "kernel runner firmware"
        )
    return elf


class QemuRunner:
    """Runs programs in QEMU on a runner .elf; with ``plugin`` every call's instructions are counted."""

    def __init__(self, elf: Path, plugin: Path | None = None, timeout: float = 120.0):
        self.elf = Path(elf)
        self.plugin = plugin
        self.timeout = timeout

    def run(self, prog: Program) -> Result:
        with tempfile.TemporaryDirectory(prefix="hardtool-runner-") as tmp:
            work = Path(tmp)
            (work / "calls.bin").write_bytes(prog.blob())
            log = work / "marks.txt"
            extra = icount.plugin_args(self.plugin, log) if self.plugin else []
            rc = run_semihosted(self.elf, work, self.timeout, extra)
            if rc != 0:
                raise HardtoolError(f"kernel runner on QEMU exited with {rc}")
            raw = (work / "results.bin").read_bytes()
            n_calls = len(prog.names)
            magic, n = struct.unpack_from("<2i", raw)
            status = list(struct.unpack_from(f"<{n_calls}i", raw, 8))
            if magic != MAGIC:
                raise HardtoolError("kernel runner on QEMU wrote no results")
            check_ran(prog, n, status)
            arena = raw[8 + 4 * n_calls :]
            counts = icount.regions(icount.read_marks(log)[0]) if self.plugin else None
        if counts is not None and len(counts) != n_calls:
            raise HardtoolError(f"instruction counts for {len(counts)} of {n_calls} calls")
        return Result(status, arena, counts)


def qemu_available() -> bool:
    return bool(shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"))
