"""`hardtool pretrain`: one option per recipe setting, generated from PretrainConfig."""

from __future__ import annotations

import json
import typing
from dataclasses import MISSING, fields
from pathlib import Path

import click

from hardtool.core.errors import HardtoolError
from hardtool.pretrain.config import PretrainConfig


def _option(f) -> click.Option:
    default = f.default if f.default is not MISSING else None
    name = "--" + f.name.replace("_", "-")
    help_ = f.metadata["help"]
    hint = typing.get_type_hints(PretrainConfig)[f.name]
    if hint is bool:
        return click.Option([f"{name}/--no-{name[2:]}"], default=default, show_default=True, help=help_)
    if isinstance(default, tuple):
        return click.Option(
            [name], nargs=len(default), type=float, default=default, show_default=True, help=help_
        )
    return click.Option([name], type=type(default), default=default, show_default=True, help=help_)


def _recipe_options(cmd: click.Command) -> click.Command:
    cmd.params.extend(_option(f) for f in fields(PretrainConfig))
    return cmd


@_recipe_options
@click.command("pretrain")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="ImageNet-layout root: train/<class>/*, val/<class>/*.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Checkpoint to write (.pt).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option(
    "--resume", is_flag=True, help="Continue the run saved in --out (its recipe, exactly where it stopped)."
)
@click.option("--force", is_flag=True, help="Overwrite an existing --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def pretrain_cmd(ctx: click.Context, data, out, device, resume, force, as_json, **recipe) -> None:
    """Pre-train a HARD encoder with a classification head on ImageNet (the paper's Table 1 recipe).

    One process per GPU with torchrun, e.g. on two GPUs:

    \b
        torchrun --nproc_per_node=2 -m hardtool pretrain --data DIR --out enc.pt

    The same --seed, --batch and --micro-batch give the same run on any number of processes.
    """
    from hardtool.pretrain.engine import pretrain

    if out.exists() and not (resume or force):
        raise HardtoolError(f"{out} exists; pass --resume to continue it or --force to start over")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise HardtoolError("--device cuda: no CUDA device is visible to torch; use --device cpu")
    src = click.core.ParameterSource
    explicit = {k for k in recipe if ctx.get_parameter_source(k) not in (src.DEFAULT, src.DEFAULT_MAP)}
    cfg = PretrainConfig.from_dict({k: tuple(v) if isinstance(v, tuple) else v for k, v in recipe.items()})
    res = pretrain(cfg, data, out, resume=resume, explicit=explicit, device=device, progress=not as_json)
    if res["rank"] != 0:
        return
    if as_json:
        click.echo(json.dumps(res, indent=2))
    elif res["top1"] is not None:
        click.echo(f"wrote {out}: val top-1 {100 * res['top1']:.2f} %, top-5 {100 * res['top5']:.2f} %")
