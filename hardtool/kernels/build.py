"""Compile the int8 kernel library for this PC (a shared library for ctypes: the int8 reference
for tests and for comparing device output) and for the Cortex-M7 (warnings are errors)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hardtool.core.boards import C_FLAGS, EMULATED_BOARD, get_board
from hardtool.core.resources import firmware_dir
from hardtool.core.toolchain import find_toolchain, first_error, run_tool

SHARED_FLAGS = ("-fPIC", "-shared")
# The host library includes the float32 graph-I/O kernels (hard_float_io.c is empty without it).
HOST_DEFINES = ("HARD_FLOAT_IO",)
# Adds the portable emulation of the DSP intrinsics: the Cortex-M DSP code paths, run on the host.
EMULATE_DSP = "HARD_EMULATE_DSP"


def kernel_dir() -> Path:
    return firmware_dir() / "kernels"


def kernel_sources() -> list[Path]:
    """The library's C files (one per op family)."""
    return sorted(kernel_dir().glob("*.c"))


def build_kernel_library(out_dir: Path, cc: str = "gcc", defines: Sequence[str] = HOST_DEFINES) -> Path:
    """Compile the kernels into a shared library in out_dir; raises with the compiler's message."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / "libhard_kernels.so"
    flags = [*C_FLAGS, *SHARED_FLAGS, *(f"-D{d}" for d in defines)]
    cmd = [cc, *flags, "-I", str(kernel_dir()), *map(str, kernel_sources()), "-o", str(lib)]
    proc = run_tool(cmd)
    if proc.returncode != 0:
        raise RuntimeError(f"kernel library build failed:\n{proc.stderr}")
    return lib


def compile_for_cortex_m7(out_dir: Path) -> list[Path]:
    """Compile every kernel file to an object for the emulated board's Cortex-M7 (the STM32F746's core)."""
    gcc = find_toolchain().gcc
    cpu = get_board(EMULATED_BOARD).cpu_flags
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    objs = []
    for src in kernel_sources():
        obj = out_dir / (src.stem + ".o")
        proc = run_tool([gcc, *cpu, *C_FLAGS, "-I", str(kernel_dir()), "-c", str(src), "-o", str(obj)])
        if proc.returncode != 0:
            raise RuntimeError(f"{src.name} failed for Cortex-M7: {first_error(proc.stderr)}")
        objs.append(obj)
    return objs
