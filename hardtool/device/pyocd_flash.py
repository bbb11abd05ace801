"""Flash the board with pyOCD: find the target the way pyOCD does, program, read back, reset.

pyOCD has no built-in STM32F7 target: its targets for these parts come from the STM32F7 CMSIS
pack (Keil.STM32F7xx_DFP), whose devices and variants pyOCD names by their part number
(``normalise_target_type_name``: ``STM32F746NGHx`` → ``stm32f746nghx``). A pack is found where
pyOCD looks for one: installed by ``pyocd pack install`` (cmsis-pack-manager's cache) or given as
a file (``HARDTOOL_PYOCD_PACK``, passed to pyOCD as its ``pack`` session option).
"""

from __future__ import annotations

import os
from pathlib import Path

from hardtool.core.errors import HardtoolError

PACK_ENV = "HARDTOOL_PYOCD_PACK"


def pack_files() -> list[str]:
    """CMSIS pack files named by ``HARDTOOL_PYOCD_PACK`` (``os.pathsep``-separated)."""
    raw = os.environ.get(PACK_ENV, "")
    packs = [p for p in raw.split(os.pathsep) if p]
    missing = [p for p in packs if not Path(p).is_file()]
    if missing:
        raise HardtoolError(f"{PACK_ENV} names a missing pack file: {missing[0]}; fix the path or unset it")
    return packs


def pack_target_names(packs: list[str]) -> set[str]:
    """pyOCD's target names for every device and variant in the given pack files."""
    from pyocd.target import normalise_target_type_name
    from pyocd.target.pack.pack_target import PackTargets

    names: set[str] = set()
    PackTargets.process_targets_from_pack(
        list(packs), lambda dev: names.add(normalise_target_type_name(dev.part_number))
    )
    return names


def target_known(target: str, packs: list[str] | None = None) -> bool:
    """True when pyOCD can create ``target``: built in, in a given pack, or in an installed pack."""
    from pyocd.target import TARGET, normalise_target_type_name
    from pyocd.target.pack.pack_target import ManagedPacks

    name = normalise_target_type_name(target)
    if name in TARGET:
        return True
    if packs and name in pack_target_names(packs):
        return True
    return any(
        normalise_target_type_name(d.part_number) == name for d in ManagedPacks.get_installed_targets()
    )


def missing_target_hint(target: str) -> str:
    return (
        f"pyOCD has no {target} target: install the STM32F7 pack with `pyocd pack install {target}` "
        f"(needs internet once), or set {PACK_ENV} to a downloaded Keil.STM32F7xx_DFP .pack, "
        "or use --flasher st-flash"
    )


def _verify(target, address: int, data: bytes) -> None:
    """Read the flash back: pyOCD's programmer does not compare what it wrote."""
    got = bytes(target.read_memory_block8(address, len(data)))
    if got != data:
        at = next(i for i, (a, b) in enumerate(zip(got, data, strict=True)) if a != b)
        raise HardtoolError(
            f"pyOCD: flash verify failed at {address + at:#010x} (wrote {data[at]:#04x}, read {got[at]:#04x}); "
            "power-cycle the board and flash again"
        )


def flash_with_pyocd(bin_path: Path, target: str, address: int, frequency: int = 4_000_000) -> None:
    """Program ``bin_path`` at ``address``, read it back, reset the core. One-line errors."""
    try:
        from pyocd.core.helpers import ConnectHelper
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        raise HardtoolError("pyOCD is not installed: pip install pyocd") from None
    packs = pack_files()
    if not target_known(target, packs):
        raise HardtoolError(missing_target_hint(target))
    options = {"frequency": frequency, "target_override": target} | ({"pack": packs} if packs else {})
    try:
        session = ConnectHelper.session_with_chosen_probe(blocking=False, return_first=True, options=options)
    except Exception as e:  # noqa: BLE001 - pyOCD raises many types
        raise HardtoolError(f"pyOCD: {e}") from None
    if session is None:
        raise HardtoolError("pyOCD found no debug probe: plug the board's ST-LINK USB port in")
    data = Path(bin_path).read_bytes()
    try:
        with session:
            tgt = session.board.target
            FileProgrammer(session).program(str(bin_path), base_address=address, file_format="bin")
            _verify(tgt, address, data)
            tgt.reset()
    except HardtoolError:
        raise
    except Exception as e:  # noqa: BLE001
        raise HardtoolError(f"pyOCD flashing failed: {e}") from None
