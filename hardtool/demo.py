"""`make demo`: the whole pipeline on the bundled HARD-Edge checkpoint and generated street
scenes, on the emulated board — no board, no dataset, no network needed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hardtool.core.errors import HardtoolError

CKPT = Path(__file__).resolve().parent / "zoo" / "hard_edge_synth.pt"


def main() -> int:
    from hardtool.core import quiet
    from hardtool.data.synth import generate
    from hardtool.pipeline import run_pipeline

    quiet.install()
    work = Path("build") / "demo"
    data = work / "data"
    t0 = time.perf_counter()
    if not (data / "leftImg8bit" / "val").is_dir():
        print("[0/5] data       generating 64 train + 24 val street scenes (Cityscapes layout) →", data)
        generate(data, 64, seed=0, splits=("train",))
        generate(data, 24, seed=0, splits=("val",))
    try:
        s = run_pipeline(CKPT, data, work / "hard_edge", n=8, board="qemu", force=True)
    except HardtoolError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(
        f"demo finished in {time.perf_counter() - t0:.0f} s: device output {'equals' if s['bit_exact'] else 'DIFFERS FROM'} "
        f"the host int8 reference on every pixel; reports in {work / 'hard_edge'}"
    )
    return 0 if s["bit_exact"] else 4


if __name__ == "__main__":
    sys.exit(main())
