"""`make bench`: every stage's speed and memory numbers, measured, as JSON under bench/."""

from __future__ import annotations

import importlib
import json
import sys
import time

from bench.common import ROOT

STAGES = ("quantize", "memplan", "codegen", "device", "protocol", "kernels", "models", "speed", "compare")


def main(argv: list[str] | None = None) -> int:
    """Run the stages named in ``argv`` (default: all); a failing stage is reported and the rest run."""
    out_dir = ROOT / "bench"
    work = ROOT / "build" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    only = set(argv or sys.argv[1:])
    failed = 0
    for name in STAGES:
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        try:
            res = importlib.import_module(f"bench.{name}").run_bench(out_dir, work)
        except Exception as e:  # noqa: BLE001 - report and continue with the other stages
            failed += 1
            print(f"[bench] {name}: FAILED: {type(e).__name__}: {e}")
            continue
        print(f"[bench] {name} ({time.perf_counter() - t0:.1f} s) → bench/{name}.json")
        print(json.dumps(res, indent=2)[:3000])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
