"""Exact instruction counts on the emulated board: the TCG plugin in firmware/tools/icount_plugin.c.

The plugin counts every executed guest instruction and logs ``kind count`` each time the
firmware executes a mark (``BSP_MARK(kind)``, firmware/bsp/include/bsp_mark.h). This module
builds it with the host C compiler (once per source version, cached), gives the ``-plugin``
argument for QEMU and turns the log into per-region counts. When the plugin cannot be built or
QEMU refuses it, callers fall back to SysTick (40-instruction granularity) and say so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hardtool.core.errors import HardtoolError
from hardtool.core.resources import firmware_dir

PLUGIN_SOURCE = firmware_dir() / "tools" / "icount_plugin.c"
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-fvisibility=hidden")

# Mark kinds, as in bsp_mark.h.
LAYER_BEGIN, LAYER_END, RUN_BEGIN, RUN_END, REGION_BEGIN, REGION_END = 1, 2, 3, 4, 5, 6
FALLBACK_NOTE = "exact counts unavailable ({why}); using SysTick (40-instruction granularity)"


@dataclass(frozen=True)
class Mark:
    kind: int
    count: int  # instructions executed before the mark


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hardtool" / "icount"


def build_plugin(out_dir: Path | None = None, cc: str = "gcc") -> Path:
    """The plugin as a shared object (rebuilt only when its source changes).

    Raises HardtoolError with a one-line reason when there is no C compiler or it fails."""
    src = PLUGIN_SOURCE.read_bytes()
    digest = hashlib.sha256(src + " ".join(CFLAGS).encode()).hexdigest()[:16]
    out_dir = Path(out_dir) if out_dir is not None else _cache_dir()
    lib = out_dir / f"libicount-{digest}.so"
    if lib.is_file():
        return lib
    if shutil.which(cc) is None:
        raise HardtoolError(f"{cc} not found; install it with: sudo apt-get install -y gcc")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp_lib = Path(tmp) / lib.name
        proc = subprocess.run(
            [cc, *CFLAGS, str(PLUGIN_SOURCE), "-o", str(tmp_lib)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["unknown error"])[0]
            raise HardtoolError(f"cannot build the instruction-count plugin: {first}")
        os.replace(tmp_lib, lib)
    return lib


def plugin_args(lib: Path, log: Path, entries: Path | None = None) -> list[str]:
    """QEMU arguments that load the plugin and make it log marks to ``log`` (and, with
    ``entries``, a file of hex code addresses, each execution of one of them: see layer_entries)."""
    paths = [lib, log] + ([entries] if entries is not None else [])
    if any("," in str(p) for p in paths):
        raise HardtoolError(f"QEMU option paths cannot contain ',': {' / '.join(map(str, paths))}")
    return ["-plugin", f"{lib},out={log}" + (f",entries={entries}" if entries is not None else "")]


def try_plugin(out_dir: Path | None = None) -> tuple[Path | None, str]:
    """(plugin path, "") or (None, one-line note why exact counts are not available)."""
    try:
        return build_plugin(out_dir), ""
    except HardtoolError as e:
        return None, FALLBACK_NOTE.format(why=str(e))


def read_marks(log: Path) -> tuple[list[Mark], int | None]:
    """The marks in execution order and the total instruction count (None if QEMU was killed)."""
    marks: list[Mark] = []
    total = None
    for line in Path(log).read_text().splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        if parts[0] == "total":
            total = int(parts[1])
        else:
            marks.append(Mark(int(parts[0]), int(parts[1])))
    return marks, total


def layer_entries(log: Path) -> list[list[int]]:
    """Per LAYER_BEGIN..LAYER_END region, in execution order: the watched code addresses (plugin
    option ``entries=``) executed inside it, in order. Tells which functions ran for each layer."""
    out: list[list[int]] = []
    current: list[int] | None = None
    for line in Path(log).read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "e":
            if current is not None:
                current.append(int(parts[1], 16))
        elif len(parts) == 2 and parts[0] == str(LAYER_BEGIN):
            current = []
        elif len(parts) == 2 and parts[0] == str(LAYER_END) and current is not None:
            out.append(current)
            current = None
    return out


def regions(marks: list[Mark], begin: int = REGION_BEGIN, end: int = REGION_END) -> list[int]:
    """Instructions strictly between each ``begin`` mark and the next ``end`` mark, in order.

    Consecutive marks differ by one more than the instructions between them (the mark itself)."""
    out: list[int] = []
    start: int | None = None
    for m in marks:
        if m.kind == begin:
            if start is not None:
                raise HardtoolError(f"instruction-count marks out of order: two begin marks ({begin})")
            start = m.count
        elif m.kind == end:
            if start is None:
                raise HardtoolError(f"instruction-count marks out of order: end ({end}) without begin")
            out.append(m.count - start - 1)
            start = None
    return out


def runs(marks: list[Mark]) -> list[tuple[int, list[int]]]:
    """Per model run (RUN_BEGIN..RUN_END): (instructions of the run, instructions per layer)."""
    out = []
    current: list[Mark] | None = None
    for m in marks:
        if m.kind == RUN_BEGIN:
            current = [m]
        elif current is not None:
            current.append(m)
            if m.kind == RUN_END:
                total = m.count - current[0].count - 1
                out.append((total, regions(current, LAYER_BEGIN, LAYER_END)))
                current = None
    return out


def exact_counts(results: list, marks: list[Mark] | None) -> tuple[list, str]:
    """Per-image results with ``total`` and ``layer_counts`` replaced by the plugin's exact counts.

    ``results`` are the bench session's per-image records (in run order); the second value names
    the counter: "plugin (exact)" or "systick (40-instruction granularity)" when the marks do not
    match the runs one for one (or there are none)."""
    per_run = runs(marks or [])
    if not results or len(per_run) != len(results):
        return results, "systick (40-instruction granularity)"
    for r, (_, layers) in zip(results, per_run, strict=True):
        if len(layers) != len(r.layer_counts):
            return results, "systick (40-instruction granularity)"
    exact = [
        dataclasses.replace(r, total=total, layer_counts=layers)
        for r, (total, layers) in zip(results, per_run, strict=True)
    ]
    return exact, "plugin (exact)"
