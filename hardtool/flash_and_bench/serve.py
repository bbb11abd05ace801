"""`hardtool serve DIR`: the project's firmware on the emulated board with its UART on a pty, for
any serial client (e.g. the MLPerf Tiny runner with --protocol mlperf-tiny firmware). Prints the
pty's path and stays up until Ctrl-C (exit 130) or until the pty or QEMU goes away."""

from __future__ import annotations

from pathlib import Path

import click

from hardtool.core.errors import HardtoolError, Interrupted

EMULATED = "qemu_mps2_an500"


def serve(build_dir: Path, link: Path | None, timeout: float, log=print) -> str:
    """Build DIR's firmware for the emulated board, serve its UART on a pty until it stops;
    returns why it stopped."""
    from hardtool.build.firmware import build_firmware, load_manifest
    from hardtool.device.pty_serve import PtyBridge
    from hardtool.device.qemu import QemuBoard

    build_dir = Path(build_dir)
    if not (build_dir / "hardtool_build.json").is_file():
        raise HardtoolError(
            f"{build_dir} is not a firmware project made by hardtool codegen (no hardtool_build.json); "
            "make one with: hardtool codegen MODEL.tflite -t qemu --protocol mlperf-tiny"
        )
    if timeout <= 0:
        raise HardtoolError(f"--timeout {timeout:g}: give a positive number of seconds")
    own = load_manifest(build_dir)["board"]
    out = build_dir / ("build" if own == EMULATED else f"build_{EMULATED}")
    build = build_firmware(build_dir, out=out, board=EMULATED)
    bridge = PtyBridge(QemuBoard(build.elf, timeout=timeout, connect=False), link)
    try:
        with bridge:
            where = f"{bridge.path}" + (f" (also {link})" if link else "")
            log(f"emulated board running {build.elf.name}; its UART is on {where}")
            log(
                "timings it prints are instructions on the emulated board (m-lap-us: 1 ns each); Ctrl-C stops it"
            )
            why = bridge.serve_forever()
    except KeyboardInterrupt:
        raise Interrupted("the emulated board stopped") from None
    if bridge.board.timed_out:
        why = f"the emulated board reached --timeout {timeout:g} s"
    log(f"stopped: {why}")
    return why


@click.command("serve")
@click.argument("build_dir", type=click.Path(path_type=Path))
@click.option(
    "--link",
    type=click.Path(path_type=Path),
    default=None,
    help="Also make this symlink to the pty (a fixed name for clients); removing it stops the board.",
)
@click.option(
    "--timeout",
    type=float,
    default=7 * 24 * 3600.0,
    show_default=True,
    help="Stop the emulated board after this many seconds.",
)
def serve_cmd(build_dir: Path, link: Path | None, timeout: float) -> None:
    """Run BUILD_DIR's firmware on the emulated board with its UART on a pseudo-terminal: prints
    the pty's path, stays up until Ctrl-C (exit 130); the board stops when the pty goes away."""
    serve(build_dir, link, timeout, log=lambda m: click.echo(m, err=False))
