"""Where the linked image put the stack and the model's arena among the chip's RAM regions.

On an STM32F7 RAM starts with the DTCM (zero wait state for the M7's data accesses); the boards'
linker script puts the stack and then the arena at its bottom. This reads their addresses back from
the ELF (arm-none-eabi-nm) and splits the bytes by region, so the build report says what really
landed in the TCM rather than what the script intends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hardtool.core.boards import Target
from hardtool.core.toolchain import Toolchain, run_tool

TCM_PREFIX = "DTCM"


def symbols(tc: Toolchain, elf: Path) -> dict[str, tuple[int, int]]:
    """name -> (address, size) of the ELF's symbols (size 0 when nm gives none)."""
    out = {}
    for line in run_tool([tc.tool("nm"), "-S", str(elf)]).stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            out[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
        elif len(parts) == 3:
            out[parts[2]] = (int(parts[0], 16), 0)
    return out


def _overlap(span: tuple[int, int], base: int, size: int) -> int:
    return max(0, min(span[1], base + size) - max(span[0], base))


def placement(syms: dict[str, tuple[int, int]], chip: Target) -> dict[str, Any] | None:
    """Stack and arena spans and their bytes per RAM region, for a chip with a DTCM region and an
    image that has both (None otherwise: nothing to say)."""
    tcm = [r for r in chip.ram if r.name.upper().startswith(TCM_PREFIX)]
    if not tcm or not {"_sstack", "_estack", "hard_arena"} <= syms.keys():
        return None
    arena_at, arena_size = syms["hard_arena"]
    spans = {"stack": (syms["_sstack"][0], syms["_estack"][0]), "arena": (arena_at, arena_at + arena_size)}
    regions = {}
    for r in sorted(chip.ram, key=lambda r: r.base):
        n = sum(_overlap(s, r.base, r.size) for s in spans.values())
        if n:
            regions[r.name] = n
    t = tcm[0]
    return {
        "tcm": {"name": t.name, "base": t.base, "size": t.size},
        "stack": list(spans["stack"]),
        "arena": list(spans["arena"]),
        "bytes_by_region": regions,
    }


def _size(n: int) -> str:
    return f"{n // 1024} KB" if n % 1024 == 0 else f"{n:,} B"


def summary(p: dict[str, Any]) -> str:
    """One line, e.g. "stack 4 KB + arena 81,920 B: 61,440 B in DTCM (0x20000000-0x2000ffff),
    24,576 B in SRAM1"."""
    stack, arena, t = p["stack"][1] - p["stack"][0], p["arena"][1] - p["arena"][0], p["tcm"]
    parts = []
    for name, n in p["bytes_by_region"].items():
        where = f" ({t['base']:#010x}-{t['base'] + t['size'] - 1:#010x})" if name == t["name"] else ""
        parts.append(f"{n:,} B in {name}{where}")
    if t["name"] not in p["bytes_by_region"]:
        parts.insert(0, f"0 B in {t['name']}")
    return f"stack {_size(stack)} + arena {arena:,} B: {', '.join(parts)}"
