"""The `hardtool` command line: a thin Click group. Each stage's command lives in its own
subpackage and is imported only when used, so `hardtool --help` stays fast (no TensorFlow)."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback

import click

from hardtool import __version__
from hardtool.core.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, HardtoolError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# command name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "models": "hardtool.models.cli:models_cmd",
    "data": "hardtool.data.cli:data_group",
    "train": "hardtool.train:train_cmd",
    "pretrain": "hardtool.pretrain.cli:pretrain_cmd",
    "eval": "hardtool.evaluate:eval_cmd",
    "quantize": "hardtool.quantize.cli:quantize_cmd",
    "memplan": "hardtool.memplan.cli:memplan_cmd",
    "codegen": "hardtool.codegen.cli:codegen_cmd",
    "build": "hardtool.build.cli:build_cmd",
    "flash-and-bench": "hardtool.flash_and_bench.cli:flash_and_bench_cmd",
    "run": "hardtool.pipeline:run_cmd",
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (or is listed)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hardtool")
@click.option("-v", "--verbose", is_flag=True, help="Log details; show tracebacks of internal errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Deploy HARD semantic-segmentation models to the STM32F746NG.

    Stages: quantize → memplan → codegen → build → flash-and-bench (or `run` for all).
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


def main(argv: list[str] | None = None) -> None:
    """Entry point: every failure becomes one line on stderr and a non-zero exit code."""
    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    if not verbose:
        from hardtool.core import quiet

        quiet.install()
    try:
        rv = cli.main(args=argv, prog_name="hardtool", standalone_mode=False)
    except HardtoolError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:  # noqa: BLE001 - last resort: one line unless --verbose
        if verbose:
            traceback.print_exc()
        click.echo(f"internal error: {type(e).__name__}: {e} (rerun with --verbose for details)", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(rv if isinstance(rv, int) else 0)
