"""`hardtool models --bench`: frames per second of every registered model at its Table 2 input,
batch 1, beside the published FPS and mIoU (the paper's Table 2 and Fig. 2–3).

What is timed: the network's forward and the bilinear upsample of its logits to the input size
(no argmax), under ``torch.inference_mode`` in eval mode, after warm-up runs; the FPS is 1 / the
median of the timed runs. On CUDA each run is bracketed by ``torch.cuda.synchronize``. Absolute
FPS belong to the machine; the ratios to HARD-XXS are what can be compared with the paper.

Every model the registry lists appears: the HARD variants (``registry.VARIANTS``) and, when the
registry has them, peers (``registry.PEERS``, any mapping keyed by name), each built with
``registry.build_model(name)``; its input size is ``PAPER[name]["input_size"]``, else the
variant's default, else the peer entry's ``input_size``. Published numbers come from
``PAPER_SPEED`` below or from ``PAPER[name]["fps"]`` / ``["miou"]``.

Self-contained on purpose (no import from other stages) so it moves to ``bench/`` unchanged."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

# Cityscapes mIoU (single scale) and FPS (PyTorch, batch 1) of the HARD variants as the authors
# publish them in their repository's README (QWER-kr/HARD, "Results and models" → Cityscapes);
# 73.8 mIoU for HARD-GPU is also the Cityscapes figure of the paper's abstract. The paper's
# Table 2 itself (TITAN RTX, batch 1) could not be read here, and the README does not name the
# GPU behind its FPS.
PAPER_SPEED: dict[str, dict] = {
    "hard_xxs": {"fps": 533.0, "miou": 64.1},
    "hard_xs": {"fps": 532.0, "miou": 69.6},
    "hard_s": {"fps": 427.0, "miou": 72.8},
    "hard_gpu": {"fps": 315.0, "miou": 73.8},
}
PAPER_SOURCE = "github.com/QWER-kr/HARD README, Cityscapes table: mIoU(ss), FPS(torch)"
REFERENCE = "hard_xxs"


def zoo() -> list[dict]:
    """Every registered model: name, input size, published FPS / mIoU (None where unknown)."""
    from hardtool.models import registry

    names = list(registry.VARIANTS) + [
        n for n in getattr(registry, "PEERS", {}) if n not in registry.VARIANTS
    ]
    out = []
    for name in names:
        paper = {**getattr(registry, "PAPER", {}).get(name, {}), **PAPER_SPEED.get(name, {})}
        size = paper.get("input_size") or _default_size(registry, name)
        out.append(
            {
                "name": name,
                "input_size": list(size) if size else None,
                "paper_fps": paper.get("fps"),
                "paper_miou": paper.get("miou"),
            }
        )
    return out


def _default_size(registry, name: str):
    if name in registry.VARIANTS:
        return registry.VARIANTS[name].input_size
    peer = getattr(registry, "PEERS", {}).get(name)
    return peer.get("input_size") if isinstance(peer, dict) else getattr(peer, "input_size", None)


class _Upsampled(torch.nn.Module):
    """The network plus the bilinear upsample of its logits to the input size."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        y = y[0] if isinstance(y, (tuple, list)) else y
        if y.shape[-2:] != x.shape[-2:]:
            y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y


class Timer:
    """Batch-1 inference of one model, one timed run at a time (so several models can take turns
    and a noisy machine slows them alike). ``precision`` fp16 runs under CUDA autocast."""

    def __init__(
        self,
        model: torch.nn.Module,
        size: tuple[int, int],
        device: str = "cpu",
        precision: str = "fp32",
        compile: bool = False,
    ):
        self.dev = torch.device(device)
        self.net = _Upsampled(model).eval().to(self.dev)
        if compile:
            self.net = torch.compile(self.net)
        self.x = torch.randn(1, 3, *size, device=self.dev)
        self.fp16 = precision == "fp16"
        self.times: list[float] = []

    def once(self) -> float:
        cuda = self.dev.type == "cuda"
        amp = torch.autocast("cuda", dtype=torch.float16) if self.fp16 else contextlib.nullcontext()
        with torch.inference_mode(), amp:
            if cuda:
                torch.cuda.synchronize(self.dev)
            t0 = time.perf_counter()
            self.net(self.x)
            if cuda:
                torch.cuda.synchronize(self.dev)
        return time.perf_counter() - t0

    def done(self, runs: int, budget_s: float | None) -> bool:
        """``runs`` timed, or at least 5 and ``budget_s`` seconds spent."""
        n = len(self.times)
        return n >= runs or (budget_s is not None and n >= 5 and sum(self.times) > budget_s)

    def result(self, warmup: int) -> dict:
        med = statistics.median(self.times)
        return {
            "median_ms": round(1000 * med, 3),
            "min_ms": round(1000 * min(self.times), 3),
            "max_ms": round(1000 * max(self.times), 3),
            "fps": round(1 / med, 2),
            "runs": len(self.times),
            "warmup": warmup,
        }


def time_models(timers: list[Timer], warmup: int, runs: int, budget_s: float | None = None) -> list[dict]:
    """Warm every model up, then time them in turns (one run each per round): the median per model."""
    for t in timers:
        for _ in range(warmup):
            t.once()
    while True:
        active = [t for t in timers if not t.done(runs, budget_s)]
        if not active:
            break
        for t in active:
            t.times.append(t.once())
    return [t.result(warmup) for t in timers]


def time_model(
    model: torch.nn.Module,
    size: tuple[int, int],
    device: str = "cpu",
    precision: str = "fp32",
    warmup: int = 5,
    runs: int = 30,
    compile: bool = False,
    budget_s: float | None = None,
) -> dict:
    """Median latency of one model (see Timer)."""
    return time_models([Timer(model, size, device, precision, compile)], warmup, runs, budget_s)[0]


def machine(device: str) -> dict:
    info = {
        "device": device,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def bench(
    names: list[str] | None = None,
    device: str = "cpu",
    precisions: tuple[str, ...] = ("fp32",),
    warmup: int = 5,
    runs: int = 30,
    compile: bool = False,
    progress=None,
    budget_s: float | None = None,
    threads: int | None = None,
) -> dict:
    """Time each model (all registered ones unless ``names``) at each precision; ``threads``: torch
    CPU threads for the run (default: torch's)."""
    keep = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _bench(names, device, precisions, warmup, runs, compile, progress, budget_s)
    finally:
        torch.set_num_threads(keep)


def _bench(names, device, precisions, warmup, runs, compile, progress, budget_s) -> dict:
    from hardtool.models import registry

    entries = [e for e in zoo() if names is None or e["name"] in names]
    rows, built = [], []
    for e in entries:
        if e["input_size"] is None:
            rows.append({**e, "skipped": "no input size registered"})
            continue
        torch.manual_seed(0)
        model = registry.build_model(e["name"])
        rows.append({**e, "params": sum(p.numel() for p in model.parameters()), "measured": {}})
        built.append((rows[-1], model))
    for prec in precisions:
        if progress:
            progress(f"{len(built)} models, {prec}, in turns")
        timers = [Timer(m, tuple(r["input_size"]), device, prec, compile) for r, m in built]
        for (r, _), res in zip(built, time_models(timers, warmup, runs, budget_s), strict=True):
            r["measured"][prec] = res
    _ratios(rows, precisions)
    return {
        "machine": machine(device),
        "timed": "forward + bilinear upsample to the input size, batch 1, inference_mode, "
        "median of runs taken in turns over the models",
        "compile": compile,
        "paper_source": PAPER_SOURCE,
        "reference": REFERENCE,
        "models": rows,
    }


def _ratios(rows: list[dict], precisions) -> None:
    """FPS relative to HARD-XXS, measured and published, for each row."""
    ref = next((r for r in rows if r["name"] == REFERENCE and "measured" in r), None)
    for r in rows:
        if "measured" not in r:
            continue
        r["paper_ratio"] = (
            round(r["paper_fps"] / PAPER_SPEED[REFERENCE]["fps"], 3) if r.get("paper_fps") else None
        )
        for prec in precisions:
            m = r["measured"][prec]
            m["ratio"] = round(m["fps"] / ref["measured"][prec]["fps"], 3) if ref else None


def plot(res: dict, path: Path, precision: str = "fp32") -> int:
    """Fig. 2 style: measured FPS (x) against the published mIoU (y). Returns the points drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [
        (r["measured"][precision]["fps"], r["paper_miou"], r["name"])
        for r in res["models"]
        if "measured" in r and r.get("paper_miou") is not None
    ]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for fps, miou, name in pts:
        hard = name.startswith("hard_")
        ax.scatter(
            fps, miou, marker="*" if hard else "o", s=140 if hard else 40, color="C3" if hard else "C0"
        )
        ax.annotate(
            name.replace("hard_", "HARD-").upper() if hard else name,
            (fps, miou),
            fontsize=8,
            xytext=(4, 4),
            textcoords="offset points",
        )
    m = res["machine"]
    where = m.get("gpu") or f"{m['cpu']} ({m['threads']} threads)"
    ax.set_xlabel(f"FPS measured here, {precision}, batch 1 — {where}")
    ax.set_ylabel("Cityscapes mIoU (%) — published")
    ax.set_title("Speed vs accuracy (Fig. 2 style)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return len(pts)


def order(res: dict) -> dict:
    fps = {r["name"]: r["measured"]["fp32"]["fps"] for r in res["models"] if "measured" in r}
    res["order_by_fps"] = sorted(fps, key=fps.get, reverse=True)
    res["order_matches_paper"] = fps["hard_xxs"] > fps["hard_xs"] > fps["hard_s"]
    return res
