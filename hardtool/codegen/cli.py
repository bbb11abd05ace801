"""`hardtool codegen`: int8 .tflite + memplan.json → a C project for a template."""

from __future__ import annotations

from pathlib import Path

import click

from hardtool.core.errors import HardtoolError
from hardtool.core.files import json_text
from hardtool.core.options import board_option
from hardtool.memplan.files import default_plan


def _list_ops(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from hardtool.ops.tables import op_table_text

    click.echo(op_table_text(), nl=False)
    ctx.exit(0)


@click.command("codegen")
@click.argument("model", type=click.Path(path_type=Path))
@click.option(
    "--list-ops",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_list_ops,
    help="Print every builtin TFLite Micro registers, whether hardtool's kernels run it, and exit.",
)
@click.option(
    "--plan",
    "plan",
    type=click.Path(path_type=Path),
    default=None,
    help="The plan from hardtool memplan [default: <model stem>.memplan.json next to MODEL, else "
    "memplan.json there; optional with --runtime tflm].",
)
@click.option("--template", "-t", default="qemu", show_default=True, help="host | qemu | baremetal | mbed.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder [default: <model dir>/<template>].",
)
@click.option(
    "--runtime",
    type=click.Choice(["hardtool", "tflm"]),
    default="hardtool",
    show_default=True,
    help="hardtool: our kernels and static plan; tflm: the .tflite as a C array for TFLite Micro.",
)
@click.option(
    "--baud",
    type=int,
    default=None,
    help="UART baud rate of device templates [default: the board's (DISCO: 1,228,800, the fastest "
    "its ST-LINK/V2-1 carries reliably; fallback 921,600); MLPerf Tiny firmware: the runner's].",
)
@click.option(
    "--offline-plan",
    is_flag=True,
    help="With --runtime tflm: store hardtool's memory plan in the model as TFLM's offline plan.",
)
@click.option(
    "--protocol",
    type=click.Choice(["hardtool", "mlperf-tiny"]),
    default="hardtool",
    show_default=True,
    help="Serial protocol of device firmware: hardtool's bench (flash-and-bench) or the MLPerf Tiny "
    "runner's (name, profile, db, infer, results).",
)
@click.option(
    "--mlperf-input",
    type=click.Choice(["raw", "uint8", "float32"]),
    default=None,
    help="With --protocol mlperf-tiny, what `db` loads: the input's raw bytes, uint8 pixels (minus "
    "128, as the IC/VWW references) or float32 values (quantised, as the AD reference) "
    "[default: as the benchmark's reference firmware].",
)
@click.option(
    "--mlperf-model",
    default=None,
    metavar="NAME",
    help="With --protocol mlperf-tiny, the benchmark the firmware answers as (kws01, vww01, ic01, "
    "ad01, sww01) [default: recognised from the model's input and output shapes].",
)
@board_option(
    "the template's board (device templates qemu and baremetal); qemu: the emulated board of the "
    "target's core"
)
@click.option(
    "--target",
    default=None,
    help="Chip whose limits the emulated board links against; its core picks the emulated board "
    "(Cortex-M3 for the RP2040, M4 for the nRF52840 and STM32F429, M7 for the STM32s F7/H7) "
    "[default: the plan's target].",
)
@click.option(
    "--flash-reserve",
    type=click.IntRange(min=0),
    default=None,
    metavar="BYTES",
    help="Flash kept for code when codegen budgets the q15 filter copies against the chip's flash "
    "(every constant array is counted exactly) [default: estimated from the layer count; "
    "`hardtool build` names the value that links when the estimate is short].",
)
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--json", "as_json", is_flag=True)
def codegen_cmd(
    model,
    plan,
    template,
    out,
    runtime,
    baud,
    offline_plan,
    protocol,
    mlperf_input,
    mlperf_model,
    board,
    target,
    flash_reserve,
    force,
    as_json,
) -> None:
    """Generate C for MODEL: weights as const arrays, one static arena laid out by the plan,
    our int8 kernels, and the TEMPLATE's board files (with a README in the output)."""
    out = out or model.parent / (template if runtime == "hardtool" else f"{template}_tflm")
    if runtime == "tflm":
        from hardtool.codegen.tflm import generate_tflm

        summary = generate_tflm(model, out, plan, force=force, offline_plan=offline_plan)
    else:
        if offline_plan:
            raise HardtoolError(
                "--offline-plan is for --runtime tflm (hardtool's runtime always uses its plan)"
            )
        from hardtool.codegen.generate import generate

        summary = generate(
            model,
            plan or default_plan(model),
            template,
            out,
            force=force,
            uart_baud=baud,
            protocol=protocol,
            mlperf_input=mlperf_input,
            board=None if board == "auto" else board,
            mlperf_model=mlperf_model,
            target=target,
            flash_reserve=flash_reserve,
        )
    if as_json:
        click.echo(json_text(summary))
    else:
        click.echo(
            f"wrote {out}: {summary.get('layers', '?')} layers, arena {summary['arena_size']:,} bytes, "
            f"weights {summary['weights_bytes']:,} bytes ({summary['template']})"
        )
    ff = summary.get("filter_flash") or {}
    if ff and not ff["fits_estimate"]:
        click.echo(
            f"warning: the constant arrays ({ff['data_bytes']:,} bytes, every conv filter int8) and "
            f"the code ({ff['code_reserve_bytes']:,} bytes reserved) exceed the {ff['flash_bytes']:,} "
            "bytes of flash: the build will not fit; pick a chip with more flash (--target)",
            err=True,
        )
