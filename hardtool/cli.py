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
from hardtool.core.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, HardtoolError, Interrupted

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
    "compare": "hardtool.compare.cli:compare_cmd",
    "codegen": "hardtool.device.conv_tune:codegen_cmd",  # hardtool.codegen.cli's, plus --tune
    "build": "hardtool.build.cli:build_cmd",
    "flash-and-bench": "hardtool.flash_and_bench.cli:flash_and_bench_cmd",
    "serve": "hardtool.flash_and_bench.serve:serve_cmd",
    "run": "hardtool.pipeline:run_cmd",
    "fit": "hardtool.fit.cli:fit_cmd",
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


NOTHING_WRITTEN = "stopped before finishing; no partial output was written and earlier outputs are unchanged"


def _invoke(args: list[str]) -> object:
    """Click's own main without its KeyboardInterrupt handling (which prints a blank line first)."""
    with cli.make_context("hardtool", args) as ctx:
        return cli.invoke(ctx)


def _interrupted(message: str) -> int:
    lead = "\r" if sys.stderr.isatty() else ""  # over the terminal's "^C" echo
    click.echo(f"{lead}interrupted (Ctrl-C): {message}", err=True)
    return EXIT_INTERRUPTED


def _usage(e: click.UsageError) -> int:
    if isinstance(e, getattr(click.exceptions, "NoArgsIsHelpError", ())):  # bare `hardtool`: the help
        click.echo(e.ctx.get_help())
        return 0
    where = (
        f"hardtool {e.ctx.command_path.split(' ', 1)[1]}"
        if e.ctx and " " in e.ctx.command_path
        else "hardtool"
    )
    click.echo(f"error: {e.format_message()} (see '{where} --help')", err=True)
    return e.exit_code


OOM_HINT = "choose a smaller --input-size or fewer images, or free memory"
_OOM_TEXT = ("can't allocate memory", "not enough memory", "unable to allocate", "out of memory", "bad_alloc")


def _out_of_memory(e: BaseException) -> bool:
    """An allocation that failed, however the library spells it (torch raises RuntimeError)."""
    return isinstance(e, MemoryError) or any(t in str(e).lower() for t in _OOM_TEXT)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


def _run(args: list[str], verbose: bool) -> int:
    """The command's exit code; every failure printed as one line."""
    from hardtool.core import interrupt

    try:
        rv = _invoke(args)
        interrupt.check()
        return rv if isinstance(rv, int) else 0
    except Interrupted as e:
        return _interrupted(str(e))
    except (KeyboardInterrupt, click.Abort):
        return _interrupted(NOTHING_WRITTEN)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_INTERNAL)
    except HardtoolError as e:
        if interrupt.requested():  # e.g. a child process that the same Ctrl-C stopped
            return _interrupted(NOTHING_WRITTEN)
        click.echo(f"error: {e}", err=True)
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.UsageError as e:
        return _usage(e)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        return e.exit_code
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stdout's reader went away (e.g. `| head`)
        return EXIT_INTERNAL
    except Exception as e:  # noqa: BLE001 - last resort: one line unless --verbose
        if interrupt.requested():
            return _interrupted(NOTHING_WRITTEN)
        if _out_of_memory(e):
            click.echo(f"error: out of memory ({_first_line(e)}); {OOM_HINT}", err=True)
            return 2
        if verbose:
            traceback.print_exc()
        click.echo(f"internal error: {type(e).__name__}: {e} (rerun with --verbose for details)", err=True)
        return EXIT_INTERNAL


def main(argv: list[str] | None = None) -> None:
    """Entry point: every failure becomes one line on stderr and a non-zero exit code; Ctrl-C
    becomes one line and exit code 130 (`hardtool.core.interrupt`)."""
    import signal

    from hardtool.core import interrupt

    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in args or "--verbose" in args
    interrupt.install()
    if not verbose:
        from hardtool.core import quiet

        quiet.install()
    code = _run(args, verbose)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command is over: a late Ctrl-C changes nothing
    sys.exit(code)
