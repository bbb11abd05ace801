"""Which UART baud rates a board can make: the firmware divides the UART's clock by an integer
(the STM32's USART BRR at APB2, the emulated board's CMSDK BAUDDIV), so a rate is usable when that
divider is in range, the rate it gives is within 2 % of the one asked for (what a UART receiver
tolerates) and the board's USB-serial bridge carries it (board.json "uart")."""

from __future__ import annotations

from hardtool.core.boards import Board
from hardtool.core.errors import HardtoolError

MAX_ERROR = 0.02
COMMON = (
    9600,
    19200,
    38400,
    57600,
    115200,
    230400,
    460800,
    921600,
    1000000,
    1228800,
    1500000,
    1843200,
    2000000,
)
DEFAULT = 115200  # a board without a "uart" entry


def divider(board: Board, baud: int) -> int:
    """The integer divider the firmware programs (rounded, as bsp_*.c compute it)."""
    clock = int(board.uart["clock_hz"])
    return (clock + baud // 2) // baud


def problem(board: Board, baud: int) -> str:
    """Why ``baud`` is not usable on ``board`` ("" when it is)."""
    if baud <= 0:
        return "a baud rate must be a positive number of bits per second"
    u = board.uart
    if not u:
        return ""
    div = divider(board, baud)
    if not u["divider_min"] <= div <= u["divider_max"]:
        return f"its divider {div} is outside {u['divider_min']}..{u['divider_max']} at {u['clock_hz']:,} Hz"
    made = u["clock_hz"] / div
    if abs(made - baud) / baud > MAX_ERROR:
        return f"the nearest it makes is {made:,.0f} ({100 * (made - baud) / baud:+.1f} %, more than 2 %)"
    if u.get("bridge_max_baud") and baud > u["bridge_max_baud"]:
        return f"its {u['bridge']} USB-serial bridge carries at most {u['bridge_max_baud']:,} baud"
    return ""


def check_baud(board: Board, baud: int) -> int:
    """``baud`` if the board makes it, else a one-line HardtoolError naming the nearest ones it does."""
    if baud <= 0:
        raise HardtoolError(
            f"--baud {baud}: a baud rate must be a positive number of bits per second "
            f"(default on {board.name}: {default_baud(board):,})"
        )
    why = problem(board, baud)
    if not why:
        return baud
    ok = sorted((b for b in COMMON if not problem(board, b)), key=lambda b: (abs(b - baud), b))[:3]
    raise HardtoolError(
        f"--baud {baud}: not usable on {board.name}: {why}; nearest it makes: "
        f"{', '.join(f'{b:,}' for b in sorted(ok))} (default {default_baud(board):,})"
    )


def default_baud(board: Board) -> int:
    """The fastest rate the board's bridge carries reliably (board.json "uart" "default_baud")."""
    return int(board.uart.get("default_baud", DEFAULT))


def made_baud(board: Board, baud: int) -> float:
    """The rate the board's UART actually runs at for ``baud``."""
    return board.uart["clock_hz"] / divider(board, baud) if board.uart else float(baud)
