"""Emitters of every op family; importing this package fills ``hardtool.codegen.registry.EMITTERS``."""

from hardtool.codegen.ops import (  # noqa: F401
    activation,
    broadcast,
    conv,
    elementwise,
    fc,
    io,
    pool,
    reduce,
    resize,
    shape,
    slice,
)
