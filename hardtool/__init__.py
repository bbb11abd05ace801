"""hardtool: deploy HARD segmentation models to the STM32F746NG and measure them there."""

__version__ = "0.1.0"
