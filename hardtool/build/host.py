"""Build the bench firmware for the PC (host gcc, UART = stdin/stdout): the same app, protocol and
generated model as on the chip, for fast protocol tests, sanitizer runs and a check of generated
code before flashing. Run it with `hardtool.device.host.HostBoard`."""

from __future__ import annotations

from pathlib import Path

from hardtool.build.firmware import load_manifest, project_sources
from hardtool.core.boards import C_FLAGS
from hardtool.core.errors import HardtoolError
from hardtool.core.resources import firmware_dir
from hardtool.core.toolchain import first_error, host_cc, run_tool

SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all")


def build_host_app(project: Path, out: Path, sanitize: bool = False, cc: str | None = None) -> Path:
    """Compile the project's model + the bench app for this PC; returns the executable."""
    project = Path(project).resolve()
    m = load_manifest(project)
    fw = firmware_dir()
    sources, includes = project_sources(project, m)
    sources += [fw / "app" / "main.c", fw / "protocol" / "hproto.c", fw / "protocol" / "hproto_msg.c"]
    sources += [fw / "bsp" / "host" / "bsp_host.c"]
    includes += [fw / "protocol", fw / "bsp" / "include"]
    defs = [f"-D{k}={v}" for k, v in m.get("defines", {}).items()]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    exe = out / (str(m.get("name") or "firmware") + "_host")
    flags = [*C_FLAGS, "-g", *(SANITIZE_FLAGS if sanitize else ()), *[f"-I{i}" for i in includes], *defs]
    r = run_tool([cc or host_cc(), *flags, *map(str, sources), "-o", str(exe)])
    if r.returncode != 0:
        raise HardtoolError(f"host build failed: {first_error(r.stderr)}")
    return exe
