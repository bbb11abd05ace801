"""Execution orders. Branchy graphs (HARD's three resolutions, U-Net skips) have many legal
orders and their peak live memory differs; a dynamic programme over the sets of executed ops
finds the order with the smallest peak. The live bytes after a set of ops depend only on the set,
so keeping the best peak per set is exact; when a level has more sets than ``beam`` the cheapest
are kept (then the result is a good order, not a proven best). The search is bounded by a count
of states, never by the clock: once ``max_states`` sets have been generated the remaining levels
keep only their cheapest set, so the same graph gives the same order on any machine and load."""

from __future__ import annotations

from dataclasses import dataclass

from hardtool.core.graph.ir import Graph
from hardtool.memplan.lifetimes import Groups, inplace_candidate, inplace_saving, units


@dataclass
class Schedule:
    order: list[int]
    peak: int  # max bytes live at one step in this order (the placement lower bound)
    exact: bool  # True when no state was pruned: no order has a smaller peak
    states: int  # sets generated (the search's work, bounded by ``max_states``)


def file_order(g: Graph) -> list[int]:
    return list(range(len(g.ops)))


def _dependencies(g: Graph) -> list[int]:
    producers = g.producers()
    deps = []
    for op in g.ops:
        m = 0
        for t in op.inputs:
            if t >= 0 and t in producers:
                m |= 1 << producers[t]
        deps.append(m)
    return deps


@dataclass
class _Problem:
    """What the search needs per op, with buffers as units (static groups) and sets as bitmasks."""

    units: list
    deps: list[int]  # per op: bitmask of ops it needs
    succ: list[list[int]]  # per op: ops that need it
    makes: list[list[int]]  # per op: units it writes
    reads: list[list[int]]  # per op: units it reads
    # per op: ((input unit it may overwrite, gap) candidates, its output unit)
    inplace: list[tuple[list[tuple[int, int]], int] | None]
    scratch: dict[int, int]


def _problem(g: Graph, gr: Groups, scratch: dict[int, int], inplace_on: bool, spatial: bool) -> _Problem:
    us, unit_of = units(g, gr)
    n = len(g.ops)
    deps = _dependencies(g)
    inplace = []
    for op in g.ops:
        c = inplace_candidate(g, op, gr, spatial) if inplace_on else []
        inplace.append(([(unit_of[x], gap) for x, gap in c], unit_of[op.outputs[0]]) if c else None)
    return _Problem(
        units=us,
        deps=deps,
        succ=[[v for v in range(n) if deps[v] >> p & 1] for p in range(n)],
        makes=[sorted({unit_of[t] for t in op.outputs if t in unit_of}) for op in g.ops],
        reads=[sorted({unit_of[t] for t in op.inputs if t >= 0 and t in unit_of}) for op in g.ops],
        inplace=inplace,
        scratch=scratch,
    )


def _step(pb: _Problem, v: int, mask: int, done: int, cur: int) -> tuple[int, int]:
    """(bytes live while op ``v`` runs, bytes live after it) when ``mask`` ran before it."""
    us = pb.units
    new = [u for u in pb.makes[v] if not us[u].is_input and not us[u].producers & mask]
    add = sum(us[u].size for u in new)
    step = cur + add + pb.scratch.get(v, 0)
    ip = pb.inplace[v]
    if ip is not None and ip[1] in new:
        for ux, gap in ip[0]:
            if not us[ux].is_output and not us[ux].consumers & ~done:
                step -= inplace_saving(us[ux].size, us[ip[1]].size, gap)
                break
    freed = sum(
        us[u].size
        for u in {*pb.reads[v], *pb.makes[v]}
        if not us[u].is_output and not us[u].consumers & ~done
    )
    return step, cur + add - freed


def _expand(pb: _Problem, level: dict) -> dict:
    """Every set reachable by running one more ready op, keeping the smallest peak per set."""
    nxt: dict[int, tuple[int, int, int, int, int]] = {}
    for mask, (peak, cur, _, _, ready) in level.items():
        r = ready
        while r:
            low = r & -r
            v = low.bit_length() - 1
            r ^= low
            done = mask | low
            step, after = _step(pb, v, mask, done, cur)
            old = nxt.get(done)
            pk = max(peak, step)
            if old is None or pk < old[0]:
                nr = ready ^ low
                for s_ in pb.succ[v]:
                    if not pb.deps[s_] & ~done:
                        nr |= 1 << s_
                nxt[done] = (pk, after, mask, v, nr)
    if not nxt:
        raise ValueError("graph has a cycle or an op whose input is never produced")
    return nxt


def _start(pb: _Problem, n: int, prefix: list[int]) -> tuple[int, int, int]:
    """(mask, live bytes, ready ops) once the ``prefix`` ops have run (they come first in any order)."""
    mask = sum(1 << v for v in prefix)
    live = 0
    for u in pb.units:
        made = u.is_input or (u.producers & mask) != 0
        if made and (u.is_output or u.consumers & ~mask):
            live += u.size
    ready = sum(1 << v for v in range(n) if not mask >> v & 1 and not pb.deps[v] & ~mask)
    return mask, live, ready


def best_order(
    g: Graph,
    gr: Groups,
    scratch: dict[int, int],
    beam: int = 4000,
    max_states: int = 100_000,
    prefix: list[int] | tuple[int, ...] = (),
    inplace: bool = True,
    spatial: bool = True,
) -> Schedule:
    """The order with the smallest peak of live bytes (exact unless pruned; see module doc).
    ``prefix``: ops that run first (a stage, whose steps memplan costs itself): the search and
    its peak start after them."""
    pb = _problem(g, gr, scratch, inplace, spatial)
    n = len(g.ops)
    prefix = list(prefix)
    mask0, cur0, ready0 = _start(pb, n, prefix)
    # mask -> (peak, cur, prev mask, last op, ready mask)
    level: dict[int, tuple[int, int, int, int, int]] = {mask0: (cur0, cur0, -1, -1, ready0)}
    history: list[dict[int, tuple[int, int, int, int, int]]] = []
    exact, states = True, 0
    for _ in range(n - len(prefix)):
        nxt = _expand(pb, level)
        states += len(nxt)
        if len(nxt) > beam:
            exact = False
            nxt = dict(sorted(nxt.items(), key=lambda kv: kv[1][:2])[:beam])
        if states > max_states and beam > 1:
            beam, exact = 1, False
            nxt = dict([min(nxt.items(), key=lambda kv: kv[1][:2])])
        history.append(nxt)
        level = nxt
    full = (1 << n) - 1
    order, mask = [], full
    for lv in reversed(history):
        _, _, prev, v, _ = lv[mask]
        order.append(v)
        mask = prev
    order.reverse()
    return Schedule(prefix + order, level[full][0], exact, states)
