"""The compilers: the Arm GCC toolchain ($HARDTOOL_ARM_GCC / $ARM_GCC_PATH, PATH, then
STM32CubeIDE installs), the host C compiler, and running them with one-line errors."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hardtool.core.errors import HardtoolError

APT_HINT = "sudo apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi"
PREFIX = "arm-none-eabi-"
EXE = ".exe" if sys.platform == "win32" else ""

# STM32CubeIDE bundles GCC under plugins/com.st.stm32cube.ide.mcu.externaltools.gnu-tools-for-stm32.*/tools/bin
_CUBEIDE_GLOBS = [
    "/opt/st/stm32cubeide*/plugins/*gnu-tools-for-stm32*/tools/bin",
    "~/st/stm32cubeide*/plugins/*gnu-tools-for-stm32*/tools/bin",
    "/Applications/STM32CubeIDE.app/Contents/Eclipse/plugins/*gnu-tools-for-stm32*/tools/bin",
    "C:/ST/STM32CubeIDE*/STM32CubeIDE/plugins/*gnu-tools-for-stm32*/tools/bin",
]


@dataclass(frozen=True)
class Toolchain:
    bin_dir: Path | None  # None: tools are on PATH

    def tool(self, name: str) -> str:
        """Full command for e.g. 'gcc', 'size', 'objcopy', 'nm'."""
        exe = PREFIX + name + EXE
        return str(self.bin_dir / exe) if self.bin_dir else exe

    @property
    def gcc(self) -> str:
        return self.tool("gcc")

    def version(self) -> str:
        out = subprocess.run([self.gcc, "--version"], capture_output=True, text=True, check=False)
        return out.stdout.splitlines()[0] if out.stdout else "unknown"


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    for var in ("HARDTOOL_ARM_GCC", "ARM_GCC_PATH"):
        value = os.environ.get(var)
        if value:
            p = Path(value).expanduser()
            # accept the gcc executable, its bin/ folder, or the toolchain root
            if p.is_file():
                dirs.append(p.parent)
            else:
                dirs += [p, p / "bin"]
    return dirs


@lru_cache(maxsize=1)
def find_toolchain() -> Toolchain:
    """The first arm-none-eabi-gcc found; a one-line HardtoolError with the install command if none."""
    exe = PREFIX + "gcc" + EXE
    for d in _candidate_dirs():
        if (d / exe).is_file():
            return Toolchain(d)
    if shutil.which(exe):
        return Toolchain(None)
    for pattern in _CUBEIDE_GLOBS:
        for d in sorted(glob.glob(os.path.expanduser(pattern)), reverse=True):
            if (Path(d) / exe).is_file():
                return Toolchain(Path(d))
    raise HardtoolError(
        f"arm-none-eabi-gcc not found (looked in $HARDTOOL_ARM_GCC, $ARM_GCC_PATH, PATH and "
        f"STM32CubeIDE folders); install it with: {APT_HINT}"
    )


def host_cc() -> str:
    """$CC, else gcc, else clang."""
    for cc in (os.environ.get("CC"), "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    raise HardtoolError("no host C compiler found; install one with: sudo apt-get install -y gcc")


def run_tool(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a compiler / binutils command; a missing tool is a one-line error with the install command."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, check=False)
    except FileNotFoundError:
        raise HardtoolError(f"{cmd[0]} not found; install it with: {APT_HINT}") from None


def first_error(text: str) -> str:
    """The compiler's first error line (or its last line): what a one-line message shows."""
    for line in text.splitlines():
        if re.search(r": (fatal )?error:|undefined reference", line):
            return line.strip()
    return (text.strip().splitlines() or ["unknown error"])[-1]
