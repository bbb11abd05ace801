"""Every per-op table the toolchain uses, derived from the op records (``records()``): nothing
here names an op. Graph validation's rules, the supported names, the planner's memory classes
and scratch sizes, the kernels' refusal list, the kernel choice and TFLite Micro's resolver."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

from hardtool.core.files import atomic_write_bytes
from hardtool.core.graph.ir import Graph, Op, describe_op
from hardtool.core.oprules import OpRules
from hardtool.kernels import memory
from hardtool.ops import records
from hardtool.ops.record import Kernel, Memory
from hardtool.ops.tflm_ops import TFLM_METHODS

# ops without a record, and the rewrite that avoids them (for the unsupported-op error)
UNRECORDED_HINTS = {"TILE": "use a Resizing layer instead of UpSampling2D"}
NO_KERNEL = "no int8 kernel"
LEAN = "portable: the plan gives it no scratch (memplan --lean-kernels)"


def _names(keep) -> frozenset[str]:
    return frozenset(n for n, r in records().items() if keep(r))


SUPPORTED = _names(lambda r: True)  # names validation accepts (memplan plans them)
KERNEL_OPS = _names(lambda r: r.runs)  # names codegen can emit
ELEMENTWISE = _names(lambda r: r.memory == Memory.ELEMENTWISE)
# every elementwise kernel computes out[i] from in[i] before it writes out[i]: its output may lie
# exactly on a dying same-size input
ALIASING_OPS = ELEMENTWISE
RESHAPES = _names(lambda r: r.memory == Memory.ALIAS)  # same bytes, new shape
SPATIAL_OPS = _names(lambda r: r.memory == Memory.SPATIAL)  # raster order: in place with a gap
STRIDED_OUTPUT_OPS = _names(lambda r: r.strided_output)  # params take ``output_stride``
LOWERED = _names(lambda r: r.lowered)  # made or folded away by lower()
FOLDS_PAD = _names(lambda r: r.folds_pad)  # lower() folds a PAD / SPACE_TO_BATCH_ND into them
FUSES_ADD = _names(lambda r: r.fuses_add)  # lower() folds a residual ADD into their output stage
LEAN_OPS = _names(lambda r: r.lean)  # scratch optional: memplan --lean-kernels may drop it
CONCAT_OPS = _names(lambda r: r.memory == Memory.CONCAT)  # inputs may be produced in their slice
STREAM_FIRST = _names(lambda r: r.streams_rows)  # may start a streamed stage
PARAMS = {n: r.params for n, r in sorted(records().items()) if r.params}  # window ops' params struct
TFLM_SCRATCH = {n: r.tflm_scratch for n, r in sorted(records().items()) if r.tflm_scratch}
RESOLVER = {n: r.tflm for n, r in sorted(records().items()) if r.tflm}


def validation_rules() -> OpRules:
    """Arity, Prepare checks, supported names and hints for ``hardtool.core.graph.validate``."""
    recs = records()
    hints = {n: r.hints[0] for n, r in recs.items() if r.hints} | UNRECORDED_HINTS
    return OpRules(
        arity={n: r.arity for n, r in recs.items()},
        checks={n: r.prepare for n, r in recs.items() if r.prepare is not None},
        supported=SUPPORTED,
        hints=hints,
        folds_pad=FOLDS_PAD,
        fuses_add=FUSES_ADD,
    )


def data_inputs(op: Op) -> int:
    """How many leading inputs of an elementwise op its output may overwrite (its required ones)."""
    return records()[op.name].arity[0]


def refusal(graph: Graph, op: Op) -> str | None:
    """Why the kernels cannot run ``op`` of the lowered ``graph``, or None when they can."""
    rec = records().get(op.name)
    if rec is None or not rec.runs:
        return NO_KERNEL
    try:
        if rec.refuse is not None:
            rec.refuse(graph, op)
        rec.choose(graph, op, True)
    except (ValueError, IndexError) as e:  # Refused, and the layout/quant helpers' ValueErrors
        return str(e)
    return None


def unsupported(graph: Graph) -> list[str]:
    """One line per op the kernels cannot run: index, name, tensor shapes and why."""
    lines = []
    for op in graph.ops:
        why = refusal(graph, op)
        if why is not None:
            lines.append(f"{describe_op(graph, op)}: {why}")
    return lines


def choose(graph: Graph, op: Op, dsp: bool = True, has_scratch: bool = True) -> Kernel:
    """The one kernel decision for ``op``: its record's ``choose``. Without the scratch it asks
    for (``memplan --lean-kernels``, only for a record whose scratch is optional: ``lean``), the
    general entry point, whose portable path needs none."""
    rec = records().get(op.name)
    if rec is None or rec.choose is None:
        raise ValueError(f"{NO_KERNEL} for op {op.name!r}")
    k = rec.choose(graph, op, dsp)
    if k.scratch > 0 and not has_scratch:
        if not rec.lean:
            raise ValueError(f"{op.name} needs {k.scratch} bytes of scratch and the plan gives it none")
        k = replace(rec.choose(graph, op, False), reason=LEAN)
    return k


def scratch_bytes(op: Op, graph: Graph) -> int:
    """Scratch bytes of one op of a lowered graph (the memory planner's ``ScratchFn``): that of
    the kernel its record chooses for a DSP target (the most any target's choice needs). An op
    the kernels refuse or have no kernel for gives 0; codegen is where it is reported."""
    rec = records().get(op.name)
    if rec is None or rec.choose is None:
        return 0
    try:
        return rec.choose(graph, op, True).scratch
    except (ValueError, IndexError):
        return 0


def inplace_gap(op: Op, graph: Graph) -> int | None:
    """``kernels.memory.inplace_gap`` for a spatial op (its record's memory class), else None."""
    return memory.inplace_gap(op, graph) if op.name in SPATIAL_OPS else None


def window(op: Op, graph: Graph) -> memory.Window | None:
    """``kernels.memory.window`` for a spatial op, else None."""
    return memory.window(op, graph) if op.name in SPATIAL_OPS else None


def writes_strided(op: Op, graph: Graph) -> bool:
    """True when the op's kernel can write its output pixels ``output_stride`` elements apart
    (a channel slice of a wider tensor): its record says so and the output is one int8 image."""
    if op.name not in STRIDED_OUTPUT_OPS or len(op.outputs) != 1:
        return False
    y = graph.tensors[op.outputs[0]]
    return len(y.shape) == 4 and y.dtype == "int8" and y.shape[0] == 1


def _support(name: str) -> tuple[str, str]:
    """(hardtool runs it: yes / no, a note) for one builtin."""
    rec = records().get(name)
    if rec is None:
        return "no", ""
    if rec.runs:
        return "yes", rec.summary
    return "no", rec.summary


def op_table() -> list[tuple[str, str, str, str]]:
    """(builtin, TFLite Micro resolver method or "-", hardtool yes / no, note): every builtin
    TFLite Micro registers and every op record (the fused HARD_* ops included), sorted by name."""
    names = sorted(set(TFLM_METHODS) | set(records()))
    return [(n, TFLM_METHODS.get(n, "-"), *_support(n)) for n in names]


def op_table_markdown() -> str:
    """``op_table()`` as the README's Markdown table."""
    rows = ["| Builtin | TFLite Micro | hardtool | Notes |", "|---|---|---|---|"]
    rows += [
        f"| `{n}` | {'`' + m + '`' if m != '-' else '-'} | {s} | {note} |" for n, m, s, note in op_table()
    ]
    return "\n".join(rows) + "\n"


def op_table_text() -> str:
    """``op_table()`` as aligned plain text (``hardtool codegen --list-ops``)."""
    rows = [("BUILTIN", "TFLITE MICRO", "HARDTOOL", "NOTES"), *op_table()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3] for r in rows]
    runs = sum(1 for r in rows[1:] if r[2] == "yes")
    return (
        "\n".join(line.rstrip() for line in lines)
        + f"\n{runs} of {len(rows) - 1} ops run on hardtool's kernels\n"
    )


README_MARKERS = ("<!-- op-table:start -->\n", "<!-- op-table:end -->")


def update_readme(path: Path) -> bool:
    """Rewrite the op table between the README's markers from the records; True if it changed."""
    text = Path(path).read_text()
    start, end = (re.escape(m) for m in README_MARKERS)
    new = re.sub(
        f"{start}.*?{end}",
        lambda m: README_MARKERS[0] + op_table_markdown() + README_MARKERS[1],
        text,
        flags=re.S,
    )
    if new == text:
        return False
    atomic_write_bytes(Path(path), new.encode())
    return True


if __name__ == "__main__":  # python -m hardtool.ops.tables README.md: after adding an op record
    done = update_readme(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
    print("README op table " + ("rewritten from the op records" if done else "up to date"))
