"""Ctrl-C at several moments of real `hardtool` processes (SIGINT to the process group, as a terminal
sends it): exit code 130, exactly one line on stderr, and every output that existed before is
byte-identical (no temp files left either), also with --force. flash-and-bench on the emulated
board is in test_e2e.py (it needs the built project there)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, session id, command line), each process read once; a process that exits
    while being read is left out whole (never half-recorded), so a vanishing child cannot raise."""
    found: dict[int, tuple[int, int, str]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            line = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found[int(d.name)] = (int(fields[1]), int(fields[3]), line)
        except (OSError, IndexError, ValueError):
            continue
    return found


def _below(pid: int, procs: dict[int, tuple[int, int, str]]) -> dict[int, str]:
    """pid -> command line of every process below ``pid`` in ``procs``."""
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        for c, (pp, _, line) in procs.items():
            if pp == p and c not in found and c != pid:
                found[c] = line
                todo.append(c)
    return found


def descendants(pid: int) -> list[str]:
    """Command lines of every process below ``pid``, and of every process still in the session
    ``pid`` leads (ctrl_c starts each run in its own session), so an orphan reparented after
    ``pid`` exited still counts."""
    procs = _processes()
    below = _below(pid, procs)
    return [
        *below.values(),
        *(line for c, (_, sid, line) in procs.items() if sid == pid and c not in below | {pid: ""}),
    ]


def left_running(needle: str) -> list[str]:
    """Processes that ran below the last ctrl_c run when Ctrl-C was pressed, whose command line
    holds ``needle``, and that still run now (same pid, same command line). Catches children
    started in sessions of their own (QEMU), which are reparented, not ended, when hardtool exits."""
    now = _processes()
    return [line for c, line in ctrl_c.children.items() if needle in line and c in now and now[c][2] == line]


def ctrl_c(
    args: list[str], when: Callable[[], bool], after: float = 0.0, script: Path | None = None, timeout=600
):
    """Run hardtool ARGS, press Ctrl-C once ``when()`` holds (plus ``after`` seconds); returns
    (exit code, stdout, stderr, pressed)."""
    cmd = [sys.executable, str(script)] if script else [sys.executable, "-m", "hardtool"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([*cmd, *args], stdout=out, stderr=err, start_new_session=True)
        ctrl_c.pid, pressed, deadline = p.pid, when is None, time.monotonic() + timeout
        ctrl_c.children = {}
        while p.poll() is None and time.monotonic() < deadline:
            if not pressed and when():
                time.sleep(after)
                ctrl_c.children = _below(p.pid, _processes())
                os.killpg(p.pid, signal.SIGINT)
                pressed = True
            time.sleep(0.005)
        if p.poll() is None:
            p.kill()
        p.wait()
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), pressed


def started() -> bool:
    """hardtool's main() runs and imports its command (numpy's C extension is mapped): Ctrl-C is
    handled from here on. Earlier, during interpreter start-up, SIGINT kills any Python process."""
    try:
        return "_multiarray_umath" in Path(f"/proc/{ctrl_c.pid}/maps").read_text()
    except OSError:
        return False


def appears(folder: Path, pattern: str) -> Callable[[], bool]:
    return lambda: any(Path(folder).glob(pattern))


def child_running(needle: str) -> Callable[[], bool]:
    return lambda: any(needle in c for c in descendants(ctrl_c.pid))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()
    }


def assert_interrupted(rc: int, stderr: str, pressed: bool) -> None:
    assert pressed, "the command ended before the moment to interrupt it"
    assert rc == 130, (rc, stderr[-2000:])
    assert stderr.startswith("interrupted (Ctrl-C): ") and stderr.count("\n") == 1, stderr[-2000:]


# ---- quantize ---------------------------------------------------------------------------------


@pytest.fixture
def quant_out(tmp_path) -> Path:
    """An output folder holding an earlier quantisation and a plan: all must survive --force + Ctrl-C."""
    out = tmp_path / "q"
    out.mkdir()
    for name in ("model.onnx", "model_int8.tflite", "quant_report.json", "model_int8.memplan.json"):
        (out / name).write_bytes(f"earlier {name}".encode())
    return out


def quantize_args(demo_ckpt: Path, data: Path, out: Path) -> list[str]:
    return [
        "quantize", str(demo_ckpt), "--data", str(data), "--out", str(out), "--force",
        "--input-size", "64", "128", "--calib-images", "4", "--eval-images", "1",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "moment",
    [
        "starting up",
        "exporting to ONNX / converting with onnx2tf",
        "calibrating inside TensorFlow's converter",
    ],
)
def test_quantize(moment, demo_ckpt, synth_data, quant_out):
    before = snapshot(quant_out)
    args = quantize_args(demo_ckpt, synth_data, quant_out)
    if moment == "starting up":
        rc, _, err, pressed = ctrl_c(args, started)
    elif moment.startswith("exporting"):
        rc, _, err, pressed = ctrl_c(args, appears(quant_out, ".tmp-*/model.onnx"), after=0.5)
    else:  # the Ctrl-C TensorFlow's converter swallows (raised inside a finalizer it runs)
        rc, _, err, pressed = ctrl_c(args, None, script=FIXTURES / "ctrl_c_in_calibration.py")
    assert_interrupted(rc, err, pressed)
    assert snapshot(quant_out) == before
    assert sorted(p.name for p in quant_out.iterdir()) == sorted(before)  # no temp folder left


# ---- memplan ----------------------------------------------------------------------------------


@pytest.fixture
def planned(tmp_path, zoo_model) -> Path:
    """A model with an earlier plan (JSON + PNG) beside it."""
    model = tmp_path / "m.tflite"
    model.write_bytes(Path(zoo_model("hard_edge")).read_bytes())
    for name in ("m.memplan.json", "m.memplan.png"):
        (tmp_path / name).write_bytes(f"earlier {name}".encode())
    return model


@pytest.mark.parametrize("moment", ["starting up", "measuring TFLite Micro's arena"])
def test_memplan(moment, planned):
    before = snapshot(planned.parent)
    when = started if moment == "starting up" else child_running("tflm_arena")
    rc, _, err, pressed = ctrl_c(
        ["memplan", str(planned), "--force"], when, after=0.0 if when is started else 0.3
    )
    assert_interrupted(rc, err, pressed)
    assert snapshot(planned.parent) == before


# ---- codegen ----------------------------------------------------------------------------------


@pytest.mark.parametrize("moment", ["starting up", "rendering the project"])
def test_codegen(moment, planned, tmp_path):
    from hardtool.memplan.files import plan_to_files

    plan = plan_to_files(planned, tmp_path / "plan", measure_tflm=False)[2]
    project = tmp_path / "host"
    project.mkdir()
    (project / "model.c").write_text("/* an earlier project */\n")
    before = snapshot(tmp_path)
    when = started if moment == "starting up" else appears(tmp_path, ".host.tmp-*")
    args = ["codegen", str(planned), "--plan", str(plan), "-t", "host", "--out", str(project), "--force"]
    rc, _, err, pressed = ctrl_c(args, when)
    assert_interrupted(rc, err, pressed)
    assert snapshot(tmp_path) == before
    assert not list(tmp_path.glob(".host.*"))


# ---- data synth -------------------------------------------------------------------------------


def test_data_synth(tmp_path):
    """All scenes or none: an interrupted --force run leaves the earlier dataset as it was."""
    args = [
        "data",
        "synth",
        "--out",
        str(tmp_path / "d"),
        "--n",
        "3",
        "--size",
        "32",
        "64",
        "--splits",
        "val",
    ]
    assert subprocess.run([sys.executable, "-m", "hardtool", *args], capture_output=True).returncode == 0
    before = snapshot(tmp_path / "d")
    more = [*args[:4], "--n", "400", "--size", "128", "256", "--seed", "1", "--splits", "val", "--force"]
    rc, _, err, pressed = ctrl_c(more, appears(tmp_path / "d", ".tmp-*/leftImg8bit/val/*/*.png"), after=0.5)
    assert_interrupted(rc, err, pressed)
    assert snapshot(tmp_path / "d") == before
