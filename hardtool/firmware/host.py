"""Build and run the bench firmware on the PC (host gcc, UART = stdin/stdout).

The same app, protocol and generated model as on the chip, without the chip: fast protocol
tests, sanitizer runs, and a check of generated code before flashing. Timer unit: ns.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
from pathlib import Path

from hardtool.errors import HardtoolError
from hardtool.firmware.build import _first_error, _resolve, firmware_dir, load_manifest

HOST_FLAGS = ["-std=c99", "-O2", "-g", "-Wall", "-Wextra", "-Werror"]


def host_cc() -> str:
    """$CC, else gcc, else clang."""
    for cc in (os.environ.get("CC"), "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    raise HardtoolError("no host C compiler found; install one with: sudo apt-get install -y gcc")


def build_host_app(project: Path, out: Path, sanitize: bool = False, cc: str | None = None) -> Path:
    """Compile the project's model + the bench app for this PC; returns the executable."""
    project = Path(project).resolve()
    m = load_manifest(project)
    fw = firmware_dir()
    sources = _resolve(project, m["sources"], "source") + _resolve(
        fw, m.get("firmware_sources", []), "firmware source"
    )
    includes = _resolve(project, m.get("include_dirs", ["."]), "include dir")
    includes += _resolve(fw, m.get("firmware_include_dirs", []), "firmware include dir")
    sources += [
        fw / "app" / "main.c",
        fw / "protocol" / "hproto.c",
        fw / "protocol" / "hproto_msg.c",
        fw / "bsp" / "host" / "bsp_host.c",
    ]
    includes += [fw / "protocol", fw / "bsp" / "include"]
    defs = [f"-D{k}={v}" for k, v in m.get("defines", {}).items()]
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"] if sanitize else []
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    exe = out / (str(m.get("name") or "firmware") + "_host")
    cmd = [
        cc or host_cc(),
        *HOST_FLAGS,
        *san,
        *[f"-I{i}" for i in includes],
        *defs,
        *map(str, sources),
        "-o",
        str(exe),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise HardtoolError(f"host build failed: {_first_error(r.stderr)}")
    return exe


class PipeSerial:
    """pyserial-like read/write over a child process's stdin/stdout, with a read timeout."""

    def __init__(self, proc: subprocess.Popen, timeout: float = 0.05):
        self.proc = proc
        self.timeout = timeout
        self.name = f"host-app[{proc.pid}]"

    @property
    def in_waiting(self) -> int:
        r, _, _ = select.select([self.proc.stdout], [], [], 0)
        return 4096 if r else 0

    def read(self, size: int = 1) -> bytes:
        r, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not r:
            return b""
        return os.read(self.proc.stdout.fileno(), size)

    def write(self, data: bytes) -> int:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as e:
            raise OSError(f"host app exited ({e})") from None
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.stdin.close()


class HostBoard:
    """``with HostBoard(exe) as b: run_images(b.serial, ...)`` — the app as a child process."""

    def __init__(self, exe: Path | str, timeout: float = 60.0):
        self.exe = Path(exe)
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.serial: PipeSerial | None = None

    def __enter__(self) -> HostBoard:
        self.proc = subprocess.Popen(
            [str(self.exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        self.serial = PipeSerial(self.proc)
        return self

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.serial:
            self.serial.close()
        try:
            return self.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(2.0)

    def __exit__(self, *exc: object) -> None:
        self.stop()
