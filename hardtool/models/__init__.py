"""HARD model zoo: the five variants of the paper, checkpoint I/O."""

from hardtool.models.checkpoint import CheckpointInfo, load_checkpoint, save_checkpoint
from hardtool.models.hard import HARD, ExportHARD, HardConfig
from hardtool.models.registry import PAPER, VARIANTS, build_model, canonical, model_stats

__all__ = [
    "HARD",
    "ExportHARD",
    "HardConfig",
    "VARIANTS",
    "PAPER",
    "build_model",
    "canonical",
    "model_stats",
    "CheckpointInfo",
    "load_checkpoint",
    "save_checkpoint",
]
