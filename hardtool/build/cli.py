"""`hardtool build DIR`: compile a generated firmware project for the board in its manifest."""

from __future__ import annotations

from pathlib import Path

import click

from hardtool.core.files import json_text
from hardtool.core.options import board_option, json_option


@click.command("build")
@click.argument("project", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder for .elf/.bin/.map (default: PROJECT/build). It is a cache of the project: "
    "each build replaces the files the previous build wrote there, at the end and all at once (a failed "
    "or interrupted build leaves the earlier one whole); files hardtool did not write there are kept.",
)
@board_option("the board the project was generated for")
@json_option()
def build_cmd(project: Path, out: Path | None, board: str, as_json: bool) -> None:
    """Build PROJECT (a folder with hardtool_build.json, written by `hardtool codegen`).

    The build folder is a cache, rebuilt from the project on every run (as flash-and-bench does),
    so no --force is needed to replace an earlier build."""
    from hardtool.build.firmware import build_firmware

    res = build_firmware(project, out=out, board=None if board == "auto" else board)
    if as_json:
        click.echo(json_text(res.to_json()))
        return
    click.echo(f"built {res.elf} ({res.board}, {res.toolchain})")
    click.echo(
        f"  RAM   {res.ram_used:>9,} / {res.ram_total:,} bytes ({100 * res.ram_used / res.ram_total:.1f}%)"
    )
    click.echo(
        f"  flash {res.flash_used:>9,} / {res.flash_total:,} bytes ({100 * res.flash_used / res.flash_total:.1f}%)"
    )
    click.echo(
        f"  SRAM  arena {res.arena_bytes:,} + stack {res.stack_bytes:,} + statics {res.statics_bytes:,} bytes "
        "(measured on the linked image)"
    )
    if res.tcm_placement:
        from hardtool.build.placement import summary

        click.echo(f"  TCM   {summary(res.tcm_placement)} (read from the ELF)")
    for s in res.largest_ram_symbols[:3]:
        click.echo(f"  RAM   {s['size']:>9,}  {s['symbol']}")
