"""A generated host-template project (model.c, the kernels, main_host.c) built for one emulated
core (firmware/cores/<core>.json) and run on its QEMU machine: input on a semihosted file, the
outputs back. Tests compare them byte for byte with the native build, so the same model is
checked bit-exact on every core's instruction set."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hardtool.core.boards import C_FLAGS, EMULATED_BOARD, get_board, get_core
from hardtool.core.errors import HardtoolError
from hardtool.device import icount
from hardtool.device.kernel_runner import runner_link_script
from hardtool.device.qemu import run_semihosted
from hardtool.kernels.runner import FIRMWARE, TOOLS, build_cached, digest


def build_model_on_core(project: Path, core: str, out_dir: Path) -> Path:
    """The project's model and host main, linked for ``core`` with semihosted stdio."""
    from hardtool.core.toolchain import find_toolchain

    tc, c = find_toolchain(), get_core(core)
    project = Path(project)
    board = get_board(EMULATED_BOARD)  # startup and semihosting exit
    srcs = [project / "model.c", *sorted((project / "kernels").glob("*.c")), TOOLS / "model_semihost.c"]
    srcs += [(board.bsp_dir / s).resolve() for s in board.sources]
    inc = [f"-I{project}", f"-I{project / 'kernels'}", f"-I{FIRMWARE / 'bsp' / 'include'}"]
    inc.append(f"-I{FIRMWARE / 'bsp' / 'common'}")
    dsp = [] if c.dsp else ["-DHARD_NO_DSP"]
    flags = [*c.cpu_flags, *C_FLAGS, *inc, *dsp]
    link = ["-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--gc-sections", "-lm"]
    link.append("-Wl,--defsym=end=_ebss")  # the C library heap (unused: static stdio buffers)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = digest([*srcs, project / "main_host.c"], tc.gcc, *flags, runner_link_script(c))
    script = out_dir / f"model_{c.name}.ld"
    script.write_text(runner_link_script(c))
    main_o = out_dir / f"main_host_{c.name}_{key}.o"
    build_cached(
        [tc.gcc, *flags, "-Dmain=hard_host_main", "-c", str(project / "main_host.c")], main_o, "host main"
    )
    elf = out_dir / f"model_{c.name}_{key}.elf"
    cmd = [tc.gcc, *flags, *map(str, srcs), str(main_o), f"-Wl,-T,{script}", *link]
    return build_cached(cmd, elf, f"model firmware for {c.name}")


def run_model_on_core(elf: Path, core: str, data: bytes, timeout: float = 600.0) -> bytes:
    """The model's outputs for ``data`` (whole samples, as main_host.c reads them) on ``core``."""
    return _run(elf, core, data, timeout, None)[0]


def _run(elf: Path, core: str, data: bytes, timeout: float, plugin: Path | None) -> tuple[bytes, int | None]:
    """(outputs, instructions the whole run executed: with the plugin, else None)."""
    with tempfile.TemporaryDirectory(prefix="hardtool-model-core-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(data)
        extra = icount.plugin_args(plugin, work / "marks.txt") if plugin else []
        rc = run_semihosted(elf, work, timeout, extra, get_core(core).machine)
        if rc != 0:
            raise HardtoolError(f"model on the emulated {core} exited with {rc}")
        total = icount.read_marks(work / "marks.txt")[1] if plugin else None
        return (work / "output.bin").read_bytes(), total


def instructions_per_inference(
    elf: Path, core: str, sample: bytes, plugin: Path, timeout: float = 600.0
) -> int:
    """Exact instructions of one inference on ``core``: the whole run on two copies of ``sample``
    minus the run on one (start-up cancels out; one sample's semihosted file I/O stays in)."""
    one = _run(elf, core, sample, timeout, plugin)[1]
    two = _run(elf, core, sample * 2, timeout, plugin)[1]
    if one is None or two is None:
        raise HardtoolError(f"no instruction total from QEMU for the model on {core}")
    return two - one
