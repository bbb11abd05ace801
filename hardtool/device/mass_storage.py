"""Drag-and-drop flashing through the ST-LINK's USB drive, and how its result is read.

The ST-LINK/V2-1 programs the chip once the file is written, then disconnects the drive and
connects it again: the file is gone, and a ``FAIL.TXT`` on the re-enumerated drive reports an
error. The file vanishing therefore means only "the drive went away": success is the drive back
with its own files, without ours and without ``FAIL.TXT``. Anything else within the timeout is
reported as "not confirmed", never as success.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hardtool.core.errors import HardtoolError

FAIL_FILE = "FAIL.TXT"
TIMEOUT_S = 60.0
POLL_S = 0.5


def find_drive(volume: str) -> Path | None:
    """The mounted USB drive called ``volume`` (e.g. DIS_F746NG), if any."""
    if sys.platform == "win32":
        import ctypes

        for letter in "DEFGHIJKLMNOPQRSTUVWXYZ":
            root = f"{letter}:\\"
            buf = ctypes.create_unicode_buffer(64)
            if ctypes.windll.kernel32.GetVolumeInformationW(root, buf, 64, None, None, None, None, 0):  # type: ignore[attr-defined]
                if buf.value == volume:
                    return Path(root)
        return None
    user = os.environ.get("USER", "*")
    for pattern in (
        f"/media/{user}/{volume}",
        f"/run/media/{user}/{volume}",
        f"/media/{volume}",
        f"/Volumes/{volume}",
        f"/mnt/{volume}",
    ):
        for hit in glob.glob(pattern):
            if os.path.isdir(hit):
                return Path(hit)
    return None


def _listing(drive: Path | None) -> set[str] | None:
    """Upper-case names on the drive, or None while it is unmounted (gone, unreadable or empty)."""
    if drive is None:
        return None
    try:
        names = {p.upper() for p in os.listdir(drive)}
    except OSError:
        return None
    return names or None


def wait_for_result(
    find: Callable[[], Path | None],
    name: str,
    timeout: float = TIMEOUT_S,
    poll: float = POLL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait until the re-enumerated drive confirms the flash; raise a one-line error otherwise."""
    name, went_away, seen_back = name.upper(), False, 0
    for _ in range(max(1, int(timeout / poll))):
        drive = find()
        names = _listing(drive)
        if names is None:
            went_away, seen_back = True, 0
        elif FAIL_FILE in names:
            text = (drive / FAIL_FILE).read_text(errors="replace").strip() if drive else ""
            raise HardtoolError(
                f"ST-LINK drag-and-drop flashing failed: {' '.join(text.split()) or FAIL_FILE}"
            )
        elif name not in names and (went_away or seen_back):
            seen_back += 1  # back without our file: confirm on a second look (the listing settles)
            if seen_back >= 2:
                return
        elif name not in names:
            seen_back = 1  # the file vanished while we were not looking: the drive came back already
        sleep(poll)
    state = "never came back" if went_away and _listing(find()) is None else "did not confirm the flash"
    raise HardtoolError(
        f"ST-LINK USB drive {state} within {timeout:.0f} s, so the flash is unconfirmed; "
        "mount the drive and look for FAIL.TXT, or use --flasher st-flash / pyocd"
    )


def flash_mass_storage(bin_path: Path, volume: str, timeout: float = TIMEOUT_S) -> None:
    """Copy the image to the ST-LINK drive and wait for its verdict."""
    drive = find_drive(volume)
    if drive is None:
        raise HardtoolError(f"ST-LINK USB drive {volume} not mounted: plug the board in and mount it")
    dst = drive / Path(bin_path).name
    shutil.copyfile(bin_path, dst)
    with open(dst, "rb+") as f:
        os.fsync(f.fileno())
    wait_for_result(lambda: find_drive(volume), dst.name, timeout)
