"""`hardtool fit`: the width-multiplier family, the core each target is counted on, the per-layer
instruction estimate, the choice, the table and the bad-input paths. The end-to-end run (export,
plan and count a real candidate on two targets) is marked slow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hardtool.core import boards as B
from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Graph, Op, Tensor
from hardtool.fit import candidates as C
from hardtool.fit import counts
from hardtool.fit.cli import _no_fit, fit_cmd
from hardtool.fit.report import choose, table
from hardtool.models.registry import build_model, canonical, model_stats, variant_config


def test_width_multiplier_names_build_smaller_models() -> None:
    assert canonical("HARD-Edge@w0.75") == "hard_edge@w0.75" and canonical("edge@w1") == "hard_edge"
    cfg = variant_config("hard_edge@w0.5")
    assert (cfg.c_hi, cfg.c_mid, cfg.c_lo, cfg.c_dec) == (16, 24, 32, 16)
    assert model_stats("hard_edge@w0.5", (64, 128)).macs < model_stats("hard_edge", (64, 128)).macs
    assert build_model("hard_edge@w0.75").cfg.c_lo == 48
    for bad in ("hard_edge@x2", "hard_edge@w0", "enet@w0.5"):
        with pytest.raises(HardtoolError):
            canonical(bad)


def test_family_is_sorted_by_macs_and_sizes_are_multiples_of_32() -> None:
    fam = C.family("hard_edge", (0.5, 1.0), ((64, 128), (128, 256)))
    assert [c.macs for c in fam] == sorted(c.macs for c in fam) and len(fam) == 4
    assert fam[0].name == "hard_edge@w0.5 64x128" and fam[-1].name == "hard_edge 128x256"
    assert [c.name for c in C.family("edge@w0.75", None, ((64, 128),))] == ["hard_edge@w0.75 64x128"]
    assert len(C.family("hard_edge", None, ((64, 128),))) == len(C.DEFAULT_WIDTHS)
    assert C.parse_size("96x192") == (96, 192)
    for bad in ("100x200", "96", "0x32"):
        with pytest.raises(HardtoolError, match="size"):
            C.parse_size(bad)


def test_every_target_names_its_core_and_is_counted_on_an_emulated_one() -> None:
    cores = {t: B.core_for(B.get_target(t)) for t in B.targets()}
    assert cores["stm32f746ng"].core.name == cores["stm32h743"].core.name == "cortex-m7"
    assert cores["stm32f429"].core.name == cores["nrf52840"].core.name == "cortex-m4"
    assert cores["rp2040"].core.name == "cortex-m3" and not cores["rp2040"].exact
    assert "no emulated board" in cores["rp2040"].note
    assert B.core_for(B.Target("x", "Cortex-A53", 1, 1, (), "")).core is None


def _tensor(i: int, shape, data: bool = False) -> Tensor:
    return Tensor(i, f"t{i}", tuple(shape), "int8", None, np.zeros(shape, np.int8) if data else None)


def test_layer_signatures_name_what_a_count_depends_on() -> None:
    ts = [
        _tensor(0, (1, 8, 8, 4)),
        _tensor(1, (16, 3, 3, 4), True),
        _tensor(2, (1, 8, 8, 16)),
        _tensor(3, (1, 8, 8, 16)),
        _tensor(4, (8, 1, 1, 2), True),
        _tensor(5, (1, 8, 8, 8)),
    ]
    conv = {"padding": "SAME", "stride_h": 1, "stride_w": 1}
    ops = [
        Op(0, "CONV_2D", (0, 1), (2,), conv),
        Op(1, "ADD", (2, 2), (3,), {}),
        Op(2, "CONV_2D", (3, 4), (5,), {"padding": "VALID"}),  # grouped
        Op(3, "SOFTMAX", (5,), (5,), {}),
    ]
    g = Graph(ts, ops, (0,), (5,), lowered=True)
    sig = json.loads(counts.signature(g, ops[0]))
    assert sig["w"] == [16, 3, 3, 4] and sig["pads"] == [1, 1, 1, 1] and sig["out"] == [1, 8, 8, 16]
    add = json.loads(counts.signature(g, ops[1]))
    assert add["op"] == "ADD" and add["kernel"] == "hard_elementwise_add_table_s8"  # codegen's call
    assert counts.signature(g, ops[2]) is None and counts.signature(g, ops[3]) is None
    fused = Op(4, "CONV_2D", (0, 1, -1, 3), (2,), conv | {"fused_add": {"conv_side": 1}})
    assert json.loads(counts.signature(g, fused))["fused_add"] is False  # the residual is input 1
    tail = Op(5, "HARD_RESIZE_ARGMAX", (5,), (3,), {})
    assert json.loads(counts.signature(g, tail))["logits"] == "smooth"


def test_the_runner_counts_the_fused_add_and_the_table_add_codegen_emits() -> None:
    """The calls fit counts: a convolution with its residual ADD fused equals the convolution then
    TFLite's ADD, the table ADD equals the ADD, byte for byte (host build of the runner)."""
    from hardtool.kernels import calls as K
    from hardtool.kernels import quant
    from hardtool.kernels.runner import HostRunner, Program

    rng, prog = np.random.default_rng(5), Program()
    x, w = (rng.integers(-128, 128, s).astype(np.int8) for s in ((1, 6, 7, 5), (9, 3, 3, 5)))
    mult, shift = rng.integers(1 << 30, (1 << 31) - 1, 9), rng.integers(-10, -7, 9)
    a = K.ConvArgs(-3, 5, mult, shift, padding=(1, 1, 1, 1))
    bias, r = rng.integers(-2000, 2000, 9).astype(np.int32), rng.integers(-128, 128, (1, 6, 7, 9))
    p = quant.add_params(0.05, 3, 0.07, -2, 0.09, 1)
    plain = K.add_conv(prog, "hard_convolve_s8", x, w, bias, a)
    fused = [
        K.add_conv(prog, "hard_convolve_s8", x, w, bias, a, fused=K.FusedAddArgs(r, p, first))
        for first in (True, False)
    ]
    res = HostRunner().run(prog)
    res.check(prog.names)
    conv = res.get(plain)
    prog2 = Program()
    adds = [K.add_add(prog2, conv, r, p), K.add_add(prog2, r, conv, p), K.add_add_table(prog2, conv, r, p)]
    res2 = HostRunner().run(prog2)
    res2.check(prog2.names)
    want, want_swapped, table = (res2.get(b) for b in adds)
    assert np.array_equal(res.get(fused[0]), want) and np.array_equal(res.get(fused[1]), want_swapped)
    assert np.array_equal(table, want)
    assert abs(counts.smooth_logits(rng, [1, 8, 16, 6]).astype(int)).max() > 20  # not flat


def _row(name: str, macs: int, sram: int, fps: float | None, budget: int = 1000) -> dict:
    t = {"sram_bytes": sram, "sram_budget": budget, "flash_bytes": 10, "flash_budget": 100, "fps": fps}
    t |= {
        "fits_memory": sram <= budget,
        "shortfall_bytes": max(0, sram - budget),
        "instructions": 5 if fps else None,
    }
    return {"name": name, "macs": macs, "targets": {"chip": t}}


def test_choice_is_the_largest_that_meets_memory_and_fps() -> None:
    rows = [_row("a", 1, 100, 9.0), _row("b", 2, 500, 3.0), _row("c", 3, 2000, 1.0)]
    assert choose(rows, "chip", None)["name"] == "b"
    assert choose(rows, "chip", 5.0)["name"] == "a"
    assert choose(rows, "chip", 20.0) is None
    assert choose([_row("m", 1, 100, None)], "chip", 1.0) is None  # counts missing: cannot meet --fps
    text = table(rows, ["chip"], 5.0)
    assert "too slow" in text and "too big" in text and "fits" in text
    e = _no_fit([_row("s", 1, 1500, None), _row("t", 2, 3000, None)], ["chip"], None)
    assert e.exit_code == 3 and "smallest, s," in str(e) and "500 bytes over" in str(e)
    e = _no_fit([_row("s", 1, 100, 3.0)], ["chip"], 5.0)
    assert "fits in memory but reaches 3.00 of 5 frames/s" in str(e)


def test_unknown_target_lists_the_known_ones(tmp_path: Path) -> None:
    res = CliRunner().invoke(fit_cmd, ["hard_edge", "--target", "esp32", "--out", str(tmp_path)])
    assert (
        res.exit_code != 0 and "known targets" in str(res.exception) and "stm32f746ng" in str(res.exception)
    )


@pytest.mark.slow
def test_fit_end_to_end_on_two_targets(tmp_path: Path) -> None:
    """One real candidate exported, planned for two chips and counted on their emulated cores."""
    args = ["hard_edge@w0.5", "--size", "64x128", "--width", "0.5", "--target", "stm32f746ng"]
    res = CliRunner().invoke(fit_cmd, [*args, "--target", "nrf52840", "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "fit.json").read_text())
    (row,) = doc["candidates"]
    for t, core in (("stm32f746ng", "cortex-m7"), ("nrf52840", "cortex-m4")):
        d = row["targets"][t]
        assert d["emulated_core"] == core and d["instructions"] > row["macs"] / 2
        assert d["sram_bytes"] <= d["sram_budget"]
    assert doc["chosen"] == {"stm32f746ng": row["name"], "nrf52840": row["name"]}
    want = "hardtool train --arch hard_edge@w0.5 --input-size 64 128"
    assert doc["train_commands"]["nrf52840"].startswith(want)
    assert (tmp_path / "pareto.png").stat().st_size > 0


def test_codegen_takes_the_kernels_dsp_choice_from_the_boards_core(monkeypatch) -> None:
    from hardtool.codegen import generate

    assert generate.board_has_dsp("qemu_mps2_an500") and not generate.board_has_dsp("host")
    # an emulated board: its own core's (the Cortex-M3's board: the portable kernels)
    assert generate.board_has_dsp("qemu_mps2_an386") and not generate.board_has_dsp("qemu_mps2_an385")
    m0 = B.CoreMatch(B.get_core("m3"), False, "Cortex-M0+ on the Cortex-M3")
    monkeypatch.setattr(generate, "core_for", lambda chip: m0)
    assert not generate.board_has_dsp("stm32f746g_disco")  # a real board: its chip's core's


def test_a_core_without_an_emulated_board_gets_counts_marked_missing() -> None:
    from hardtool.fit.evaluate import speed_row

    g = Graph([_tensor(0, (1, 4, 4, 4))], [], (0,), (0,))
    row = speed_row(g, B.Target("a53", "Cortex-A53", 1000, 1 << 20, (), ""))
    assert row["instructions"] is None and row["fps"] is None and row["instructions_kind"] == "missing"
    assert "no emulated board" in row["core_note"]


def test_ctrl_c_keeps_the_candidates_done(monkeypatch, tmp_path: Path) -> None:
    """Ctrl-C during the second candidate: the first one's row is kept and written."""
    from hardtool.core import interrupt
    from hardtool.fit import cli, evaluate

    calls = []

    def fake_export(c, out):
        if calls:
            interrupt._requested.set()
            raise KeyboardInterrupt
        calls.append(c.name)
        return tmp_path / "m.tflite"

    monkeypatch.setattr(C, "export_int8", fake_export)
    monkeypatch.setattr(evaluate, "evaluate", lambda c, p, t: _row(c.name, c.macs, 100, 9.0))
    cands = C.family("hard_edge", (0.5,), ((64, 128), (96, 192)))
    rows, stopped = cli._run_all(cands, tmp_path, [], quiet=True)
    assert stopped and [r["name"] for r in rows] == ["hard_edge@w0.5 64x128"] and not interrupt.requested()


def test_a_user_tflite_is_one_candidate_at_its_own_size(tmp_path: Path) -> None:
    model = tmp_path / "mine.tflite"
    with pytest.raises(HardtoolError, match="not found"):
        C.family(str(model), (1.0,), ())
    model.write_bytes(b"x")
    (c,) = C.family(str(model), (0.5, 1.0), ((64, 128),))
    assert c.tflite == model and c.arch is None and c.name == "mine"


def test_pareto_front_keeps_the_undominated_candidates() -> None:
    from hardtool.fit.report import front

    pts = [(10.0, 50.0, 2.0), (12.0, 50.0, 1.0), (20.0, 30.0, 3.0), (20.0, 60.0, 3.0), (30.0, 100.0, 5.0)]
    assert front(pts) == [(10.0, 50.0, 2.0), (20.0, 30.0, 3.0), (30.0, 100.0, 5.0)]
