"""The memplan.json contract checked as code (not asserts): codegen runs it on every plan it
reads, so a hand-edited or stale plan can never put two live buffers on the same bytes.

Given the lowered graph, nothing the plan says about sharing is trusted (``alias_of`` is only
informative): the lifetimes are checked against the graph and the order, the first stage is
rebuilt from the graph, and two buffers may overlap while both are live only when the graph
makes it exact, derived again here:
- a tensor and its reshape (same bytes, same offset);
- a concatenation input and the output, the input exactly at its slice (with the slice's
  stride when it is a channel slice); two slices of one output never share a byte;
- a concatenation input the concat copies, relocated: it lies at the top of the output's bytes and
  dies at the step of the first producer of another input lying in its slice (that op copies it
  into its slice first, in ascending order; ``hardtool.memplan.lifetimes.relocated_at``); the
  output's bytes are held from that step; only the output and its slices may share the input's
  bytes, from that step on;
- an op's output written over an input that dies at that op: an elementwise op whose kernel
  reads ``in[i]`` before writing ``out[i]`` (same offset), or a convolution / depthwise /
  pooling whose output starts at least ``hardtool.ops.tables.inplace_gap`` bytes before
  its input (the kernels' raster order; docs/contracts.md §2)."""

from __future__ import annotations

from hardtool.core.errors import HardtoolError
from hardtool.core.graph import Graph
from hardtool.memplan import stage as S
from hardtool.memplan.lifetimes import concat_slices, relocated_at, relocation_offset, view_extent
from hardtool.ops.tables import ALIASING_OPS, CONCAT_OPS, RESHAPES, SPATIAL_OPS, inplace_gap

VERSION = 2
_KEYS = ("version", "model_sha256", "arena_size", "order", "buffers", "peak")
_BUFFER_KEYS = ("name", "kind", "offset", "size", "first_step", "last_step")


class PlanError(HardtoolError):
    """memplan.json breaks its contract."""


def _fail(why: str) -> PlanError:
    return PlanError(f"memplan.json is inconsistent: {why}; rerun hardtool memplan")


def _check_shape(doc: dict) -> None:
    if not isinstance(doc, dict) or any(k not in doc for k in _KEYS):
        raise _fail(f"it must be an object with keys {', '.join(_KEYS)}")
    if doc["version"] != VERSION:
        raise _fail(f"version {doc['version']!r}, expected {VERSION}")
    if not isinstance(doc["arena_size"], int) or doc["arena_size"] < 0:
        raise _fail(f"arena_size {doc['arena_size']!r} is not a byte count")
    if not isinstance(doc["order"], list) or not all(type(i) is int for i in doc["order"]):
        raise _fail("its order is not a list of op indices")
    if not isinstance(doc["buffers"], list):
        raise _fail("its buffers are not a list")
    for e in doc["buffers"]:
        if not isinstance(e, dict) or any(k not in e for k in _BUFFER_KEYS):
            raise _fail(f"a buffer lacks one of {', '.join(_BUFFER_KEYS)}")
        if not all(isinstance(e[k], int) for k in ("offset", "size", "first_step", "last_step")):
            raise _fail(f"buffer {e['name']!r} has a non-integer offset, size or step")
        v = e.get("view")
        if v is not None and not (
            isinstance(v, dict)
            and all(isinstance(v.get(k), int) for k in ("start", "extent", "outer", "row_bytes"))
            and v["outer"] > 0
            and e["size"] % v["outer"] == 0
            and 0 < e["size"] // v["outer"] <= v["row_bytes"]
        ):
            raise _fail(f"buffer {e['name']!r} has a malformed view")


def extent(e: dict) -> int:
    """Bytes from the buffer's first byte to its last (a strided view spans its rows)."""
    v = e.get("view")
    return e["size"] if v is None else view_extent(v, e["size"])


def _group(e: dict) -> tuple:
    """Buffers of one alias group share memory by design (the check without a graph)."""
    if e.get("tensor") is None:
        return ("s", e.get("op"))
    return ("t", e["alias_of"] if e.get("alias_of") is not None else e["tensor"])


def _check_bounds(doc: dict) -> None:
    steps = len(doc["order"])
    for e in doc["buffers"]:
        if e["offset"] < 0 or e["size"] < 0 or e["offset"] + extent(e) > doc["arena_size"]:
            raise _fail(f"buffer {e['name']!r} [{e['offset']}, +{extent(e)}) lies outside the arena")
        if not 0 <= e["first_step"] <= e["last_step"] < max(steps, 1):
            raise _fail(f"buffer {e['name']!r} lives from step {e['first_step']} to {e['last_step']}")


def strided_overlap(a: dict, b: dict) -> bool:
    """Whether two buffers share a byte: exact for two views with the same stride, else their
    bounding intervals."""
    va, vb = a.get("view"), b.get("view")
    if va is None or vb is None or va["row_bytes"] != vb["row_bytes"] or va["outer"] != vb["outer"]:
        return a["offset"] < b["offset"] + extent(b) and b["offset"] < a["offset"] + extent(a)
    r, d = va["row_bytes"], a["offset"] - b["offset"]
    ea, eb = a["size"] // va["outer"], b["size"] // vb["outer"]
    # rows i of a and j of b meet iff -ea < d + (i - j) * r < eb for some |i - j| < outer
    lo, hi = (-ea - d) // r + 1, -((d - eb) // r) - 1  # integer k with -ea - d < k r < eb - d
    return max(lo, 1 - va["outer"]) <= min(hi, va["outer"] - 1)


class _Graph:
    """What the overlap check derives from the graph: reshape classes, concat slices, producers."""

    def __init__(self, graph: Graph, doc: dict):
        self.g = graph
        self.pos = {op: s for s, op in enumerate(doc["order"])}
        self.producers = graph.producers()
        self.consumers = graph.consumers()
        st = doc.get("stage") or {}
        self.stage_ops = set(st.get("ops", []))
        self.entries = {e["tensor"]: e for e in doc["buffers"] if e.get("tensor") is not None}
        self.order = doc["order"]
        self.cls = {t: t for t in graph.activations()}
        for op in graph.ops:
            if (
                op.name in RESHAPES
                and graph.tensors[op.inputs[0]].nbytes == graph.tensors[op.outputs[0]].nbytes
            ):
                self.cls[self._find(op.outputs[0])] = self._find(op.inputs[0])

    def _find(self, t: int) -> int:
        while self.cls.get(t, t) != t:
            t = self.cls[t]
        return t

    def same_bytes(self, a: dict, b: dict) -> bool:
        return (
            self._find(a["tensor"]) == self._find(b["tensor"])
            and a["offset"] == b["offset"]
            and a["size"] == b["size"]
        )

    def concat_slice(self, x: dict, y: dict) -> bool:
        """x is an input of the concat writing y, lying exactly in its slice until the concat."""
        op_i = self.producers.get(y["tensor"])
        op = self.g.ops[op_i] if op_i is not None else None
        if op is None or op.name not in CONCAT_OPS or x["tensor"] not in op.inputs:
            return False
        if op.inputs.count(x["tensor"]) != 1 or x["last_step"] != self.pos[op_i]:
            return False
        _, off, view = next(s for s in concat_slices(self.g, op) if s[0] == x["tensor"])
        return x["offset"] == y["offset"] + off and x.get("view") == view

    def relocation(self, x: dict) -> tuple[int, dict] | None:
        """(step, output buffer) when x is a concat input relocated into its slice at that step."""
        t = x.get("tensor")
        cons = [self.g.ops[c] for c in self.consumers.get(t, []) if self.g.ops[c].name in CONCAT_OPS]
        for op in cons:
            y = self.entries.get(op.outputs[0])
            if y is None or op.index in self.stage_ops or x.get("view") or y.get("view") or "stage" in x:
                continue
            in_slice = {
                i for i in op.inputs if i in self.entries and i != t and self.concat_slice(self.entries[i], y)
            }
            f = relocated_at(self.g, op, t, in_slice, self.pos)
            at = relocation_offset(self.g, op, t)
            if f is None or at is None or x["last_step"] != f or self.order[f] in self.stage_ops:
                continue
            whole = y["size"] == self.g.tensors[op.outputs[0]].nbytes
            if x["offset"] == y["offset"] + at and whole and y["first_step"] <= f:
                return f, y
        return None

    def relocated(self, x: dict, s: dict) -> bool:
        """s is written into its concat slice over x once x was copied into its own slice."""
        r = self.relocation(x)
        return r is not None and s["first_step"] >= r[0] and (s is r[1] or self.concat_slice(s, r[1]))

    def inplace(self, x: dict, y: dict) -> bool:
        """y is written over x by the op producing y, x dying there."""
        op_i = self.producers.get(y["tensor"])
        if op_i is None or op_i in self.stage_ops or "stage" in x or "stage" in y:
            return False
        op, s = self.g.ops[op_i], self.pos[op_i]
        if x["tensor"] not in op.inputs or x["last_step"] != s or y["first_step"] != s:
            return False
        if x.get("view") is not None or y.get("view") is not None:
            return False
        tx, ty = self.g.tensors[x["tensor"]], self.g.tensors[y["tensor"]]
        if op.name in ALIASING_OPS:
            return tx.shape == ty.shape and tx.itemsize == ty.itemsize and x["offset"] == y["offset"]
        spatial = op.name in SPATIAL_OPS and op.inputs[0] == x["tensor"] and len(op.outputs) == 1
        spatial = spatial and x["tensor"] not in op.inputs[1:]  # not a fused ADD's residual too
        gap = inplace_gap(op, self.g) if spatial else None
        return gap is not None and y["offset"] + gap <= x["offset"]

    def legal(self, a: dict, b: dict) -> bool:
        if a.get("tensor") is None or b.get("tensor") is None:
            return False
        if "stage" not in a and "stage" not in b and self.same_bytes(a, b):
            return True
        rels = (self.concat_slice, self.inplace, self.relocated)
        return any(rel(p, q) for rel in rels for p, q in ((a, b), (b, a)))


def _check_overlaps(doc: dict, ctx: _Graph | None) -> None:
    bufs = sorted(doc["buffers"], key=lambda e: e["offset"])
    for i, a in enumerate(bufs):
        for b in bufs[i + 1 :]:
            if b["offset"] >= a["offset"] + extent(a):
                break
            live_together = a["first_step"] <= b["last_step"] and b["first_step"] <= a["last_step"]
            if not live_together or not a["size"] or not b["size"] or not strided_overlap(a, b):
                continue
            ok = ctx.legal(a, b) if ctx is not None else _group(a) == _group(b)
            if not ok:
                raise _fail(f"buffers {a['name']!r} and {b['name']!r} are live together and overlap")


def _check_lifetimes(doc: dict, graph: Graph, planned: dict[int, dict], ctx: _Graph) -> None:
    """Each buffer lives from its producer's step (inputs: 0) through its last reader's (outputs:
    the end; a relocated concat input: the step it is copied at); a scratch buffer at its op's
    step; the order runs producers before readers."""
    pos, producers = ctx.pos, ctx.producers
    for op in graph.ops:
        for t in op.inputs:
            if t in producers and pos[producers[t]] >= pos[op.index]:
                raise _fail(f"op #{op.index} runs before the op producing its input {t}")
    for t, e in planned.items():
        steps = [pos[c] for c in ctx.consumers.get(t, [])]
        steps.append(pos[producers[t]] if t in producers else 0)
        if t in graph.outputs:
            steps.append(len(doc["order"]) - 1)
        moved = ctx.relocation(e)
        if moved is not None:  # read by the concat before it runs: copied at step moved[0]
            steps = [s for s in steps if s <= moved[0]]
        if e["first_step"] > min(steps) or e["last_step"] < max(steps):
            raise _fail(f"tensor {t} '{e['name']}' is used outside its planned steps")
    for e in doc["buffers"]:
        if e.get("tensor") is None and not (
            e.get("op") in pos and e["first_step"] == pos[e["op"]] == e["last_step"]
        ):
            raise _fail(f"scratch buffer {e['name']!r} does not live at its op's step")


def _stage_sizes(doc: dict, graph: Graph) -> dict[int, tuple[int, str, int, int]]:
    """tensor -> (bytes, role, first step at most, last step at least) of the stage's buffers."""
    st = doc.get("stage")
    if not st:
        return {}
    ops, streamed, rows = st.get("ops"), st.get("streamed"), st.get("band_rows")
    if (
        not isinstance(ops, list)
        or not ops
        or not isinstance(rows, int)
        or rows < 1
        or (not streamed and len(ops) < 2)
    ):
        raise _fail("its stage needs ops (two or more without streaming) and band_rows >= 1")
    if S.chain(graph, bool(streamed))[: len(ops)] != ops or doc["order"][: len(ops)] != ops:
        raise _fail(f"its stage ops {ops} are not a chain from the input run first")
    stage = S.build(graph, ops, bool(streamed), rows)
    if not S.valid(stage):
        raise _fail(f"its stage's bands of {rows} rows read no input rows somewhere")
    n, out = len(ops), {}
    for k, t in enumerate(stage.tensors[:-1]):
        if k or streamed:
            out[t] = (stage.held_bytes(k), "window" if k == 0 else "band", max(k - 1, 0), k if k else n - 1)
    out[stage.tensors[-1]] = (graph.tensors[stage.tensors[-1]].nbytes, "", 0, n - 1)
    return out


def _check_graph(doc: dict, graph: Graph, ctx: _Graph) -> None:
    """The plan describes exactly this (lowered) graph: its order, every activation, its sizes,
    lifetimes and stage."""
    order = doc["order"]
    if sorted(order) != list(range(len(graph.ops))):
        raise _fail(f"its order does not run each of the model's {len(graph.ops)} ops once")
    planned = {e["tensor"]: e for e in doc["buffers"] if e.get("tensor") is not None}
    staged = _stage_sizes(doc, graph)
    for t in graph.activations():
        tensor = graph.tensors[t]
        e = planned.get(t)
        if e is None:
            raise _fail(f"tensor {t} '{tensor.name}' has no buffer")
        need, role, first, last = staged.get(t, (tensor.nbytes, "", None, None))
        if e["size"] != need or e.get("stage", "") != role:
            raise _fail(
                f"tensor {t} '{tensor.name}' needs {need} bytes{' ' + role if role else ''}, the plan gives {e['size']}"
            )
        if first is not None and (e["first_step"] > first or e["last_step"] < last):
            raise _fail(f"stage tensor {t} '{tensor.name}' must live through steps {first}..{last}")
        if e.get("view") is not None and "stage" in e:
            raise _fail(f"stage tensor {t} '{tensor.name}' cannot be a strided view")
    staged_t = {t for t, v in staged.items() if v[1]}
    ordinary = {t: e for t, e in planned.items() if t not in staged_t}
    _check_lifetimes(doc, graph, ordinary, ctx)


def check_plan(doc: dict, graph: Graph | None = None) -> None:
    """Raise PlanError if the document is malformed, a buffer leaves the arena, or two buffers
    that are live at the same step overlap where the graph does not make it exact (see the module
    doc); with the lowered ``graph``, also if the plan does not describe exactly that graph. Without
    a graph only members of one declared alias group may overlap."""
    _check_shape(doc)
    _check_bounds(doc)
    ctx = _Graph(graph, doc) if graph is not None else None
    if ctx is not None:
        _check_graph(doc, graph, ctx)
    _check_overlaps(doc, ctx)
