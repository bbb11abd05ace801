"""The instruction-count plugin's Python side: mark logs to per-run and per-layer counts, fallback."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import pytest

from hardtool.device import icount


@dataclass
class _Result:
    layer_counts: list[int]
    total: int


def test_marks_parse_into_layers_and_runs() -> None:
    marks = [icount.Mark(k, c) for k, c in [(3, 100), (1, 110), (2, 150), (1, 151), (2, 152), (4, 170)]]
    assert icount.runs(marks) == [(69, [39, 0])]
    assert icount.regions([icount.Mark(5, 10), icount.Mark(6, 11)]) == [0]
    with pytest.raises(Exception, match="out of order"):
        icount.regions([icount.Mark(6, 1)])


def test_exact_counts_replace_systick_only_when_the_marks_match() -> None:
    marks = [icount.Mark(k, c) for k, c in [(3, 0), (1, 10), (2, 31), (1, 40), (2, 45), (4, 50)]]
    results = [_Result([40, 0], 80)]
    exact, counter = icount.exact_counts(results, marks)
    assert counter == "plugin (exact)" and exact[0].layer_counts == [20, 4] and exact[0].total == 49
    assert results[0].layer_counts == [40, 0]  # the originals are left alone
    for bad in (marks[:-1], marks + marks, []):
        kept, counter = icount.exact_counts(results, bad)
        assert kept is results and counter.startswith("systick")
    assert icount.exact_counts([_Result([1], 2)], marks)[1].startswith("systick")  # layer count differs


def test_plugin_fallback_note_when_it_cannot_be_built(tmp_path) -> None:
    plugin, note = None, ""
    try:
        icount.build_plugin(tmp_path, cc="no-such-cc")
    except Exception as e:  # noqa: BLE001 - the one-line reason is the point
        note = icount.FALLBACK_NOTE.format(why=e)
    assert plugin is None and "SysTick" in note and "no-such-cc" in note and "\n" not in note
    assert shutil.which("no-such-cc") is None


def test_entries_fall_into_their_layers(tmp_path) -> None:
    log = tmp_path / "marks.txt"
    log.write_text(
        "3 0\ne 100 1\n1 5\ne 200 7\ne 300 9\n2 20\n1 21\n2 22\n1 30\ne 2a0 31\n2 40\n4 41\ntotal 50\n"
    )
    assert icount.layer_entries(log) == [[0x200, 0x300], [], [0x2A0]]
    assert icount.read_marks(log)[1] == 50  # the entry lines do not disturb the marks
    assert icount.plugin_args(log, log, log)[1].endswith(f",entries={log}")
