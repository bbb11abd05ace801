"""Bench protocol and host driver: run int8 images on the device, get labels and timer counts."""
