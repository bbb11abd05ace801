"""The bench app built for the PC (ASan + UBSan): full protocol behaviour without an emulator."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hardtool.build.host import build_host_app
from hardtool.core.errors import HardtoolError
from hardtool.device import protocol as P
from hardtool.device.host import HostBoard
from hardtool.device.link import Link
from hardtool.device.session import BenchSession, run_images

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))
import fakemodel  # noqa: E402


@pytest.fixture(scope="module")
def host_exe(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hostapp")
    return build_host_app(fakemodel.write_project(d), d / "out", sanitize=True)


def _expect(link: Link, types: set[int], limit: float = 3.0) -> list[tuple[P.Frame, object]]:
    out = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        f = link.recv(min(deadline, time.monotonic() + 0.2))
        if f is None:
            if out:
                break
            continue
        out.append((f, P.decode_message(f)))
        if f.type in types:
            break
    return out


def test_run_images_on_host(host_exe: Path) -> None:
    imgs = fakemodel.random_images(5)
    with HostBoard(host_exe) as b:
        results = list(run_images(b.serial, imgs))
    assert [r.index for r in results] == list(range(5))
    for r, img in zip(results, imgs, strict=True):
        np.testing.assert_array_equal(r.labels, fakemodel.reference_labels(img))
        assert r.unit == "ns" and len(r.layer_counts) == fakemodel.LAYERS and r.total > 0


def test_garbage_never_stalls_the_app(host_exe: Path) -> None:
    rng = random.Random(7)
    with HostBoard(host_exe) as b:
        link = Link(b.serial)
        s = BenchSession(link, timeout=1.0)
        s.hello()
        for _ in range(20):
            noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
            link.ser.write(noise)
        # an oversized frame, then a valid request
        link.ser.write(P.encode_frame(P.TILE, 1, bytes(5000)))
        link.drain(quiet=0.3, limit=5)
        assert s.hello().model_hash == fakemodel.MODEL_HASH
        img = fakemodel.random_images(1, seed=3)[0]
        r = s.infer(0, img)
        np.testing.assert_array_equal(r.labels, fakemodel.reference_labels(img))
        assert b.proc.poll() is None  # the sanitizers found nothing


def test_device_errors(host_exe: Path) -> None:
    with HostBoard(host_exe) as b:
        link = Link(b.serial)
        _expect(link, {P.HELLO})
        seq = link.send(P.RUN, P.run_payload(5, 0))
        errs = [m for _, m in _expect(link, {P.ERROR}) if isinstance(m, P.DeviceError)]
        assert errs and errs[-1].code == P.E_INCOMPLETE_INPUT and errs[-1].req_seq == seq
        link.send(P.TILE, P.tile_payload(5, 31 * 192, bytes(2 * 192)))  # rows 31..32: out of range
        errs = [m for _, m in _expect(link, {P.ERROR}) if isinstance(m, P.DeviceError)]
        assert errs[-1].code == P.E_BAD_TILE
        link.send(0x42)
        errs = [m for _, m in _expect(link, {P.ERROR}) if isinstance(m, P.DeviceError)]
        assert errs[-1].code == P.E_UNKNOWN_TYPE
        link.send(P.RESULT_REQ, P.result_req_payload(5))
        errs = [m for _, m in _expect(link, {P.ERROR}) if isinstance(m, P.DeviceError)]
        assert errs[-1].code == P.E_NO_RESULT
        link.ser.write(b"\x00" + P.cobs_encode(P.raw_frame(P.HELLO_REQ, 9, b"", version=9)) + b"\x00")
        errs = [m for _, m in _expect(link, {P.ERROR}) if isinstance(m, P.DeviceError)]
        assert errs[-1].code == P.E_BAD_VERSION
        link.ser.write(P.encode_frame(P.TILE, 1, P.tile_payload(0, 100, bytes(2000))))  # not in order
        errs = [m for _, m in _expect(link, {P.ERROR}) if isinstance(m, P.DeviceError)]
        assert errs[-1].code == P.E_OVERFLOW and errs[-1].detail >= 192


def test_wrong_crc_in_run_makes_host_resend(host_exe: Path) -> None:
    img = fakemodel.random_images(1, seed=5)[0]
    with HostBoard(host_exe) as b:
        link = Link(b.serial)
        s = BenchSession(link)
        s.hello()
        data = img.tobytes()
        for at in range(0, len(data), 960):
            link.send(P.TILE, P.tile_payload(0, at, data[at : at + 960]))
        link.drain(quiet=0.2)
        link.send(P.RUN, P.run_payload(0, P.crc32(data) ^ 1))
        errs = [m for _, m in _expect(link, {P.ERROR}) if isinstance(m, P.DeviceError)]
        assert errs[-1].code == P.E_INPUT_CRC and errs[-1].detail == P.crc32(data)
        r = s.infer(0, img)  # the session starts over and gets it right
        np.testing.assert_array_equal(r.labels, fakemodel.reference_labels(img))


def test_tiles_of_any_size_overlaps_and_a_gap(host_exe: Path) -> None:
    """Tiles are spans of the input at byte offsets, not rows: frames of 100 bytes (a row is 192)
    build the input, a tile sent again (its ACK lost) is acknowledged without harm, a tile past the
    bytes received is refused with their count; the output comes back in 32-byte LABELS pieces of
    the label map's run-length code."""
    img = fakemodel.random_images(1, seed=8)[0]
    data = img.tobytes()
    with HostBoard(host_exe) as b:
        link = Link(b.serial)
        _expect(link, {P.HELLO})
        link.send(P.TILE, P.tile_payload(3, 0, data[:100]))
        seq = link.send(P.TILE, P.tile_payload(3, 300, data[300:400]))
        errs = [m for _, m in _expect(link, {P.ERROR}) if isinstance(m, P.DeviceError)]
        assert (errs[-1].code, errs[-1].req_seq, errs[-1].detail) == (P.E_TILE_GAP, seq, 100)
        for at in [*range(0, len(data), 100), 50, 6000]:  # two overlaps
            link.send(P.TILE, P.tile_payload(3, at, data[at : at + 100]))
            acks = [m for _, m in _expect(link, {P.ACK}) if isinstance(m, P.Ack)]
            assert (acks[-1].offset, acks[-1].length) == (at, len(data[at : at + 100]))
        link.send(P.RUN, P.run_payload(3, P.crc32(data), 32))
        frames = [f for f, _ in _expect(link, {P.RESULT}, limit=10)]
    labels = [P.decode_message(f) for f in frames if f.type == P.LABELS]
    assert len(labels) > 10 and all(len(f.payload) <= 32 for f in frames if f.type == P.LABELS)
    assert [m.offset for m in labels] == list(np.cumsum([0] + [len(m.rle) for m in labels[:-1]]))
    result = P.decode_message(frames[-1])
    code = b"".join(m.rle for m in labels)
    assert len(code) == result.output_size and P.rle_decode(code) == fakemodel.reference_labels(img).tobytes()


def test_lost_output_frames_are_made_up_from_later_sendings_of_other_sizes(host_exe: Path) -> None:
    """A third of the output frames (LABELS, PROFILE, RESULT) lost: the host asks again with frames
    half as long, and puts the label map's code together from pieces of several sizes."""

    class Lossy(Link):
        rng = random.Random(5)
        dropped = 0

        def recv(self, deadline: float) -> P.Frame | None:
            while True:
                f = super().recv(deadline)
                if f is None or f.type not in (P.LABELS, P.PROFILE, P.RESULT) or self.rng.random() > 0.33:
                    return f
                Lossy.dropped += 1

    imgs = fakemodel.random_images(4, seed=17)
    with HostBoard(host_exe) as b:
        s = BenchSession(Lossy(b.serial), timeout=0.5)
        s.hello()
        results = [s.infer(i, img) for i, img in enumerate(imgs)]
    for r, img in zip(results, imgs, strict=True):
        np.testing.assert_array_equal(r.labels, fakemodel.reference_labels(img))
    assert Lossy.dropped > 0 and s.stats.result_requests > 0 and 0 < s.stats.smallest_output < 1024


def test_bad_image_shape_is_one_line(host_exe: Path) -> None:
    with HostBoard(host_exe) as b:
        with pytest.raises(
            HardtoolError, match="float32 32x64x3 is 24,576 bytes; the model's input is 6,144"
        ):
            list(run_images(b.serial, [np.zeros((32, 64, 3), np.float32)]))


def test_silent_line_fails_in_bounded_time() -> None:
    """Bounded by the retry count, not measured by a clock (a loaded machine stretches any time)."""

    class Silent:
        name = "silent"
        writes = 0

        def read(self, size: int = 1) -> bytes:
            time.sleep(0.01)
            return b""

        def write(self, data: bytes) -> int:
            Silent.writes += 1
            return len(data)

        def close(self) -> None:
            pass

    with pytest.raises(HardtoolError, match="no answer from the bench firmware"):
        list(run_images(Silent(), [np.zeros((32, 64, 3), np.int8)], timeout=0.1, retries=3))
    assert 1 <= Silent.writes <= 4  # at most retries + 1 tries, never an endless loop
