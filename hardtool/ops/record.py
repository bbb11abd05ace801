"""One record per TFLite builtin: everything the toolchain knows about an op, in one place.

Every other table (graph validation's arity and field checks, the kernels' refusal list, the
planner's memory classes and scratch sizes, the kernel choice written into codegen.json, the
emitter, TFLite Micro's op resolver, the README's op table) is derived from these records.
CMSIS-NN's ``arm_convolve_wrapper_s8.c`` is the picture for ``choose``: one explicit decision,
and the generated code calls exactly the function it names, with exactly the weight layout it
names.

Adding an op = one module under ``hardtool/ops/`` holding its ``RECORDS`` + its C kernel under
``firmware/kernels/`` + its tests. Nothing else in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hardtool.core.graph.ir import Graph, Op
    from hardtool.core.graph.validate import Check
    from hardtool.ops.cgen import EmitContext, Layer


class Memory(str, Enum):
    """How an op's output may share memory with its inputs (what the planner may do)."""

    OWN = "own"  # needs a buffer of its own
    ALIAS = "alias"  # same bytes, new shape (RESHAPE): the output *is* the input
    ELEMENTWISE = "elementwise"  # out[i] from in[i] only: may sit exactly on a dying same-size input
    SPATIAL = "spatial"  # raster-order window kernel: in place with a gap (kernels.memory.inplace_gap)
    # the output is its inputs side by side (CONCATENATION): an input may be produced directly in
    # its slice of the output, or copied there early (memplan.lifetimes, relocation)
    CONCAT = "concat"


@dataclass(frozen=True)
class Kernel:
    """The C function a layer calls, the filter layout it reads, its scratch, and why."""

    symbol: str  # C entry point in firmware/kernels/hard_kernels.h
    layout: str | None = None  # hardtool.kernels.weights function for the filter; None = as stored
    scratch: int = 0  # bytes: the kernel's *_get_buffer_size()
    reason: str = "portable"
    tile_pixels: int = 0  # the q15-filter GEMMs' output pixels per tile (0: the kernel's default)
    tuned: dict | None = None  # what codegen --tune measured and chose (codegen.json's layer table)


@dataclass(frozen=True)
class OpRecord:
    """One TFLite builtin (or a HARD_* op made by lowering)."""

    name: str
    # (required inputs, most inputs (None: any), outputs (None: any, e.g. SPLIT's num_splits));
    # inputs past the required may be -1
    arity: tuple[int, int | None, int | None]
    # the checks TFLite's Prepare makes on fields / shapes / quantisation (graph validation);
    # fail with ``c.fail("...")``
    prepare: Callable[[Check], None] | None = None
    # raises kernels.support.Refused (a ValueError) when our kernels cannot run this instance
    refuse: Callable[[Graph, Op], None] | None = None
    memory: Memory = Memory.OWN
    strided_output: bool = False  # can write its output pixels ``output_stride`` apart
    # C params struct of a window op (``{prefix}_p``); a stage function copies it per band and
    # sets the band's border padding (codegen.stage)
    params: str | None = None
    # lowering may fold into it a PAD before it (its kernel pads with the input's zero point) and a
    # SPACE_TO_BATCH_ND -> op -> BATCH_TO_SPACE_ND (as dilation): core/graph/lower via core/oprules
    folds_pad: bool = False
    # lower() may fold a residual ADD of its output into its output stage (core/graph/fuse): its
    # kernels take ``hard_fused_add`` (the fused op reads the residual as input 3)
    fuses_add: bool = False
    streams_rows: bool = False  # can be a streamed stage's first op: consumes input rows as they arrive
    # its scratch is optional: ``choose(graph, op, dsp=False)`` names a general entry point whose
    # portable path runs without it, so ``memplan --lean-kernels`` may give it none
    lean: bool = False
    # the one kernel decision: (graph, op, dsp target?) -> Kernel (symbol, layout, scratch, why)
    choose: Callable[[Graph, Op, bool], Kernel] | None = None
    # writes the layer's constants and its call of ``choose(...).symbol`` into ``Layer``
    emit: Callable[[EmitContext, Op, Layer, str], None] | None = None
    tflm: str | None = None  # tflite::MicroMutableOpResolver method; None: TFLite Micro has none
    # scratch bytes TFLite Micro's CMSIS-NN kernel (Cortex-M7, DSP, no MVE) asks for, where the
    # host's reference kernel asks for none (codegen.tflm's arena margin); None: no scratch
    tflm_scratch: Callable[[Graph, Op], int] | None = None
    lowered: bool = False  # exists only after lower() (fused) or is folded away by it
    summary: str = ""  # one line for the README's op table and `codegen --list-ops`
    hints: tuple[str, ...] = field(default_factory=tuple)  # nearest rewrite when refused

    @property
    def runs(self) -> bool:
        """True when hardtool generates code for it (has an emitter)."""
        return self.emit is not None
