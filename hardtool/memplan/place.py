"""Offsets for blocks with known lifetimes (dynamic storage allocation).

- ``greedy_by_size``: TFLite Micro's GreedyMemoryPlanner — largest first, lowest gap that fits.
- ``best_fit``: several orderings with smallest-fitting-gap placement.
- ``exact``: branch and bound over the placement order with first-fit; every packing can be
  compacted into one that first-fit produces from the blocks sorted by offset, so exhausting the
  orders is exact. Bounded by a count of work (blocks tried, each weighed by the blocks it is
  fitted against; never by the clock, so the same blocks
  give the same offsets on any machine and load); stops early when it reaches the live-bytes bound.
The plan keeps whichever arena is smallest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hardtool.kernels.memory import ALIGN  # TFLite Micro's buffer alignment; keeps int32 aligned
from hardtool.memplan.lifetimes import Block


def align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


@dataclass
class Placement:
    offsets: list[int]  # per block, same order as the input list
    arena: int
    method: str
    optimal: bool = False
    work: int = 0  # the exact search's work: blocks tried, each weighed by the blocks placed before


def _overlap(a: Block, b: Block) -> bool:
    return a.first <= b.last and b.first <= a.last


def _conflicts(b: Block, other: Block, off: int) -> list[tuple[int, int, int]]:
    """(start, end, offset of b's part) of each part of ``other`` (placed at ``off``) that is live
    together with a part of ``b``: the ranges b's parts must avoid."""
    out = []
    for q in other.parts:
        for p in b.parts:
            if p.first <= q.last and q.first <= p.last:
                out.append((off + q.offset, off + q.offset + q.size, p))
    return out


def _fit_single(size: int, placed: list[tuple[int, int]], best: bool) -> int:
    """Lowest (first fit) or tightest (best fit) aligned offset where ``size`` bytes avoid ``placed``."""
    placed = sorted(placed)
    cand, choice, waste = 0, None, None
    for off, end in placed:
        if cand + size <= off:
            if not best:
                return cand
            gap = off - cand
            if waste is None or gap - size < waste:
                choice, waste = cand, gap - size
        cand = max(cand, align(end))
    return choice if choice is not None else cand


def _fit(b: Block, others: list[tuple[Block, int]], best: bool) -> int:
    """Offset for ``b`` avoiding every live part of the placed ``others`` [(block, offset)]."""
    if len(b.parts) == 1 and all(len(o.parts) == 1 for o, _ in others):
        return _fit_single(b.size, [(off, off + o.size) for o, off in others if _overlap(b, o)], best)
    ranges = [r for o, off in others if _overlap(b, o) for r in _conflicts(b, o, off)]
    cands = sorted({0} | {align(max(0, end - p.offset)) for _, end, p in ranges})
    for base in cands:  # the lowest base where no part of b hits a conflicting range
        if all(base + p.offset + p.size <= lo or base + p.offset >= hi for lo, hi, p in ranges):
            return base
    raise AssertionError("unreachable: the highest candidate clears every range")


def _place_in_order(blocks: Sequence[Block], order: Sequence[int], best: bool) -> tuple[list[int], int]:
    offsets = [0] * len(blocks)
    done: list[int] = []
    arena = 0
    for i in order:
        b = blocks[i]
        offsets[i] = _fit(b, [(blocks[j], offsets[j]) for j in done], best)
        arena = max(arena, offsets[i] + b.size)
        done.append(i)
    return offsets, align(arena) if arena else 0


def greedy_by_size(blocks: Sequence[Block]) -> Placement:
    order = sorted(range(len(blocks)), key=lambda i: (-blocks[i].size, blocks[i].first))
    offs, arena = _place_in_order(blocks, order, best=False)
    return Placement(offs, arena, "greedy-by-size")


ORDERINGS: dict[str, Callable[[Block], tuple]] = {
    "size": lambda b: (-b.size, b.first),
    "area": lambda b: (-b.size * (b.last - b.first + 1), -b.size),
    "duration": lambda b: (-(b.last - b.first), -b.size),
    "birth": lambda b: (b.first, -b.size),
}


def best_fit(blocks: Sequence[Block]) -> Placement:
    best: Placement | None = None
    for name, key in ORDERINGS.items():
        order = sorted(range(len(blocks)), key=lambda i: key(blocks[i]))
        for bf in (True, False):
            offs, arena = _place_in_order(blocks, order, bf)
            if best is None or arena < best.arena:
                best = Placement(offs, arena, f"{'best' if bf else 'first'}-fit by {name}")
    assert best is not None
    return best


def exact(blocks: Sequence[Block], bound: int, upper: Placement, max_work: int = 100_000) -> Placement:
    """Branch and bound over placement orders (first fit); returns ``upper`` if it cannot improve it."""
    n = len(blocks)
    best = [upper.arena, list(upper.offsets), upper.arena <= align(bound)]
    if best[2] or n == 0:
        return Placement(best[1], best[0], upper.method, True)
    offsets = [0] * n
    used = [False] * n
    work = 0
    cut = False
    # larger blocks first makes good solutions appear early
    by_size = sorted(range(n), key=lambda i: (-blocks[i].size, blocks[i].first))

    def rec(k: int, arena: int, placed: list[int]) -> bool:
        nonlocal work, cut
        if k == n:
            if align(arena) < best[0]:
                best[0], best[1] = align(arena), list(offsets)
                return best[0] <= align(bound)
            return False
        for i in by_size:
            if used[i]:
                continue
            work += 1 + len(placed)  # one block tried against the blocks placed before it
            if work > max_work:
                cut = True
                return True
            b = blocks[i]
            off = _fit(b, [(blocks[j], offsets[j]) for j in placed], False)
            if align(max(arena, off + b.size)) >= best[0]:
                continue
            used[i], offsets[i] = True, off
            placed.append(i)
            stop = rec(k + 1, max(arena, off + b.size), placed)
            placed.pop()
            used[i] = False
            if stop:
                return True
        return False

    rec(0, 0, [])
    proved = not cut or best[0] <= align(bound)
    method = "exact (branch and bound)" if best[0] < upper.arena else upper.method
    return Placement(best[1], best[0], method, proved, work)


def quick(blocks: Sequence[Block]) -> tuple[Placement, Placement]:
    """(best of the heuristic placements, TFLM-style greedy-by-size placement)."""
    greedy = greedy_by_size(blocks)
    best = best_fit(blocks)
    return (greedy if greedy.arena <= best.arena else best), greedy


def place(blocks: Sequence[Block], bound: int, max_work: int = 100_000) -> tuple[Placement, Placement]:
    """(best placement found, TFLM-style greedy-by-size placement) for the same blocks."""
    best, greedy = quick(blocks)
    return exact(blocks, bound, best, max_work), greedy
