"""What STM32CubeIDE's managed build does with a project's `.cproject`, without the IDE: the
compile and link command lines its generated makefiles (`Debug/<dir>/subdir.mk`, `Debug/makefile`)
run, in the same form, so a test can run them through a shell and see what gcc sees.

The form is the one CubeIDE writes for an STM32F7 (from real generated makefiles): per source
`arm-none-eabi-gcc "../dir/file.c" -mcpu=cortex-m7 -std=gnu11 -g3 -DNAME '-DNAME=value' -c
-I../inc -O2 -ffunction-sections -fdata-sections -Wall -fstack-usage -MMD -MP -MF"..." -MT"..."
--specs=nano.specs -mfpu=fpv5-sp-d16 -mfloat-abi=hard -mthumb -o "dir/file.o"`, run from the
configuration's folder; a define with a value is single-quoted, one without is not. The link:
`arm-none-eabi-gcc -o "P.elf" @"objects.list" -mcpu=cortex-m7 -T"script" --specs=nosys.specs
-Wl,-Map="P.map" -Wl,--gc-sections -static <other flags> --specs=nano.specs -mfpu=... -mthumb
-Wl,--start-group -lc -lm -Wl,--end-group`. GNU Tools for STM32 also passes
`-fcyclomatic-complexity`, which upstream gcc does not know; it changes no code and is left out.
"""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

P = "com.st.stm32cube.ide.mcu.gnu.managedbuild"
MCU_CPU = {"STM32F7": "cortex-m7", "STM32H7": "cortex-m7", "STM32F4": "cortex-m4"}


@dataclass
class Config:
    """One build configuration of a .cproject, reduced to what the makefile generator uses."""

    name: str
    options: dict[str, str | list[str]] = field(default_factory=dict)  # superClass → value(s)
    excluding: list[str] = field(default_factory=list)

    def value(self, superclass: str) -> str | list[str] | None:
        return self.options.get(superclass)


def read_configs(cproject: Path) -> dict[str, Config]:
    """Every configuration of a .cproject: option values by superClass, source exclusions."""
    root = ET.parse(cproject).getroot()
    out = {}
    for conf in root.iter("configuration"):
        if conf.get("name") is None or conf.find("folderInfo") is None:
            continue
        c = Config(conf.get("name"))
        for opt in conf.iter("option"):
            values = [v.get("value") for v in opt.findall("listOptionValue")]
            c.options[opt.get("superClass")] = (
                values if opt.get("valueType") != "string" and values else opt.get("value")
            )
        for entry in conf.iter("entry"):
            if entry.get("kind") == "sourcePath":
                c.excluding += [e for e in (entry.get("excluding") or "").split("|") if e]
        out[c.name] = c
    return out


def _suffix(value: str | None) -> str:
    return (value or "").rsplit(".value.", 1)[-1]


def _cpu_flags(c: Config) -> tuple[str, str]:
    mcu = str(c.value(f"{P}.option.target_mcu"))
    cpu = next(v for k, v in MCU_CPU.items() if mcu.startswith(k))
    fpu = (
        f"-mfpu={_suffix(c.value(f'{P}.option.fpu'))} -mfloat-abi={_suffix(c.value(f'{P}.option.floatabi'))}"
    )
    return f"-mcpu={cpu}", f"{fpu} -mthumb"


def _define(d: str) -> str:
    return shlex.quote(f"-D{d}") if "=" in d else f"-D{d}"


def compile_command(c: Config, source: str, obj: str) -> str:
    """The command CubeIDE's subdir.mk runs for one C source (paths relative to the config folder)."""
    cc = f"{P}.tool.c.compiler.option"
    cpu, fpu = _cpu_flags(c)
    std = _suffix(c.value(f"{cc}.languagestandard")) or "gnu11"
    debug = _suffix(c.value(f"{cc}.debuglevel"))
    parts = [f'arm-none-eabi-gcc "{source}"', cpu, f"-std={std}"]
    parts += [f"-{debug}"] if debug and debug != "g0" else []
    parts += [_define(d) for d in c.value(f"{cc}.definedsymbols") or []]
    parts += ["-c"] + [f"-I{i}" for i in c.value(f"{cc}.includepaths") or []]
    parts += [f"-{_suffix(c.value(f'{cc}.optimization.level')).capitalize()}", "-ffunction-sections"]
    parts += ["-fdata-sections", "-Wall"] + (["-Wextra"] if c.value(f"{cc}.warnings.extra") == "true" else [])
    parts += list(c.value(f"{cc}.otherflags") or [])
    dep = obj[: -len(".o")] + ".d"
    parts += [
        "-fstack-usage",
        "-MMD",
        "-MP",
        f'-MF"{dep}"',
        f'-MT"{obj}"',
        "--specs=nano.specs",
        fpu,
        f'-o "{obj}"',
    ]
    return " ".join(parts)


def link_command(c: Config, project: Path, artifact: str) -> str:
    """The command CubeIDE's makefile runs to link `objects.list` into `artifact`.elf."""
    cpu, fpu = _cpu_flags(c)
    script = str(c.value(f"{P}.tool.c.linker.option.script")).replace(
        "${workspace_loc:/${ProjName}", str(project)
    )
    script = script.removesuffix("}")
    other = " ".join(c.value(f"{P}.tool.c.linker.option.otherflags") or [])
    return (
        f'arm-none-eabi-gcc -o "{artifact}.elf" @"objects.list" {cpu} -T"{script}" --specs=nosys.specs '
        f'-Wl,-Map="{artifact}.map" -Wl,--gc-sections -static {other} --specs=nano.specs {fpu} '
        "-Wl,--start-group -lc -lm -Wl,--end-group"
    )


def managed_sources(project: Path, c: Config) -> list[str]:
    """The C files the managed build compiles: all of them, minus excluded folders and the
    configurations' own output folders (paths relative to the project, '/'-separated)."""
    skip = tuple(c.excluding) + ("Debug", "Release")
    out = []
    for p in sorted(project.rglob("*.c")):
        rel = p.relative_to(project).as_posix()
        if not any(rel == s or rel.startswith(s + "/") for s in skip):
            out.append(rel)
    return out
