"""MCU targets: RAM regions, flash and clock from the vendors' datasheets / reference manuals.

The activation arena must be one contiguous block, so a target's default budget is its largest
contiguous RAM run (on the STM32F746NG all 320 KB are contiguous)."""

from __future__ import annotations

from dataclasses import dataclass

from hardtool.errors import HardtoolError

KB = 1024


@dataclass(frozen=True)
class Region:
    name: str
    base: int
    size: int


@dataclass(frozen=True)
class Target:
    name: str
    core: str
    mhz: int
    flash_bytes: int
    ram: tuple[Region, ...]
    source: str

    @property
    def ram_bytes(self) -> int:
        return sum(r.size for r in self.ram)

    @property
    def budget_bytes(self) -> int:
        """Largest run of address-adjacent RAM regions: the biggest arena the chip can hold."""
        best = run = 0
        end = None
        for r in sorted(self.ram, key=lambda r: r.base):
            run = run + r.size if end == r.base else r.size
            end = r.base + r.size
            best = max(best, run)
        return best


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "stm32f746ng",
            "Cortex-M7",
            216,
            1024 * KB,
            (
                Region("DTCM", 0x20000000, 64 * KB),
                Region("SRAM1", 0x20010000, 240 * KB),
                Region("SRAM2", 0x2004C000, 16 * KB),
            ),
            "STM32F746xx datasheet DS10916, RM0385 memory map",
        ),
        Target(
            "stm32h743",
            "Cortex-M7",
            480,
            2048 * KB,
            (
                Region("DTCM", 0x20000000, 128 * KB),
                Region("AXI_SRAM", 0x24000000, 512 * KB),
                Region("SRAM1", 0x30000000, 128 * KB),
                Region("SRAM2", 0x30020000, 128 * KB),
                Region("SRAM3", 0x30040000, 32 * KB),
                Region("SRAM4", 0x38000000, 64 * KB),
            ),
            "STM32H743xI datasheet DS12110, RM0433 memory map",
        ),
        Target(
            "stm32f429",
            "Cortex-M4F",
            180,
            2048 * KB,
            (
                Region("CCM", 0x10000000, 64 * KB),
                Region("SRAM1", 0x20000000, 112 * KB),
                Region("SRAM2", 0x2001C000, 16 * KB),
                Region("SRAM3", 0x20020000, 64 * KB),
            ),
            "STM32F427xx/429xx datasheet DS9405, RM0090 memory map",
        ),
        Target(
            "nrf52840",
            "Cortex-M4F",
            64,
            1024 * KB,
            (Region("RAM", 0x20000000, 256 * KB),),
            "nRF52840 Product Specification v1.7",
        ),
        Target(
            "rp2040",
            "Cortex-M0+ (dual)",
            133,
            2048 * KB,
            (
                Region("SRAM0-3", 0x20000000, 256 * KB),
                Region("SRAM4", 0x20040000, 4 * KB),
                Region("SRAM5", 0x20041000, 4 * KB),
            ),
            "RP2040 datasheet (flash: external QSPI, 2 MB on Raspberry Pi Pico)",
        ),
    )
}

DEFAULT_TARGET = "stm32f746ng"


def get_target(name: str) -> Target:
    key = name.strip().lower().replace("-", "").replace("_", "")
    for t in TARGETS.values():
        if t.name == key:
            return t
    raise HardtoolError(f"unknown target '{name}'; known targets: {', '.join(TARGETS)}")
