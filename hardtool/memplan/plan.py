"""The memory plan: pick an execution order and offsets for every activation and scratch buffer
of the lowered graph, so that the arena is as small as we can make it, and describe it as the
`memplan.json` contract (docs/contracts.md §2)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hardtool.core.boards import DEFAULT_STACK_BYTES, DEFAULT_TARGET, Target, get_target, statics_estimate
from hardtool.core.graph import Graph, Op, is_float_model, load_tflite, lower
from hardtool.kernels.scratch import scratch_bytes
from hardtool.memplan.contract import VERSION
from hardtool.memplan.float_scratch import SOURCE as FLOAT_SCRATCH_SOURCE
from hardtool.memplan.float_scratch import float_scratch_bytes
from hardtool.memplan.lifetimes import Block, blocks_for_order, live_profile, static_groups, tensor_lifetimes
from hardtool.memplan.place import Placement, place
from hardtool.memplan.schedule import Schedule, best_order, file_order

ScratchFn = Callable[[Op, Graph], int]  # scratch bytes an op's kernel needs
# Outside the arena, estimates until a link measures them (`hardtool build` writes the measured
# statics to build.json): the stack the firmware reserves, and the runtime statics measured for the
# target's boards (hardtool.core.boards.statics_estimate).
STACK_ESTIMATE = DEFAULT_STACK_BYTES


@dataclass
class PlanOptions:
    strided_concat: bool = False  # kernels can write into channel slices of a concat output
    beam: int = 4000
    schedule_seconds: float = 2.0
    place_seconds: float = 1.0


@dataclass
class Plan:
    graph: Graph  # lowered
    order: list[int]
    blocks: list[Block]  # offsets set
    arena: int
    lower_bound: int
    profile: list[int]  # live bytes per step
    scheduler: str
    schedule_exact: bool
    placer: str
    placement_optimal: bool
    greedy_arena: int  # TFLM's greedy-by-size placer on the same blocks and order
    scratch_kind: str  # 'exact' | 'estimate'
    seconds: float
    first: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)
    precision: str = "int8"  # 'int8' | 'float32' (a float model: planned, not deployable)

    @property
    def peak_step(self) -> int:
        return max(range(len(self.profile)), key=lambda s: (self.profile[s], -s))

    def live_at(self, step: int) -> list[Block]:
        return sorted((b for b in self.blocks if b.first <= step <= b.last), key=lambda b: -b.size)


def _scratch_sizes(g: Graph, fn: ScratchFn) -> dict[int, int]:
    return {op.index: int(fn(op, g)) for op in g.ops}


def plan_graph(
    graph: Graph,
    scratch_fn: ScratchFn | None = None,
    options: PlanOptions | None = None,
    scratch_kind: str | None = None,
) -> Plan:
    """Plan a graph (lowered here if it is not yet): best of the file's order and the memory-aware
    order, each placed with the best placer; see the modules for how each step works. A float
    model is planned with float buffer sizes and estimated float kernel scratch (`float_scratch`)."""
    t0 = time.perf_counter()
    opt = options or PlanOptions()
    precision = "float32" if is_float_model(graph) else "int8"
    if scratch_fn is None and precision == "float32":
        scratch_fn, kind = float_scratch_bytes, "estimate"
    elif scratch_fn is None:
        scratch_fn, kind = scratch_bytes, "exact"
    else:
        kind = scratch_kind or "exact"
    g = lower(graph)
    gr = static_groups(g, opt.strided_concat)
    scratch = _scratch_sizes(g, scratch_fn)
    sched: Schedule = best_order(g, gr, scratch, opt.beam, opt.schedule_seconds)
    candidates = [("memory-aware" + ("" if sched.exact else " (beam)"), sched.order)]
    if sched.order != file_order(g):
        candidates.append(("file order", file_order(g)))
    best: tuple | None = None
    bound = sched.peak
    for name, order in candidates:
        blocks = blocks_for_order(g, order, gr, scratch)
        prof = live_profile(blocks, len(order))
        placement, greedy = place(blocks, max(prof), opt.place_seconds)
        bound = min(bound, max(prof))
        key = (placement.arena, max(prof))
        if best is None or key < best[0]:
            best = (key, name, order, blocks, prof, placement, greedy)
    assert best is not None
    _, name, order, blocks, prof, placement, greedy = best
    placement: Placement
    for b, off in zip(blocks, placement.offsets, strict=True):
        b.offset = off
    first, last = tensor_lifetimes(g, order)
    return Plan(
        g,
        order,
        blocks,
        placement.arena,
        bound,
        prof,
        name,
        sched.exact,
        placement.method,
        placement.optimal,
        greedy.arena,
        kind,
        time.perf_counter() - t0,
        first,
        last,
        precision,
    )


def plan_file(path: Path, scratch_fn: ScratchFn | None = None, options: PlanOptions | None = None) -> Plan:
    return plan_graph(load_tflite(path, float_ok=True), scratch_fn, options)


def buffers(plan: Plan) -> list[dict]:
    """One entry per activation tensor and per scratch buffer, as in memplan.json."""
    g = plan.graph
    out = []
    for b in plan.blocks:
        if b.tensor is None:
            out.append(
                {
                    "tensor": None,
                    "name": b.name,
                    "kind": "scratch",
                    "op": b.op,
                    "offset": b.offset,
                    "size": b.size,
                    "first_step": b.first,
                    "last_step": b.last,
                    "alias_of": None,
                }
            )
            continue
        for t, a in sorted(b.members.items()):
            tt = g.tensors[t]
            kind = "input" if t in g.inputs else "output" if t in g.outputs else "activation"
            e = {
                "tensor": t,
                "name": tt.name,
                "kind": kind,
                "offset": b.offset + a.offset,
                "size": tt.nbytes,
                "first_step": plan.first[t],
                "last_step": plan.last[t],
                "alias_of": None if t == b.tensor else b.tensor,
            }
            if t != b.tensor:
                e["alias_reason"] = a.reason
            if a.view is not None:
                e["view"] = a.view
            out.append(e)
    return sorted(out, key=lambda e: (e["first_step"], e["offset"]))


def _scratch_part(plan: Plan, scratch: int) -> dict:
    part = {"bytes": scratch, "kind": plan.scratch_kind, "in_arena": True}
    if plan.precision == "float32" and plan.scratch_kind == "estimate":
        part["source"] = FLOAT_SCRATCH_SOURCE
    return part


def peak_parts(plan: Plan, target: str = DEFAULT_TARGET) -> dict:
    """Peak SRAM = arena + stack + runtime statics; input/output/scratch are parts of the arena."""
    statics, source = statics_estimate(target)
    g = plan.graph
    s = plan.peak_step
    live = plan.live_at(s)
    ins = sum(g.tensors[t].nbytes for t in g.inputs)
    outs = sum(g.tensors[t].nbytes for t in g.outputs)
    scratch = max((b.size for b in plan.blocks if b.tensor is None), default=0)
    return {
        "total_bytes": plan.arena + STACK_ESTIMATE + statics,
        "step": s,
        "op": plan.order[s],
        "op_name": g.ops[plan.order[s]].name,
        "live_bytes_at_peak": plan.profile[s],
        "parts": {
            "arena": {"bytes": plan.arena, "kind": "exact"},
            "input": {"bytes": ins, "kind": "exact", "in_arena": True},
            "output": {"bytes": outs, "kind": "exact", "in_arena": True},
            "scratch": _scratch_part(plan, scratch),
            "stack": {"bytes": STACK_ESTIMATE, "kind": "estimate"},
            "runtime_statics": {"bytes": statics, "kind": "estimate", "source": source},
        },
        "live": [{"name": b.name, "tensor": b.tensor, "op": b.op, "bytes": b.size} for b in live],
    }


def to_json(
    plan: Plan,
    target: Target | None = None,
    budget: int | None = None,
    tflm: dict | None = None,
    tflm_layout: dict | None = None,
) -> dict:
    """The memplan.json document (docs/contracts.md §2)."""
    target = target or get_target(DEFAULT_TARGET)
    budget = budget if budget is not None else target.budget_bytes
    peak = peak_parts(plan, target.name)
    over = peak["total_bytes"] - budget
    g = plan.graph
    return {
        "version": VERSION,
        "model_sha256": g.sha256,
        "precision": plan.precision,
        "target": target.name,
        "budget_bytes": budget,
        "arena_size": plan.arena,
        "alignment": 16,
        "order": plan.order,
        "ops": [
            {
                "index": i,
                "name": g.ops[i].name,
                "source_ops": list(g.ops[i].source_ops),
                "scratch_bytes": next((b.size for b in plan.blocks if b.op == i), 0),
            }
            for i in plan.order
        ],
        "buffers": buffers(plan),
        "peak": peak,
        "live_per_step": plan.profile,
        "lower_bound": plan.lower_bound,
        "tflm_arena": tflm,
        "tflm_layout": tflm_layout,
        "greedy_by_size_arena": plan.greedy_arena,
        "planner": {
            "scheduler": plan.scheduler,
            "schedule_exact": plan.schedule_exact,
            "placer": plan.placer,
            "placement_optimal": plan.placement_optimal,
            "seconds": round(plan.seconds, 3),
        },
        "verdict": {"fits": over <= 0, "over_bytes": max(over, 0), "headroom_bytes": max(-over, 0)},
    }
