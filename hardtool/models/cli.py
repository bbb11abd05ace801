"""`hardtool models`: the zoo with params and MACs measured on the built networks."""

from __future__ import annotations

import json

import click

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
            con.print(f"[b]{r['name']}[/b] vs {r['paper']['source']}: {r['substitutions']}{note}")


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--peers", "which", flag_value="peers", help="The peer models instead of the HARD variants.")
@click.option("--all", "which", flag_value="all", help="The HARD variants and the peer models.")
def models_cmd(as_json: bool, which: str | None) -> None:
    """List the HARD variants (or, with --peers, the peer models HARD is compared with; --all for
    both): parameters, MACs at the default input size, the published numbers.

    MACs are multiply-accumulates of convs (torch.utils.flop_counter FLOPs / 2), the convention
    of the paper's FLOPs column. Peers are compared in the convention their FLOPs were published
    in (HARD's Table 2 counts a transposed conv at its output resolution); each peer lists what
    was replaced to make it a deployable full-int8 graph."""
    from hardtool.models.peers import PEERS

    rows = []
    if which in (None, "all"):
        rows += [hard_row(a) for a in VARIANTS]
    if which in ("peers", "all"):
        rows += [peer_row(a) for a in PEERS]
    if as_json:
        click.echo(
            json.dumps({"mac_convention": "multiply-accumulates (FLOPs/2)", "variants": rows}, indent=2)
        )
        return
    _print_table(rows)
