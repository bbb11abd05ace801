"""`hardtool data synth`: make a Cityscapes-layout dataset of synthetic street scenes."""

from __future__ import annotations

from pathlib import Path

import click

from hardtool.core.errors import HardtoolError
from hardtool.core.files import atomic_files


@click.group("data")
def data_group() -> None:
    """Datasets in the Cityscapes layout."""


@data_group.command("synth")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Dataset root to write.")
@click.option("--n", "n", type=int, default=100, show_default=True, help="Scenes per split.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--splits", default="train,val", show_default=True, help="Comma-separated splits.")
@click.option("--size", nargs=2, type=int, default=(256, 512), show_default=True, help="H W of the images.")
@click.option("--force", is_flag=True, help="Write into a folder that already holds images.")
def synth_cmd(out: Path, n: int, seed: int, splits: str, size: tuple[int, int], force: bool) -> None:
    """Generate N deterministic street scenes per split (images + gtFine labelIds)."""
    from rich.progress import Progress

    from hardtool.data.synth import generate

    if n <= 0:
        raise HardtoolError("--n must be at least 1")
    if size[0] < 32 or size[1] < 32:
        raise HardtoolError("--size must be at least 32 32")
    split_list = tuple(s for s in splits.split(",") if s)
    for split in split_list:
        d = out / "leftImg8bit" / split
        if d.is_dir() and any(d.iterdir()) and not force:
            raise HardtoolError(
                f"{d} already holds images; pass --force to overwrite or choose another --out"
            )
    with atomic_files(out, None) as tmp, Progress(transient=True) as p:  # all scenes or none
        task = p.add_task("rendering scenes", total=n * len(split_list))
        files = generate(tmp, n, seed, split_list, tuple(size), progress=lambda: p.advance(task))
    click.echo(f"wrote {len(files)} scenes ({', '.join(split_list)}) to {out}")
