"""flash-and-bench on models that are not HARD: a 6-class segmentation net on Cityscapes-layout data
(bit-exact label maps, no mIoU against 19-class labels, no crash), and a failure after inputs ran
still writes bench.json with what was measured."""

from __future__ import annotations

import json
import shutil

import model_builders
import pytest

from hardtool.codegen.generate import generate
from hardtool.core.errors import HardtoolError
from hardtool.memplan.files import plan_to_files

pytestmark = pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)


def test_six_class_segmentation_and_a_failure_after_inputs_ran(tmp_path, synth_data, monkeypatch):
    from hardtool.device import session
    from hardtool.flash_and_bench.run import flash_and_bench

    tfl = tmp_path / "model_int8.tflite"
    shutil.copy(model_builders.build("toy_hard", tmp_path / "keras", classes=6), tfl)
    plan_to_files(tfl, tmp_path, measure_tflm=False)
    proj = tmp_path / "qemu"
    assert generate(tfl, tmp_path / "model_int8.memplan.json", "qemu", proj)["labels"]["num_classes"] == 6
    quiet = {"board": "qemu", "progress": False, "log": lambda *_: None}
    r = flash_and_bench(proj, synth_data, n=2, **quiet)
    assert r["completed"] == 2 and r["agreement"]["bit_exact"] and r["agreement"]["values"] == 2 * 64 * 128
    assert r["miou"]["device"] is None and "6 classes" in r["miou"]["note"]

    real_infer, calls = session.BenchSession.infer, []

    def fail_on_second(self, index, sample):
        calls.append(index)
        if len(calls) == 2:
            raise HardtoolError("the board stopped answering")
        return real_infer(self, index, sample)

    monkeypatch.setattr(session.BenchSession, "infer", fail_on_second)
    with pytest.raises(HardtoolError, match="after 1 of 2 inputs"):
        flash_and_bench(proj, synth_data, n=2, out=tmp_path / "partial", **quiet)
    saved = json.loads((tmp_path / "partial" / "bench.json").read_text())
    assert saved["completed"] == 1 and saved["error"] == "the board stopped answering"
    assert saved["agreement"]["bit_exact"] and saved["latency"]["n"] == 1
