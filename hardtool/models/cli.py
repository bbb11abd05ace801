"""`hardtool models`: the zoo with params and MACs measured on the built networks; `--bench` times
every registered model (hardtool.models.speed)."""

from __future__ import annotations

from pathlib import Path

import click

from hardtool.core.errors import HardtoolError
from hardtool.core.files import json_text
from hardtool.models.registry import PAPER, VARIANTS, model_stats


def _deviation(measured: float, published: float) -> float:
    return round(measured / published - 1, 4)


def hard_row(arch: str) -> dict:
    s = model_stats(arch)
    row = {"arch": arch, "kind": "hard", "params": s.params, "macs": s.macs, "input_size": list(s.input_size)}
    if arch in PAPER:
        p = PAPER[arch]
        row["paper"] = {
            "params": int(p["params_m"] * 1e6),
            "macs": int(p["gmacs"] * 1e9),
            "input_size": list(p["input_size"]),
        }
        row["deviation"] = {
            "params": _deviation(s.params, p["params_m"] * 1e6),
            "macs": _deviation(s.macs, p["gmacs"] * 1e9),
        }
    return row


def peer_row(arch: str) -> dict:
    """A peer's row: measured params and MACs at the paper's input, the published figures, and
    the deviation measured in the convention the FLOPs were published in."""
    from hardtool.models.peers import CONVENTIONS, PEERS

    spec = PEERS[arch]
    pub = spec.published
    s = model_stats(arch)
    as_published = pub.macs_in_convention(s)
    return {
        "arch": arch,
        "kind": "peer",
        "name": spec.name,
        "params": s.params,
        "macs": s.macs,
        "macs_as_published": as_published,
        "input_size": list(s.input_size),
        "output_stride": spec.output_stride,
        "paper": {
            "params": int(round(pub.params_m * 1e6)),
            "macs": int(round(pub.gflops * 1e9)),
            "input_size": list(pub.input_size),
            "source": pub.source,
            "convention": CONVENTIONS[pub.convention],
            "note": pub.note,
            "mismatch": list(pub.mismatch),
        },
        "deviation": {
            "params": _deviation(s.params, pub.params_m * 1e6),
            "macs": _deviation(as_published, pub.gflops * 1e9),
        },
        "substitutions": spec.substitutions,
    }


def _print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="Model zoo (MACs = multiply-accumulates; G = 1e9)")
    cols = ("arch", "input", "params", "GMACs", "paper params", "paper G", "Δ params", "Δ G")
    for col in cols:
        t.add_column(col, justify="right" if col != "arch" else "left")
    for r in rows:
        p, d = r.get("paper"), r.get("deviation")
        gmacs = f"{r['macs'] / 1e9:.3f}"
        if r.get("macs_as_published", r["macs"]) != r["macs"]:
            gmacs += f" ({r['macs_as_published'] / 1e9:.2f}*)"
        t.add_row(
            r["arch"],
            "×".join(map(str, r["input_size"])),
            f"{r['params'] / 1e6:.3f}M",
            gmacs,
            f"{p['params'] / 1e6:.2f}M" if p else "—",
            f"{p['macs'] / 1e9:.2f}" if p else "—",
            f"{100 * d['params']:+.1f}%" if d else "—",
            f"{100 * d['macs']:+.1f}%" if d else "—",
        )
    con = Console()
    con.print(t)
    if any("macs_as_published" in r and r["macs_as_published"] != r["macs"] for r in rows):
        con.print("* counted as published: each stride-2 transposed conv at its output resolution")
    for r in rows:
        if r["kind"] == "peer":
            note = f" [dim]({r['paper']['note']})[/dim]" if r["paper"]["note"] else ""
            built = r["substitutions"] or "as published"
            con.print(f"[b]{r['name']}[/b] vs {r['paper']['source']}: {built}{note}")


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--peers", "which", flag_value="peers", help="The peer models instead of the HARD variants.")
@click.option("--all", "which", flag_value="all", help="The HARD variants and the peer models.")
@click.option("--bench", is_flag=True, help="Measure FPS (batch 1) of every model at its Table 2 input size.")
@click.option(
    "--device", type=click.Choice(["cpu", "cuda"]), default=None, help="--bench: default cuda if present."
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "fp16", "both"]),
    default="fp32",
    show_default=True,
    help="--bench: fp16 = CUDA autocast (CUDA only).",
)
@click.option("--compile", "use_compile", is_flag=True, help="--bench: time torch.compile'd models.")
@click.option("--runs", type=int, default=30, show_default=True, help="--bench: timed runs (median).")
@click.option("--warmup", type=int, default=5, show_default=True, help="--bench: untimed runs first.")
@click.option(
    "--budget",
    type=float,
    default=60.0,
    show_default=True,
    help="--bench: seconds of timed runs per model at most (5 runs at least).",
)
@click.option("--threads", type=int, default=None, help="--bench: torch CPU threads (default: torch's).")
@click.option("--only", multiple=True, help="--bench: just these models (repeatable).")
@click.option(
    "--plot", type=click.Path(path_type=Path), default=None, help="--bench: FPS-vs-mIoU chart (PNG)."
)
def models_cmd(
    as_json, which, bench, device, precision, use_compile, runs, warmup, budget, threads, only, plot
) -> None:
    """List the HARD variants (or, with --peers, the peer models HARD is compared with; --all for
    both): parameters, MACs at the default input size, the published numbers.

    MACs are multiply-accumulates of convs (torch.utils.flop_counter FLOPs / 2), the convention
    of the paper's FLOPs column. Peers are compared in the convention their FLOPs were published
    in (HARD's Table 2 counts a transposed conv at its output resolution); each peer lists what
    was replaced to make it a deployable full-int8 graph. With --bench: measured FPS beside the
    published FPS and mIoU, and FPS relative to HARD-XXS (the ratios, not the absolute FPS, carry
    across machines)."""
    if bench:
        _bench(as_json, device, precision, use_compile, (runs, warmup, budget, threads), only, plot)
        return
    if plot:
        raise HardtoolError("--plot needs --bench")
    from hardtool.models.peers import PEERS

    rows = []
    if which in (None, "all"):
        rows += [hard_row(a) for a in VARIANTS]
    if which in ("peers", "all"):
        rows += [peer_row(a) for a in PEERS]
    if as_json:
        click.echo(json_text({"mac_convention": "multiply-accumulates (FLOPs/2)", "variants": rows}))
        return
    _print_table(rows)


def _bench(as_json, device, precision, use_compile, counts, only, plot) -> None:
    import torch

    from hardtool.models import speed

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise HardtoolError("--device cuda: no CUDA device is visible to torch; use --device cpu")
    runs, warmup, budget, threads = counts
    precs = ("fp32", "fp16") if precision == "both" else (precision,)
    if "fp16" in precs and device != "cuda":
        raise HardtoolError("fp16 timing runs under CUDA autocast; use --device cuda or --precision fp32")
    if runs <= 0 or warmup < 0 or budget <= 0 or (threads is not None and threads <= 0):
        raise HardtoolError("--runs, --budget and --threads must be positive, --warmup not negative")
    known = [e["name"] for e in speed.zoo()]
    unknown = [n for n in only if n not in known]
    if unknown:
        raise HardtoolError(f"unknown model '{unknown[0]}' in --only; known: {', '.join(known)}")
    say = None if as_json else (lambda s: click.echo(f"timing {s} ...", err=True))
    res = speed.bench(list(only) or None, device, precs, warmup, runs, use_compile, say, budget, threads)
    if plot:
        res["plot"] = {"file": str(plot), "points": speed.plot(res, plot, precs[0])}
    if as_json:
        click.echo(json_text(res))
        return
    _bench_table(res, precs)


def _bench_table(res: dict, precs) -> None:
    from rich.console import Console
    from rich.table import Table

    m = res["machine"]
    where = m.get("gpu") or f"{m['cpu']}, {m['threads']} threads"
    t = Table(title=f"FPS, batch 1, {res['machine']['device']} ({where}); pub. = {res['paper_source']}")
    cols = ["model", "input"] + [f"FPS {p}" for p in precs] + [f"×XXS {p}" for p in precs]
    for col in cols + ["pub. FPS", "pub. ×XXS", "pub. mIoU"]:
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=col == "model")
    for r in res["models"]:
        if "measured" not in r:
            t.add_row(r["name"], "—", *(["—"] * (2 * len(precs) + 3)))
            continue
        ms = [r["measured"][p] for p in precs]
        t.add_row(
            r["name"],
            "×".join(map(str, r["input_size"])),
            *[f"{x['fps']:.1f}" for x in ms],
            *[f"{x['ratio']:.2f}" if x["ratio"] is not None else "—" for x in ms],
            f"{r['paper_fps']:.0f}" if r.get("paper_fps") else "—",
            f"{r['paper_ratio']:.2f}" if r.get("paper_ratio") else "—",
            f"{r['paper_miou']:.1f}" if r.get("paper_miou") else "—",
        )
    c = Console()
    c.print(t)
    if res.get("plot"):
        c.print(f"wrote {res['plot']['file']} ({res['plot']['points']} models with a published mIoU)")
