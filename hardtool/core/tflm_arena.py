"""The arena TensorFlow Lite Micro needs for a .tflite, measured with the `tflite-micro` package:
the smallest ``arena_size`` for which its interpreter allocates all tensors (binary search).

Runs in a subprocess (``python -m hardtool.core.tflm_arena MODEL``) so a crash inside the C++
interpreter cannot take the caller down. This is TFLM's host build: its persistent part (tensor
structs, node data) is sized for 64-bit pointers and is smaller on a Cortex-M."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

TFLM_ALIGN = 16


def _allocates(runtime, data: bytes, size: int) -> bool:
    try:
        runtime.Interpreter.from_bytes(data, arena_size=size)
    except (RuntimeError, ValueError):
        return False
    return True


def _c_output(fn, fds: tuple[int, ...] = (2,)) -> str:
    """What ``fn()`` writes to the C-level ``fds`` (the interpreter reports there, not to Python)."""
    with tempfile.TemporaryFile() as f:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(fd) for fd in fds]
        for fd in fds:
            os.dup2(f.fileno(), fd)
        try:
            fn()
        finally:
            for fd, old in zip(fds, saved, strict=True):
                os.dup2(old, fd)
                os.close(old)
        f.seek(0)
        return f.read().decode(errors="replace")


MISSING_OP = re.compile(r"Didn't find op for builtin opcode '(\w+)'")
PREPARE_FAILED = re.compile(r"Node (\w+) \(number (\d+)\) failed to prepare")


def refusal(runtime, data: bytes, size: int) -> dict | None:
    """Why the `tflite-micro` package's interpreter refuses the model in an arena of ``size``
    bytes, where that is not the size: builtins it has no kernel for (it names the first), or an
    op whose Prepare failed (e.g. GATHER with int64 positions), in its own words."""

    def load() -> None:
        try:
            runtime.Interpreter.from_bytes(data, arena_size=size)
        except (RuntimeError, ValueError):
            pass

    text = _c_output(load, (1, 2))
    missing = sorted(set(MISSING_OP.findall(text)))
    if missing:
        return {
            "error": f"TFLite Micro's Python interpreter has no kernel for {', '.join(missing)}; no arena measured",
            "missing_kernels": missing,
        }
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        m = PREPARE_FAILED.search(ln)
        if m:
            said = lines[i - 1].rstrip(".") if i else "no reason given"
            return {
                "error": f"TFLite Micro's interpreter refuses op #{m.group(2)} {m.group(1)}: {said}; "
                "no arena measured"
            }
    return None


def _allocation_report(runtime, data: bytes, size: int) -> dict:
    """Head (activations, scratch) and tail (persistent) bytes, from the recording allocator's
    report, which goes to the C-level stderr."""
    it = runtime.Interpreter.from_bytes(data, arena_size=size)
    text = _c_output(it.print_allocations)
    out = {}
    for key in ("total", "head", "tail"):
        m = re.search(rf"Arena allocation {key} (\d+) bytes", text)
        if m:
            out[key] = int(m.group(1))
    return out


def _search(path: Path, lo: int, hi: int | None, limit: int = 256 << 20) -> None:
    """Child side: binary search in (lo, hi], printing every probe before and after it, so the
    parent can tell which size crashed the interpreter."""
    from tflite_micro.python.tflite_micro import runtime

    data = Path(path).read_bytes()

    def probe(size: int) -> bool:
        print(f"try {size}", flush=True)
        ok = _allocates(runtime, data, size)
        print(f"{'ok' if ok else 'fail'} {size}", flush=True)
        return ok

    if hi is None and lo == 0:
        refused = refusal(runtime, data, limit)
        if refused:
            print(json.dumps(refused), flush=True)
            return
    if hi is None:
        hi = max(64 << 10, lo * 2)
        while not probe(hi):
            if hi >= limit:
                print(
                    json.dumps({"error": f"TFLite Micro cannot allocate this model even with {limit} bytes"})
                )
                return
            lo, hi = hi, hi * 2
    while hi - lo > TFLM_ALIGN:
        mid = (lo + hi) // 2 // TFLM_ALIGN * TFLM_ALIGN
        if mid <= lo:
            break
        if probe(mid):
            hi = mid
        else:
            lo = mid
    res = {"arena_bytes": hi}
    res.update({f"{k}_bytes": v for k, v in _allocation_report(runtime, data, hi).items()})
    try:
        from importlib.metadata import version

        res["tflite_micro_version"] = version("tflite-micro")
    except Exception:  # noqa: BLE001 - the version is informative only
        pass
    print(json.dumps(res), flush=True)


def measure(path: Path, timeout: float = 300.0) -> dict:
    """Minimum arena in a subprocess; an arena size that crashes the interpreter counts as too
    small and the search resumes in a new process. Returns {'error': ...} instead of raising."""
    lo, hi, crashes = 0, None, 0
    while True:
        args = [sys.executable, "-m", "hardtool.core.tflm_arena", str(path), str(lo)] + (
            [str(hi)] if hi else []
        )
        try:
            proc = subprocess.run(
                args,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
        except subprocess.TimeoutExpired:
            return {"error": f"TFLite Micro measurement timed out after {timeout:.0f} s"}
        lines = proc.stdout.splitlines()
        done = [ln for ln in lines if ln.startswith("{")]
        if proc.returncode == 0 and done:
            res = json.loads(done[-1])
            if crashes:
                res["crashed_probes"] = crashes
            return res
        for ln in lines:
            kind, _, num = ln.partition(" ")
            if kind == "ok":
                hi = int(num)
            elif kind == "fail":
                lo = max(lo, int(num))
        tried = [int(ln.split()[1]) for ln in lines if ln.startswith("try ")]
        if proc.returncode >= 0 or not tried or crashes >= 8:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return {"error": f"TFLite Micro measurement failed (exit {proc.returncode}): {tail[:200]}"}
        crashes += 1
        lo = max(lo, tried[-1])  # the size that crashed is too small


if __name__ == "__main__":
    _search(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
