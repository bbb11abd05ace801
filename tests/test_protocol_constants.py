"""One protocol, two spellings: every constant of the firmware's hproto.h (the source of truth for
the wire format) has the same value in the host's hardtool.device.protocol, and every message
type, error code, output kind and fixed payload size the host knows is one the header defines."""

from __future__ import annotations

import re

from hardtool.core.resources import firmware_dir
from hardtool.device import protocol as P


def header_constants() -> dict[str, int]:
    """HP_NAME -> value for every `#define HP_NAME <integer>u` in hproto.h (expressions skipped)."""
    text = (firmware_dir() / "protocol" / "hproto.h").read_text()
    found = re.findall(r"^#define\s+HP_(\w+)\s+\(?(-?(?:0x[0-9A-Fa-f]+|\d+))u?\)?", text, re.M)
    return {name: int(value, 0) for name, value in found}


# hproto.h name (after HP_) -> the host's name where they differ by more than the prefix
HOST_NAME = {
    "VERSION": "VERSION",
    "HEADER_SIZE": "HEADER_SIZE",
    "CRC_SIZE": "CRC_SIZE",
    **{k: k.removeprefix("MSG_") for k in ("MSG_HELLO_REQ", "MSG_TILE", "MSG_RUN", "MSG_RESULT_REQ")},
    **{k: k.removeprefix("MSG_") for k in ("MSG_RESET", "MSG_HELLO", "MSG_ACK", "MSG_LABELS")},
    **{k: k.removeprefix("MSG_") for k in ("MSG_PROFILE", "MSG_RESULT", "MSG_ERROR", "MSG_TENSOR")},
}
DEVICE_ONLY = {"NONE", "FRAME"} | {n for n in header_constants() if n.startswith("ERR_")}  # parser results


def test_every_header_constant_has_the_same_value_on_the_host():
    consts = header_constants()
    assert len(consts) > 40, "hproto.h's defines were not found"
    differ, missing = [], []
    for name, value in consts.items():
        if name in DEVICE_ONLY:
            continue
        if name.startswith("UNIT_"):  # the host keeps the timer units as names
            word = {"NANOSECONDS": "ns"}.get(name[5:], name[5:].lower())
            if P.UNIT_NAMES.get(value) != word:
                differ.append(
                    f"HP_{name} = {value}, protocol.UNIT_NAMES[{value}] = {P.UNIT_NAMES.get(value)}"
                )
            continue
        host = HOST_NAME.get(name, name)
        if not hasattr(P, host):
            missing.append(f"HP_{name} (protocol.{host})")
        elif getattr(P, host) != value:
            differ.append(f"HP_{name} = {value}, protocol.{host} = {getattr(P, host)}")
    assert not differ and not missing, (differ, missing)


def test_the_host_knows_no_code_the_firmware_does_not_define():
    values = set(header_constants().values())
    for table in (P.TYPE_NAMES, P.ERROR_NAMES, P.UNIT_NAMES):
        assert set(table) <= values, sorted(set(table) - values)
    assert P.OVERHEAD == P.HEADER_SIZE + P.CRC_SIZE
