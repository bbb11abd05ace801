"""Click options shared by several commands, so one option always means one thing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from hardtool.core.boards import board_choices, boards, flasher_names

Decorator = Callable[[Callable], Callable]


def force_option(what: str = "the output") -> Decorator:
    return click.option("--force", is_flag=True, help=f"Replace {what} if it exists.")


def json_option() -> Decorator:
    return click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")


def out_option(default_help: str) -> Decorator:
    return click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=None,
        help=f"Output folder [default: {default_help}].",
    )


def board_option(auto_help: str) -> Decorator:
    """--board: a board of the registry (hardtool.core.boards) by nickname or name, or auto."""
    known = "; ".join(f"{b.nickname}: the {b.title}" for b in boards().values())
    return click.option(
        "--board",
        type=click.Choice(board_choices()),
        default="auto",
        show_default=True,
        help=f"{known}; auto: {auto_help}.",
    )


def flasher_option() -> Decorator:
    return click.option(
        "--flasher",
        type=click.Choice(flasher_names()),
        default="auto",
        show_default=True,
        help="How to flash the board (auto: the first one installed, in this order).",
    )


def port_option() -> Decorator:
    return click.option(
        "--port", default=None, help="Serial port or pyserial URL (default: the ST-LINK's port)."
    )


def baud_option() -> Decorator:
    return click.option(
        "--baud",
        type=int,
        default=None,
        help="UART baud rate [default: the one the firmware was built for; the DISCO's is 1,228,800].",
    )


def allow_large_input_option() -> Decorator:
    return click.option(
        "--allow-large-input",
        is_flag=True,
        help="Accept an input whose int8 image is larger than any known target's RAM.",
    )


def lean_kernels_option() -> Decorator:
    """memplan's and run's switch for memplan.plan.PlanOptions.lean_kernels."""
    return click.option(
        "--lean-kernels",
        is_flag=True,
        help="Trade speed for memory: the convolutions whose DSP scratch sets the peak get none and "
        "run their portable kernel (slower; the plan lists them and their MACs).",
    )


def input_size_option(default_help: str) -> Decorator:
    return click.option(
        "--input-size",
        nargs=2,
        type=int,
        default=None,
        metavar="H W",
        help=f"Input height and width, each at least 32 [{default_help}].",
    )
