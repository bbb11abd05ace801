"""Emitters of every op family; importing this package fills ``hardtool.codegen.registry.EMITTERS``."""

from hardtool.codegen.ops import conv, elementwise, pool, resize, shape  # noqa: F401
