"""Where graph validation finds the per-op rules (arity, Prepare-style checks, the supported
names) without importing the layer that defines them.

The rules live in the op records (``hardtool.ops``, a layer above ``core``). The package root
(``hardtool/__init__.py``) registers a provider here once, so every caller of
``hardtool.core.graph.validate_graph`` - the graph reader included - validates with the records'
rules, whichever module it was imported from. The provider is called lazily, at the first
validation, so importing ``hardtool`` stays cheap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OpRules:
    """What validation needs per op, by TFLite builtin name."""

    # name -> (required inputs, most inputs (None: any), outputs (None: any))
    arity: dict[str, tuple[int, int | None, int | None]] = field(default_factory=dict)
    # name -> check(Check) raising through Check.fail (TFLite's Prepare checks)
    checks: dict[str, Callable[[Any], None]] = field(default_factory=dict)
    supported: frozenset[str] = frozenset()  # every name the toolchain has a record of
    hints: dict[str, str] = field(default_factory=dict)  # nearest rewrite of an unsupported op
    # what lower() may fold into these ops: a PAD before them, SPACE_TO_BATCH_ND around them
    folds_pad: frozenset[str] = frozenset()
    # what lower() may fold a residual ADD into (a kernel with the fused ADD epilogue)
    fuses_add: frozenset[str] = frozenset()


_PROVIDER: list[Callable[[], OpRules]] = []


def provide(provider: Callable[[], OpRules]) -> None:
    """Register the function that returns the op rules (replacing any earlier one)."""
    _PROVIDER[:] = [provider]


def op_rules() -> OpRules:
    """The registered op rules; RuntimeError when nothing registered them (a broken install)."""
    if not _PROVIDER:
        raise RuntimeError("no op rules registered: import hardtool (its __init__ registers hardtool.ops)")
    return _PROVIDER[0]()
