"""Peer segmentation models, the lightweight networks HARD is compared with, rebuilt from their
papers as published: PReLU where the paper uses it (ENet's encoder, ESPNet, ESPNetV2, CGNet,
DABNet), stride-2 transposed convs in the decoders (ENet, FSSNet, ESPNet, ERFNet), LEDNet's
channel split and shuffle, ESPNetV2's grouped convs, CGNet's fully connected gates. Each entry
records the paper input size, the published parameter and FLOP figures with the convention they
were counted in, and ``substitutions``: what still differs from the paper because int8 TFLite or
the ONNX export cannot express it (empty for all ten). ENet's max-unpooling and Fast-SCNN's
adaptive pools are as published: hardtool's ONNX export lowers them to ops int8 TFLite has
(`hardtool.quantize.export_modules`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from hardtool.models.peers.cgnet import CGNet
from hardtool.models.peers.dabnet import DABNet
from hardtool.models.peers.edanet import EDANet
from hardtool.models.peers.enet import ENet, FSSNet
from hardtool.models.peers.erfnet import ERFNet
from hardtool.models.peers.espnet import ESPNet
from hardtool.models.peers.espnetv2 import ESPNetV2
from hardtool.models.peers.fastscnn import FastSCNN
from hardtool.models.peers.lednet import LEDNet

# How the published FLOP figures count. HARD's Table 2 counts multiply-accumulates of convs, with
# a stride-2 transposed conv counted at its output resolution (4× its MACs: what ptflops and thop
# report for ConvTranspose2d). For networks without transposed convs both are plain MACs.
MACS = "macs"
TRANSPOSED_AT_OUTPUT = "macs, transposed convs at output resolution"
CONVENTIONS = {
    MACS: "multiply-accumulates of convs (torch.utils.flop_counter FLOPs / 2)",
    TRANSPOSED_AT_OUTPUT: "multiply-accumulates of convs, each stride-2 transposed conv counted at its "
    "output resolution (4x its MACs, as ptflops and thop count ConvTranspose2d; torch counts it at its input)",
}

HARD_TABLE2 = "HARD (ACCV 2024) Table 2"


@dataclass(frozen=True)
class Published:
    params_m: float
    gflops: float  # as published, in ``convention``
    input_size: tuple[int, int]
    source: str
    convention: str = MACS
    note: str = ""
    mismatch: tuple[str, ...] = ()  # figures ("params", "flops") no network as published reproduces

    def macs_in_convention(self, stats) -> int:
        """Our count of a model (a registry ModelStats) in the convention these FLOPs were published in."""
        return stats.macs_transposed_at_output if self.convention == TRANSPOSED_AT_OUTPUT else stats.macs


@dataclass(frozen=True)
class PeerSpec:
    name: str  # as the papers write it
    build: Callable[[int], nn.Module]
    input_size: tuple[int, int]  # the paper's (H, W)
    output_stride: (
        int  # logits at 1/output_stride of the input; the export tail upsamples them (1: full size)
    )
    published: Published
    substitutions: str = ""  # what still differs from the paper, and why


FULL = (512, 1024)
CITY = (1024, 2048)

PEERS: dict[str, PeerSpec] = {
    "enet": PeerSpec(
        "ENet",
        ENet,
        FULL,
        1,
        Published(
            0.38,
            5.65,
            FULL,
            HARD_TABLE2,
            TRANSPOSED_AT_OUTPUT,
            "its final transposed conv is 3x3, as in the public PyTorch ENet whose count this is",
        ),
    ),
    "fssnet": PeerSpec(
        "FSSNet",
        FSSNet,
        FULL,
        1,
        Published(
            0.29,
            3.89,
            FULL,
            HARD_TABLE2,
            TRANSPOSED_AT_OUTPUT,
            "the FSSNet paper itself gives 0.2M parameters; the published architecture has 0.18M, "
            "so 0.29M is not reproducible (the FLOPs are)",
            ("params",),
        ),
    ),
    "espnet": PeerSpec(
        "ESPNet",
        ESPNet,
        FULL,
        1,
        Published(
            0.36,
            4.1,
            FULL,
            HARD_TABLE2,
            TRANSPOSED_AT_OUTPUT,
            "0.36M is the paper's ESPNet (alpha3 = 8, built here); 4.1 G is ESPNet with alpha3 = 3 "
            "(0.20M params), so the pair is not one network",
            ("flops",),
        ),
    ),
    "espnetv2": PeerSpec(
        "ESPNetV2",
        ESPNetV2,
        FULL,
        2,
        Published(1.25, 5.65, FULL, HARD_TABLE2),
    ),
    "edanet": PeerSpec("EDANet", EDANet, FULL, 8, Published(0.69, 8.88, FULL, HARD_TABLE2)),
    "erfnet": PeerSpec(
        "ERFNet",
        ERFNet,
        FULL,
        1,
        Published(2.06, 29.93, FULL, HARD_TABLE2, TRANSPOSED_AT_OUTPUT),
    ),
    "lednet": PeerSpec(
        "LEDNet",
        LEDNet,
        FULL,
        8,
        Published(0.94, 11.31, FULL, HARD_TABLE2),
    ),
    "cgnet": PeerSpec(
        "CGNet",
        CGNet,
        CITY,
        8,
        Published(0.50, 28.0, CITY, HARD_TABLE2),
    ),
    "fastscnn": PeerSpec(
        "FastSCNN",
        FastSCNN,
        CITY,
        8,
        Published(1.14, 6.72, CITY, HARD_TABLE2),
    ),
    "dabnet": PeerSpec(
        "DABNet",
        DABNet,
        FULL,
        8,
        Published(0.76, 10.46, FULL, "DABNet (BMVC 2019)"),
    ),
}

ALIASES = {"fast_scnn": "fastscnn", "espnet_v2": "espnetv2", "espnetv2_s2": "espnetv2"}

__all__ = ["PEERS", "PeerSpec", "Published", "ALIASES", "CONVENTIONS", "MACS", "TRANSPOSED_AT_OUTPUT"]
