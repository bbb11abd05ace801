"""`hardtool codegen --tune`: every conv signature's candidate kernels counted exactly on the
emulated Cortex-M7, the fastest cached by signature, and the conv record's one choice follows the
cache (codegen.json and model.c agree; the C equals TFLite's reference kernels)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hardtool.codegen.generate import load_graph
from hardtool.ops import conv_tune

pytestmark = pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")), reason="no QEMU / ARM gcc"
)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    from tests.model_builders import _keras, to_tflite

    _, keras, L = _keras()
    inp = keras.Input((8, 12, 8), batch_size=1)
    y = L.Conv2D(12, 3, strides=2, padding="same", activation="relu")(inp)
    out = L.Conv2D(6, 1)(y)
    path = tmp_path_factory.mktemp("tune") / "small.tflite"
    path.write_bytes(to_tflite(keras.Model(inp, out)))
    return path


def _convs(summary: dict) -> list[dict]:
    return [L for L in summary["layer_table"] if L["name"].startswith("CONV_2D")]


def _host_output_equals_tflite(proj) -> None:
    from hardtool.kernels.hostrun import HostModel
    from tests.test_codegen import reference

    it, hm = reference(proj / "model_int8.tflite"), HostModel(proj)
    d = it.get_input_details()[0]
    x = np.random.default_rng(5).integers(-128, 128, d["shape"]).astype(np.int8)
    it.set_tensor(d["index"], x)
    it.invoke()
    (got,) = hm.run([x])[0]
    assert np.array_equal(it.get_tensor(it.get_output_details()[0]["index"]).reshape(got.shape), got)


def test_tune_measures_each_signature_and_codegen_takes_the_fastest(small_model, tmp_path, monkeypatch):
    from hardtool.device.conv_tune import tune_graph
    from tests.test_codegen import project
    from tests.test_ops import assert_calls_match_codegen_json

    cache = tmp_path / "tuned.json"
    monkeypatch.setenv("HARDTOOL_CONV_TUNE_CACHE", str(cache))
    g = load_graph(small_model)
    got = tune_graph(g, log=lambda _: None)
    convs = [op for op in g.ops if op.name == "CONV_2D"]
    assert set(got) == {conv_tune.signature(g, op) for op in convs} and len(got) == 2
    for op in convs:
        e = got[conv_tune.signature(g, op)]
        cands = conv_tune.candidates(g, op)
        assert set(e["instructions"]) == set(e["candidates"]) == {c.name for c in cands}
        # kernels x filter layouts x tiles: the q15 GEMMs at their 4- and 2-pixel tiles
        assert {(c.kernel, c.tile) for c in cands} >= {
            ("hard_convolve_im2col_q15_s8", "4-pixel x 2-channel"),
            ("hard_convolve_im2col_q15_s8", "2-pixel x 2-channel"),
            ("hard_convolve_im2col_s8", "2-pixel x 2-channel"),
        }
        assert e["chosen"] == min(e["instructions"], key=e["instructions"].get)
        assert all(c > e["macs"] / 2 for c in e["instructions"].values())  # counted, not made up
    before = cache.read_bytes()
    tune_graph(g, log=lambda _: None)  # everything cached: nothing measured, nothing rewritten
    assert cache.read_bytes() == before
    proj = project(small_model, tmp_path, "qemu")
    table = _convs(json.loads((proj / "codegen.json").read_text()))
    model_c = (proj / "model.c").read_text()
    for i, (layer, op) in enumerate(zip(table, convs, strict=True)):
        e = got[conv_tune.signature(g, op)]
        chosen = e["candidates"][e["chosen"]]
        assert layer["kernel"] == chosen["kernel"]
        assert f"tuned: {e['instructions_per_mac'][e['chosen']]:.2f} instr/MAC vs" in layer["reason"]
        # codegen.json says what was measured and chosen, model.c runs that tile
        assert layer["tuned"]["chosen"] == e["chosen"] and layer["tuned"]["tile"] == chosen["tile"]
        assert layer["tuned"]["instructions"] == e["instructions"]
        two = e["chosen"].endswith(conv_tune.TILE_SUFFIX)
        assert (".tile_pixels = 2" in model_c.split(f"/* layer {i}: ")[1].split("/* layer ")[0]) == two
    assert_calls_match_codegen_json(proj)


def test_the_cached_choice_flows_to_model_c(small_model, tmp_path, monkeypatch):
    """A cache that names the int8-filter kernel for the 1x1 layer: codegen calls that kernel with
    the OHWI filter (no q15 copy), and the C still equals TFLite's reference kernels."""
    from tests.test_codegen import project
    from tests.test_ops import assert_calls_match_codegen_json

    g = load_graph(small_model)
    op = [op for op in g.ops if op.name == "CONV_2D"][1]
    per = {"hard_convolve_1x1_q15_s8": 1.5, "hard_convolve_1x1_s8": 1.4}
    entry = {"macs": 1, "instructions": {}, "instructions_per_mac": per, "chosen": "hard_convolve_1x1_s8"}
    cache = tmp_path / "tuned.json"
    cache.write_text(json.dumps({"layers": {conv_tune.signature(g, op): entry}}))
    monkeypatch.setenv("HARDTOOL_CONV_TUNE_CACHE", str(cache))
    proj = project(small_model, tmp_path, "qemu")
    stem, pw = _convs(json.loads((proj / "codegen.json").read_text()))
    assert pw["kernel"] == "hard_convolve_1x1_s8" and pw.get("layout") is None
    assert pw["reason"] == "pointwise without padding: tuned: 1.40 instr/MAC vs hard_convolve_1x1_q15_s8 1.50"
    assert (
        stem["kernel"] == "hard_convolve_im2col_q15_s8" and "tuned" not in stem["reason"]
    )  # not cached: rule
    assert_calls_match_codegen_json(proj)
    _host_output_equals_tflite(proj)


def test_the_two_pixel_tile_flows_to_model_c(small_model, tmp_path, monkeypatch):
    """A cache that names the q15 GEMMs' 2-pixel tile for both layers: model.c sets tile_pixels 2
    in their params, codegen.json names the tile, and the C still equals TFLite's reference kernels."""
    from tests.test_codegen import project
    from tests.test_ops import assert_calls_match_codegen_json

    g = load_graph(small_model)
    layers = {}
    for op in [op for op in g.ops if op.name == "CONV_2D"]:
        names = [c.name for c in conv_tune.candidates(g, op)]
        two = next(n for n in names if n.endswith(conv_tune.TILE_SUFFIX))
        per = {n: (1.0 if n == two else 2.0) for n in names}
        layers[conv_tune.signature(g, op)] = {
            "macs": 1,
            "instructions": dict.fromkeys(names, 1),
            "instructions_per_mac": per,
            "chosen": two,
        }
    cache = tmp_path / "tuned.json"
    cache.write_text(json.dumps({"layers": layers}))
    monkeypatch.setenv("HARDTOOL_CONV_TUNE_CACHE", str(cache))
    proj = project(small_model, tmp_path, "qemu")
    for layer in _convs(json.loads((proj / "codegen.json").read_text())):
        assert layer["layout"] == conv_tune.Q15 and layer["tuned"]["tile"] == "2-pixel x 2-channel"
        assert ", 2-pixel x 2-channel tile, filter pre-widened to q15 (+" in layer["reason"]
    assert (proj / "model.c").read_text().count(".tile_pixels = 2") == 2
    assert_calls_match_codegen_json(proj)
    _host_output_equals_tflite(proj)


def test_a_cache_from_before_the_tiles_is_used_then_measured_again(small_model, tmp_path, monkeypatch):
    """An entry that counted kernels only (bare names): codegen takes its choice (the kernel's
    default tile) as it is; --tune counts it again with every current candidate."""
    from hardtool.device.conv_tune import tune_graph

    g = load_graph(small_model)
    op = [op for op in g.ops if op.name == "CONV_2D"][1]
    old = {"hard_convolve_1x1_q15_s8": 1.5, "hard_convolve_1x1_s8": 1.4}
    entry = {
        "macs": 1,
        "instructions": dict.fromkeys(old, 1),
        "instructions_per_mac": old,
        "chosen": "hard_convolve_1x1_s8",
    }
    cache = tmp_path / "tuned.json"
    cache.write_text(json.dumps({"layers": {conv_tune.signature(g, op): entry}}))
    best, _, measured = conv_tune.tuned(g, op, cache)
    assert (best.kernel, best.tile_pixels, measured["tile"]) == (
        "hard_convolve_1x1_s8",
        0,
        "2-pixel x 2-channel",
    )
    assert conv_tune.stale(entry, conv_tune.candidates(g, op))
    got = tune_graph(g, cache, log=lambda _: None)[conv_tune.signature(g, op)]
    assert set(got["instructions"]) == {c.name for c in conv_tune.candidates(g, op)}
    assert not conv_tune.stale(got, conv_tune.candidates(g, op))


def test_codegen_cli_tune(small_model, tmp_path, monkeypatch):
    from tests.test_cli_errors import run

    assert run("memplan", str(small_model), "--out", str(tmp_path / "plan")).returncode == 0
    cache = tmp_path / "tuned.json"
    monkeypatch.setenv("HARDTOOL_CONV_TUNE_CACHE", str(cache))
    plan = tmp_path / "plan" / "small.memplan.json"
    r = run(
        "codegen", str(small_model), "--plan", str(plan), "-t", "qemu", "--out", str(tmp_path / "q"), "--tune"
    )
    assert r.returncode == 0, r.stderr
    assert "2 conv signatures" in r.stderr and cache.is_file()
    summary = json.loads((tmp_path / "q" / "codegen.json").read_text())
    assert all("tuned: " in L["reason"] for L in _convs(summary))
