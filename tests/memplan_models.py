"""Models built in code for the graph and memplan tests (shared with the memplan benchmark)."""

from hardtool.memplan.models import build, mobilenet_v2, to_tflite, toy_hard, transposed, unet  # noqa: F401
