"""Batches of kernel calls run on the host or on the emulated Cortex-M7 (firmware/tools/kernel_runner.c).

A :class:`Program` holds an arena (every input, weight, scratch and output buffer at a fixed
offset) and a list of calls, each the kernel's name and its arguments in C order. The same
program runs through the host build (ctypes) and through firmware on QEMU mps2-an500 (semihosting
file I/O); on QEMU the instruction-count plugin gives the exact count of every call. Tests use it
to compare the DSP kernels with the portable ones and with TFLite, the benchmark to count them.
"""

from __future__ import annotations

import ctypes as C
import hashlib
import os
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hardtool.core.boards import C_FLAGS
from hardtool.core.errors import HardtoolError
from hardtool.core.resources import firmware_dir
from hardtool.kernels.build import SHARED_FLAGS

FIRMWARE = firmware_dir()
KERNEL_DIR = FIRMWARE / "kernels"
TOOLS = FIRMWARE / "tools"
MAGIC = 0x31524B48  # "HKR1"
BUFFER_ALIGN = 8


@dataclass(frozen=True)
class Buf:
    """An array in the arena."""

    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


@dataclass
class Program:
    """Arena contents plus the calls; ``add_*`` helpers live in hardtool.kernels.calls."""

    arena: bytearray = field(default_factory=bytearray)
    words: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    outputs: list[Buf | None] = field(default_factory=list)  # each call's output buffer

    def _reserve(self, nbytes: int, fill: bytes) -> int:
        off = (len(self.arena) + BUFFER_ALIGN - 1) // BUFFER_ALIGN * BUFFER_ALIGN
        self.arena.extend(b"\0" * (off - len(self.arena)))
        self.arena.extend((fill * (nbytes // max(len(fill), 1) + 1))[:nbytes])
        return off

    def array(self, a: np.ndarray) -> Buf:
        a = np.ascontiguousarray(a)
        off = self._reserve(a.nbytes, b"\0")
        self.arena[off : off + a.nbytes] = a.tobytes()
        return Buf(off, tuple(a.shape), a.dtype)

    def empty(self, shape: Sequence[int], dtype=np.int8, fill: int = 0x5A) -> Buf:
        """An output (or scratch) buffer, pre-filled so that a byte the kernel skips shows."""
        buf = Buf(0, tuple(int(s) for s in shape), np.dtype(dtype))
        return Buf(self._reserve(buf.nbytes, bytes([fill])), buf.shape, buf.dtype)

    def call(self, name: str, args: Sequence[int], out: Buf | None = None) -> int:
        """Append a call; args are the already-encoded int32 words. Returns the call index."""
        raw = name.encode()
        padded = raw + b"\0" * (-len(raw) % 4)
        self.words += [len(raw), *struct.unpack(f"<{len(padded) // 4}i", padded), *[int(a) for a in args]]
        self.names.append(name)
        self.outputs.append(out)
        return len(self.names) - 1

    def blob(self) -> bytes:
        prog = struct.pack(f"<{len(self.words)}i", *self.words)
        head = struct.pack("<4I", MAGIC, len(self.words), len(self.arena), len(self.names))
        return head + prog + bytes(self.arena)


@dataclass
class Result:
    status: list[int]
    arena: bytes
    counts: list[int] | None = None  # instructions per call (QEMU with the plugin)

    def get(self, buf: Buf) -> np.ndarray:
        raw = self.arena[buf.offset : buf.offset + buf.nbytes]
        return np.frombuffer(raw, dtype=buf.dtype).reshape(buf.shape).copy()

    def check(self, names: Sequence[str]) -> None:
        bad = [(n, s) for n, s in zip(names, self.status, strict=True) if s != 0]
        if bad:
            raise HardtoolError(f"kernel calls failed: {bad[:5]}")


UNKNOWN_FUNCTION = -100  # HKR_UNKNOWN_FUNCTION


def check_ran(prog: Program, n: int, status: Sequence[int]) -> None:
    if 0 < n <= len(prog.names) and status[n - 1] == UNKNOWN_FUNCTION:
        raise HardtoolError(f"the kernel runner does not know {prog.names[n - 1]!r}")
    if n != len(prog.names):
        raise HardtoolError(f"kernel runner ran {n} of {len(prog.names)} calls (malformed program)")


# ------------------------------------------------------------------ host
def runner_sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.c")) + [TOOLS / "kernel_runner.c"]


def runner_includes() -> list[str]:
    return [f"-I{KERNEL_DIR}", f"-I{TOOLS}", f"-I{FIRMWARE / 'bsp' / 'include'}"]


def cache_dir() -> Path:
    """Where built runners are kept, named by a digest of their sources and flags."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hardtool" / "kernel_runner"


def digest(files: Sequence[Path], *extra: str) -> str:
    h = hashlib.sha256()
    for p in sorted(set(files)):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update("\0".join(extra).encode())
    return h.hexdigest()[:16]


def build_cached(cmd: list[str], target: Path, what: str) -> Path:
    """Run the compiler into a temporary name, then move it in place (concurrent builds are safe)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    proc = subprocess.run([*cmd, "-o", str(tmp)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HardtoolError(f"{what} build failed:\n{proc.stderr}")
    os.replace(tmp, target)
    return target


def runner_inputs() -> list[Path]:
    bsp = FIRMWARE / "bsp"
    return [*runner_sources(), *KERNEL_DIR.glob("*.h"), *TOOLS.glob("*"), *(bsp / "include").glob("*.h")]


class HostRunner:
    """The kernels and the runner compiled for this machine (DSP instructions emulated in C)."""

    def __init__(self, out_dir: Path | None = None, cc: str = "gcc", defines: Sequence[str] = ()):
        flags = [*C_FLAGS, *SHARED_FLAGS, *runner_includes(), *[f"-D{d}" for d in defines]]
        name = f"libhard_runner_{digest(runner_inputs(), cc, *flags)}.so"
        self.path = Path(out_dir or cache_dir()) / name
        if not self.path.is_file():
            build_cached([cc, *flags, *map(str, runner_sources())], self.path, "kernel runner")
        self.lib = C.CDLL(str(self.path))
        self.lib.hkr_execute.restype = C.c_int32

    def run(self, prog: Program) -> Result:
        words = np.asarray(prog.words, dtype=np.int32)
        arena = np.frombuffer(bytes(prog.arena) + b"\0" * BUFFER_ALIGN, dtype=np.uint8).copy()
        status = np.zeros(max(len(prog.names), 1), dtype=np.int32)
        n = self.lib.hkr_execute(
            C.c_void_p(words.ctypes.data),
            C.c_int32(words.size),
            C.c_void_p(arena.ctypes.data),
            C.c_void_p(status.ctypes.data),
            C.c_int32(len(prog.names)),
        )
        check_ran(prog, int(n), [int(s) for s in status])
        return Result([int(s) for s in status[: len(prog.names)]], arena[: len(prog.arena)].tobytes())
