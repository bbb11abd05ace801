"""`hardtool fit FAMILY --target T ...`: plan, size and count every candidate of a model family on
each target and pick the largest that meets the budgets and --fps."""

from __future__ import annotations

from pathlib import Path

import click

from hardtool.core.errors import EXIT_DOES_NOT_FIT, HardtoolError, Interrupted
from hardtool.core.files import atomic_write_bytes, check_clobber, json_text


def _run_all(cands, out: Path, targets, quiet: bool) -> tuple[list[dict], bool]:
    """Every candidate's row, with a progress bar; Ctrl-C stops and keeps the rows done."""
    from rich.progress import Progress

    from hardtool.core import interrupt
    from hardtool.fit.candidates import export_int8
    from hardtool.fit.evaluate import evaluate

    rows: list[dict] = []
    try:
        with Progress(transient=True, disable=quiet) as bar:
            task = bar.add_task("fit", total=len(cands))
            for c in cands:
                bar.update(task, description=c.name)
                with interrupt.foreign():
                    path = export_int8(c, out / "models")
                rows.append(evaluate(c, path, targets))
                bar.advance(task)
    except KeyboardInterrupt:
        interrupt.consume()
        return rows, True
    return rows, False


def _summary(rows, names, fps) -> dict:
    from hardtool.fit.report import choose

    picks = {t: choose(rows, t, fps) for t in names}
    chosen = {t: (r["name"] if r else None) for t, r in picks.items()}
    train = {t: _train_command(r) for t, r in picks.items() if r and r["arch"]}
    return {"fps": fps, "targets": names, "candidates": rows, "chosen": chosen, "train_commands": train}


def _train_command(row: dict) -> str:
    """How to train the chosen candidate (its architecture name carries the width)."""
    h, w = row["input"]
    return f"hardtool train --arch {row['arch']} --input-size {h} {w} --data DATA --out {row['arch']}.pt"


def _no_fit(rows: list[dict], names: list[str], fps: float | None) -> HardtoolError:
    """Exit 3 with the smallest candidate's shortfall in bytes (or in frames/s when it fits)."""
    small = min(rows, key=lambda r: r["macs"] or 0)

    def miss(t: str) -> str:
        d = small["targets"][t]
        if d["shortfall_bytes"]:
            return f"{t}: {d['shortfall_bytes']:,} bytes over its SRAM and flash"
        got = "unknown (instructions missing)" if d["fps"] is None else f"{d['fps']:.2f}"
        return f"{t}: fits in memory but reaches {got} of {fps:g} frames/s"

    e = HardtoolError(
        f"no candidate fits; the smallest, {small['name']}, misses by {'; '.join(map(miss, names))}"
    )
    e.exit_code = EXIT_DOES_NOT_FIT
    return e


@click.command("fit")
@click.argument("family")
@click.option("--target", "targets", multiple=True, required=True, help="Chip to fit (repeatable).")
@click.option("--fps", type=float, default=None, help="Frames per second the model must reach.")
@click.option("--width", "widths", type=float, multiple=True, help="Width multipliers (default 0.5 0.75 1).")
@click.option(
    "--size", "sizes", multiple=True, help="Input sizes HxW, multiples of 32 (default 64x128 96x192 128x256)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--force", is_flag=True, help="Replace an existing fit.json / pareto.png in --out.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("fit"),
    show_default=True,
    help="Folder for the candidates' .tflite files, fit.json and pareto.png.",
)
def fit_cmd(family, targets, fps, widths, sizes, as_json, out, force) -> None:
    """The largest candidate of FAMILY (hard_edge, hard_edge@w0.75, or a .tflite) that fits each
    target's SRAM and flash (exact plans) and reaches --fps (instructions per frame estimated on
    the target's emulated core, frames/s at its clock at one instruction per cycle)."""
    from hardtool.core.boards import get_target
    from hardtool.fit import candidates as C
    from hardtool.fit.report import pareto_png, table

    tgts = [get_target(t) for t in targets]
    for name in ("fit.json", "pareto.png"):
        check_clobber(out / name, force)
    names = [t.name for t in tgts]
    cands = C.family(family, tuple(widths) or None, tuple(C.parse_size(s) for s in sizes) or C.DEFAULT_SIZES)
    rows, stopped = _run_all(cands, out, tgts, as_json)
    doc = _summary(rows, names, fps) | {"complete": not stopped}
    if rows:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "fit.json", json_text(doc).encode())
        pareto_png(rows, names, out / "pareto.png")
    click.echo(json_text(doc) if as_json else table(rows, names, fps) + _chosen_text(doc))
    if stopped:
        raise Interrupted(f"interrupted after {len(rows)} of {len(cands)} candidates; kept in {out}/fit.json")
    if rows and all(v is None for v in doc["chosen"].values()):
        raise _no_fit(rows, names, fps)


def _chosen_text(doc: dict) -> str:
    from hardtool.fit.counts import METHOD
    from hardtool.fit.evaluate import FLASH_METHOD, FPS_METHOD

    lines = ["", f"instr/frame: {METHOD}", f"fps*: {FPS_METHOD}", f"flash: {FLASH_METHOD}"]
    for t, c in doc["chosen"].items():
        lines.append(f"largest that fits {t}: {c or 'none'}")
        if t in doc["train_commands"]:
            lines.append(f"  train it: {doc['train_commands'][t]}")
    return "\n".join(lines)
