"""Coverage-guided fuzzing of the host parser with atheris.

Run longer by hand:  python tests/test_protocol_atheris.py -max_total_time=600
Under pytest it runs a short bounded session in a child process (skipped without atheris)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _fuzz_one(data: bytes) -> None:
    from hardtool.device import protocol as P

    parser = P.FrameParser(max_frame=1024)
    half = len(data) // 2
    frames = parser.feed(data[:half]) + parser.feed(data[half:])
    for f in frames:
        try:
            m = P.decode_message(f)
        except P.ProtocolError:
            continue
        if isinstance(m, P.Labels):
            try:
                P.rle_decode(m.rle, limit=1 << 16)
            except P.ProtocolError:
                pass
        # a delivered frame re-encodes to exactly one identical frame
        again = P.FrameParser().feed(P.encode_frame(f.type, f.seq, f.payload))
        assert again == [P.Frame(f.type, f.seq, f.payload)]


def main(argv: list[str]) -> None:
    import atheris

    with atheris.instrument_imports():
        import hardtool.device.protocol  # noqa: F401
    atheris.Setup(argv, _fuzz_one)
    atheris.Fuzz()


def test_atheris_short_run() -> None:
    pytest.importorskip("atheris")
    r = subprocess.run(
        [sys.executable, str(Path(__file__)), "-runs=20000", "-max_len=2048"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Done" in r.stderr


if __name__ == "__main__":
    main(sys.argv)
