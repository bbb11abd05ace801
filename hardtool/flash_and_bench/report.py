"""What flash-and-bench reports: accuracy of device vs host int8 vs float on the same images,
bit-exactness, latency statistics, per-layer table, measured SRAM vs memplan, and masks.png."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from hardtool.data.labels import NUM_CLASSES, class_colors
from hardtool.metrics import confusion, miou


def latency_stats(values: list[int], unit: str, core_clock_hz: int | None) -> dict:
    """mean / p50 / p99 in the device's unit, and milliseconds only where the unit is core cycles."""
    if not values:
        return {"unit": unit, "n": 0}
    a = np.asarray(values, np.float64)
    out = {
        "unit": unit,
        "n": len(values),
        "mean": float(a.mean()),
        "p50": float(np.percentile(a, 50)),
        "p99": float(np.percentile(a, 99)),
        "min": int(a.min()),
        "max": int(a.max()),
    }
    if unit == "cycles" and core_clock_hz:
        out["ms"] = {k: 1000.0 * out[k] / core_clock_hz for k in ("mean", "p50", "p99")}
        out["core_clock_hz"] = core_clock_hz
    return out


def per_layer(names: list[str], counts: list[list[int]], macs: list[int] | None = None) -> list[dict]:
    """Mean count per layer over the images, its share of the total, and units per MAC."""
    if not counts:
        return []
    m = np.asarray(counts, np.float64).mean(0)
    total = float(m.sum()) or 1.0
    rows = []
    for i, (name, v) in enumerate(zip(names, m, strict=False)):
        row = {"layer": i, "name": name, "mean": float(v), "share": float(v / total)}
        if macs and i < len(macs) and macs[i]:
            row["macs"] = int(macs[i])
            row["per_mac"] = float(v / macs[i])
        rows.append(row)
    return rows


def per_op_type(per_layer_rows: list[dict], elements: list[int] | None = None) -> list[dict]:
    """The per-layer rows summed per op type (the name before '#'): layers, share of the frame,
    units per MAC where the type has MACs, else per output element; largest share first."""
    groups: dict[str, dict] = {}
    for row in per_layer_rows:
        op = row["name"].split("#")[0]
        g = groups.setdefault(
            op, {"op": op, "layers": 0, "mean": 0.0, "share": 0.0, "macs": 0, "elements": 0}
        )
        g["layers"] += 1
        g["mean"] += row["mean"]
        g["share"] += row["share"]
        g["macs"] += row.get("macs", 0)
        if elements and row["layer"] < len(elements):
            g["elements"] += int(elements[row["layer"]])
    for g in groups.values():
        if g["macs"]:
            g["per_mac"] = g["mean"] / g["macs"]
        elif g["elements"]:
            g["per_element"] = g["mean"] / g["elements"]
    return sorted(groups.values(), key=lambda g: -g["mean"])


def accuracy(gts: list[np.ndarray], preds: dict[str, list[np.ndarray]]) -> dict:
    """mIoU of each prediction set on the same ground truth."""
    out = {}
    for name, ps in preds.items():
        if len(ps) != len(gts) or not ps:
            continue
        cm = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
        for g, p in zip(gts, ps, strict=True):
            cm += confusion(g, p)
        out[name] = miou(cm)
    return out


def masks_png(
    images: list[np.ndarray], gts: list[np.ndarray], preds: list[np.ndarray], max_rows: int = 4
) -> bytes:
    """image | ground truth | device prediction, one row per image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pal = class_colors()
    n = min(max_rows, len(preds))
    fig, axes = plt.subplots(n, 3, figsize=(9, 1.6 * n + 0.4), squeeze=False)
    for r in range(n):
        for c, (img, title) in enumerate(
            ((images[r], "image"), (pal[gts[r]], "ground truth"), (pal[preds[r]], "device prediction"))
        ):
            ax = axes[r][c]
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _latency_rows(lat: dict, label: str) -> list[tuple[str, str]]:
    if not lat.get("n"):
        return []
    rows = [
        ("latency mean / p50 / p99", f"{lat['mean']:,.0f} / {lat['p50']:,.0f} / {lat['p99']:,.0f} {label}")
    ]
    if "ms" in lat:
        ms = lat["ms"]
        rows.append(("latency mean / p50 / p99", f"{ms['mean']:.2f} / {ms['p50']:.2f} / {ms['p99']:.2f} ms"))
    return rows


def _accuracy_rows(r: dict) -> list[tuple[str, str]]:
    acc, rows = r["miou"], []
    if any(acc.get(k) is not None for k in ("device", "host_int8", "float")) or acc.get("note"):
        rows += [
            (name, f"{100 * acc[k]:.2f} %" if acc.get(k) is not None else "—")
            for k, name in (
                ("device", "device mIoU"),
                ("host_int8", "host int8 mIoU"),
                ("float", "float mIoU"),
            )
        ]
    if acc.get("note"):
        rows.append(("no mIoU", acc["note"]))
    for key, name in (("accuracy", "device top-1"), ("host_accuracy", "host int8 top-1")):
        if r.get(key):
            rows.append((name, f"{100 * r[key]['top1']:.2f} % ({r[key]['correct']}/{r[key]['n']})"))
    return rows


def _summary_rows(r: dict, label: str) -> list[tuple[str, str]]:
    ag, s, proto = r["agreement"], r["sram"], r["protocol"]
    rows = _accuracy_rows(r)
    equal = f"{100 * ag['fraction']:.4f} %" if ag.get("fraction") is not None else "—"
    rows.append(("outputs equal to host int8", f"{equal} ({ag['values_equal']:,}/{ag['values']:,} values)"))
    tensors = ag.get("per_tensor", [])
    for t in tensors if len(tensors) > 1 else []:
        rows.append(
            (f"  output {t['index']} ({t['name'][:24]})", "bit-exact" if t["bit_exact"] else "differs")
        )
    rows += _latency_rows(r["latency"], label)
    parts = f"arena {s['arena']:,} + stack {s['stack_high_water']:,} + statics {s['statics']:,}"
    rows.append(("measured peak SRAM", f"{s['measured_peak']:,} B ({parts})"))
    diff = s["measured_peak"] - s["memplan_peak"]
    rows.append(("memplan's prediction", f"{s['memplan_peak']:,} B (difference {diff:+,} B)"))
    rows.append(
        (
            "protocol",
            f"{proto['bytes_per_s']:,.0f} B/s, {proto.get('resends', 0)} resends, {proto.get('resets', 0)} resets",
        )
    )
    rate = f"{proto.get('images_per_s', 0.0):.3f} images/s (wall clock: transfer + inference)"
    rows.append(
        ("device validation throughput", rate + (f" at {proto['baud']:,} baud" if proto.get("baud") else ""))
    )
    return rows


def _layer_table(per_layer: list[dict], label: str):
    from rich.table import Table

    lt = Table(title=f"per layer (mean {label})")
    for col in ("#", "layer", label, "share", "per MAC"):
        lt.add_column(col, justify="left" if col == "layer" else "right")
    for row in sorted(per_layer, key=lambda x: -x["mean"])[:12]:
        per_mac = f"{row['per_mac']:.2f}" if "per_mac" in row else "—"
        lt.add_row(
            str(row["layer"]), row["name"], f"{row['mean']:,.0f}", f"{100 * row['share']:.1f} %", per_mac
        )
    return lt


def _op_type_table(rows: list[dict], label: str):
    from rich.table import Table

    t = Table(title=f"per op type (mean {label})")
    for col in ("op", "layers", label, "share", "per MAC", "per element"):
        t.add_column(col, justify="left" if col == "op" else "right")
    for g in rows:
        per_mac = f"{g['per_mac']:.2f}" if "per_mac" in g else "—"
        per_el = f"{g['per_element']:.2f}" if "per_element" in g else "—"
        t.add_row(
            g["op"], str(g["layers"]), f"{g['mean']:,.0f}", f"{100 * g['share']:.1f} %", per_mac, per_el
        )
    return t


def print_report(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    emulated = r["board"]["emulated"]
    label = "instructions (emulated)" if emulated else r["latency"]["unit"]
    where = "the emulated board (QEMU)" if emulated else r["board"]["name"]
    t = Table(title=f"flash-and-bench: {r['completed']} of {r['requested']} inputs on {where}")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for row in _summary_rows(r, label):
        t.add_row(*row)
    con.print(t)
    if r["agreement"]["differing_images"]:
        con.print(
            f"[red]inputs whose outputs differ from the host int8 reference: {r['agreement']['differing_images']}[/red]"
        )
    if r.get("error"):
        con.print(f"[red]stopped early: {r['error']}[/red]")
    if r["per_layer"]:
        con.print(_layer_table(r["per_layer"], label))
        con.print(f"(top 12 of {len(r['per_layer'])} layers; all in bench.json)")
    if r.get("per_op_type"):
        con.print(_op_type_table(r["per_op_type"], label))
    if r.get("interrupted"):
        con.print("[yellow]interrupted: partial results written[/yellow]")


def write_outputs(json_path: Path, png_path: Path | None, report: dict, images, gts, preds) -> None:
    """The report and its masks (when there are label maps to draw), rendered first and then
    written together (never one without the other)."""
    from hardtool.core import interrupt
    from hardtool.core.files import atomic_write_bytes, atomic_write_json

    picture = masks_png(images, gts, preds) if png_path is not None and preds else None
    with interrupt.commit():
        atomic_write_json(json_path, report)
        if picture is not None:
            atomic_write_bytes(png_path, picture)
