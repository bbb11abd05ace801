"""Human output of a plan: rich tables, the verdict with what to change, and the PNG timeline."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from hardtool.core.boards import targets
from hardtool.memplan.plan import Plan


def kb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1024:,.1f} KB"


def _ratio(a: int, b: int | None) -> str:
    return "—" if not b else f"{a / b:.2f}×"


def suggestions(doc: dict, plan: Plan) -> list[str]:
    """What to change when the plan does not fit: driven by the biggest buffers at the peak."""
    g = plan.graph
    total = doc["peak"]["total_bytes"]
    tips = []
    live = doc["peak"]["live"]
    if any(e["tensor"] in g.inputs for e in live):
        tips.append("reduce the input resolution (the input image is live at the peak)")
    if plan.precision == "int8" and not plan.options.lean_kernels:
        tips.append("try --lean-kernels (the convolutions at the peak run without scratch, slower)")
    tips.append("use a narrower variant (fewer channels at the peak layer)")
    bigger = [t.name for t in targets().values() if t.budget_bytes >= total and t.name != doc["target"]]
    if bigger:
        tips.append(f"or a target with more contiguous RAM: {', '.join(bigger)}")
    return tips


def _parts_table(doc: dict) -> Table:
    peak = doc["peak"]
    precision = doc.get("precision", "int8")
    t = Table(
        title=f"Peak SRAM of the {precision} model on {doc['target']} (budget {kb(doc['budget_bytes'])})"
    )
    for c in ("part", "bytes", "", "kind"):
        t.add_column(c, justify="right" if c in ("bytes", "") else "left")
    for name, p in peak["parts"].items():
        label = f"  of which {name}" if p.get("in_arena") else name
        kind = p["kind"] + (f" ({p['source']})" if p.get("source") else "")
        t.add_row(label, f"{p['bytes']:,}", kb(p["bytes"]), kind)
    t.add_row("[bold]total[/bold]", f"[bold]{peak['total_bytes']:,}[/bold]", kb(peak["total_bytes"]), "")
    return t


def _comparison_table(doc: dict) -> Table:
    c = Table(title="Arena: this plan vs TFLite Micro vs the lower bound")
    for col in ("", "bytes", "", "vs this plan"):
        c.add_column(col, justify="right" if col != "" else "left")
    tflm = doc.get("tflm_arena") or {}
    rows = [
        ("this plan", doc["arena_size"]),
        ("lower bound (live bytes, best order)", doc["lower_bound"]),
        ("greedy-by-size placer, same buffers", doc["greedy_by_size_arena"]),
    ]
    if "arena_bytes" in tflm:
        rows.append(("TFLite Micro arena (host build, measured)", tflm["arena_bytes"]))
        if "head_bytes" in tflm:
            rows.append(("  of which activations + scratch", tflm["head_bytes"]))
    for label, n in rows:
        c.add_row(label, f"{n:,}", kb(n), _ratio(n, doc["arena_size"]))
    if "arena_bytes" not in tflm and tflm.get("error"):
        c.add_row("TFLite Micro arena", "—", "", tflm["error"][:100])
    return c


def _techniques_table(doc: dict) -> Table | None:
    """The plan without each technique, what each saves, its MAC cost and the two lower bounds."""
    tech = doc.get("techniques")
    if not tech:
        return None
    t = Table(title="Below the op-by-op bound: the arena without each technique")
    for col in ("technique", "on", "arena without", "saves", "MACs added"):
        t.add_column(col, justify="left" if col in ("technique", "on") else "right")
    st = doc.get("stage") or {}
    for name, row in tech["by_technique"].items():
        macs = st.get("recomputed_macs", 0) if name == "patch" and row["enabled"] else 0
        if not row["enabled"]:
            t.add_row(row["what"], "off", "—", "—", "—")
            continue
        t.add_row(row["what"], "yes", f"{row['arena_without']:,}", f"{row['saved_bytes']:,}", f"{macs:,}")
    lb = tech["lower_bounds"]
    t.add_row("lower bound, op by op (TFLM's model)", "", f"{lb['op_by_op']:,}", "", "")
    t.add_row("lower bound with the techniques", "", f"{lb['with_techniques']:,}", "", "")
    return t


def _stage_lines(doc: dict) -> list[str]:
    st, ips = doc.get("stage"), doc.get("inplace_ops") or []
    lines = []
    if st:
        how = "streamed input rows" if st["streamed"] else "the whole input"
        lines.append(
            f"First stage: ops {st['ops']} on {how}, {st['patches']} bands of {st['band_rows']} output rows; "
            f"{st['recomputed_macs']:,} MACs computed again ({st['recomputed_macs'] / max(st['macs'], 1):.1%} of the stage)"
        )
    if ips:
        names = ", ".join(f"#{e['op']} {e['name']}" for e in ips[:12]) + (" …" if len(ips) > 12 else "")
        lines.append(f"In place ({len(ips)} ops): {names}")
    moved = [e for e in doc["buffers"] if e.get("alias_reason") == "relocate"]
    if moved:
        names = ", ".join(f"tensor {e['tensor']} at step {e['last_step']}" for e in moved)
        lines.append(f"Concatenation inputs relocated into their slice ahead of the concat: {names}")
    lean = doc.get("lean_ops") or []
    if lean:
        names = ", ".join(f"#{e['op']} {e['name']}" for e in lean)
        macs = sum(e["macs"] for e in lean)
        lines.append(
            f"Lean kernels ({len(lean)} ops, portable path, no scratch): {names}; "
            f"{macs:,} MACs run slower, {max(e['scratch_saved'] for e in lean):,} B of scratch at most saved"
        )
    return lines


def _live_table(doc: dict, plan: Plan) -> Table:
    lv = Table()
    for col in ("buffer", "bytes", "shape"):
        lv.add_column(col, justify="right" if col == "bytes" else "left")
    for e in doc["peak"]["live"]:
        shape = "" if e["tensor"] is None else "×".join(map(str, plan.graph.tensors[e["tensor"]].shape))
        lv.add_row(e["name"], f"{e['bytes']:,}", shape)
    return lv


def _per_op_table(doc: dict, plan: Plan) -> Table:
    g = plan.graph
    po = Table(title="Live memory per op")
    for col in ("step", "op", "name", "output", "scratch", "live bytes"):
        po.add_column(col, justify="right" if col in ("step", "op", "scratch", "live bytes") else "left")
    for s, (op_i, entry) in enumerate(zip(plan.order, doc["ops"], strict=True)):
        op = g.ops[op_i]
        out = "×".join(map(str, g.tensors[op.outputs[0]].shape)) if op.outputs else ""
        mark = " ◀ peak" if s == doc["peak"]["step"] else ""
        po.add_row(
            str(s), str(op_i), op.name, out, f"{entry['scratch_bytes']:,}", f"{plan.profile[s]:,}{mark}"
        )
    return po


def _verdict(con: Console, doc: dict, plan: Plan) -> None:
    peak, v = doc["peak"], doc["verdict"]
    if v["fits"]:
        con.print(
            f"[green]FITS[/green]: {kb(peak['total_bytes'])} of {kb(doc['budget_bytes'])} "
            f"({v['headroom_bytes']:,} bytes free)"
        )
        return
    top = ", ".join(f"{e['name']} {kb(e['bytes'])}" for e in peak["live"][:3])
    con.print(
        f"[red]DOES NOT FIT[/red]: {v['over_bytes']:,} bytes over the {kb(doc['budget_bytes'])} budget; "
        f"biggest at the peak (op #{peak['op']} {peak['op_name']}): {top}"
    )
    for tip in suggestions(doc, plan):
        con.print(f"  - {tip}")


def print_report(doc: dict, plan: Plan, console: Console | None = None, per_op: bool = True) -> None:
    con = console or Console()
    peak = doc["peak"]
    con.print(_parts_table(doc))
    con.print(_comparison_table(doc))
    tech = _techniques_table(doc)
    if tech is not None:
        con.print(tech)
    for line in _stage_lines(doc):
        con.print(line)
    con.print(
        f"Peak at step {peak['step']} (op #{peak['op']} {peak['op_name']}): "
        f"{peak['live_bytes_at_peak']:,} bytes live:"
    )
    con.print(_live_table(doc, plan))
    if per_op:
        con.print(_per_op_table(doc, plan))
    _verdict(con, doc, plan)


def _rect(ax, e: dict, color: str, hatch: str | None) -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(
        Rectangle(
            (e["first_step"], e["offset"] / 1024),
            e["last_step"] - e["first_step"] + 1,
            e["size"] / 1024,
            facecolor=color,
            edgecolor="black",
            linewidth=0.3,
            hatch=hatch,
            alpha=0.5 if e["alias_of"] is not None else 0.85,
        )
    )


HATCHES = {"inplace": "////", "relocate": "\\\\\\\\"}
HATCH_LABELS = {"in place": HATCHES["inplace"], "relocated concat input": HATCHES["relocate"]}


def timeline_png(doc: dict, plan: Plan) -> bytes:
    """PNG bytes: buffers as rectangles (steps × arena offset), in-place outputs and relocated
    concat inputs hatched, the
    first stage's window and bands in their own colour over its steps, the peak and the budget."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    colors = {"input": "#4c72b0", "activation": "#8c8c8c", "output": "#55a868", "scratch": "#dd8452"}
    colors |= {"stage": "#c44e52"}
    n = len(plan.order)
    fig, ax = plt.subplots(figsize=(min(4 + n * 0.12, 24), 6))
    for e in doc["buffers"]:
        color = colors["stage"] if e.get("stage") else colors[e["kind"]]
        _rect(ax, e, color, HATCHES.get(e.get("alias_reason")))
    arena_budget = (
        doc["budget_bytes"]
        - doc["peak"]["parts"]["stack"]["bytes"]
        - doc["peak"]["parts"]["runtime_statics"]["bytes"]
    )
    ax.axhline(arena_budget / 1024, color="red", linestyle="--", label=f"arena budget {kb(arena_budget)}")
    st = doc.get("stage")
    if st:
        label = f"stage: {len(st['ops'])} ops x {st['patches']} bands" + (
            ", streamed" if st["streamed"] else ""
        )
        ax.axvspan(0, len(st["ops"]), color="#c44e52", alpha=0.08, label=label)
    s = doc["peak"]["step"]
    ax.axvspan(s, s + 1, color="red", alpha=0.12, label=f"peak: step {s} ({doc['peak']['op_name']})")
    handles = [
        Patch(facecolor=c, label=k if k != "stage" else "stage window / band") for k, c in colors.items()
    ]
    handles += [
        Patch(facecolor="white", edgecolor="black", hatch=h, label=k) for k, h in HATCH_LABELS.items()
    ]
    ax.set_xlim(0, n)
    ax.set_ylim(0, max(doc["arena_size"], arena_budget) / 1024 * 1.08)
    ax.set_xlabel("step (op in execution order)")
    ax.set_ylabel("arena offset (KB)")
    ax.set_title(f"{plan.graph.name}: arena {kb(doc['arena_size'])} on {doc['target']}")
    h, _ = ax.get_legend_handles_labels()
    ax.legend(handles=h + handles, loc="upper right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
