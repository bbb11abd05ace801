"""The host side of the MLPerf Tiny / EEMBC DUT serial protocol, written from its documentation
(mlcommons/tiny benchmark/runner README and benchmark/api): a command is text ending with '%',
the reply is every line up to the one containing 'm-ready'; inputs go as `db load N` then
`db <hex>` lines of at most 31 bytes; `infer N W` answers two `m-lap-us-T` lines around the N
timed runs and one `m-results-[v,...]` line."""

from __future__ import annotations

import re
import time

import numpy as np

BYTES_PER_LINE = 31


class DutClient:
    def __init__(self, ser):
        self.ser = ser
        self.buf = b""

    def lines(self, timeout: float = 60.0) -> list[str]:
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.buf += self.ser.read(max(1, getattr(self.ser, "in_waiting", 0)))
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.strip():
                    out.append(line.strip().decode())
                if line.strip() == b"m-ready":
                    return out
        raise TimeoutError(f"no m-ready after {out}")

    def command(self, text: str, timeout: float = 60.0) -> list[str]:
        self.ser.write(f"{text}%".encode())
        return self.lines(timeout)

    def load(self, data: bytes, per_line: int = BYTES_PER_LINE) -> list[str]:
        """`db load N`, then `db <hex>` with 31 bytes a line."""
        assert self.command(f"db load {len(data)}") == [f"m-[Expecting {len(data)} bytes]", "m-ready"]
        replies = [self.command("db " + data[i : i + per_line].hex()) for i in range(0, len(data), per_line)]
        assert all(r == ["m-ready"] for r in replies[:-1]) and replies[-1] == ["m-load-done", "m-ready"]
        return replies[-1]


def results(lines: list[str]) -> np.ndarray:
    """The values of the one m-results line, parsed as the runner does (empty items skipped)."""
    (line,) = [ln for ln in lines if re.match(r"^m-results-\[[^]]+\]$", ln)]
    return np.array([float(v) for v in line[len("m-results-[") : -1].split(",") if v.strip()])


def laps(lines: list[str], unit: str = "us") -> list[int]:
    return [int(m.group(1)) for ln in lines if (m := re.match(rf"^m-lap-{unit}-([0-9]+)$", ln))]
