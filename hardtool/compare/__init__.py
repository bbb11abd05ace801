"""`hardtool compare`: which segmentation models fit a microcontroller, in FP32 and in int8, and by
how much (the HARD paper's MCU comparison, its Fig. 1). Each model is exported to a float32 and a
full-int8 TFLite from one SavedModel, both are planned (memplan) and measured with TFLite Micro,
and the results are reported as a table, JSON and a bar chart."""

from hardtool.compare.run import DEFAULT_MODELS, CompareOptions, compare_models

__all__ = ["DEFAULT_MODELS", "CompareOptions", "compare_models"]
