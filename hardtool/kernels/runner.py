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
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hardtool.codegen.hostlib import HOST_CFLAGS, KERNEL_DIR
from hardtool.errors import HardtoolError

FIRMWARE = KERNEL_DIR.parent
TOOLS = FIRMWARE / "tools"
MAGIC = 0x31524B48  # "HKR1"
ALIGN = 8


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
        off = (len(self.arena) + ALIGN - 1) // ALIGN * ALIGN
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


def _check_ran(prog: Program, n: int, status: Sequence[int]) -> None:
    if 0 < n <= len(prog.names) and status[n - 1] == UNKNOWN_FUNCTION:
        raise HardtoolError(f"the kernel runner does not know {prog.names[n - 1]!r}")
    if n != len(prog.names):
        raise HardtoolError(f"kernel runner ran {n} of {len(prog.names)} calls (malformed program)")


# ------------------------------------------------------------------ host
def _sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.c")) + [TOOLS / "kernel_runner.c"]


def _includes() -> list[str]:
    return [f"-I{KERNEL_DIR}", f"-I{TOOLS}", f"-I{FIRMWARE / 'bsp' / 'include'}"]


def cache_dir() -> Path:
    """Where built runners are kept, named by a digest of their sources and flags."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hardtool" / "kernel_runner"


def _digest(files: Sequence[Path], *extra: str) -> str:
    h = hashlib.sha256()
    for p in sorted(set(files)):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update("\0".join(extra).encode())
    return h.hexdigest()[:16]


def _build(cmd: list[str], target: Path, what: str) -> Path:
    """Run the compiler into a temporary name, then move it in place (concurrent builds are safe)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    proc = subprocess.run([*cmd, "-o", str(tmp)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HardtoolError(f"{what} build failed:\n{proc.stderr}")
    os.replace(tmp, target)
    return target


def _inputs() -> list[Path]:
    bsp = FIRMWARE / "bsp"
    return [*_sources(), *KERNEL_DIR.glob("*.h"), *TOOLS.glob("*"), *(bsp / "include").glob("*.h")]


class HostRunner:
    """The kernels and the runner compiled for this machine (DSP instructions emulated in C)."""

    def __init__(self, out_dir: Path | None = None, cc: str = "gcc", defines: Sequence[str] = ()):
        flags = [*HOST_CFLAGS, *_includes(), *[f"-D{d}" for d in defines]]
        name = f"libhard_runner_{_digest(_inputs(), cc, *flags)}.so"
        self.path = Path(out_dir or cache_dir()) / name
        if not self.path.is_file():
            _build([cc, *flags, *map(str, _sources())], self.path, "kernel runner")
        self.lib = C.CDLL(str(self.path))
        self.lib.hkr_execute.restype = C.c_int32

    def run(self, prog: Program) -> Result:
        words = np.asarray(prog.words, dtype=np.int32)
        arena = np.frombuffer(bytes(prog.arena) + b"\0" * ALIGN, dtype=np.uint8).copy()
        status = np.zeros(max(len(prog.names), 1), dtype=np.int32)
        n = self.lib.hkr_execute(
            C.c_void_p(words.ctypes.data),
            C.c_int32(words.size),
            C.c_void_p(arena.ctypes.data),
            C.c_void_p(status.ctypes.data),
            C.c_int32(len(prog.names)),
        )
        _check_ran(prog, int(n), [int(s) for s in status])
        return Result([int(s) for s in status[: len(prog.names)]], arena[: len(prog.arena)].tobytes())


# ------------------------------------------------------------------ QEMU
def build_qemu_runner(out_dir: Path | None = None, dsp: bool = True) -> Path:
    """Firmware that runs programs on QEMU mps2-an500; dsp=False builds the portable paths only.

    Built once per source version (cached by digest in ``out_dir``, default :func:`cache_dir`)."""
    from hardtool.firmware.build import C_FLAGS, CPU_FLAGS
    from hardtool.firmware.toolchain import find_toolchain

    tc = find_toolchain()
    bsp = FIRMWARE / "bsp"
    srcs = [
        *_sources(),
        TOOLS / "runner_qemu.c",
        bsp / "qemu_mps2_an500" / "startup.c",
        bsp / "qemu_mps2_an500" / "bsp_qemu.c",
        bsp / "common" / "bsp_stack.c",
    ]
    flags = [*CPU_FLAGS, *C_FLAGS, *_includes(), f"-I{bsp / 'common'}"] + ([] if dsp else ["-DHARD_NO_DSP"])
    link = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"]
    script = TOOLS / "runner_qemu.ld"
    digest = _digest([*_inputs(), *srcs], tc.gcc, *flags, *link)
    elf = Path(out_dir or cache_dir()) / f"kernel_runner_{'dsp' if dsp else 'portable'}_{digest}.elf"
    if not elf.is_file():
        _build([tc.gcc, *flags, *map(str, srcs), f"-Wl,-T,{script}", *link], elf, "kernel runner firmware")
    return elf


class QemuRunner:
    """Runs programs in QEMU on a runner .elf; with ``plugin`` every call's instructions are counted."""

    def __init__(self, elf: Path, plugin: Path | None = None, timeout: float = 120.0):
        self.elf = Path(elf)
        self.plugin = plugin
        self.timeout = timeout

    def run(self, prog: Program) -> Result:
        from hardtool.firmware import icount
        from hardtool.firmware.qemu import run_semihosted

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
            _check_ran(prog, n, status)
            arena = raw[8 + 4 * n_calls :]
            counts = icount.regions(icount.read_marks(log)[0]) if self.plugin else None
        if counts is not None and len(counts) != n_calls:
            raise HardtoolError(f"instruction counts for {len(counts)} of {n_calls} calls")
        return Result(status, arena, counts)


def qemu_available() -> bool:
    return bool(shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"))
