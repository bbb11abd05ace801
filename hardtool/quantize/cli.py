"""`hardtool quantize`: checkpoint / ONNX / .tflite → full-int8 TFLite with an accuracy report."""

from __future__ import annotations

from pathlib import Path

import click

from hardtool.core.errors import HardtoolError
from hardtool.core.files import json_text
from hardtool.core.options import allow_large_input_option, input_size_option


def print_report(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from hardtool.data.labels import class_names

    ev = r["eval"]
    cols = [k for k in ("float", "onnx", "int8") if k in ev]
    t = Table(title=f"quantize: mIoU on {ev['images']} {ev['split']} images (%)")
    t.add_column("class")
    for c in cols:
        t.add_column(c, justify="right")
    for name in class_names():
        vals = [ev[c]["iou"][name] for c in cols]
        t.add_row(name, *("—" if v != v else f"{100 * v:.2f}" for v in vals))
    t.add_row("[b]mIoU[/b]", *(f"[b]{100 * ev[c]['miou']:.2f}[/b]" for c in cols))
    con = Console()
    con.print(t)
    if "onnx_check" in r:
        oc = r["onnx_check"]
        con.print(
            f"ONNX vs torch: max |logit diff| {oc['max_abs_logit_diff']:.2e}, label agreement "
            f"{100 * oc['label_agreement']:.3f}% on {oc['images']} images"
        )
    if r.get("miou_drop") is not None:
        con.print(f"int8 mIoU drop vs float: {100 * r['miou_drop']:+.2f} points")
    ops = ", ".join(f"{k}×{v}" for k, v in sorted(r["ops"].items(), key=lambda kv: -kv[1]))
    con.print(f"ops: {ops}")
    con.print(
        f"model: {r['model_bytes']} bytes; steps (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in r["timings_s"].items())
    )


@click.command("quantize")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="Cityscapes-layout root: calibration from --calib-split, evaluation on --eval-split.",
)
@click.option("--calib-images", type=int, default=64, show_default=True, help="Calibration images.")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Output folder [default: build/<name>]."
)
@input_size_option("default: the checkpoint's")
@allow_large_input_option()
@click.option("--arch", default=None, help="Architecture, for a bare state_dict.")
@click.option("--calib-split", default="train", show_default=True)
@click.option("--eval-split", default="val", show_default=True)
@click.option("--eval-images", type=int, default=None, help="Evaluate on the first N images only.")
@click.option(
    "--force", is_flag=True, help="Replace earlier quantize outputs in OUT (other files there stay)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def quantize_cmd(
    input_path,
    data,
    calib_images,
    out,
    input_size,
    arch,
    calib_split,
    eval_split,
    eval_images,
    force,
    as_json,
    allow_large_input,
) -> None:
    """Quantize INPUT (hardtool checkpoint, .onnx, or int8 .tflite) to a full-int8 TFLite.

    Writes OUT/model.onnx, OUT/model_int8.tflite and OUT/quant_report.json (float, ONNX and int8
    mIoU; the int8 number comes from TFLite's reference kernels, which TFLite Micro matches)."""
    from hardtool.quantize.pipeline import quantize

    if calib_images <= 0:
        raise HardtoolError("--calib-images must be at least 1")
    if eval_images is not None and eval_images <= 0:
        raise HardtoolError("--eval-images must be at least 1")
    out = out or Path("build") / input_path.stem
    report = quantize(
        input_path,
        data,
        out,
        calib_images,
        tuple(input_size) if input_size else None,
        arch,
        calib_split,
        eval_split,
        eval_images,
        force,
        progress=not as_json,
        allow_large_input=allow_large_input,
    )
    if as_json:
        click.echo(json_text(report))
    else:
        print_report(report)
        click.echo(f"wrote {out}/model_int8.tflite")
