"""`hardtool memplan`: plan the SRAM of an int8 (or float32) .tflite for a target and say whether it fits.

Exit codes: 0 fits, 3 does not fit (``EXIT_DOES_NOT_FIT``), 2 bad input (one-line error)."""

from __future__ import annotations

from pathlib import Path

import click

from hardtool.core.boards import DEFAULT_TARGET, targets
from hardtool.core.errors import EXIT_DOES_NOT_FIT, HardtoolError
from hardtool.core.files import json_text
from hardtool.core.options import lean_kernels_option

MAX_BUDGET = 2**32  # a 32-bit MCU addresses 4 GiB in all


def warn_unsupported(graph, precision: str = "int8", lean_kernels: bool = False) -> None:
    """The ops hardtool's kernels cannot run (codegen will refuse them), one line each, on stderr;
    for a float model, one line saying that codegen takes int8 models only (and that
    --lean-kernels changes nothing for it)."""
    from hardtool.ops.tables import unsupported

    if precision == "float32":
        click.echo(
            "note: a float32 model: planned with float buffer sizes and estimated float kernel scratch; "
            "hardtool codegen runs int8 kernels only and will refuse it"
            + ("; --lean-kernels changes nothing for it" if lean_kernels else ""),
            err=True,
        )
        return
    lines = unsupported(graph)
    if lines:
        click.echo(
            f"warning: {len(lines)} op(s) planned here have no int8 kernel for these shapes or types; "
            "hardtool codegen will refuse them (--runtime tflm runs them):",
            err=True,
        )
        for line in lines:
            click.echo(f"  {line}", err=True)


@click.command("memplan")
@click.argument("model", type=click.Path(path_type=Path))
@click.option(
    "--target",
    default=DEFAULT_TARGET,
    show_default=True,
    help=f"MCU whose RAM is the budget: {', '.join(targets())}.",
)
@click.option("--budget", type=int, default=None, help="SRAM budget in bytes (overrides the target's).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the plan (memplan.json) on stdout instead of tables."
)
@click.option(
    "--png",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the timeline PNG, in an existing folder (default: OUT/<model stem>.memplan.png).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for <model stem>.memplan.json and .memplan.png (default: next to the model).",
)
@click.option("--force", is_flag=True, help="Overwrite this model's existing plan JSON / PNG.")
@click.option("--no-tflm", is_flag=True, help="Skip measuring TFLite Micro's arena for comparison.")
@click.option(
    "--no-inplace",
    is_flag=True,
    help="Keep every op's output apart from its inputs (no in-place ops, no concatenation inputs "
    "produced in or relocated into their slice).",
)
@click.option(
    "--stream/--no-stream",
    default=False,
    show_default=True,
    help="Run the first convolution on input rows as they arrive, never holding the whole input "
    "(the host template's input API; the board firmware and Mbed templates need the whole input).",
)
@click.option("--no-patch", is_flag=True, help="Run the first ops op by op (no band-by-band first stage).")
@lean_kernels_option()
@click.pass_context
def memplan_cmd(
    ctx: click.Context,
    model: Path,
    target: str,
    budget: int | None,
    as_json: bool,
    png: Path | None,
    out: Path | None,
    force: bool,
    no_tflm: bool,
    no_inplace: bool,
    stream: bool,
    no_patch: bool,
    lean_kernels: bool,
) -> None:
    """Plan the SRAM of MODEL.tflite: peak and its parts, TFLite Micro's arena for the same file,
    the arena without each technique that goes below the op-by-op bound (in-place ops and
    concatenation slices, streamed input, band-by-band first stage, and with --lean-kernels
    scratch-free kernels at the peak) and both lower bounds, a
    timeline PNG and a verdict (exit 3 when it does not fit). Writes <model stem>.memplan.json
    (what codegen reads) and <model stem>.memplan.png beside the model.

    MODEL is a full-int8 graph or a float32 one: a float model is planned with float buffer sizes
    and an estimate of a float runtime's kernel scratch, without hardtool's in-place kernels and
    first stage (codegen runs int8 models only)."""
    from hardtool.memplan.files import plan_to_files
    from hardtool.memplan.plan import PlanOptions
    from hardtool.memplan.report import print_report, suggestions

    if budget is not None and not 0 < budget <= MAX_BUDGET:
        raise HardtoolError(f"--budget must be a number of bytes in 1..{MAX_BUDGET} (4 GiB), not {budget}")
    opts = PlanOptions(
        strided_concat=not no_inplace,
        inplace=not no_inplace,
        stream=stream,
        patch=not no_patch,
        lean_kernels=lean_kernels,
    )
    doc, plan, json_path, png_path = plan_to_files(
        model, out, target, budget, png, force, not no_tflm, options=opts
    )
    warn_unsupported(plan.graph, plan.precision, lean_kernels)
    if as_json:
        click.echo(json_text(doc))
    else:
        print_report(doc, plan)
        click.echo(f"wrote {json_path} and {png_path}")
    v = doc["verdict"]
    if not v["fits"]:
        if as_json:
            top = ", ".join(f"{e['name']} {e['bytes']} B" for e in doc["peak"]["live"][:3])
            click.echo(
                f"does not fit: {v['over_bytes']} bytes over {doc['budget_bytes']}; biggest at the peak: "
                f"{top}; {'; '.join(suggestions(doc, plan))}",
                err=True,
            )
        ctx.exit(EXIT_DOES_NOT_FIT)
