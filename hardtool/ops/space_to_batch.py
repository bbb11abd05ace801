"""SPACE_TO_BATCH_ND -> CONV_2D / DEPTHWISE_CONV_2D -> BATCH_TO_SPACE_ND, how the converter keeps
a dilation when the batch is dynamic: lower() folds the three into one dilated convolution, so
these two exist only before lowering and have no kernel of their own."""

from __future__ import annotations

from hardtool.ops.record import OpRecord

RECORDS = [
    OpRecord(
        name,
        arity=(3, 3, 1),
        lowered=True,
        tflm=tflm,
        summary="folded by lower() into the dilated convolution it wraps",
    )
    for name, tflm in (
        ("SPACE_TO_BATCH_ND", "AddSpaceToBatchNd"),
        ("BATCH_TO_SPACE_ND", "AddBatchToSpaceNd"),
    )
]
