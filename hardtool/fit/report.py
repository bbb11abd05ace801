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


def front(points: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """The (instructions, SRAM, MACs) points no other point beats: as many MACs or more for no
    more instructions and no more SRAM (and better in one of them)."""

    def beats(q, p) -> bool:
        return q[0] <= p[0] and q[1] <= p[1] and q[2] >= p[2] and q != p

    return sorted(p for p in points if not any(beats(q, p) for q in points))


def pareto_png(rows: list[dict], targets: list[str], path: Path) -> None:
    """Model size (MACs) against instructions per frame per target, the Pareto front joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for t in targets:
        pts = [
            (
                r["targets"][t]["instructions"] / 1e6,
                r["targets"][t]["sram_bytes"] / 1024,
                (r["macs"] or 0) / 1e6,
            )
            for r in rows
            if r["targets"][t]["instructions"]
        ]
        if not pts:
            continue
        dots = ax.scatter([p[0] for p in pts], [p[2] for p in pts], label=t, s=18)
        best = front(pts)
        ax.plot([p[0] for p in best], [p[2] for p in best], lw=1.2, color=dots.get_facecolor()[0])
    ax.set_xlabel("instructions per frame (M, estimated on the target's emulated core)")
    ax.set_ylabel("model MACs (M)")
    ax.set_title("hardtool fit: candidates, Pareto front per target")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
