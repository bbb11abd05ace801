"""The memory plan: pick an execution order and offsets for every activation and scratch buffer
of the lowered graph, so that the arena is as small as we can make it, and describe it as the
`memplan.json` contract (docs/contracts.md §2).

Below the op-by-op bound (every op's inputs and output whole at once, as TFLite Micro holds
them) the plan goes with these techniques, each exact for hardtool's kernels and each switched
off by a ``PlanOptions`` flag: concatenation inputs produced in their slice of the output
(``strided_concat`` for channel slices), ops written over an input that dies there and
concatenation inputs relocated into their slice ahead of the concat (``inplace``), the first
convolution run on input rows as they arrive (``stream``) and the first ops run band by band
(``patch``, MCUNetV2). One more, off by default, trades speed for memory (``lean_kernels``,
X-CUBE-AI's "ram" optimisation): a convolution whose DSP scratch sets the peak gets no scratch,
so its kernel runs its portable path."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hardtool.core.boards import DEFAULT_STACK_BYTES, DEFAULT_TARGET, Target, get_target, statics_estimate
from hardtool.core.graph import Graph, Op, is_float_model, load_tflite, lower
from hardtool.memplan import stage as S
from hardtool.memplan.contract import VERSION
from hardtool.memplan.float_scratch import SOURCE as FLOAT_SCRATCH_SOURCE
from hardtool.memplan.float_scratch import float_scratch_bytes
from hardtool.memplan.lifetimes import (
    Block,
    Groups,
    blocks_for_order,
    inplace_savings,
    live_profile,
    relocated,
    stage_sizes,
    static_groups,
    tensor_lifetimes,
)
from hardtool.memplan.place import Placement, exact, quick
from hardtool.memplan.schedule import Schedule, best_order, file_order
from hardtool.ops.tables import LEAN_OPS, scratch_bytes

ScratchFn = Callable[[Op, Graph], int]  # scratch bytes an op's kernel needs
# Outside the arena, estimates until a link measures them (`hardtool build` writes the measured
# statics to build.json): the stack the firmware reserves, and the runtime statics measured for the
# target's boards (hardtool.core.boards.statics_estimate).
STACK_ESTIMATE = DEFAULT_STACK_BYTES


SCHEDULE_STATES = 100_000
PLACE_WORK = 100_000


@dataclass
class PlanOptions:
    strided_concat: bool = True  # producers write into channel slices of a concat output
    inplace: bool = True  # outputs over inputs that die at the op (elementwise, conv, depthwise, pool)
    # the first convolution consumes input rows as they arrive: off by default, as only the host
    # template feeds its input row by row (the board firmware receives the whole input first)
    stream: bool = False
    patch: bool = True  # the first ops run band by band (halo rows computed again)
    # the convolutions whose DSP scratch sets the peak run their scratch-free portable path
    lean_kernels: bool = False
    # the searches' budgets count work, never the clock, so a plan is the same on any machine
    beam: int = 4000  # sets kept per level of the order search
    schedule_states: int = SCHEDULE_STATES  # sets generated before it keeps one per level
    place_work: int = PLACE_WORK  # blocks the exact placer may try, weighed by blocks fitted against


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
    stage: S.Stage | None = None
    options: PlanOptions = field(default_factory=PlanOptions)
    precision: str = "int8"  # 'int8' | 'float32' (a float model: planned, not deployable)
    lean_ops: list[int] = field(default_factory=list)  # ops given no scratch (``lean_kernels``)

    @property
    def peak_step(self) -> int:
        return max(range(len(self.profile)), key=lambda s: (self.profile[s], -s))

    def live_at(self, step: int) -> list[Block]:
        return sorted((b for b in self.blocks if b.live_bytes(step)), key=lambda b: -b.live_bytes(step))


def _scratch_sizes(g: Graph, fn: ScratchFn) -> dict[int, int]:
    return {op.index: int(fn(op, g)) for op in g.ops}


@dataclass
class _Ctx:
    g: Graph
    gr: Groups
    scratch: dict[int, int]
    opt: PlanOptions
    # stages built so far, by (ops, streamed, band rows): they depend on the graph alone, so the
    # plans of one graph (lean rounds) share them
    stages: dict[tuple, S.Stage] = field(default_factory=dict)

    def stage(self, ops: list[int], streamed: bool, rows: int) -> S.Stage:
        key = (tuple(ops), streamed, rows)
        if key not in self.stages:
            self.stages[key] = S.build(self.g, ops, streamed, rows)
        return self.stages[key]


def _schedule(c: _Ctx, prefix: tuple[int, ...] = ()) -> Schedule:
    o = c.opt
    return best_order(c.g, c.gr, c.scratch, o.beam, o.schedule_states, prefix, o.inplace)


def _stage_step_bytes(c: _Ctx, st: S.Stage) -> int:
    """The most bytes live at one step of the stage: its output whole, its input (whole, or the
    window), the bands the step reads and writes, and the op's scratch."""
    g, n = c.g, len(st.ops)
    base = g.tensors[st.tensors[-1]].nbytes + st.held_bytes(0)
    if n == 1:
        return base + c.scratch.get(st.ops[0], 0)
    return max(
        base
        + (st.held_bytes(k) if k else 0)
        + (st.held_bytes(k + 1) if k + 1 < n else 0)
        + c.scratch.get(op, 0)
        for k, op in enumerate(st.ops)
    )


def _stage_candidates(c: _Ctx) -> list[tuple[bool, list[int]]]:
    """(streamed, ops) for every stage the options allow: streamed stages of any length when
    patches are on (one op when they are off), whole-input stages of two ops or more."""
    out = []
    if c.opt.stream:
        ops = S.chain(c.g, streamed=True)
        out += [(True, ops[:n]) for n in range(1, (len(ops) if c.opt.patch else min(1, len(ops))) + 1)]
    if c.opt.patch:  # without streaming, where streaming cannot take the same ops
        ops = S.chain(c.g, streamed=False)
        out += [(False, ops[:n]) for n in range(2, len(ops) + 1) if (True, ops[:n]) not in out]
    return [(s, ops) for s, ops in out if ops and c.g.ops[ops[-1]].outputs[0] not in c.gr.alias]


def choose_stage(c: _Ctx, plain_peak: int) -> tuple[S.Stage | None, Schedule | None]:
    """The stage with the smallest peak, then the fewest executed MACs, then the fewest ops;
    None unless it lowers the peak below ``plain_peak`` (the plan without a stage)."""
    best: tuple | None = None
    for streamed, ops in _stage_candidates(c):
        sched = _schedule(c, tuple(ops))
        h_out = c.g.tensors[c.g.ops[ops[-1]].outputs[0]].shape[1]
        for rows in reversed(S.band_choices(h_out)):
            st = c.stage(ops, streamed, rows)
            if not S.valid(st):
                continue
            peak = max(_stage_step_bytes(c, st), sched.peak)
            key = (peak, st.executed_macs, len(ops), not streamed, -rows)
            if peak < plain_peak and (best is None or key < best[0]):
                best = (key, st, sched)
    return (best[1], best[2]) if best is not None else (None, None)


def _arrange(c: _Ctx, order: list[int], stage: S.Stage | None) -> list[tuple]:
    """Blocks for one order, heuristically placed: (key, blocks, profile, placement, greedy,
    relocated). In-place outputs and relocated concat inputs are rigid within their group, which
    can make the placement worse than the live bytes allow, so the blocks with only the in-place
    ops the peak needs, and without relocations, are tried too."""
    out = []
    for relocate in (True, False):
        blocks = blocks_for_order(c.g, order, c.gr, c.scratch, stage, c.opt.inplace, relocate=relocate)
        moved = relocate and bool(relocated(blocks))
        prof = live_profile(blocks, len(order))
        savings = inplace_savings(c.g, order, blocks)
        needed = {op for op, (s, saved) in savings.items() if prof[s] + saved > max(prof)}
        for only in (None, needed) if len(needed) < len(savings) else (None,):
            if only is not None:
                blocks = blocks_for_order(
                    c.g, order, c.gr, c.scratch, stage, c.opt.inplace, only=only, relocate=relocate
                )
                prof = live_profile(blocks, len(order))
            placement, greedy = quick(blocks)
            out.append(((placement.arena, max(prof)), blocks, prof, placement, greedy, moved))
        if not moved:
            break  # nothing was relocated: these are the blocks without relocations too
    return out


def _precision(
    graph: Graph, scratch_fn: ScratchFn | None, scratch_kind: str | None, opt: PlanOptions
) -> tuple[str, ScratchFn, str, PlanOptions]:
    """(precision, scratch function, its kind, options) for a graph: a float model gets estimated
    float kernel scratch and no first stage (hardtool has no float kernels to run one)."""
    if not is_float_model(graph):
        kind = (scratch_kind or "exact") if scratch_fn is not None else "exact"
        return "int8", scratch_fn or scratch_bytes, kind, opt
    opt = replace(opt, stream=False, patch=False, lean_kernels=False)
    if scratch_fn is not None:
        return "float32", scratch_fn, scratch_kind or "exact", opt
    return "float32", float_scratch_bytes, "estimate", opt


# kernels that run a portable path, without scratch, when the caller gives them none
LEAN_ROUNDS = 8  # ops given up at most, one per round (each round plans once more)


def _without_scratch(fn: ScratchFn, ops: set[int]) -> ScratchFn:
    return lambda op, g: 0 if op.index in ops else fn(op, g)


def _lean(graph: Graph, fn: ScratchFn, kind: str, opt: PlanOptions, plan: Plan, stages: dict) -> Plan:
    """``lean_kernels``: while the op at the peak is a convolution with scratch (outside the first
    stage), plan again without its scratch; keep it when the arena (or, at an equal arena, the
    live-bytes bound) shrinks. The kept set is planned once more with the full search, and that
    plan wins only if it is smaller."""
    lean: set[int] = set()
    best, quick = plan, replace(opt, lean_kernels=False, **QUICK)
    for _ in range(LEAN_ROUNDS):
        op = best.order[best.peak_step]
        staged = best.stage is not None and op in best.stage.ops
        scratch = next((b.size for b in best.blocks if b.op == op), 0)
        if staged or not scratch or best.graph.ops[op].name not in LEAN_OPS:
            break
        trial = _plan_once(graph, _without_scratch(fn, lean | {op}), kind, quick, stages)
        if (trial.arena, trial.lower_bound) >= (best.arena, best.lower_bound):
            break
        lean, best = lean | {op}, trial
    if not lean:
        return plan
    final = _plan_once(graph, _without_scratch(fn, lean), kind, replace(opt, lean_kernels=False), stages)
    final.options, final.lean_ops = opt, sorted(lean)
    return final if final.arena < plan.arena else plan


def plan_graph(
    graph: Graph,
    scratch_fn: ScratchFn | None = None,
    options: PlanOptions | None = None,
    scratch_kind: str | None = None,
) -> Plan:
    """Plan a graph (lowered here if it is not yet): the stage (if one lowers the peak), then the
    best of the memory-aware order and the file's order, each placed with the best placer. A float
    model is planned with float buffer sizes and estimated float kernel scratch (`float_scratch`),
    without the first stage or in-place spatial ops (no float kernels of hardtool's run them).
    With ``lean_kernels`` the convolutions whose scratch sets the peak are given none (`_lean`)."""
    t0 = time.perf_counter()
    precision, scratch_fn, kind, opt = _precision(graph, scratch_fn, scratch_kind, options or PlanOptions())
    stages: dict = {}  # the first stages, built once for all the plans of this graph
    plan = _plan_once(graph, scratch_fn, kind, opt, stages)
    plan.precision = precision
    if opt.lean_kernels:
        plan = _lean(graph, scratch_fn, kind, opt, plan, stages)
    plan.seconds = time.perf_counter() - t0
    return plan


def _plan_once(
    graph: Graph, scratch_fn: ScratchFn, kind: str, opt: PlanOptions, stages: dict | None = None
) -> Plan:
    """One plan: the stage (if one lowers the peak), then the best of the memory-aware order and
    the file's order, each placed with the best placer."""
    t0 = time.perf_counter()
    g = lower(graph)
    gr = static_groups(g, opt.strided_concat, opt.inplace)
    c = _Ctx(g, gr, _scratch_sizes(g, scratch_fn), opt, stages if stages is not None else {})
    sched = _schedule(c)
    # the peak a stage must beat: without relocated concat inputs (the stage choice as before them)
    plain_blocks = blocks_for_order(g, sched.order, c.gr, c.scratch, None, opt.inplace, relocate=False)
    plain = max(live_profile(plain_blocks, len(g.ops)))
    stage, staged = choose_stage(c, plain)
    if staged is not None:
        sched = staged
    candidates = [("memory-aware" + ("" if sched.exact else " (beam)"), sched.order)]
    n = len(stage.ops) if stage else 0
    if sched.order != file_order(g) and (stage is None or file_order(g)[:n] == list(stage.ops)):
        candidates.append(("file order", file_order(g)))
    # the best heuristic placement with relocated concat inputs and the best without, refined
    family: dict[bool, tuple] = {}
    for name, order in candidates:
        for key, blocks, prof, placement, greedy, moved in _arrange(c, order, stage):
            if moved not in family or key < family[moved][0]:
                family[moved] = (key, name, order, blocks, prof, placement, greedy)
    best: tuple | None = None
    for _, name, order, blocks, prof, placement, greedy in family.values():
        placed: Placement = exact(blocks, max(prof), placement, opt.place_work)
        if best is None or placed.arena < best[-1].arena:
            best = (name, order, blocks, prof, greedy, placed)
    name, order, blocks, prof, greedy, placement = best
    for b, off in zip(blocks, placement.offsets, strict=True):
        b.offset = off
    first, last = tensor_lifetimes(g, order, stage)
    for x, (y, f) in relocated(blocks).items():  # dies where the concat output's bytes are held
        last[x], first[y] = f, min(first[y], f)
    return Plan(
        g,
        order,
        blocks,
        placement.arena,
        max(prof),
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
        stage,
        opt,
    )


def plan_file(path: Path, scratch_fn: ScratchFn | None = None, options: PlanOptions | None = None) -> Plan:
    return plan_graph(load_tflite(path, float_ok=True), scratch_fn, options)


def _buffer(plan: Plan, b: Block, t: int, sizes: dict[int, int]) -> dict:
    g, a = plan.graph, b.members[t]
    kind = "input" if t in g.inputs else "output" if t in g.outputs else "activation"
    e = {
        "tensor": t,
        "name": g.tensors[t].name,
        "kind": kind,
        "offset": b.offset + a.offset,
        "size": sizes[t],
        "first_step": plan.first[t],
        "last_step": plan.last[t],
        "alias_of": None if t == b.tensor else b.tensor,
    }
    if t != b.tensor:
        e["alias_reason"] = a.reason
    if a.view is not None:
        e["view"] = a.view
    if t in b.stage:
        e["stage"] = b.stage[t]
    return e


def buffers(plan: Plan) -> list[dict]:
    """One entry per activation tensor and per scratch buffer, as in memplan.json."""
    sizes, _ = stage_sizes(plan.graph, plan.stage)
    out = []
    for b in plan.blocks:
        if b.tensor is None:
            e = {"tensor": None, "name": b.name, "kind": "scratch", "op": b.op, "offset": b.offset}
            out.append(e | {"size": b.size, "first_step": b.first, "last_step": b.last, "alias_of": None})
            continue
        out += [_buffer(plan, b, t, sizes) for t in sorted(b.members)]
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
    sizes, _ = stage_sizes(g, plan.stage)
    ins = sum(sizes[t] for t in g.inputs)
    outs = sum(g.tensors[t].nbytes for t in g.outputs)
    scratch = max((b.size for b in plan.blocks if b.tensor is None), default=0)
    streamed = plan.stage is not None and plan.stage.streamed
    return {
        "total_bytes": plan.arena + STACK_ESTIMATE + statics,
        "step": s,
        "op": plan.order[s],
        "op_name": g.ops[plan.order[s]].name,
        "live_bytes_at_peak": plan.profile[s],
        "parts": {
            "arena": {"bytes": plan.arena, "kind": "exact"},
            "input": {"bytes": ins, "kind": "exact", "in_arena": True}
            | ({"streamed": True} if streamed else {}),
            "output": {"bytes": outs, "kind": "exact", "in_arena": True},
            "scratch": _scratch_part(plan, scratch),
            "stack": {"bytes": STACK_ESTIMATE, "kind": "estimate"},
            "runtime_statics": {"bytes": statics, "kind": "estimate", "source": source},
        },
        "live": [{"name": b.name, "tensor": b.tensor, "op": b.op, "bytes": b.live_bytes(s)} for b in live],
    }


def stage_json(st: S.Stage | None) -> dict | None:
    """The stage as memplan.json describes it (codegen rebuilds the patches from it)."""
    if st is None:
        return None
    return {
        "ops": list(st.ops),
        "tensors": list(st.tensors),
        "streamed": st.streamed,
        "band_rows": st.band_rows,
        "patches": len(st.patches),
        "grid": [len(st.patches), 1],
        "window_rows": st.held_rows[0] if st.streamed else None,
        "macs": st.macs,
        "executed_macs": st.executed_macs,
        "recomputed_macs": st.recomputed_macs,
    }


def inplace_ops(plan: Plan) -> list[dict]:
    """The ops whose output was placed over an input that dies there, with the gap between them."""
    g, pos, producers = plan.graph, {op: s for s, op in enumerate(plan.order)}, plan.graph.producers()
    out = []
    for b in plan.blocks:
        for t, a in b.members.items():
            if a.reason != "inplace":
                continue
            op = g.ops[producers[t]]
            x = next(i for i in op.inputs if i in b.members and plan.last[i] == pos[op.index])
            gap = b.members[x].offset - a.offset
            out.append(
                {"op": op.index, "name": op.name, "step": pos[op.index], "input": x, "output": t, "gap": gap}
            )
    return sorted(out, key=lambda e: e["step"])


def lean_ops(plan: Plan) -> list[dict]:
    """The ops ``lean_kernels`` gave no scratch: their kernels run the portable path (slower)."""
    g, pos = plan.graph, {op: s for s, op in enumerate(plan.order)}
    return [
        {
            "op": i,
            "name": g.ops[i].name,
            "step": pos[i],
            "scratch_saved": scratch_bytes(g.ops[i], g),
            "macs": S.op_macs(g, i),
        }
        for i in plan.lean_ops
    ]


def to_json(
    plan: Plan,
    target: Target | None = None,
    budget: int | None = None,
    tflm: dict | None = None,
    tflm_layout: dict | None = None,
    techniques: dict | None = None,
) -> dict:
    """The memplan.json document (docs/contracts.md §2)."""
    target = target or get_target(DEFAULT_TARGET)
    budget = budget if budget is not None else target.budget_bytes
    peak = peak_parts(plan, target.name)
    over = peak["total_bytes"] - budget
    g = plan.graph
    o = plan.options
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
        "stage": stage_json(plan.stage),
        "inplace_ops": inplace_ops(plan),
        "lean_ops": lean_ops(plan),
        "options": {
            k: getattr(o, k) for k in ("inplace", "stream", "patch", "strided_concat", "lean_kernels")
        },
        "peak": peak,
        "live_per_step": plan.profile,
        "lower_bound": plan.lower_bound,
        "techniques": techniques,
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


TECHNIQUES = {
    "strided_concat": "concatenation inputs produced in their channel slice",
    "inplace": "outputs written over inputs that die at the op; concat inputs relocated",
    "stream": "first convolution on input rows as they arrive",
    "patch": "first ops run band by band (halo rows computed again)",
    "lean_kernels": "scratch-free portable kernels for the convolutions at the peak (slower)",
}
QUICK = {"schedule_states": SCHEDULE_STATES // 4, "place_work": PLACE_WORK // 5}


def technique_report(graph: Graph, plan: Plan, scratch_fn: ScratchFn | None = None) -> dict:
    """The plan with each technique switched off in turn (arena, peak live bytes, what it saves),
    and the two lower bounds: op by op (no technique, every op's inputs and output whole, as
    TFLite Micro holds them) and with the techniques (this plan's live-bytes bound)."""
    o = plan.options
    base = replace(
        o, strided_concat=False, inplace=False, stream=False, patch=False, lean_kernels=False, **QUICK
    )
    op_by_op = plan_graph(graph, scratch_fn, base)
    rows = {}
    for name, what in TECHNIQUES.items():
        if not getattr(o, name):
            rows[name] = {"enabled": False, "what": what}
            continue
        off = plan_graph(graph, scratch_fn, replace(o, **{name: False}, **QUICK))
        rows[name] = {
            "enabled": True,
            "what": what,
            "arena_without": off.arena,
            "lower_bound_without": off.lower_bound,
            "saved_bytes": off.arena - plan.arena,
        }
    st = plan.stage
    return {
        "by_technique": rows,
        "op_by_op": {"arena": op_by_op.arena, "lower_bound": op_by_op.lower_bound},
        "lower_bounds": {"op_by_op": op_by_op.lower_bound, "with_techniques": plan.lower_bound},
        "macs": {
            "model": sum(S.op_macs(plan.graph, op.index) for op in plan.graph.ops),
            "recomputed": st.recomputed_macs if st else 0,
        },
    }
