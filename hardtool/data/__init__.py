"""Data: Cityscapes-layout reader, synthetic street scenes, label tables."""
