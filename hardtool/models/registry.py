"""The five HARD variants, their default input sizes and the paper's Table 2 numbers; the peer
models (hardtool.models.peers) are built and counted through the same functions."""

from __future__ import annotations

import copy
import dataclasses
import functools
from dataclasses import dataclass

import torch
from torch import nn

from hardtool.core.errors import HardtoolError
from hardtool.models.hard import HARD, HardConfig
from hardtool.models.peers import ALIASES as PEER_ALIASES
from hardtool.models.peers import PEERS

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

# every buildable architecture: the HARD variants, then the peer models
ARCHS: tuple[str, ...] = (*VARIANTS, *PEERS)


def split_width(arch: str) -> tuple[str, float]:
    """'hard_edge@w0.75' -> ('hard_edge@w0.75' base name, 0.75); no suffix: width 1.0."""
    base, _, suffix = arch.strip().partition("@")
    if not suffix:
        return base, 1.0
    try:
        width = float(suffix.removeprefix("w"))
    except ValueError:
        width = 0.0
    if not suffix.startswith("w") or not 0.0 < width <= 4.0:
        raise HardtoolError(f"bad width suffix in '{arch}'; write e.g. hard_edge@w0.75 (0 < width <= 4)")
    return base, width


def canonical(arch: str) -> str:
    """Accept 'hard_edge', 'HARD-Edge', 'edge', 'ENet', 'Fast-SCNN', 'hard_edge@w0.75' ...; fail with
    the list of known names."""
    base, width = split_width(arch)
    key = base.lower().replace("-", "_")
    key = ALIASES.get(key, PEER_ALIASES.get(key, key))
    if key not in ARCHS:
        raise HardtoolError(f"unknown architecture '{arch}'; known: {', '.join(ARCHS)}")
    if width != 1.0 and key in PEERS:
        raise HardtoolError(f"'{arch}': width multipliers apply to the HARD variants only")
    return key if width == 1.0 else f"{key}@w{width:g}"


def _channels(c: int, width: float) -> int:
    """Channels times the width multiplier, rounded to a multiple of 8 (at least 8), as MobileNet's."""
    return max(8, int(c * width + 4) // 8 * 8)


def variant_config(arch: str) -> HardConfig:
    """A HARD variant's config, its channel counts scaled by the name's width multiplier."""
    base, width = split_width(canonical(arch))
    cfg = VARIANTS[base]
    if width == 1.0:
        return cfg
    ch = functools.partial(_channels, width=width)
    return dataclasses.replace(
        cfg,
        stem=(ch(cfg.stem[0]), ch(cfg.stem[1])),
        c_hi=ch(cfg.c_hi),
        c_mid=ch(cfg.c_mid),
        c_lo=ch(cfg.c_lo),
        c_dec=ch(cfg.c_dec),
    )


def build_model(arch: str, num_classes: int = 19) -> nn.Module:
    """A HARD variant (``@wX``: with a width multiplier) or a peer model; forward returns logits at
    the network's output stride."""
    key = canonical(arch)
    if key in PEERS:
        return PEERS[key].build(num_classes)
    return HARD(variant_config(key), num_classes)


def default_input_size(arch: str) -> tuple[int, int]:
    """(H, W) the architecture is published at."""
    key = canonical(arch)
    return tuple(PEERS[key].input_size if key in PEERS else variant_config(key).input_size)


@dataclass
class ModelStats:
    arch: str
    params: int
    macs: int
    input_size: tuple[int, int]
    macs_transposed_at_output: int = (
        0  # MACs with each stride-2 transposed conv counted at its output resolution
    )


def _flops_by_module(model: nn.Module, input_size: tuple[int, int]) -> dict[str, int]:
    """FLOPs per module path (and 'Global') of one forward pass on the meta device: exact counts
    from the shapes alone, so full paper resolutions cost no compute."""
    from torch.utils.flop_counter import FlopCounterMode

    on_meta = any(p.is_meta for p in model.parameters())
    m = (model if on_meta else copy.deepcopy(model).to("meta")).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        m(torch.zeros(1, 3, *input_size, device="meta"))
    return {k: sum(v.values()) for k, v in fc.get_flop_counts().items()}


def count_macs(model: nn.Module, input_size: tuple[int, int]) -> int:
    """Multiply-accumulates of one forward pass (convs and linears), as the paper's tables
    count FLOPs: torch.utils.flop_counter counts 2 FLOPs per MAC, so we halve it."""
    return _flops_by_module(model, input_size).get("Global", 0) // 2


def _upconv_macs(model: nn.Module, flops: dict[str, int]) -> int:
    """MACs of the transposed convs, as torch counts them: at their input resolution."""
    root = type(model).__name__
    deconvs = (n for n, m in model.named_modules() if isinstance(m, nn.ConvTranspose2d))
    return sum(flops.get(f"{root}.{n}", 0) for n in deconvs) // 2


def model_stats(arch: str, input_size: tuple[int, int] | None = None) -> ModelStats:
    """Parameters and MACs, counted on a model built on the meta device (no weights allocated)."""
    arch = canonical(arch)
    return _model_stats(arch, tuple(input_size or default_input_size(arch)))


@functools.lru_cache(maxsize=64)
def _model_stats(arch: str, size: tuple[int, int]) -> ModelStats:
    """Cached: a count depends on nothing but the architecture and the size."""
    with torch.device("meta"):
        model = build_model(arch)
    params = sum(p.numel() for p in model.parameters())
    flops = _flops_by_module(model, size)
    macs = flops.get("Global", 0) // 2
    return ModelStats(arch, params, macs, size, macs + 3 * _upconv_macs(model, flops))
