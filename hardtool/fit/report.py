"""fit's outputs: the table, the Pareto front (SRAM vs instructions per frame) as a PNG, the choice."""

from __future__ import annotations

import io
from pathlib import Path

from hardtool.core.files import atomic_write_bytes
from hardtool.fit.evaluate import meets


def choose(rows: list[dict], target: str, fps: float | None) -> dict | None:
    """The largest candidate (most MACs; a user file counts by its instructions) that meets the target."""
    ok = [r for r in rows if meets(r, target, fps)]
    return max(ok, key=lambda r: (r["macs"] or 0, r["targets"][target]["sram_bytes"]), default=None)


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def table(rows: list[dict], targets: list[str], fps: float | None) -> str:
    """Plain-text table: one line per candidate and target."""
    head = f"{'candidate':<24} {'target':<12} {'SRAM':>10} {'flash':>10} {'instr/frame':>14} {'fps*':>8}  verdict"
    lines = [head]
    for r in rows:
        for t in targets:
            d = r["targets"][t]
            n = f"{d['instructions'] / 1e6:.1f} M~" if d["instructions"] else "missing"
            f = f"{d['fps']:.2f}" if d["fps"] else "-"
            verdict = "fits" if meets(r, t, fps) else ("too slow" if d["fits_memory"] else "too big")
            lines.append(
                f"{r['name']:<24} {t:<12} {_kb(d['sram_bytes']):>10} {_kb(d['flash_bytes']):>10} "
                f"{n:>14} {f:>8}  {verdict}"
            )
    return "\n".join(lines)


def pareto_png(rows: list[dict], targets: list[str], path: Path) -> None:
    """SRAM (x) vs instructions per frame (y) per target; the Pareto front joined by a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for t in targets:
        pts = sorted(
            (r["targets"][t]["sram_bytes"] / 1024, r["targets"][t]["instructions"] / 1e6, r["name"])
            for r in rows
            if r["targets"][t]["instructions"]
        )
        if not pts:
            continue
        front, best = [], float("inf")
        for x, y, _ in pts:
            if y < best:
                front.append((x, y))
                best = y
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], label=t, s=18)
        ax.plot([p[0] for p in front], [p[1] for p in front], lw=1)
        ax.axvline(rows[0]["targets"][t]["sram_budget"] / 1024, ls=":", lw=0.8)
    ax.set_xlabel("peak SRAM (KB, exact plan)")
    ax.set_ylabel("instructions per frame (M, estimated)")
    ax.set_title("hardtool fit: candidates and Pareto front per target")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
