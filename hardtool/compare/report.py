"""The comparison as a document (compare.json), a rich table and a bar chart in the spirit of the
HARD paper's Fig. 1: FP32 and int8 peak SRAM per model on a log axis, the chip's SRAM as a line."""

from __future__ import annotations

import io

from hardtool.compare.measure import DTYPES
from hardtool.compare.paper import paper_comparison
from hardtool.compare.run import REFERENCE, CompareOptions
from hardtool.core.boards import get_target, statics_estimate
from hardtool.memplan.plan import STACK_ESTIMATE

VERSION = 1
WEIGHTS_NOTE = (
    "random weights (seeded) unless --ckpt gives a checkpoint: SRAM and flash depend on the graph's "
    "shapes and types, not on weight values"
)


def display_name(name: str) -> str:
    from hardtool.models.peers import PEERS

    if name in PEERS:
        return PEERS[name].name
    return "HARD-" + name.removeprefix("hard_").replace("_", "-").upper().replace("EDGE", "Edge")


def _ratio(a: int | None, b: int | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _tflm_arena(entry: dict) -> int | None:
    t = entry.get("tflm") or {}
    return t.get("arena_bytes")


def _annotate(row: dict, ref: dict | None, target, budget: int, outside: int) -> None:
    """Display name, fits (flash, and TFLM's arena with the same stack and statics), ratios to the reference."""
    row["display"] = display_name(row["name"])
    for dt in DTYPES:
        e = row[dt]
        e["flash_fits"] = e["weights_bytes"] <= target.flash_bytes
        arena = _tflm_arena(e)
        e["tflm_fits"] = None if arena is None else arena + outside <= budget
    row["ratio_to_reference"] = {
        dt: {
            "plan": _ratio(row[dt]["plan"]["peak_sram_bytes"], ref and ref[dt]["plan"]["peak_sram_bytes"]),
            "tflm": _ratio(_tflm_arena(row[dt]), ref and _tflm_arena(ref[dt])),
        }
        for dt in DTYPES
    }


def document(rows: list[dict], opts: CompareOptions, calibration: str, seconds: float) -> dict:
    """compare.json (docs/contracts.md §7)."""
    target = get_target(opts.target)
    budget = target.budget_bytes
    statics, _ = statics_estimate(target.name)
    ok = [r for r in rows if "error" not in r]
    ref = next((r for r in ok if r["name"] == REFERENCE), None)
    for r in ok:
        _annotate(r, ref, target, budget, STACK_ESTIMATE + statics)
    fits = {dt: [r["name"] for r in ok if r[dt]["plan"]["fits"]] for dt in DTYPES}
    return {
        "version": VERSION,
        "input_size": list(opts.input_size),
        "target": target.name,
        "budget_bytes": budget,
        "flash_bytes": target.flash_bytes,
        "outside_arena_bytes": {"stack": STACK_ESTIMATE, "runtime_statics": statics},
        "calibration": calibration,
        "weights": WEIGHTS_NOTE,
        "reference": REFERENCE if ref is not None else None,
        "models": ok,
        "failed": [{"name": r["name"], "error": r["error"]} for r in rows if "error" in r],
        "fits": fits,
        "paper": paper_comparison(ok, tuple(opts.input_size), budget),
        "jobs": opts.jobs,
        "seconds": round(seconds, 1),
    }


def _kb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1024:,.0f}"


def _x(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}×"


def _fit(v: bool | None) -> str:
    return "—" if v is None else ("[green]yes[/green]" if v else "[red]no[/red]")


def _row_cells(r: dict) -> list[str]:
    f, q = r["float32"], r["int8"]
    rr = r["ratio_to_reference"]
    return [
        r["display"],
        f"{r['params'] / 1e6:.3f}M",
        f"{r['macs'] / 1e9:.3f}",
        f"{_kb(f['weights_bytes'])} / {_kb(q['weights_bytes'])}",
        _kb(f["plan"]["peak_sram_bytes"]),
        _kb(_tflm_arena(f)),
        _kb(q["plan"]["peak_sram_bytes"]),
        _kb(_tflm_arena(q)),
        f"{_fit(f['plan']['fits'])} / {_fit(q['plan']['fits'])}",
        f"{_x(rr['float32']['plan'])} / {_x(rr['int8']['plan'])}",
    ]


def table(doc: dict):
    from rich.table import Table

    h, w = doc["input_size"]
    t = Table(
        title=f"Segmentation models on the {doc['target']} at {h}×{w}: SRAM {doc['budget_bytes'] // 1024} KB, "
        f"flash {doc['flash_bytes'] // 1024} KB (sizes in KB = 1024 B)"
    )
    heads = (
        "model",
        "params",
        "GMACs",
        "flash FP32 / int8",
        "SRAM FP32 ours",
        "FP32 TFLM",
        "SRAM int8 ours",
        "int8 TFLM",
        "fits FP32 / int8",
        "× HARD-Edge FP32 / int8",
    )
    for i, c in enumerate(heads):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in doc["models"]:
        t.add_row(*_row_cells(r))
    return t


def print_report(doc: dict, console=None) -> None:
    """The table, failed models (one line each), which models fit, and the paper's figures beside ours."""
    from rich.console import Console

    con = console or Console()
    if console is None and not con.is_terminal:
        con = Console(width=140)  # a file or pipe: wide enough for the table
    con.print(table(doc))
    for f in doc["failed"]:
        con.print(f"[red]failed[/red] {f['name']}: {f['error']}")
    names = {r["name"]: r["display"] for r in doc["models"]}
    for dt, label in (("int8", "int8"), ("float32", "FP32")):
        fit = [names[n] for n in doc["fits"][dt]]
        con.print(f"fits in {label}: {', '.join(fit) if fit else 'none'}")
    con.print(
        f"ours = peak SRAM by hardtool's plan (arena + {doc['outside_arena_bytes']['stack']:,} B stack + "
        f"{doc['outside_arena_bytes']['runtime_statics']:,} B runtime statics); TFLM = TFLite Micro's "
        "arena (host build). Calibration: " + doc["calibration"] + ". Weights: " + doc["weights"] + "."
    )
    paper = doc["paper"]
    con.print(f"[bold]The paper[/bold] ({paper['paper']['source']}):")
    for note in paper["notes"]:
        con.print(f"  - {note}")


def chart_png(doc: dict) -> bytes:
    """FP32 and int8 bars (our plan's peak SRAM) per model on a log axis, TFLite Micro's arenas as
    markers, the chip's SRAM as a line, each bar labelled with its ratio to HARD-Edge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = doc["models"]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2), 4.6), dpi=100)
    for k, (dt, color, label) in enumerate((("float32", "#9ab7d3", "FP32"), ("int8", "#2f6fa8", "int8"))):
        xs = x + (k - 0.5) * 0.38
        vals = [r[dt]["plan"]["peak_sram_bytes"] / 1024 for r in rows]
        ax.bar(xs, vals, 0.38, color=color, label=f"{label}, hardtool's plan")
        tflm = [(_tflm_arena(r[dt]) or np.nan) / 1024 for r in rows]
        ax.scatter(
            xs, tflm, marker="_", s=160, color="#c0392b", zorder=3, label="TFLite Micro arena" if k else None
        )
        for xi, v, r in zip(xs, vals, rows, strict=True):
            ratio = r["ratio_to_reference"][dt]["plan"]
            if ratio is not None:
                ax.text(xi, v * 1.08, f"{ratio:.1f}×", ha="center", va="bottom", fontsize=7, rotation=90)
    ax.axhline(doc["budget_bytes"] / 1024, color="#d35400", ls="--", lw=1.2)
    ax.text(
        len(rows) - 0.5,
        doc["budget_bytes"] / 1024 * 0.93,
        f"{doc['target']} SRAM",
        ha="right",
        va="top",
        fontsize=8,
        color="#d35400",
    )
    ax.set_yscale("log")
    shown = [r[dt]["plan"]["peak_sram_bytes"] for r in rows for dt in DTYPES]
    shown += [a for r in rows for dt in DTYPES if (a := _tflm_arena(r[dt]))] + [doc["budget_bytes"]]
    ax.set_ylim(min(shown) / 1024 / 2, max(shown) / 1024 * 2.5)
    ax.set_ylabel("peak SRAM (KB)")
    ax.set_xticks(x, [r["display"] for r in rows], rotation=30, ha="right")
    h, w = doc["input_size"]
    ax.set_title(f"Peak SRAM at {h}×{w}, ratios to HARD-Edge", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
