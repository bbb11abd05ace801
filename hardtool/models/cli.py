"""`hardtool models`: the zoo with params and MACs measured on the built networks; `--bench` times
every registered model (hardtool.models.speed)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hardtool.core.errors import HardtoolError
from hardtool.models.registry import PAPER, VARIANTS, model_stats


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
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
    as_json, bench, device, precision, use_compile, runs, warmup, budget, threads, only, plot
) -> None:
    """List the HARD variants: parameters, MACs at the default input size, paper's numbers.

    MACs are multiply-accumulates of convs (torch.utils.flop_counter FLOPs / 2), the convention
    of the paper's FLOPs column. With --bench: measured FPS beside the published FPS and mIoU,
    and FPS relative to HARD-XXS (the ratios, not the absolute FPS, carry across machines)."""
    if bench:
        _bench(as_json, device, precision, use_compile, (runs, warmup, budget, threads), only, plot)
        return
    if plot:
        raise HardtoolError("--plot needs --bench")
    rows = []
    for arch in VARIANTS:
        s = model_stats(arch)
        row = {"arch": arch, "params": s.params, "macs": s.macs, "input_size": list(s.input_size)}
        if arch in PAPER:
            p = PAPER[arch]
            row["paper"] = {
                "params": int(p["params_m"] * 1e6),
                "macs": int(p["gmacs"] * 1e9),
                "input_size": list(p["input_size"]),
            }
        rows.append(row)
    if as_json:
        click.echo(
            json.dumps({"mac_convention": "multiply-accumulates (FLOPs/2)", "variants": rows}, indent=2)
        )
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="HARD model zoo (MACs = multiply-accumulates)")
    for col in ("arch", "input", "params", "GMACs", "paper params", "paper GMACs"):
        t.add_column(col, justify="right" if col != "arch" else "left")
    for r in rows:
        p = r.get("paper")
        t.add_row(
            r["arch"],
            "×".join(map(str, r["input_size"])),
            f"{r['params'] / 1e6:.3f}M",
            f"{r['macs'] / 1e9:.3f}",
            f"{p['params'] / 1e6:.2f}M" if p else "—",
            f"{p['macs'] / 1e9:.2f}" if p else "—",
        )
    Console().print(t)


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
        click.echo(json.dumps(res, indent=2))
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
