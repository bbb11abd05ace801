"""Build a firmware project described by ``hardtool_build.json`` into .elf/.bin/.map.

Manifest (written by codegen; only ``board`` and ``sources`` are required)::

    {
      "version": 1,
      "name": "hard_edge",                    # artifact base name (default "firmware")
      "board": "qemu_mps2_an500",             # or "stm32f746g_disco"
      "sources": ["model.c", "weights.c"],    # relative to the manifest's folder (or absolute)
      "include_dirs": ["."],
      "firmware_sources": ["kernels/conv.c"], # relative to hardtool's firmware/ tree
      "firmware_include_dirs": ["kernels"],
      "defines": {"HARD_FOO": 1},             # -DNAME=value (value emitted verbatim)
      "cflags": [], "ldflags": [],
      "stack_size": 16384,                    # bytes at the bottom of RAM (default 16 KB)
      "uart_baud": 115200,
      "build_id": "3f2a9c1",                  # reported in HELLO (<= 32 chars)
      "linker_script": null,                  # default: the board's link.ld
      "app": true                             # add the bench app + protocol + board support
    }

The link fails the way the chip would: a model that needs more than 320 KB of SRAM or 1 MB of
flash stops with one line naming the bytes over and the largest buffer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hardtool.errors import HardtoolError
from hardtool.firmware.toolchain import Toolchain, find_toolchain

MANIFEST = "hardtool_build.json"
BOARDS = ("qemu_mps2_an500", "stm32f746g_disco")
CPU_FLAGS = ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"]
C_FLAGS = ["-std=c99", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"]
RAM_ORIGIN, RAM_SIZE = 0x20000000, 320 * 1024
FLASH_SIZE = 1024 * 1024
EXIT_DOES_NOT_FIT = 3

_KNOWN_KEYS = {
    "version",
    "name",
    "board",
    "sources",
    "include_dirs",
    "firmware_sources",
    "firmware_include_dirs",
    "defines",
    "cflags",
    "ldflags",
    "stack_size",
    "uart_baud",
    "build_id",
    "linker_script",
    "app",
}


def firmware_dir() -> Path:
    """hardtool's C tree (protocol, BSPs, app, kernels): $HARDTOOL_FIRMWARE_DIR or the checkout's firmware/."""
    env = os.environ.get("HARDTOOL_FIRMWARE_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "firmware"
    if not (root / "protocol" / "hproto.h").is_file():
        raise HardtoolError(
            f"hardtool firmware sources not found in {root}; set HARDTOOL_FIRMWARE_DIR "
            "to the firmware/ folder of a hardtool checkout"
        )
    return root


@dataclass
class BuildResult:
    name: str
    board: str
    elf: Path
    bin: Path
    map: Path
    ram_used: int
    flash_used: int
    ram_total: int = RAM_SIZE
    flash_total: int = FLASH_SIZE
    sections: dict[str, dict[str, int]] = field(default_factory=dict)
    largest_ram_symbols: list[dict[str, Any]] = field(default_factory=list)
    toolchain: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("elf", "bin", "map"):
            d[k] = str(d[k])
        return d


def load_manifest(project: Path) -> dict[str, Any]:
    """Read and check ``hardtool_build.json``; errors name the key to fix."""
    path = project / MANIFEST if project.is_dir() else project
    if not path.is_file():
        if (path.parent / "main_host.c").is_file() and (path.parent / "Makefile").is_file():
            raise HardtoolError(
                f"{path.parent} is a host-template project: build it with `make -C {path.parent}`"
            )
        raise HardtoolError(
            f"{path} not found: `hardtool build` needs a folder made by `hardtool codegen` "
            f"(with a {MANIFEST})"
        )
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise HardtoolError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(m, dict):
        raise HardtoolError(f"{path}: expected a JSON object")
    unknown = set(m) - _KNOWN_KEYS
    if unknown:
        raise HardtoolError(f"{path}: unknown key(s) {sorted(unknown)}")
    if m.get("board") not in BOARDS:
        raise HardtoolError(f"{path}: 'board' must be one of {', '.join(BOARDS)} (got {m.get('board')!r})")
    if not isinstance(m.get("sources"), list) or not m["sources"]:
        raise HardtoolError(f"{path}: 'sources' must be a non-empty list of C files")
    return m


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, check=False)
    except FileNotFoundError:
        raise HardtoolError(
            f"{cmd[0]} not found; install it with: "
            "sudo apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi"
        ) from None


def _first_error(text: str) -> str:
    for line in text.splitlines():
        if re.search(r": (fatal )?error:|undefined reference", line):
            return line.strip()
    return (text.strip().splitlines() or ["unknown error"])[-1]


def _resolve(base: Path, names: list[str], what: str) -> list[Path]:
    out = []
    for n in names:
        p = Path(n) if Path(n).is_absolute() else base / n
        if not p.exists():
            raise HardtoolError(f"{what} {n} not found (looked in {base})")
        out.append(p.resolve())
    return out


def _largest_symbols(
    tc: Toolchain, files: list[Path], ram: bool, top: int = 5, names: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Largest RAM (data/bss) or flash (text/rodata) symbols: names the buffer to shrink."""
    kinds = "bBdD" if ram else "tTrR"
    syms = []
    for f in files:
        out = _run([tc.tool("nm"), "-S", "--size-sort", str(f)])
        for line in out.stdout.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[2] in kinds:
                syms.append(
                    {"symbol": parts[3], "size": int(parts[1], 16), "file": (names or {}).get(f.name, f.name)}
                )
    syms.sort(key=lambda s: -s["size"])
    return syms[:top]


def _sections(tc: Toolchain, elf: Path) -> dict[str, dict[str, int]]:
    out = _run([tc.tool("size"), "-A", str(elf)])
    secs = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            secs[parts[0]] = {"size": int(parts[1]), "addr": int(parts[2])}
    return secs


def _usage(secs: dict[str, dict[str, int]]) -> tuple[int, int]:
    """(RAM bytes, flash bytes) from allocated sections: .data counts in both."""
    ram = flash = 0
    for name, s in secs.items():
        if s["size"] == 0 or name.startswith((".debug", ".comment", ".ARM.attributes")):
            continue
        if RAM_ORIGIN <= s["addr"] < RAM_ORIGIN + 0x10000000:
            ram += s["size"]
            if name == ".data":
                flash += s["size"]
        else:
            flash += s["size"]
    return ram, flash


def build_firmware(
    project: Path,
    out: Path | None = None,
    board: str | None = None,
    defines: dict[str, Any] | None = None,
    jobs: int | None = None,
) -> BuildResult:
    """Compile + link the project at ``project`` (a folder with hardtool_build.json)."""
    project = Path(project).resolve()
    m = load_manifest(project)
    base = project if project.is_dir() else project.parent
    board = board or m["board"]
    if board not in BOARDS:
        raise HardtoolError(f"unknown board {board!r}; choose one of {', '.join(BOARDS)}")
    tc = find_toolchain()
    fw = firmware_dir()
    name = str(m.get("name") or "firmware")
    out = Path(out) if out else base / "build"
    out.mkdir(parents=True, exist_ok=True)

    sources = _resolve(base, m["sources"], "source")
    includes = _resolve(base, m.get("include_dirs", ["."]), "include dir")
    sources += _resolve(fw, m.get("firmware_sources", []), "firmware source")
    includes += _resolve(fw, m.get("firmware_include_dirs", []), "firmware include dir")
    bdir = fw / "bsp" / board
    binfo = json.loads((bdir / "board.json").read_text())
    if m.get("app", True):
        sources += [fw / "app" / "main.c", fw / "protocol" / "hproto.c", fw / "protocol" / "hproto_msg.c"]
        sources += [(bdir / s).resolve() for s in binfo["sources"]]
        includes += [fw / "protocol"] + [(bdir / i).resolve() for i in binfo["include_dirs"]]
    script = Path(m["linker_script"]) if m.get("linker_script") else bdir / binfo["linker_script"]
    script = script if script.is_absolute() else (base / script)

    defs = {"BSP_UART_BAUD": f"{int(m.get('uart_baud', 115200))}u"}
    if m.get("build_id"):
        bid = re.sub(r"[^A-Za-z0-9._+-]", "_", str(m["build_id"]))[:32]
        defs["APP_BUILD_ID"] = f'"{bid}"'
    defs.update(m.get("defines", {}))
    defs.update(defines or {})
    cflags = (
        CPU_FLAGS
        + C_FLAGS
        + [f"-I{i}" for i in includes]
        + [f"-D{k}={v}" for k, v in defs.items()]
        + list(m.get("cflags", []))
        + list(binfo.get("cflags", []))
    )

    objdir = out / "obj"
    objdir.mkdir(exist_ok=True)
    objs = [objdir / f"{i:03d}_{s.stem}.o" for i, s in enumerate(sources)]

    def compile_one(pair: tuple[Path, Path]) -> subprocess.CompletedProcess:
        src, obj = pair
        return _run([tc.gcc, *cflags, "-c", str(src), "-o", str(obj)])

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as ex:
        results = list(ex.map(compile_one, zip(sources, objs, strict=True)))
    log = "".join(r.stderr for r in results)
    (out / "compile.log").write_text(log)
    failed = [r for r in results if r.returncode != 0]
    if failed:
        raise HardtoolError(
            f"compile failed: {_first_error(failed[0].stderr)} (full log: {out / 'compile.log'})"
        )

    elf, binf, mapf = out / f"{name}.elf", out / f"{name}.bin", out / f"{name}.map"
    stack = int(m.get("stack_size", 16384))
    link = _run(
        [
            tc.gcc,
            *CPU_FLAGS,
            "-nostartfiles",
            "--specs=nano.specs",
            "--specs=nosys.specs",
            "-Wl,--gc-sections",
            f"-Wl,-T,{script}",
            f"-Wl,-Map,{mapf}",
            "-Wl,--print-memory-usage",
            f"-Wl,--defsym=__stack_size={stack}",
            *m.get("ldflags", []),
            "-o",
            str(elf),
            *map(str, objs),
            "-lm",
        ]
    )
    (out / "link.log").write_text(link.stdout + link.stderr)
    if link.returncode != 0:
        over = re.findall(r"region [`'\"]?(\w+)['\"]? overflowed by (\d+) bytes", link.stderr)
        if over:
            region, nbytes = over[0][0], int(over[0][1])
            ram = region.upper() == "RAM"
            top = _largest_symbols(
                tc, objs, ram=ram, top=1, names={o.name: s.name for o, s in zip(objs, sources, strict=True)}
            )
            biggest = (
                (
                    f"; largest {'RAM buffer' if ram else 'flash object'}: {top[0]['symbol']} "
                    f"({top[0]['size']:,} bytes, {top[0]['file']})"
                )
                if top
                else ""
            )
            limit = f"{(RAM_SIZE if ram else FLASH_SIZE) // 1024} KB"
            raise HardtoolError(
                f"does not fit the STM32F746NG: {region} overflowed by {nbytes:,} bytes "
                f"(limit {limit}, stack {stack:,} bytes included){biggest}",
                exit_code=EXIT_DOES_NOT_FIT,
            )
        raise HardtoolError(f"link failed: {_first_error(link.stderr)} (full log: {out / 'link.log'})")
    oc = _run([tc.tool("objcopy"), "-O", "binary", str(elf), str(binf)])
    if oc.returncode != 0:
        raise HardtoolError(f"objcopy failed: {_first_error(oc.stderr)}")

    secs = _sections(tc, elf)
    ram, flash = _usage(secs)
    res = BuildResult(
        name=name,
        board=board,
        elf=elf,
        bin=binf,
        map=mapf,
        ram_used=ram,
        flash_used=flash,
        sections=secs,
        largest_ram_symbols=_largest_symbols(tc, [elf], ram=True),
        toolchain=tc.version(),
    )
    (out / "build.json").write_text(json.dumps(res.to_json(), indent=2) + "\n")
    return res


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Helper for codegen and tests: write ``hardtool_build.json`` (validated on build)."""
    path = Path(folder) / MANIFEST
    path.write_text(json.dumps({"version": 1, **manifest}, indent=2) + "\n")
    return path
