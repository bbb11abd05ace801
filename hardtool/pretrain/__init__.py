"""`hardtool pretrain`: the HARD encoder with a classification head on an ImageNet-layout folder,
the paper's Table 1 recipe, one or more processes (torchrun), resumable."""

from hardtool.pretrain.config import PretrainConfig

__all__ = ["PretrainConfig", "pretrain"]


def pretrain(*args, **kwargs):
    """See hardtool.pretrain.engine.pretrain (imported lazily: kornia loads only when used)."""
    from hardtool.pretrain.engine import pretrain as run

    return run(*args, **kwargs)
