"""End to end on the emulated board: build the bench app + fake model with arm-none-eabi-gcc, run it
in QEMU mps2-an500, and check labels, instruction counts, resets and faults on the serial line."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from hardtool.core.boards import DEFAULT_STACK_BYTES
from hardtool.core.errors import HardtoolError
from hardtool.device import protocol as P
from hardtool.device.faultproxy import FaultProxy
from hardtool.device.link import Link
from hardtool.device.qemu import QemuBoard
from hardtool.device.session import MIN_TILE, BenchSession, run_images

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))
import fakemodel  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)


@pytest.fixture(scope="module")
def elf(tmp_path_factory) -> Path:
    from hardtool.build.firmware import build_firmware

    res = build_firmware(fakemodel.write_project(tmp_path_factory.mktemp("qemu_fw")))
    return res.elf


def _check(results, images) -> None:
    assert [r.index for r in results] == list(range(len(images)))
    for r in results:
        np.testing.assert_array_equal(r.labels, fakemodel.reference_labels(images[r.index]))


def _run_once(elf: Path, images) -> tuple[P.Hello, list]:
    with QemuBoard(elf, timeout=60) as board:
        link = Link(board.serial)
        session = BenchSession(link)
        hello = session.hello()
        return hello, [session.infer(i, img) for i, img in enumerate(images)]


def test_hello_infer_and_deterministic_instruction_counts(elf: Path) -> None:
    images = fakemodel.random_images(4, seed=11)
    hello, first = _run_once(elf, images)
    assert (hello.in_rows, hello.in_row_bytes, hello.num_layers, hello.labels) == (32, 64 * 3, 3, True)
    assert (hello.labels_h, hello.labels_w, hello.num_classes, hello.output_bytes) == (32, 64, 19, 32 * 64)
    assert (
        hello.unit == "instructions"
        and hello.board == "qemu-mps2-an500"
        and hello.core_clock_hz == 25_000_000
    )
    assert hello.model_hash == fakemodel.MODEL_HASH and hello.build_id == "fake-test"
    assert hello.stack_size == DEFAULT_STACK_BYTES and hello.arena_size > 32 * 64 * 3
    _check(first, images)
    for r in first:
        assert r.unit == "instructions" and r.total > 0 and all(c > 0 for c in r.layer_counts)
        assert sum(r.layer_counts) <= r.total
        assert 0 < r.stack_high_water < hello.stack_size
    _, second = _run_once(elf, images)
    assert [(r.total, r.layer_counts) for r in first] == [(r.total, r.layer_counts) for r in second]


def test_plugin_counts_agree_with_systick(elf: Path) -> None:
    """The instruction-count plugin's per-layer counts (marks in the bench app) match SysTick's
    40-instruction ticks, which also include the hook's timer reads around each layer."""
    from hardtool.device import icount
    from hardtool.device.qemu import start_counting_board

    plugin, note = icount.try_plugin()
    if plugin is None:
        pytest.skip(note)
    images = fakemodel.random_images(2, seed=16)
    notes: list[str] = []
    board = start_counting_board(elf, 60, notes.append)
    try:
        session = BenchSession(Link(board.serial))
        session.hello()
        systick = [session.infer(i, img) for i, img in enumerate(images)]
    finally:
        board.stop()
    assert not notes
    exact, counter = icount.exact_counts(systick, board.marks())
    assert counter == "plugin (exact)"
    for s, e in zip(systick, exact, strict=True):
        assert all(0 < c for c in e.layer_counts) and sum(e.layer_counts) < e.total
        for cs, ce in zip(s.layer_counts, e.layer_counts, strict=True):
            assert ce <= cs + 40 and cs - ce < 40 + 200, (s.layer_counts, e.layer_counts)


def test_reset_command_mid_image_resumes(elf: Path) -> None:
    images = fakemodel.random_images(3, seed=12)

    class ResettingLink(Link):
        """Sends a protocol RESET just before the RUN of image 1: its input, sent whole, is lost."""

        runs = 0

        def send(self, type_: int, payload: bytes = b"") -> int:
            if type_ == P.RUN and payload[:4] == (1).to_bytes(4, "little"):
                self.runs += 1
                if self.runs == 1:
                    super().send(P.RESET)
            return super().send(type_, payload)

    with QemuBoard(elf, timeout=60) as board:
        link = ResettingLink(board.serial)
        results = list(run_images(link, images))
    _check(results, images)
    assert results[1].stats["resets"] == 1


@pytest.mark.slow
def test_fault_injection_proxy_corrupt_drop_delay(elf: Path) -> None:
    images = fakemodel.random_images(4, seed=13)
    with QemuBoard(elf, timeout=90, connect=False) as board:
        proxy = FaultProxy(board.port, corrupt=3e-4, drop=2e-4, insert=1e-4, delay=2e-4, seed=5)
        try:
            link = Link(proxy.url)
            results = list(run_images(link, images, timeout=0.6, retries=10))
        finally:
            proxy.close()
    _check(results, images)
    assert sum(proxy.counts.values()) > 0


def test_one_error_per_thousand_bytes_shrinks_the_tiles_and_still_finishes_bit_exact(elf: Path) -> None:
    """At 1e-3 corrupt bytes per byte (both ways) a full tile (1,024 B) is damaged about 65 % of
    the time: the tiles shrink to what gets through, grow back when it does, and every label map
    is bit-exact."""
    images = fakemodel.random_images(6, seed=21)
    with QemuBoard(elf, timeout=600, connect=False) as board:
        proxy = FaultProxy(board.port, corrupt=1e-3, seed=9)
        try:
            session = BenchSession(Link(proxy.url), timeout=0.6)
            session.hello()
            results = [session.infer(i, img) for i, img in enumerate(images)]
        finally:
            proxy.close()
    _check(results, images)
    s = session.stats
    print(f"1e-3: {s.resends} resends, smallest tile {s.smallest_tile} B, grew back {s.tile_growths} times")
    assert proxy.counts["corrupt"] > 0 and s.resends > 0
    assert MIN_TILE <= s.smallest_tile < 1024 and s.tile_growths > 0


def test_a_board_reset_and_a_pulled_cable_mid_run_are_survived(elf: Path) -> None:
    """The fault proxy pulls the cable for a second (the port is gone, then back) before image 1
    and resets the board before image 2: the port is opened again, the reset is seen (its boot
    HELLO) and the image sent again; every label map is bit-exact."""
    images = fakemodel.random_images(4, seed=31)
    with QemuBoard(elf, timeout=600, connect=False) as board:
        proxy = FaultProxy(board.port, seed=4)
        try:
            link = Link(proxy.url, reopen_within=30.0)
            session = BenchSession(link, timeout=0.6)
            session.hello()
            results = []
            for i, img in enumerate(images):
                if i == 1:
                    proxy.unplug(1.0)
                if i == 2:
                    proxy.reset_board()
                results.append(session.infer(i, img))
        finally:
            proxy.close()
    _check(results, images)
    print(f"reopens {link.reopens}, resets {session.stats.resets}, resends {session.stats.resends}")
    assert link.reopens >= 1 and proxy.counts["unplug"] == 1
    assert session.stats.resets == 1 and results[2].stats["resets"] == 1 and proxy.counts["reset"] == 1


def test_hopeless_line_fails_cleanly_in_bounded_time(elf: Path) -> None:
    """Bounded by the retry counts (frames sent), not by a clock: a loaded machine stretches time."""

    class Counting(Link):
        sent = 0

        def send(self, type_: int, payload: bytes = b"") -> int:
            Counting.sent += 1
            return super().send(type_, payload)

    images = fakemodel.random_images(2, seed=14)
    with QemuBoard(elf, timeout=60, connect=False) as board:
        proxy = FaultProxy(board.port, corrupt=0.05, drop=0.05, seed=6)
        try:
            with pytest.raises(HardtoolError) as e:
                list(run_images(Counting(proxy.url), images, timeout=0.3, retries=3))
        finally:
            proxy.close()
    assert 1 <= Counting.sent <= 400
    assert "\n" not in str(e.value)


def test_emulator_relaunched_mid_run(elf: Path) -> None:
    images = fakemodel.random_images(4, seed=15)
    boards = [QemuBoard(elf, timeout=60, connect=False).start()]
    proxy = FaultProxy(boards[0].port)
    results = []
    try:
        for r in run_images(Link(proxy.url), images, timeout=1.0):
            results.append(r)
            if r.index == 1:  # the board "crashes": kill QEMU, boot a fresh one behind the proxy
                boards[0].stop()
                boards.append(QemuBoard(elf, timeout=60, connect=False).start())
                proxy.swap_upstream(boards[1].port)
    finally:
        proxy.close()
        for b in boards:
            b.stop()
    _check(results, images)
    assert results[2].stats["resets"] == 1


def test_qemu_is_stopped_on_every_exit_path(elf: Path) -> None:
    with pytest.raises(RuntimeError):
        with QemuBoard(elf, timeout=30) as board:
            proc = board.proc
            raise RuntimeError("boom")
    assert proc.poll() is not None
    board = QemuBoard(elf, timeout=1.0).start()
    board.proc.wait(120)  # the watchdog stops a forgotten emulator (waited for, not slept on: load)
    assert board.timed_out


def test_missing_qemu_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, elf: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        HardtoolError,
        match="qemu-system-arm not found; install it with: sudo apt-get install -y qemu-system-arm",
    ):
        QemuBoard(elf).start()
