"""`hardtool compare`: FP32 and int8 SRAM of HARD-Edge and its peers on one MCU, beside the paper's
figures; a thin Click wrapper over `hardtool.compare.compare_models`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from hardtool.core.boards import DEFAULT_TARGET, targets
from hardtool.core.errors import HardtoolError
from hardtool.core.files import json_text


def _ckpt(values: tuple[str, ...]) -> dict[str, Path]:
    out = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise HardtoolError(f"--ckpt {v!r}: give NAME=PATH, e.g. --ckpt hard_edge=build/hard_edge.pt")
        out[name] = Path(path)
    return out


@click.command("compare")
@click.argument("models", nargs=-1)
@click.option(
    "--input-size",
    nargs=2,
    type=int,
    default=(128, 256),
    show_default=True,
    metavar="H W",
    help="One input size for every model.",
)
@click.option(
    "--target",
    default=DEFAULT_TARGET,
    show_default=True,
    help=f"MCU whose SRAM is the budget: {', '.join(targets())}.",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="Cityscapes-layout root to calibrate on (train split); default: synthetic street scenes.",
)
@click.option("--calib-images", type=int, default=8, show_default=True, help="Calibration images per model.")
@click.option(
    "--ckpt",
    "ckpts",
    multiple=True,
    metavar="NAME=PATH",
    help="Trained checkpoint for model NAME (repeatable); other models get seeded random weights.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("build/compare"),
    show_default=True,
    help="Folder for compare.json, compare.png and models/<name>/ (both .tflite files and their plans).",
)
@click.option(
    "--jobs",
    type=int,
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Models converted at once (worker processes).",
)
@click.option("--no-tflm", is_flag=True, help="Skip measuring TFLite Micro's arenas (faster).")
@click.option("--force", is_flag=True, help="Replace an earlier comparison's files in OUT.")
@click.option("--json", "as_json", is_flag=True, help="Print compare.json on stdout instead of the table.")
def compare_cmd(
    models, input_size, target, data, calib_images, ckpts, out, jobs, no_tflm, force, as_json
) -> None:
    """Which segmentation models fit the MCU, in FP32 and in int8, and by how much.

    MODELS are architecture names (default: HARD-Edge and every peer: hardtool models --peers).
    Each is exported to a float32 and a full-int8 TFLite, both planned by memplan and measured with
    TFLite Micro; the table gives params, MACs, flash (weights), peak SRAM by our plan and TFLM's
    arena, whether it fits, and the ratio to HARD-Edge, then the paper's figures beside ours.
    Random weights are fine here: memory depends on the graph's shapes, not weight values."""
    from hardtool.compare.report import print_report
    from hardtool.compare.run import DEFAULT_MODELS, CompareOptions, compare_models

    opts = CompareOptions(
        models=tuple(models) or DEFAULT_MODELS,
        input_size=tuple(input_size),
        target=target,
        data=data,
        calib_images=calib_images,
        ckpts=_ckpt(ckpts),
        jobs=jobs,
        measure_tflm=not no_tflm,
    )
    doc = compare_models(out, opts, force, progress=not as_json)
    if as_json:
        click.echo(json_text(doc))
    else:
        print_report(doc)
        click.echo(f"wrote {out / 'compare.json'} and {out / 'compare.png'}")
