"""The layout rules anyone can check: imports point only downward through the pipeline's layers,
memplan loads without codegen / device / CLI code, no Python function over 60 lines and no C
function over 80 (generated code excepted), and the sources are formatted as configured."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hardtool"
# lowest first: a module may import its own package and any package of a lower layer
LAYERS = [
    {"core"},
    {"data", "models", "kernels"},
    {"ops"},
    {"metrics"},
    {"predict"},
    {"memplan", "quantize", "pretrain"},
    {"codegen", "evaluate", "train", "compare"},
    {"build", "device"},
    {"flash_and_bench", "fit"},
    {"pipeline"},
    {"demo", "cli"},
    {"__main__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
MAX_PY_LINES, MAX_C_LINES = 60, 80


def _package_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [
                f"{node.module}.{a.name}" for a in node.names if node.module == "hardtool"
            ]
        found |= {n.split(".")[1] for n in names if n.startswith("hardtool.")}
    return found - {"__version__"}


def test_every_package_has_a_layer():
    packages = {_package_of(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert packages <= set(LAYER), f"add {sorted(packages - set(LAYER))} to LAYERS"


def test_imports_point_downward():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        src = _package_of(path)
        if src == "__init__":
            continue
        for dst in _imported_packages(path) - {src}:
            if LAYER[dst] >= LAYER[src]:
                upward.append(f"{path.relative_to(ROOT)} imports hardtool.{dst}")
    assert not upward, upward


def test_memplan_imports_no_codegen_device_or_cli():
    code = "import sys, hardtool.memplan; print(' '.join(m for m in sys.modules if m.startswith('hardtool')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = out.stdout.split()
    assert "hardtool.memplan.plan" in loaded
    bad = [
        m
        for m in loaded
        if m.startswith("hardtool.")
        and m.split(".")[1] in ("codegen", "device", "build", "flash_and_bench", "cli")
    ]
    assert not bad, bad


def _python_functions() -> list[tuple[int, str]]:
    out = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append(
                    (node.end_lineno - node.lineno + 1, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
                )
    return out


def c_functions(text: str) -> list[tuple[int, str]]:
    """(lines, name) of every function definition in clang-formatted C (Allman braces at column 0)."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line == "{" and i > 0:
            head = i - 1
            while head > 0 and lines[head].startswith(" "):
                head -= 1
            end = lines.index("}", i)
            name = re.search(r"(\w+)\s*\(", " ".join(lines[head:i]))
            if name and not lines[head].startswith(("typedef", "struct", "enum", "union")):
                found.append((end - head + 1, name.group(1)))
    return found


def test_functions_are_short():
    long_py = [f"{where} ({n} lines)" for n, where in _python_functions() if n > MAX_PY_LINES]
    long_c = []
    for path in (ROOT / "firmware").rglob("*.c"):
        long_c += [
            f"{path.relative_to(ROOT)} {name} ({n} lines)"
            for n, name in c_functions(path.read_text())
            if n > MAX_C_LINES
        ]
    assert not long_py and not long_c, long_py + long_c


def test_python_is_formatted():
    ruff = Path(sys.executable).parent / "ruff"
    r = subprocess.run(
        [str(ruff), "format", "--check", "hardtool", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(
    shutil.which("clang-format") is None, reason="clang-format not installed (make install adds it)"
)
def test_c_is_formatted():
    files = [str(p) for p in (ROOT / "firmware").rglob("*.[ch]")] + [
        str(p) for p in (ROOT / "tests").rglob("*.[ch]")
    ]
    r = subprocess.run(
        ["clang-format", "--dry-run", "--Werror", *files], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[:3000]
