"""Build a firmware project described by ``hardtool_build.json`` into .elf/.bin/.map.

Manifest (written by codegen; only ``board`` and ``sources`` are required)::

    {
      "version": 1,
      "name": "hard_edge",                    # artifact base name (default "firmware")
      "board": "qemu_mps2_an500",             # a board of the registry (hardtool.core.boards)
      "target": "stm32h743",                  # an emulated board's chip limits (default: the board's)
      "sources": ["model.c", "weights.c"],    # relative to the manifest's folder (or absolute)
      "include_dirs": ["."],
      "firmware_sources": ["kernels/conv.c"], # relative to hardtool's firmware/ tree
      "firmware_include_dirs": ["kernels"],
      "defines": {"HARD_FOO": 1},             # -DNAME=value (value emitted verbatim)
      "cflags": [], "ldflags": [],
      "stack_size": 4096,                     # bytes at the bottom of RAM, the arena right after
                                              # (default: DEFAULT_STACK_BYTES)
      "uart_baud": 115200,
      "build_id": "3f2a9c1",                  # reported in HELLO (<= 32 chars)
      "linker_script": null,                  # default: the board's, rendered (boards.link_script)
      "app": true                             # add the bench app + protocol + board support
    }

The link fails the way the chip would: a model that needs more SRAM or flash than the board's
chip has stops with one line naming the bytes over and the largest buffer.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hardtool.build.placement import placement, symbols
from hardtool.core.boards import (
    C_FLAGS,
    DEFAULT_STACK_BYTES,
    Board,
    boards,
    get_board,
    get_target,
    link_script,
    with_chip,
)
from hardtool.core.errors import EXIT_DOES_NOT_FIT, HardtoolError
from hardtool.core.files import atomic_dir, atomic_write_bytes, json_text
from hardtool.core.resources import firmware_dir
from hardtool.core.toolchain import Toolchain, find_toolchain, first_error, run_tool
from hardtool.core.uart import check_baud

MANIFEST = "hardtool_build.json"
TARGET_FLAGS = ("-g", "-ffunction-sections", "-fdata-sections")
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
    "target",
}


@dataclass
class BuildResult:
    name: str
    board: str
    elf: Path
    bin: Path
    map: Path
    ram_used: int
    flash_used: int
    ram_total: int
    flash_total: int
    sections: dict[str, dict[str, int]] = field(default_factory=dict)
    largest_ram_symbols: list[dict[str, Any]] = field(default_factory=list)
    toolchain: str = ""
    # peak SRAM = arena + stack + statics, measured on the linked image (docs/contracts.md §6)
    arena_bytes: int = 0  # the model's arena (symbol hard_arena)
    stack_bytes: int = 0  # the reserved stack (section .stack)
    statics_bytes: int = 0  # everything else in RAM: .data + .bss (+ .arena) - arena
    # stack and arena spans and their bytes per RAM region, read from the ELF (build/placement.py);
    # None unless the chip's RAM has a DTCM region
    tcm_placement: dict[str, Any] | None = None

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
            f"{path} not found: `hardtool build` needs a folder made by `hardtool codegen` (with a {MANIFEST})"
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
    if m.get("board") not in boards():
        raise HardtoolError(f"{path}: 'board' must be one of {', '.join(boards())} (got {m.get('board')!r})")
    if not isinstance(m.get("sources"), list) or not m["sources"]:
        raise HardtoolError(f"{path}: 'sources' must be a non-empty list of C files")
    return m


def resolve_paths(base: Path, names: list[str], what: str) -> list[Path]:
    """Absolute paths of ``names`` (relative to ``base``); a missing one is a one-line error."""
    out = []
    for n in names:
        p = Path(n) if Path(n).is_absolute() else base / n
        if not p.exists():
            raise HardtoolError(f"{what} {n} not found (looked in {base})")
        out.append(p.resolve())
    return out


def project_sources(base: Path, m: dict[str, Any]) -> tuple[list[Path], list[Path]]:
    """(C sources, include dirs) of the project itself and of hardtool's firmware tree it names."""
    fw = firmware_dir()
    sources = resolve_paths(base, m["sources"], "source")
    sources += resolve_paths(fw, m.get("firmware_sources", []), "firmware source")
    includes = resolve_paths(base, m.get("include_dirs", ["."]), "include dir")
    includes += resolve_paths(fw, m.get("firmware_include_dirs", []), "firmware include dir")
    return sources, includes


def retarget(m: dict[str, Any], board: Board) -> dict[str, Any]:
    """The manifest of a self-contained project, built for another board: the project's own board
    support files are swapped for ``board``'s, from hardtool's firmware tree (e.g. a project made
    for the DISCO board, built for the emulated board)."""
    if m["board"] == board.name:
        return m
    own = set(get_board(m["board"]).firmware_sources) if m["board"] in boards() else set()
    sources = [s for s in m["sources"] if str(s) not in own and not str(s).startswith(f"bsp/{m['board']}/")]
    fw = firmware_dir().resolve()
    for rel in board.firmware_sources:
        sources.append(rel if rel in own else str(fw / rel))  # shared files the project already has
    return m | {"board": board.name, "sources": sources, "linker_script": None}


def _app_sources(board: Board) -> tuple[list[Path], list[Path]]:
    """The bench app, the protocol and the board's support code (for manifests with ``app: true``)."""
    fw, bdir = firmware_dir(), board.bsp_dir
    sources = [fw / "app" / "main.c", fw / "protocol" / "hproto.c", fw / "protocol" / "hproto_msg.c"]
    sources += [(bdir / s).resolve() for s in board.sources]
    includes = [fw / "protocol"] + [(bdir / i).resolve() for i in board.include_dirs]
    return sources, includes


def _check_baud(m: dict[str, Any], board: Board) -> None:
    """The manifest's uart_baud is one the board's UART makes (hardtool.core.uart)."""
    baud = m.get("uart_baud", 115200)
    if not isinstance(baud, int) or isinstance(baud, bool):
        raise HardtoolError(f"{MANIFEST}: uart_baud must be an integer baud rate, not {baud!r}")
    try:
        check_baud(board, baud)
    except HardtoolError as e:
        raise HardtoolError(f"{MANIFEST} uart_baud: {str(e).removeprefix('--baud ')}") from None


def _defines(m: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    defs: dict[str, Any] = {"BSP_UART_BAUD": f"{int(m.get('uart_baud', 115200))}u"}
    if m.get("build_id"):
        bid = re.sub(r"[^A-Za-z0-9._+-]", "_", str(m["build_id"]))[:32]
        defs["APP_BUILD_ID"] = f'"{bid}"'
    return defs | m.get("defines", {}) | (extra or {})


def _log(tmp: Path, final: Path, name: str, text: str, failed: bool) -> Path:
    """Write a tool's log into the build being made; a failed build is thrown away, so its log is
    also written into the output folder (beside the earlier build, which stays whole)."""
    (tmp / name).write_text(text)
    if not failed:
        return final / name
    atomic_write_bytes(final / name, text.encode())
    return final / name


def _compile(
    tc: Toolchain, cflags: list[str], sources: list[Path], out: Path, jobs: int | None, final: Path
) -> list[Path]:
    objdir = out / "obj"
    objdir.mkdir(exist_ok=True)
    objs = [objdir / f"{i:03d}_{s.stem}.o" for i, s in enumerate(sources)]

    def one(pair: tuple[Path, Path]):
        return run_tool([tc.gcc, *cflags, "-c", str(pair[0]), "-o", str(pair[1])])

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as ex:
        results = list(ex.map(one, zip(sources, objs, strict=True)))
    failed = [r for r in results if r.returncode != 0]
    log = _log(out, final, "compile.log", "".join(r.stderr for r in results), bool(failed))
    if failed:
        raise HardtoolError(f"compile failed: {first_error(failed[0].stderr)} (full log: {log})")
    return objs


def _largest_symbols(
    tc: Toolchain, files: list[Path], ram: bool, top: int = 5, names: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Largest RAM (data/bss) or flash (text/rodata) symbols: names the buffer to shrink."""
    kinds = "bBdD" if ram else "tTrR"
    syms = []
    for f in files:
        for line in run_tool([tc.tool("nm"), "-S", "--size-sort", str(f)]).stdout.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[2] in kinds:
                name = (names or {}).get(f.name, f.name)
                syms.append({"symbol": parts[3], "size": int(parts[1], 16), "file": name})
    syms.sort(key=lambda s: -s["size"])
    return syms[:top]


def _overflow_error(
    tc: Toolchain, board: Board, stderr: str, objs: list[Path], sources: list[Path], stack: int
):
    """The link's 'region overflowed' as one line: bytes over, the limit, the largest buffer."""
    region, nbytes = re.findall(r"region [`'\"]?(\w+)['\"]? overflowed by (\d+) bytes", stderr)[0]
    ram = region.upper() == "RAM"
    names = {o.name: s.name for o, s in zip(objs, sources, strict=True)}
    top = _largest_symbols(tc, objs, ram=ram, top=1, names=names)
    biggest = (
        f"; largest {'RAM buffer' if ram else 'flash object'}: {top[0]['symbol']} "
        f"({top[0]['size']:,} bytes, {top[0]['file']})"
        if top
        else ""
    )
    limit = (board.chip.budget_bytes if ram else board.chip.flash_bytes) // 1024
    return HardtoolError(
        f"does not fit the {board.chip.name.upper()}: {region} overflowed by {int(nbytes):,} bytes "
        f"(limit {limit} KB, stack {stack:,} bytes included){biggest}",
        exit_code=EXIT_DOES_NOT_FIT,
    )


def _with_flash_fix(e: HardtoolError, base: Path) -> HardtoolError:
    """A FLASH overflow's error with what regenerating does about it, from codegen.json's
    ``filter_flash`` (the q15 filter copies codegen budgeted, and the code it reserved)."""
    over = re.search(r"FLASH overflowed by ([\d,]+) bytes", str(e))
    try:
        ff = json.loads((base / "codegen.json").read_text()).get("filter_flash") or {}
    except (OSError, json.JSONDecodeError):
        ff = {}
    if over is None or "code_reserve_bytes" not in ff:
        return e
    n, q15 = int(over.group(1).replace(",", "")), int(ff["q15_extra_bytes"])
    if q15 >= n:
        reserve = -(-(ff["code_reserve_bytes"] + n) // 1024) * 1024 + 1024
        fix = (
            f"; codegen reserved {ff['code_reserve_bytes']:,} bytes for code and kept {q15:,} bytes of q15 "
            f"filter copies: regenerate with `hardtool codegen --flash-reserve {reserve}` (fewer copies)"
        )
    else:
        fix = (
            f"; with every conv filter int8 (q15 copies: {q15:,} bytes) the model still needs "
            f"{n - q15:,} bytes more: pick a chip with more flash (--target)"
        )
    return HardtoolError(str(e) + fix, exit_code=e.exit_code)


def _link(
    tc: Toolchain,
    board: Board,
    m: dict,
    objs: list[Path],
    sources: list[Path],
    out: Path,
    name: str,
    final: Path,
):
    if m.get("linker_script"):  # made absolute by build_firmware
        script = Path(m["linker_script"])
    else:  # the board's own, rendered from the registry
        script = out / "link.ld"
        script.write_text(link_script(board))
    elf, mapf = out / f"{name}.elf", out / f"{name}.map"
    stack = int(m.get("stack_size", DEFAULT_STACK_BYTES))
    cmd = [tc.gcc, *board.cpu_flags, "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs"]
    cmd += ["-Wl,--gc-sections", f"-Wl,-T,{script}", f"-Wl,-Map,{mapf}", "-Wl,--print-memory-usage"]
    cmd += [
        f"-Wl,--defsym=__stack_size={stack}",
        *m.get("ldflags", []),
        "-o",
        str(elf),
        *map(str, objs),
        "-lm",
    ]
    link = run_tool(cmd)
    log = _log(out, final, "link.log", link.stdout + link.stderr, link.returncode != 0)
    if link.returncode != 0:
        if "overflowed by" in link.stderr:
            raise _overflow_error(tc, board, link.stderr, objs, sources, stack)
        raise HardtoolError(f"link failed: {first_error(link.stderr)} (full log: {log})")
    return elf, mapf


def _sections(tc: Toolchain, elf: Path) -> dict[str, dict[str, int]]:
    secs = {}
    for line in run_tool([tc.tool("size"), "-A", str(elf)]).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            secs[parts[0]] = {"size": int(parts[1]), "addr": int(parts[2])}
    return secs


def _symbol_size(tc: Toolchain, elf: Path, name: str) -> int:
    for line in run_tool([tc.tool("nm"), "-S", str(elf)]).stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            return int(parts[1], 16)
    return 0


def sram_parts(tc: Toolchain, elf: Path, secs: dict[str, dict[str, int]]) -> dict[str, int]:
    """The linked image's SRAM as memplan counts it: arena, reserved stack, and runtime statics."""
    arena = _symbol_size(tc, elf, "hard_arena")
    size = {k: secs.get(k, {}).get("size", 0) for k in (".data", ".bss", ".arena", ".stack")}
    return {
        "arena_bytes": arena,
        "stack_bytes": size[".stack"],
        "statics_bytes": size[".data"] + size[".bss"] + size[".arena"] - arena,
    }


def _usage(secs: dict[str, dict[str, int]], ram_origin: int) -> tuple[int, int]:
    """(RAM bytes, flash bytes) from allocated sections: .data counts in both."""
    ram = flash = 0
    for name, s in secs.items():
        if s["size"] == 0 or name.startswith((".debug", ".comment", ".ARM.attributes")):
            continue
        if ram_origin <= s["addr"] < ram_origin + 0x10000000:
            ram += s["size"]
            flash += s["size"] if name == ".data" else 0
        else:
            flash += s["size"]
    return ram, flash


def build_board(m: dict[str, Any], board: str | None, target: str | None = None) -> Board:
    """The board to build for (``board``, else the manifest's), with the chip limits of ``target``
    or else the manifest's when it is an emulated board."""
    b = get_board(board or m["board"])
    chip = target or (m.get("target") if b.emulated else None)
    return with_chip(b, get_target(str(chip))) if chip else b


def _board_manifest(m: dict[str, Any], b: Board, base: Path, target: str | None) -> dict[str, Any]:
    """The manifest as built for board ``b``: baud checked, linker script resolved or dropped."""
    _check_baud(m, b)
    if not m.get("app", True):
        m = retarget(m, b)
    if target and get_target(target).name != m.get("target"):
        m = m | {"linker_script": None}  # the project's script has other limits: render the board's
    if m.get("linker_script"):  # relative to the project, wherever the output goes
        m = m | {"linker_script": str(resolve_paths(base, [m["linker_script"]], "linker script")[0])}
    return m


def build_firmware(
    project: Path,
    out: Path | None = None,
    board: str | None = None,
    defines: dict[str, Any] | None = None,
    jobs: int | None = None,
    target: str | None = None,
) -> BuildResult:
    """Compile + link the project at ``project`` (a folder with hardtool_build.json).

    The output folder (default PROJECT/build) is a cache of the project: each build replaces the
    files the previous build wrote there, in one step at the end, so a failed or interrupted build
    leaves the earlier one whole; files that hardtool did not write there are never touched.
    ``target``: an emulated board with that chip's limits (default: the manifest's)."""
    project = Path(project).resolve()
    m = load_manifest(project)
    base = project if project.is_dir() else project.parent
    b = build_board(m, board, target)
    m = _board_manifest(m, b, base, target)
    tc = find_toolchain()
    name = str(m.get("name") or "firmware")
    out = (Path(out) if out else base / "build").absolute()
    sources, includes = project_sources(base, m)
    if m.get("app", True):
        app_src, app_inc = _app_sources(b)
        sources, includes = sources + app_src, includes + app_inc
    defs = _defines(m, defines)
    cflags = [*b.cpu_flags, *C_FLAGS, *TARGET_FLAGS, *[f"-I{i}" for i in includes]]
    cflags += [f"-D{k}={v}" for k, v in defs.items()] + list(m.get("cflags", [])) + list(b.cflags)
    with atomic_dir(out, force=True) as tmp:
        objs = _compile(tc, cflags, sources, tmp, jobs, out)
        try:
            elf, _ = _link(tc, b, m, objs, sources, tmp, name, out)
        except HardtoolError as e:
            raise _with_flash_fix(e, base) from None
        oc = run_tool([tc.tool("objcopy"), "-O", "binary", str(elf), str(tmp / f"{name}.bin")])
        if oc.returncode != 0:
            raise HardtoolError(f"objcopy failed: {first_error(oc.stderr)}")
        secs = _sections(tc, elf)
        ram, flash = _usage(secs, b.ram_origin)
        res = BuildResult(
            name=name,
            board=b.name,
            elf=out / f"{name}.elf",
            bin=out / f"{name}.bin",
            map=out / f"{name}.map",
            ram_used=ram,
            flash_used=flash,
            ram_total=b.chip.budget_bytes,
            flash_total=b.chip.flash_bytes,
            sections=secs,
            largest_ram_symbols=_largest_symbols(tc, [elf], ram=True),
            toolchain=tc.version(),
            tcm_placement=placement(symbols(tc, elf), b.chip),
            **sram_parts(tc, elf, secs),
        )
        (tmp / "build.json").write_text(json_text(res.to_json()) + "\n")
    return res


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Helper for codegen and tests: write ``hardtool_build.json`` (validated on build)."""
    path = Path(folder) / MANIFEST
    path.write_text(json_text({"version": 1, **manifest}) + "\n")
    return path
