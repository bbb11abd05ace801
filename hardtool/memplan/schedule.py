"""Execution orders. Branchy graphs (HARD's three resolutions, U-Net skips) have many legal
orders and their peak live memory differs; a dynamic programme over the sets of executed ops
finds the order with the smallest peak. The live bytes after a set of ops depend only on the set,
so keeping the best peak per set is exact; when a level has more sets than ``beam`` the cheapest
are kept (then the result is a good order, not a proven best), and a time limit bounds it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from hardtool.graph.ir import Graph
from hardtool.memplan.lifetimes import Groups, inplace_candidate, units


@dataclass
class Schedule:
    order: list[int]
    peak: int  # max bytes live at one step in this order (the placement lower bound)
    exact: bool  # True when no state was pruned: no order has a smaller peak
    states: int
    seconds: float


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


def best_order(
    g: Graph, gr: Groups, scratch: dict[int, int], beam: int = 4000, time_limit: float = 2.0
) -> Schedule:
    """The order with the smallest peak of live bytes (exact unless pruned; see module doc)."""
    t0 = time.perf_counter()
    us, unit_of = units(g, gr)
    n = len(g.ops)
    deps = _dependencies(g)
    full = (1 << n) - 1
    makes = [sorted({unit_of[t] for t in op.outputs if t in unit_of}) for op in g.ops]
    reads = [sorted({unit_of[t] for t in op.inputs if t >= 0 and t in unit_of}) for op in g.ops]
    inplace = []
    for op in g.ops:
        c = inplace_candidate(g, op, gr)
        inplace.append(([unit_of[x] for x in c], unit_of[op.outputs[0]]) if c else None)
    cur0 = 0
    for u in us:
        if u.is_input:
            cur0 += u.size
    succ = [[] for _ in range(n)]
    for v in range(n):
        for p in range(n):
            if deps[v] >> p & 1:
                succ[p].append(v)
    ready0 = sum(1 << v for v in range(n) if not deps[v])
    # mask -> (peak, cur, prev mask, last op, ready mask)
    level: dict[int, tuple[int, int, int, int, int]] = {0: (cur0, cur0, -1, -1, ready0)}
    history: list[dict[int, tuple[int, int, int, int, int]]] = []
    exact, states = True, 0
    for _ in range(n):
        nxt: dict[int, tuple[int, int, int, int, int]] = {}
        for mask, (peak, cur, _, _, ready) in level.items():
            r = ready
            while r:
                low = r & -r
                v = low.bit_length() - 1
                r ^= low
                done = mask | low
                new = [u for u in makes[v] if not us[u].is_input and not us[u].producers & mask]
                add = sum(us[u].size for u in new)
                step = cur + add + scratch.get(v, 0)
                ip = inplace[v]
                if ip is not None and ip[1] in new:
                    for ux in ip[0]:
                        x = us[ux]
                        if not x.is_output and not x.consumers & ~done:
                            step -= us[ip[1]].size
                            break
                freed = sum(
                    us[u].size
                    for u in {*reads[v], *makes[v]}
                    if not us[u].is_output and not us[u].consumers & ~done
                )
                old = nxt.get(done)
                pk = max(peak, step)
                if old is None or pk < old[0]:
                    nr = ready ^ low
                    for s_ in succ[v]:
                        if not deps[s_] & ~done:
                            nr |= 1 << s_
                    nxt[done] = (pk, cur + add - freed, mask, v, nr)
        states += len(nxt)
        if not nxt:
            raise ValueError("graph has a cycle or an op whose input is never produced")
        if len(nxt) > beam:
            exact = False
            nxt = dict(sorted(nxt.items(), key=lambda kv: kv[1][:2])[:beam])
        if time.perf_counter() - t0 > time_limit and beam > 1:
            beam, exact = 1, False
            nxt = dict([min(nxt.items(), key=lambda kv: kv[1][:2])])
        history.append(nxt)
        level = nxt
    peak = level[full][0]
    order, mask = [], full
    for lv in reversed(history):
        _, _, prev, v, _ = lv[mask]
        order.append(v)
        mask = prev
    order.reverse()
    return Schedule(order, peak, exact, states, time.perf_counter() - t0)
