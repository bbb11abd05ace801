"""Training writes a loadable checkpoint every epoch and resumes after an interruption."""

from __future__ import annotations

import pytest
import torch

import hardtool.train as train_mod
from hardtool.models import load_checkpoint


def test_train_interrupt_and_resume(tmp_path, synth_data, monkeypatch):
    out = tmp_path / "m.pt"
    saves = []
    real_save = train_mod.save_checkpoint

    def interrupted_save(*a, **kw):
        real_save(*a, **kw)
        saves.append(1)
        raise KeyboardInterrupt  # the user stops the run right after epoch 1 is saved

    monkeypatch.setattr(train_mod, "save_checkpoint", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        train_mod.train(
            "hard_edge", synth_data, out, epochs=2, batch=4, lr=5e-3, size=(64, 128), log=lambda *_: None
        )
    state = torch.load(out, weights_only=True)["train_state"]
    assert state["epoch"] == 1
    model, info = load_checkpoint(out)  # a mid-run checkpoint is a valid checkpoint
    assert info.arch == "hard_edge" and info.input_size == (64, 128)

    monkeypatch.setattr(train_mod, "save_checkpoint", real_save)
    res = train_mod.train(
        "hard_edge",
        synth_data,
        out,
        epochs=2,
        batch=4,
        lr=5e-3,
        size=(64, 128),
        resume=True,
        log=lambda *_: None,
    )
    assert [h["epoch"] for h in res["history"]] == [1, 2]
    assert res["history"][0] == state["history"][0]
    obj = torch.load(out, weights_only=True)
    assert "train_state" not in obj  # the final checkpoint is slim
    assert obj["meta"]["epochs"] == 2 and 0 <= obj["meta"]["val_miou"] <= 1
