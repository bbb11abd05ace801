"""The kernel runner on the emulated cores: the kernels and a small program interpreter built for
one core's QEMU machine (firmware/cores/<core>.json: Cortex-M3, M4, M7, M33, M55; portable or DSP
paths), fed a list of kernel calls over semihosting, with exact instruction counts per call from
the plugin. Tests and the kernel benchmark use it to compare the DSP paths with the portable ones
and with TFLite's reference kernels on each core's real instruction set."""

from __future__ import annotations

import shutil
import struct
import tempfile
from pathlib import Path

from hardtool.core.boards import C_FLAGS, EMULATED_BOARD, Core, get_board, get_core
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

DEFAULT_CORE = "cortex-m7"  # the emulated board's (mps2-an500)


def runner_link_script(core: Core) -> str:
    """The runner's linker script for one core: code and data in the machine's code and data RAMs."""
    fields = {
        "TITLE": f"QEMU {core.machine} ({core.name})",
        "CODE_ORIGIN": f"{core.memory['code'][0]:#010x}",
        "CODE_LENGTH": f"{core.memory['code'][1] // 1024}K",
        "RAM_ORIGIN": f"{core.memory['ram'][0]:#010x}",
        "RAM_LENGTH": f"{core.memory['ram'][1] // 1024}K",
        "BULK_ORIGIN": f"{core.memory['bulk'][0]:#010x}",
    }
    text = (TOOLS / "runner_qemu.ld.in").read_text()
    for k, v in fields.items():
        text = text.replace(f"@{k}@", v)
    return text


def build_qemu_runner(out_dir: Path | None = None, dsp: bool = True, core: str = DEFAULT_CORE) -> Path:
    """Firmware that runs programs on ``core``'s QEMU machine; dsp=False (or a core without the DSP
    extension) builds the portable paths only.

    Built once per source version (cached by digest in ``out_dir``, default :func:`cache_dir`)."""
    from hardtool.core.toolchain import find_toolchain

    tc = find_toolchain()
    c = get_core(core)
    board = get_board(EMULATED_BOARD)  # its board support (startup, semihosting exit) from the registry
    srcs = [
        *runner_sources(),
        TOOLS / "runner_qemu.c",
        *((board.bsp_dir / s).resolve() for s in board.sources),
    ]
    defs = [f"-DRUN_PROG_BASE={c.memory['bulk'][0]:#x}u"] + ([] if dsp and c.dsp else ["-DHARD_NO_DSP"])
    flags = [*c.cpu_flags, *C_FLAGS, *runner_includes(), f"-I{FIRMWARE / 'bsp' / 'common'}", *defs]
    link = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"]
    script_text = runner_link_script(c)
    key = digest([*runner_inputs(), *srcs], tc.gcc, *flags, *link, script_text)
    out = Path(out_dir or cache_dir())
    elf = out / f"kernel_runner_{c.name}_{'dsp' if dsp and c.dsp else 'portable'}_{key}.elf"
    if not elf.is_file():
        out.mkdir(parents=True, exist_ok=True)
        script = out / f"runner_{c.name}_{key}.ld"
        script.write_text(script_text)
        build_cached(
            [tc.gcc, *flags, *map(str, srcs), f"-Wl,-T,{script}", *link], elf, "kernel runner firmware"
        )
    return elf


class QemuRunner:
    """Runs programs in QEMU on a runner .elf built for ``core``; with ``plugin`` every call's
    instructions are counted."""

    def __init__(
        self, elf: Path, plugin: Path | None = None, timeout: float = 120.0, core: str = DEFAULT_CORE
    ):
        self.elf = Path(elf)
        self.machine = get_core(core).machine
        self.plugin = plugin
        self.timeout = timeout

    def run(self, prog: Program) -> Result:
        with tempfile.TemporaryDirectory(prefix="hardtool-runner-") as tmp:
            work = Path(tmp)
            (work / "calls.bin").write_bytes(prog.blob())
            log = work / "marks.txt"
            extra = icount.plugin_args(self.plugin, log) if self.plugin else []
            rc = run_semihosted(self.elf, work, self.timeout, extra, self.machine)
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
