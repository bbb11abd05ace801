"""Shared fixtures: small generated datasets and the bundled checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# No per-example deadline: timing on a loaded 2-core CI machine must not fail a property test.
from hypothesis import settings  # noqa: E402

settings.register_profile("hardtool", deadline=None, print_blob=True)
settings.load_profile("hardtool")

ROOT = Path(__file__).resolve().parents[1]
DEMO_CKPT = ROOT / "hardtool" / "zoo" / "hard_edge_synth.pt"


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    """12 train + 6 val scenes at 128×256 (the demo model's input size)."""
    from hardtool.data.synth import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, 12, seed=123, splits=("train",), size=(128, 256))
    generate(root, 6, seed=123, splits=("val",), size=(128, 256))
    return root


@pytest.fixture(scope="session")
def demo_ckpt() -> Path:
    assert DEMO_CKPT.is_file(), "the bundled demo checkpoint is missing"
    return DEMO_CKPT


ZOO_TEST_SIZE = (64, 128)


@pytest.fixture(scope="session")
def zoo_model(tmp_path_factory):
    """zoo_model(arch) → an int8 .tflite of that variant at 64×128 (seeded weights), built once."""
    from hardtool.quantize import zoo_tflite

    root = tmp_path_factory.mktemp("zoo")
    return lambda arch: zoo_tflite(arch, ZOO_TEST_SIZE, root)
