"""`hardtool models`: the zoo with params and MACs measured on the built networks."""

from __future__ import annotations

import click

from hardtool.core.files import json_text
from hardtool.models.registry import PAPER, VARIANTS, model_stats


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models_cmd(as_json: bool) -> None:
    """List the HARD variants: parameters, MACs at the default input size, paper's numbers.

    MACs are multiply-accumulates of convs (torch.utils.flop_counter FLOPs / 2), the convention
    of the paper's FLOPs column."""
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
        click.echo(json_text({"mac_convention": "multiply-accumulates (FLOPs/2)", "variants": rows}))
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
