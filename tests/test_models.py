"""The zoo against the paper's Table 2, and HARD-Edge's microcontroller constraints."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from hardtool.cli import cli
from hardtool.models import PAPER, VARIANTS, ExportHARD, build_model, model_stats


@pytest.mark.parametrize("arch", sorted(PAPER))
def test_variant_matches_paper(arch):
    s = model_stats(arch)
    p = PAPER[arch]
    assert tuple(s.input_size) == tuple(p["input_size"])
    assert abs(s.params / (p["params_m"] * 1e6) - 1) <= 0.10, s.params
    assert abs(s.macs / (p["gmacs"] * 1e9) - 1) <= 0.15, s.macs


def test_edge_is_mcu_sized():
    s = model_stats("hard_edge")
    assert s.params <= 110_000
    assert tuple(s.input_size) == (128, 256)
    m = build_model("hard_edge").eval()
    x = torch.zeros(1, 3, 128, 256)
    with torch.no_grad():
        logits = m(x)
    assert logits.shape == (1, 19, 16, 32)  # head at 1/8
    allowed = (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.ReLU, torch.nn.AvgPool2d)
    leaves = [mod for mod in m.modules() if not list(mod.children())]
    assert all(isinstance(mod, allowed) for mod in leaves), {type(mod).__name__ for mod in leaves}


def test_export_forward_is_label_map():
    m = build_model("hard_xxs").eval()
    with torch.no_grad():
        y = ExportHARD(m)(torch.randn(1, 3, 64, 96))
    assert y.shape == (1, 64, 96) and y.dtype == torch.int64
    assert int(y.min()) >= 0 and int(y.max()) < 19


def test_models_cli_json():
    r = CliRunner().invoke(cli, ["models", "--json"])
    assert r.exit_code == 0, r.output
    rows = {v["arch"]: v for v in json.loads(r.output)["variants"]}
    assert set(rows) == set(VARIANTS)
    for arch, p in PAPER.items():
        assert abs(rows[arch]["params"] / (p["params_m"] * 1e6) - 1) <= 0.10
        assert abs(rows[arch]["macs"] / (p["gmacs"] * 1e9) - 1) <= 0.15
