"""Generated C equals TFLite's reference kernels bit for bit — every layer, every zoo variant and
models from outside the zoo — and the device templates build for the Cortex-M7 within budget."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hardtool.codegen.generate import generate
from hardtool.kernels.hostrun import HostModel
from hardtool.memplan import plan_file, to_json
from tests.test_cli_errors import assert_one_line_error, run

ARCHS = ["hard_xxs", "hard_xs", "hard_s", "hard_gpu", "hard_edge"]


def reference(path: Path):
    import tensorflow as tf

    it = tf.lite.Interpreter(
        model_path=str(path),
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
    )
    it.allocate_tensors()
    return it


def project(tflite: Path, out: Path, template: str = "host") -> Path:
    plan = out / "memplan.json"
    out.mkdir(parents=True, exist_ok=True)
    plan.write_text(json.dumps(to_json(plan_file(tflite))))
    generate(tflite, plan, template, out / template, force=True)
    return out / template


def sample(detail: dict, rng: np.random.Generator, at_zero: bool) -> np.ndarray:
    """One input tensor for the interpreter's input ``detail``: random over the type's range (floats
    in [-2, 2]), or the real value 0 (the zero point) when ``at_zero``."""
    shape, dtype = detail["shape"], detail["dtype"]
    if at_zero:
        return np.full(shape, 0 if dtype == np.float32 else detail["quantization"][1], dtype)
    if dtype == np.float32:
        return rng.uniform(-2, 2, shape).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


def assert_bit_exact(proj: Path, n_inputs: int = 3) -> None:
    """Every layer's output and every graph output of the generated C equal TFLite's reference
    kernels, bit for bit, on ``n_inputs`` inputs (the first at the zero point)."""
    hm = HostModel(proj)
    it = reference(proj / "model_int8.tflite")
    rng = np.random.default_rng(1)
    for k in range(n_inputs):
        xs = [sample(d, rng, k == 0) for d in it.get_input_details()]
        for d, x in zip(it.get_input_details(), xs, strict=True):
            it.set_tensor(d["index"], x)
        it.invoke()
        outs, layers = hm.run(xs, capture=True)
        assert layers, "no layer output captured"
        for op_index, got in layers.items():
            t = hm.graph.tensors[hm.graph.ops[op_index].outputs[0]]
            want = it.get_tensor(t.source_index).reshape(got.shape)
            diff = np.abs(want.astype(np.float64) - got.astype(np.float64))
            assert diff.max() == 0, (
                f"input {k}: layer {hm.graph.ops[op_index].name}#{op_index} differs by up to {diff.max()}"
            )
        for i, (d, got) in enumerate(zip(it.get_output_details(), outs, strict=True)):
            want = it.get_tensor(d["index"]).reshape(got.shape)
            if want.dtype == np.float32:  # bit for bit, -0.0 included
                assert np.array_equal(want.view(np.int32), got.view(np.int32)), f"input {k}: output {i}"
            else:
                assert np.array_equal(want.astype(np.int64), got.astype(np.int64)), (
                    f"input {k}: output {i}: {(want != got).sum()} values differ"
                )


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_zoo_variant_bit_exact(arch, zoo_model, tmp_path):
    assert_bit_exact(project(zoo_model(arch), tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["toy_hard", "unet"])
def test_models_outside_the_zoo_bit_exact(kind, tmp_path_factory):
    import model_builders as memplan_models

    work = tmp_path_factory.mktemp(kind)
    tfl = memplan_models.build(kind, work)
    assert_bit_exact(project(tfl, work))


@pytest.mark.slow
def test_demo_model_bit_exact_on_images(tmp_path, demo_ckpt, synth_data):
    from hardtool.data.cityscapes import find_samples, load_rgb
    from hardtool.quantize.pipeline import quantize
    from hardtool.quantize.runtime import Int8Model

    quantize(demo_ckpt, synth_data, tmp_path / "q", calib_images=8, eval_images=1, progress=False)
    proj = project(tmp_path / "q" / "model_int8.tflite", tmp_path / "q")
    hm, ref = HostModel(proj), Int8Model(tmp_path / "q" / "model_int8.tflite")
    for s in find_samples(synth_data, "val")[:3]:
        x = ref.quantize_input(load_rgb(s.image, ref.input_size))
        (labels,), _ = hm.run(x)
        assert np.array_equal(labels.reshape(ref.input_size), ref.run_int8(x))


@pytest.fixture(scope="module")
def edge_project(tmp_path_factory, demo_ckpt):
    """The demo HARD-Edge model at its full 128×256 input, planned, for the device templates."""
    from hardtool.quantize import zoo_tflite

    work = tmp_path_factory.mktemp("edge_full")
    tfl = zoo_tflite("hard_edge", (128, 256), work)
    plan = work / "memplan.json"
    plan.write_text(json.dumps(to_json(plan_file(tfl))))
    return tfl, plan


@pytest.mark.slow
@pytest.mark.parametrize("template", ["qemu", "baremetal"])
def test_device_templates_build_and_fit(template, edge_project, tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    from hardtool.build.firmware import build_firmware

    tfl, plan = edge_project
    out = tmp_path / template
    generate(tfl, plan, template, out)
    res = build_firmware(out)  # -Wall -Wextra -Werror: no warnings
    doc = json.loads(plan.read_text())
    assert res.ram_used <= 320 * 1024 and res.flash_used <= 1024 * 1024
    arena = next(s for s in res.largest_ram_symbols if s["symbol"] == "hard_arena")
    assert arena["size"] == doc["arena_size"]
    if template == "baremetal":
        assert (out / ".project").is_file() and (out / ".cproject").is_file()


def test_bad_inputs(tmp_path, edge_project):
    import model_builders as memplan_models

    tfl, plan = edge_project
    # a plan made for another model
    other = tmp_path / "other.json"
    doc = json.loads(plan.read_text())
    doc["model_sha256"] = "0" * 64
    other.write_text(json.dumps(doc))
    assert_one_line_error(
        run("codegen", str(tfl), "--plan", str(other), "-t", "host", "--out", str(tmp_path / "a")),
        "belongs to another model",
    )
    # a template that does not exist
    assert_one_line_error(
        run("codegen", str(tfl), "--plan", str(plan), "-t", "arduino", "--out", str(tmp_path / "b")),
        "unknown template",
        "qemu",
    )
    # an op without a kernel: named, with its node (one line per op after the summary)
    bad = memplan_models.build("reversed_rows", tmp_path)
    r = run("codegen", str(bad), "--plan", str(plan), "-t", "host", "--out", str(tmp_path / "c"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert [ln.split()[:4] for ln in r.stderr.strip().splitlines()[1:]] == [
        ["op", "#1", "REVERSE_V2", "([1,"]
    ]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
