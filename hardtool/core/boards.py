"""The one registry of chips and boards. Each chip is one file, ``firmware/targets/<chip>.json``
(memory regions, core, clock, from the vendor's datasheet); each board we have firmware for is one
file, ``firmware/bsp/<board>/board.json`` (the chip it carries or emulates, compiler flags, board
support sources, how it is flashed). Every stage reads board and chip facts from here: the
linker script's MEMORY regions (`link_script`), the CLI's board, target and flasher choices, the
emulated board's sources, the numbers the templates print. A board.json may hold keys this module
does not read (another stage's settings): they are kept in ``Board.extra``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from hardtool.core.errors import HardtoolError
from hardtool.core.resources import firmware_dir

DEFAULT_TARGET = "stm32f746ng"
DEFAULT_BOARD = "stm32f746g_disco"
EMULATED_BOARD = "qemu_mps2_an500"
# Outside the arena: the bench firmware's stack (main + protocol + the deepest kernel call chain).
# Its statics (UART / protocol buffers, timers, C runtime .data/.bss) are measured per board: see
# Board.runtime_statics and statics_estimate().
DEFAULT_STACK_BYTES = 4096
# the C dialect and warnings every build of our sources uses (host, Cortex-M, tests)
C_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")
# the linker script every Cortex-M board renders (its MEMORY regions from the board and its chip)
LINK_TEMPLATE = "common/link.ld.in"


@dataclass(frozen=True)
class Region:
    name: str
    base: int
    size: int


@dataclass(frozen=True)
class Target:
    """A chip: what memplan plans against (``emulated``: no chip, an emulated machine's own memory)."""

    name: str
    core: str
    mhz: int
    flash_bytes: int
    ram: tuple[Region, ...]
    source: str
    emulated: bool = False

    @property
    def ram_bytes(self) -> int:
        return sum(r.size for r in self.ram)

    @property
    def ram_origin(self) -> int:
        return self.largest_run()[0]

    @property
    def budget_bytes(self) -> int:
        """Largest run of address-adjacent RAM regions: the biggest arena the chip can hold."""
        return self.largest_run()[1]

    def largest_run(self) -> tuple[int, int]:
        """(base, size) of the longest stretch of address-adjacent RAM regions."""
        best = (0, 0)
        start = end = None
        for r in sorted(self.ram, key=lambda r: r.base):
            if end != r.base:
                start = r.base
            end = r.base + r.size
            if end - start > best[1]:
                best = (start, end - start)
        return best


@dataclass(frozen=True)
class Board:
    """A board we build firmware for (or the emulated one), with its chip's limits."""

    name: str
    nickname: str
    title: str
    chip: Target
    emulated: bool
    cpu_flags: tuple[str, ...]
    sources: tuple[str, ...]
    include_dirs: tuple[str, ...]
    cflags: tuple[str, ...]
    timer_unit: str
    flash: dict = field(default_factory=dict)
    emulator: dict = field(default_factory=dict)
    # {"bytes": .data + .bss - arena of the bench firmware linked for "reference" (input, layers)}
    runtime_statics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # keys of board.json this module does not read
    # UART clock, divider range, USB-serial bridge limit and default baud (hardtool.core.uart)
    uart: dict = field(default_factory=dict)
    core: str | None = None  # an emulated board's core (firmware/cores/<core>.json): its memory map

    @property
    def bsp_dir(self) -> Path:
        return firmware_dir() / "bsp" / self.name

    @property
    def flash_address(self) -> int:
        """Where the image goes: the chip's flash, or where the emulator loads it (its core's code RAM)."""
        if self.core:
            return get_core(self.core).memory["code"][0]
        return int(self.flash.get("address", "0x0"), 0)

    @property
    def ram_origin(self) -> int:
        """Where the linked image's RAM starts: the chip's, or the emulated machine's data RAM
        (which holds the chip's largest run of SRAM at its own address)."""
        if self.core:
            return get_core(self.core).memory["ram"][0]
        return self.chip.ram_origin

    @property
    def flashers(self) -> tuple[str, ...]:
        """The tools that can flash this board, in the order ``auto`` tries them (none: emulated)."""
        return tuple(self.flash.get("tools", ()))

    @property
    def firmware_sources(self) -> tuple[str, ...]:
        """The board's C sources as paths under firmware/ (its own folder's and shared ones)."""
        fw = firmware_dir().resolve()
        return tuple((self.bsp_dir / s).resolve().relative_to(fw).as_posix() for s in self.sources)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise HardtoolError(f"board registry file {path} is unreadable ({e}); reinstall hardtool") from None


def _target(d: dict) -> Target:
    regions = tuple(Region(r["name"], int(r["base"], 0), int(r["size"])) for r in d["ram"])
    return Target(d["name"], d["core"], int(d["mhz"]), int(d["flash_bytes"]), regions, d["source"])


@cache
def targets() -> dict[str, Target]:
    """Every chip in the registry, by name."""
    found = (_target(_read(p)) for p in sorted((firmware_dir() / "targets").glob("*.json")))
    return {t.name: t for t in found}


@cache
def boards() -> dict[str, Board]:
    """Every board we have firmware for, by name."""
    out = {}
    for p in sorted((firmware_dir() / "bsp").glob("*/board.json")):
        d = _read(p)
        tuples = {k: tuple(d.get(k, ())) for k in ("cpu_flags", "sources", "include_dirs", "cflags")}
        extra = {k: v for k, v in d.items() if k not in _BOARD_KEYS}
        out[d["name"]] = Board(
            name=d["name"],
            nickname=d["nickname"],
            title=d["title"],
            chip=get_target(d["chip"]) if d.get("chip") else machine_target(get_core(d["core"])),
            emulated=bool(d["emulated"]),
            timer_unit=d["timer_unit"],
            flash=d.get("flash", {}),
            emulator=d.get("emulator", {}),
            runtime_statics=d.get("runtime_statics", {}),
            extra=extra,
            uart=d.get("uart", {}),
            core=d.get("core"),
            **tuples,
        )
    return out


_BOARD_KEYS = {f for f in Board.__dataclass_fields__ if f != "extra"}


def emulated_board() -> Board:
    """The default emulated board (QEMU mps2-an500, the STM32F746NG's Cortex-M7); the other
    cores' boards are chosen by target (emulated_board_for) or by name."""
    if EMULATED_BOARD not in boards():
        raise HardtoolError(
            "no emulated board in the registry (firmware/bsp/*/board.json); reinstall hardtool"
        )
    return boards()[EMULATED_BOARD]


def board_choices() -> tuple[str, ...]:
    """The CLI's --board values: auto, every board's nickname, then every board's name."""
    bs = boards().values()
    return ("auto", *(b.nickname for b in bs), *(b.name for b in bs))


def flasher_names() -> tuple[str, ...]:
    """The CLI's --flasher values: auto, then every tool some board is flashed with, in order."""
    names: dict[str, None] = {}
    for b in boards().values():
        names |= dict.fromkeys(b.flashers)
    return ("auto", *names)


def link_script(board: Board) -> str:
    """The board's linker script: the shared Cortex-M script with the board's MEMORY regions, the
    image at its flash address with its chip's flash size, RAM the chip's largest run of
    address-adjacent regions (what memplan budgets)."""
    size = board.chip.largest_run()[1]
    origin = board.ram_origin
    fields = {
        "TITLE": f"{board.title}: image at {board.flash_address:#010x}, RAM at {origin:#010x}",
        "LIMITS": f"{_owner(board.chip)}: {_kb(board.chip.flash_bytes)} flash, {_kb(size)} SRAM",
        "FLASH_ORIGIN": f"{board.flash_address:#010x}",
        "FLASH_LENGTH": f"{board.chip.flash_bytes // 1024}K",
        "RAM_ORIGIN": f"{origin:#010x}",
        "RAM_LENGTH": f"{size // 1024}K",
    }
    text = (firmware_dir() / "bsp" / LINK_TEMPLATE).read_text()
    for k, v in fields.items():
        text = text.replace(f"@{k}@", v)
    return text


def _kb(n: int) -> str:
    """1 MB, 2 MB, 320 KB: sizes as datasheets print them."""
    return f"{n // (1 << 20)} MB" if n % (1 << 20) == 0 else f"{n // 1024} KB"


def _owner(chip: Target) -> str:
    """Whose limits: "the STM32F746NG's", or an emulated machine's own (no chip's)."""
    return f"QEMU {chip.name}'s own (no chip's)" if chip.emulated else f"the {chip.name.upper()}'s"


def chip_limits(board: Board) -> str:
    """The limits templates print, e.g. "the STM32F746NG's 320 KB RAM / 1 MB flash"."""
    return f"{_owner(board.chip)} {_kb(board.chip.budget_bytes)} RAM / {_kb(board.chip.flash_bytes)} flash"


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def get_target(name: str) -> Target:
    """A chip by name (case, '-' and '_' do not matter), else an emulated machine's own memory by
    the machine's name ('mps2-an500'): limits no chip has, never listed among the chips."""
    key = _key(name).replace("_", "")
    for t in targets().values():
        if t.name == key:
            return t
    for t in machine_targets().values():
        if t.name.replace("-", "") == key.replace("-", ""):
            return t
    raise HardtoolError(
        f"unknown target '{name}'; known targets: {', '.join(targets())} "
        f"(or an emulated machine's own memory, no chip's: {', '.join(machine_targets())})"
    )


def get_board(name: str) -> Board:
    """A board by name or nickname ('disco', 'qemu')."""
    key = _key(name)
    for b in boards().values():
        if key in (b.name, _key(b.nickname)):
            return b
    known = ", ".join(f"{b.nickname} ({b.name})" for b in boards().values())
    raise HardtoolError(f"unknown board '{name}'; known boards: {known}")


def statics_estimate(target: str) -> tuple[int, str]:
    """(bytes, source) of the runtime statics to budget for a chip before a link measures them:
    the largest figure measured for a board carrying that chip (any board when none does)."""
    chip = get_target(target).name
    measured = [b for b in boards().values() if b.runtime_statics.get("bytes")]
    own = [b for b in measured if b.chip.name == chip] or measured
    if not own:
        raise HardtoolError("no board in the registry records its runtime statics; reinstall hardtool")
    b = max(own, key=lambda b: int(b.runtime_statics["bytes"]))
    ref = b.runtime_statics.get("reference", {})
    where = "" if b.chip.name == chip else f" (no board carries the {chip})"
    return int(
        b.runtime_statics["bytes"]
    ), f"linked on {b.name} for {ref.get('model', 'its reference')}{where}"


# ------------------------------------------------------------------ emulated cores
@dataclass(frozen=True)
class Core:
    """A Cortex-M core the emulator runs (``firmware/cores/<core>.json``): its QEMU machine, the
    compiler flags that select the core's instructions (and so the kernels' DSP or portable
    primitives), and the machine's memory map for the kernel runner's linker script."""

    name: str
    title: str
    machine: str
    cpu_flags: tuple[str, ...]
    dsp: bool
    memory: dict[str, tuple[int, int]]  # "code", "ram", "bulk": (base, size)
    uart_base: int
    uart_clock_hz: int
    sysclk_hz: int
    covers: tuple[str, ...]
    stands_in_for: tuple[str, ...]
    source: str
    board: str | None = None  # the board (firmware/bsp/<board>/board.json) that runs the UART firmware


@dataclass(frozen=True)
class CoreMatch:
    """The emulated core a chip's code is counted on; ``exact`` False: the closest core, not its own."""

    core: Core | None
    exact: bool
    note: str


def _core(d: dict) -> Core:
    mem = {k: (int(v[0], 0), int(v[1])) for k, v in d["memory"].items()}
    return Core(
        d["name"],
        d["title"],
        d["machine"],
        tuple(d["cpu_flags"]),
        bool(d["dsp"]),
        mem,
        int(d["uart"]["base"], 0),
        int(d["uart"]["clock_hz"]),
        int(d["sysclk_hz"]),
        tuple(d.get("covers", ())),
        tuple(d.get("stands_in_for", ())),
        d["source"],
        d.get("board"),
    )


@cache
def cores() -> dict[str, Core]:
    """Every core the emulator runs, by name (cortex-m3, cortex-m4, ...)."""
    found = (_core(_read(p)) for p in sorted((firmware_dir() / "cores").glob("*.json")))
    return {c.name: c for c in found}


def get_core(name: str) -> Core:
    """An emulated core by name ('cortex-m4', 'M4', 'm33' all work)."""
    key = _key(name).replace("_", "").replace("cortex", "").lstrip("-")
    for c in cores().values():
        if c.name.split("-")[-1] == key or c.name == _key(name):
            return c
    raise HardtoolError(f"unknown core '{name}'; emulated cores: {', '.join(cores())}")


def core_for(target: Target) -> CoreMatch:
    """The emulated core a chip's instructions are counted on: the core that is the chip's own
    (``covers``), else the closest one standing in for it (``stands_in_for``, e.g. the Cortex-M3
    for the RP2040's Cortex-M0+: same lack of DSP, a superset of its instructions), else none."""
    for c in cores().values():
        if target.core in c.covers:
            return CoreMatch(c, True, f"{target.core} on {c.title}")
    for c in cores().values():
        if target.core in c.stands_in_for:
            return CoreMatch(c, False, f"{target.core} has no emulated board: counted on the {c.title}")
    return CoreMatch(None, False, f"{target.core} has no emulated board: instruction counts missing")


def machine_target(core: Core) -> Target:
    """An emulated machine's own memory as a chip's limits (a board no chip of the registry names,
    e.g. the Cortex-M33's and M55's): its code RAM as flash, its data RAM as SRAM."""
    base, size = core.memory["ram"]
    return Target(
        core.machine,
        core.covers[0],
        core.sysclk_hz // 1_000_000,
        core.memory["code"][1],
        (Region("RAM", base, size),),
        core.source,
        emulated=True,
    )


def machine_targets() -> dict[str, Target]:
    """Every emulated machine's own memory as limits, by machine name: for a model no chip of the
    registry holds, run on the emulator only (``targets()`` lists the chips alone)."""
    return {c.machine: machine_target(c) for c in cores().values()}


def with_chip(board: Board, target: Target) -> Board:
    """An emulated board with another chip's limits (its SRAM budget and flash at the machine's
    addresses); a real board carries one chip only."""
    if board.chip.name == target.name:
        return board
    if not board.core:
        raise HardtoolError(
            f"the {board.title} carries the {board.chip.name.upper()}, not the {target.name.upper()}; "
            f"generate for the emulated board of that chip's core: -t qemu --target {target.name}"
        )
    core = get_core(board.core)
    if target.budget_bytes > core.memory["ram"][1] or target.flash_bytes > core.memory["code"][1]:
        raise HardtoolError(
            f"the {target.name.upper()}'s memory does not fit QEMU {core.machine}'s "
            f"({_kb(core.memory['ram'][1])} RAM, {_kb(core.memory['code'][1])} code)"
        )
    head = board.title.split(" with the ")[0].split("; limits")[0]
    if target.emulated:
        return replace(board, chip=target, title=f"{head}; limits: the machine's own memory, no chip's")
    return replace(board, chip=target, title=f"{head} with the {target.name.upper()}'s limits")


def emulated_board_for(target: Target) -> Board:
    """The emulated board a chip's firmware runs on: the board of its core's emulated machine (or
    of the closest core standing in for it, as core_for), with the chip's limits."""
    match = core_for(target)
    if match.core is None or match.core.board is None:
        emulated = ", ".join(f"{c.name} ({c.machine})" for c in cores().values() if c.board)
        raise HardtoolError(
            f"the {target.name}'s core ({target.core}) has no emulated board (emulated: {emulated}); "
            "plan it with hardtool memplan, or pick a --board"
        )
    return with_chip(get_board(match.core.board), target)
