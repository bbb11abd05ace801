"""hardtool: deploy HARD segmentation models to the STM32F746NG and measure them there."""

__version__ = "0.1.0"


def _op_rules():
    """The op records' validation rules (``hardtool.ops``), for ``hardtool.core.graph``."""
    from hardtool.ops.tables import validation_rules

    return validation_rules()


def _register() -> None:
    # the package root wires the layers: core's graph validation takes its per-op rules from the
    # op records one layer up, so every caller (the reader included) validates with them
    from hardtool.core import oprules

    oprules.provide(_op_rules)


_register()
