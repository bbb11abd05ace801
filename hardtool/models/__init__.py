"""Model zoo: the five HARD variants of the paper, the peer models it is compared with
(`hardtool.models.peers`), checkpoint I/O."""

from hardtool.models.checkpoint import CheckpointInfo, load_checkpoint, save_checkpoint
from hardtool.models.hard import HARD, ExportHARD, HardConfig
from hardtool.models.peers import PEERS
from hardtool.models.registry import (
    ARCHS,
    PAPER,
    VARIANTS,
    build_model,
    canonical,
    default_input_size,
    model_stats,
)

__all__ = [
    "HARD",
    "ExportHARD",
    "HardConfig",
    "VARIANTS",
    "PEERS",
    "ARCHS",
    "PAPER",
    "build_model",
    "canonical",
    "default_input_size",
    "model_stats",
    "CheckpointInfo",
    "load_checkpoint",
    "save_checkpoint",
]
