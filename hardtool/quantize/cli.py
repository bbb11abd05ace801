"""`hardtool quantize`: checkpoint / ONNX / .tflite → full-int8 TFLite with an accuracy report."""

from __future__ import annotations

from pathlib import Path

import click

from hardtool.core.errors import HardtoolError
from hardtool.core.files import json_text
from hardtool.core.options import allow_large_input_option, input_size_option


def _print_seg(con, ev: dict) -> None:
    from rich.table import Table

    from hardtool.data.labels import class_names

    cols = [k for k in ("float", "onnx", "int8") if k in ev]
    t = Table(title=f"quantize: mIoU on {ev['images']} {ev['split']} images (%)")
    t.add_column("class")
    for c in cols:
        t.add_column(c, justify="right")
    for name in class_names():
        vals = [ev[c]["iou"][name] for c in cols]
        t.add_row(name, *("—" if v != v else f"{100 * v:.2f}" for v in vals))
    t.add_row("[b]mIoU[/b]", *(f"[b]{100 * ev[c]['miou']:.2f}[/b]" for c in cols))
    con.print(t)


def _print_eval(con, r: dict) -> None:
    if r["task"] == "seg" and "eval" in r:
        _print_seg(con, r["eval"])
    elif r["task"] == "cls":
        ev = r["eval"]
        top = ", ".join(f"{k} {100 * ev[k]['top1']:.2f}%" for k in ("float", "int8") if k in ev)
        agree = f"; float/int8 agreement {100 * ev['agreement']:.2f}%" if "agreement" in ev else ""
        con.print(f"top-1 on {ev['images']} held-out images: {top}{agree}")
    if "output_check" in r:
        oc = r["output_check"]
        con.print(
            f"float vs int8 outputs on {oc['samples']} held-out samples: RMSE {oc['rmse']:.4g}, max abs error "
            f"{oc['max_abs_error']:.4g}, cosine similarity {oc['cosine_similarity']:.5f} "
            f"(float output std {oc['float_std']:.4g})"
        )


def print_report(r: dict) -> None:
    from rich.console import Console

    con = Console()
    _print_eval(con, r)
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
    i, o = r["input_quant"], r["output_quant"]
    con.print(f"input {i['dtype']} {i['shape']}, output {o['dtype']} {o['shape']}")
    con.print(
        f"model: {r['model_bytes']} bytes; steps (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in r["timings_s"].items())
    )


def _floats(ctx, param, value: str | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        return tuple(float(v) for v in value.replace(",", " ").split())
    except ValueError:
        raise click.BadParameter(
            f"expected numbers separated by commas, e.g. 0.485,0.456,0.406; got {value!r}"
        ) from None


@click.command("quantize")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="Calibration and evaluation data: a Cityscapes-layout root (--task seg), an ImageFolder "
    "(--task cls: one subfolder per class, optionally under train/ and val/), or any folder of "
    "images or .npy inputs (--task generic).",
)
@click.option(
    "--task",
    type=click.Choice(["seg", "cls", "generic"]),
    default=None,
    help="What to evaluate: mIoU, top-1, or float-vs-int8 outputs [default: seg for hardtool "
    "checkpoints, cls for an [1, N] output, else generic].",
)
@click.option(
    "--tail",
    type=click.Choice(["argmax", "none"]),
    default=None,
    help="'argmax': end the graph in an argmax over classes (a label map; codegen fuses a bilinear "
    "resize before it); 'none': keep the model's outputs [default: argmax for hardtool checkpoints, "
    "none otherwise].",
)
@click.option(
    "--float-io", is_flag=True, help="Float32 input and output tensors (QUANTIZE/DEQUANTIZE at the edges)."
)
@click.option("--mean", callback=_floats, default=None, help="Per-channel mean, e.g. 0.485,0.456,0.406.")
@click.option("--std", callback=_floats, default=None, help="Per-channel std, e.g. 0.229,0.224,0.225.")
@click.option(
    "--min-cosine",
    type=float,
    default=0.98,
    show_default=True,
    help="Warn when the cosine similarity of int8 and float outputs on held-out samples is lower.",
)
@click.option("--calib-images", type=int, default=64, show_default=True, help="Calibration images.")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Output folder [default: build/<name>]."
)
@input_size_option("default: the checkpoint's, or the ONNX file's")
@allow_large_input_option()
@click.option("--arch", default=None, help="Architecture, for a bare state_dict.")
@click.option("--calib-split", default="train", show_default=True)
@click.option("--eval-split", default="val", show_default=True)
@click.option("--eval-images", type=int, default=None, help="Evaluate on the first N images only.")
@click.option(
    "--keep-float",
    is_flag=True,
    help="Also write OUT/model_float32.tflite: the same graph unquantised (float32), e.g. for "
    "'hardtool memplan' or 'hardtool compare'. Needs a checkpoint or .onnx INPUT.",
)
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
    keep_float,
    **options,
) -> None:
    """Quantize INPUT (hardtool checkpoint, any .onnx, or int8 .tflite) to a full-int8 TFLite
    with int8 input and output tensors, keeping what the model outputs.

    Writes OUT/model.onnx, OUT/model_int8.tflite and OUT/quant_report.json: mIoU (seg), top-1
    (cls) and float-vs-int8 output RMSE / max error / cosine similarity on held-out samples; the
    int8 numbers come from TFLite's reference kernels, which TFLite Micro matches. With
    --keep-float also OUT/model_float32.tflite. Input normalisation: the checkpoint's, --mean/--std,
    or ImageNet's; the input size: the ONNX file's, or --input-size where it is dynamic."""
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
        keep_float=keep_float,
        **options,  # task, tail, float_io, mean, std, min_cosine
    )
    for w in report.get("warnings", []):
        click.echo(f"warning: {w}", err=True)
    if as_json:
        click.echo(json_text(report))
    else:
        print_report(report)
        click.echo(
            f"wrote {out}/model_int8.tflite" + (f" and {out}/model_float32.tflite" if keep_float else "")
        )
