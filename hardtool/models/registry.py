"""The five HARD variants, their default input sizes and the paper's Table 2 numbers."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hardtool.core.errors import HardtoolError
from hardtool.models.hard import HARD, HardConfig

VARIANTS: dict[str, HardConfig] = {
    "hard_xxs": HardConfig(
        stem=(16, 32),
        n_quarter=3,
        c_hi=32,
        c_mid=40,
        c_lo=56,
        n_hi=1,
        n_mid=2,
        n_lo=2,
        c_dec=32,
        dap_rates=(2, 4),
        sa_rates=(1, 2, 4),
        input_size=(360, 640),
    ),
    "hard_xs": HardConfig(
        stem=(40, 48),
        n_quarter=2,
        c_hi=64,
        c_mid=96,
        c_lo=160,
        n_hi=2,
        n_mid=2,
        n_lo=3,
        c_dec=64,
        dap_rates=(2, 4),
        sa_rates=(1, 2, 4),
        input_size=(360, 640),
    ),
    "hard_s": HardConfig(
        stem=(48, 64),
        n_quarter=2,
        c_hi=72,
        c_mid=144,
        c_lo=216,
        n_hi=2,
        n_mid=3,
        n_lo=3,
        c_dec=72,
        dap_rates=(2, 4),
        sa_rates=(1, 2, 4, 8),
        input_size=(360, 640),
    ),
    "hard_gpu": HardConfig(
        stem=(48, 64),
        n_quarter=2,
        c_hi=128,
        c_mid=288,
        c_lo=576,
        n_hi=3,
        n_mid=4,
        n_lo=4,
        c_dec=128,
        dap_rates=(2, 4),
        sa_rates=(1, 2, 4, 8),
        input_size=(512, 1024),
    ),
    "hard_edge": HardConfig(
        stem=(8, 16),
        n_quarter=0,
        c_hi=32,
        c_mid=48,
        c_lo=64,
        n_hi=1,
        n_mid=2,
        n_lo=2,
        c_dec=32,
        dap_rates=(2, 4),
        sa_rates=(1, 2, 4),
        input_size=(128, 256),
    ),
}

# Paper, Table 2: params (M) and FLOPs (G, counted as multiply-accumulates) at the given input.
PAPER: dict[str, dict] = {
    "hard_xxs": {"params_m": 0.11, "gmacs": 0.93, "input_size": (360, 640)},
    "hard_xs": {"params_m": 0.39, "gmacs": 1.93, "input_size": (360, 640)},
    "hard_s": {"params_m": 0.76, "gmacs": 3.24, "input_size": (360, 640)},
    "hard_gpu": {"params_m": 3.9, "gmacs": 11.5, "input_size": (512, 1024)},
}

ALIASES = {"xxs": "hard_xxs", "xs": "hard_xs", "s": "hard_s", "gpu": "hard_gpu", "edge": "hard_edge"}


def canonical(arch: str) -> str:
    """Accept 'hard_edge', 'HARD-Edge', 'edge' ...; fail with the list of known names."""
    key = arch.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in VARIANTS:
        raise HardtoolError(f"unknown architecture '{arch}'; known: {', '.join(VARIANTS)}")
    return key


def build_model(arch: str, num_classes: int = 19) -> HARD:
    return HARD(VARIANTS[canonical(arch)], num_classes)


@dataclass
class ModelStats:
    arch: str
    params: int
    macs: int
    input_size: tuple[int, int]


def count_macs(model: torch.nn.Module, input_size: tuple[int, int]) -> int:
    """Multiply-accumulates of one forward pass (convs and linears), as the paper's tables
    count FLOPs: torch.utils.flop_counter counts 2 FLOPs per MAC, so we halve it."""
    from torch.utils.flop_counter import FlopCounterMode

    model = model.eval()
    x = torch.zeros(1, 3, *input_size)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops() // 2


def model_stats(arch: str, input_size: tuple[int, int] | None = None) -> ModelStats:
    arch = canonical(arch)
    model = build_model(arch)
    size = tuple(input_size or VARIANTS[arch].input_size)
    params = sum(p.numel() for p in model.parameters())
    return ModelStats(arch, params, count_macs(model, size), size)
