"""hardtool models --bench: what is timed, the published numbers beside it, peers appearing by
registration alone, the chart, the command line."""

from __future__ import annotations

import json
import time

import pytest
import torch
from PIL import Image

from hardtool.models import registry, speed


def test_zoo_has_every_variant_with_its_published_numbers():
    z = {e["name"]: e for e in speed.zoo()}
    assert list(z)[: len(registry.VARIANTS)] == list(registry.VARIANTS)
    assert z["hard_xxs"] == {
        "name": "hard_xxs",
        "input_size": [360, 640],
        "paper_fps": 533.0,
        "paper_miou": 64.1,
    }
    assert z["hard_gpu"]["input_size"] == [512, 1024] and z["hard_gpu"]["paper_miou"] == 73.8
    assert z["hard_edge"]["paper_fps"] is None and z["hard_edge"]["input_size"] == [128, 256]


class _Sleeper(torch.nn.Module):
    """A 'network' that takes 30 ms and returns logits at 1/8."""

    def forward(self, x):
        time.sleep(0.03)
        return x[:, :2, ::8, ::8]


class _Clock:
    """A perf_counter that only the model's forward advances: the timer's arithmetic is tested
    exactly, whatever else the machine is doing."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Ticker(torch.nn.Module):
    """A 'network' whose forward takes 30 ms of the fake clock, then 40 ms, alternately."""

    def __init__(self, clock: _Clock):
        super().__init__()
        self.clock, self.calls = clock, 0

    def forward(self, x):
        self.clock.now += 0.03 if self.calls % 2 == 0 else 0.04
        self.calls += 1
        return x[:, :2, ::8, ::8]


def test_timer_measures_the_forward(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(speed.time, "perf_counter", clock)
    m = speed.time_model(_Ticker(clock), (64, 64), runs=5, warmup=1)
    # warm-up 30 ms; timed 40, 30, 40, 30, 40 ms -> median 40
    assert m["median_ms"] == pytest.approx(40.0) and m["fps"] == round(1000 / m["median_ms"], 2)
    assert m["min_ms"] == pytest.approx(30.0) and m["max_ms"] == pytest.approx(40.0) and m["runs"] == 5
    capped = speed.time_model(_Ticker(clock), (64, 64), runs=100, warmup=0, budget_s=0.2)
    assert capped["runs"] == 6  # stops once 0.2 s of timed runs are spent (35 ms each on average)


def test_peers_appear_by_registration(monkeypatch, tmp_path):
    """A model in registry.PEERS is built, timed at its input size, shown with its published numbers."""
    build = registry.build_model
    monkeypatch.setattr(registry, "PEERS", {"toy_peer": {"input_size": (32, 64)}}, raising=False)
    monkeypatch.setitem(registry.PAPER, "toy_peer", {"fps": 1000.0, "miou": 50.0})
    monkeypatch.setattr(
        registry, "build_model", lambda name, *a: _Sleeper() if name == "toy_peer" else build(name, *a)
    )
    res = speed.bench(["hard_edge", "toy_peer", "hard_xxs"], runs=2, warmup=1)
    rows = {r["name"]: r for r in res["models"]}
    assert list(rows) == ["hard_xxs", "hard_edge", "toy_peer"]  # registry order
    toy = rows["toy_peer"]
    assert (
        toy["input_size"] == [32, 64]
        and toy["paper_fps"] == 1000.0
        and toy["paper_ratio"] == round(1000 / 533, 3)
    )
    xxs = rows["hard_xxs"]["measured"]["fp32"]
    assert xxs["ratio"] == 1.0
    assert toy["measured"]["fp32"]["ratio"] == round(toy["measured"]["fp32"]["fps"] / xxs["fps"], 3)
    png = tmp_path / "fig2.png"
    assert speed.plot(res, png) == 2  # hard_xxs and the peer have a published mIoU; hard_edge has none
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 400


def _main(args, capsys):
    from hardtool.cli import main

    with pytest.raises(SystemExit) as e:
        main(["-v", *args])
    out = capsys.readouterr()
    return e.value.code, out.out, out.err.strip()


def test_cli_bench_json_and_errors(capsys):
    threads = torch.get_num_threads()
    args = [
        "models",
        "--bench",
        "--only",
        "hard_edge",
        "--runs",
        "2",
        "--warmup",
        "0",
        "--threads",
        "1",
        "--json",
    ]
    code, out, _ = _main(args, capsys)
    assert code == 0
    res = json.loads(out)
    assert [r["name"] for r in res["models"]] == ["hard_edge"] and res["machine"]["device"] == "cpu"
    assert res["models"][0]["measured"]["fp32"]["fps"] > 0
    assert res["machine"]["threads"] == 1 and torch.get_num_threads() == threads  # restored
    for args, msg in (
        (["models", "--bench", "--device", "cpu", "--precision", "fp16"], "fp16 timing runs under CUDA"),
        (["models", "--bench", "--only", "nope"], "unknown model 'nope'"),
        (["models", "--plot", "x.png"], "--plot needs --bench"),
    ):
        code, _, err = _main(args, capsys)
        assert code == 2 and len(err.splitlines()) == 1 and msg in err, err
