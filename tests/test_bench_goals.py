"""bench/kernels.py's frame goals: each computed from the frame's own layers as measured (the
classes flash-and-bench's per-layer counts give), none written in."""

from __future__ import annotations

from bench.kernels import FRAME_GOALS, frame_classes, frame_goals


def _table() -> tuple[dict, list[dict]]:
    layers = [
        ("CONV_2D#0", "CONV_2D", "hard_convolve_1x1_q15_s8", "pointwise without padding", 1000, 1500),
        ("CONV_2D#1", "CONV_2D", "hard_convolve_im2col_q15_s8", "3x3 kernel", 1000, 1800),
        ("DEPTHWISE_CONV_2D#2", "DEPTHWISE_CONV_2D", "hard_depthwise_conv_3x3_s8", "3x3", 500, 1900),
        ("ADD#3", "ADD", "hard_elementwise_add_table_s8", "same shapes", 0, 400),
        (
            "HARD_RESIZE_ARGMAX#4",
            "HARD_RESIZE_ARGMAX",
            "hard_resize_bilinear_argmax_s8",
            "blocks",
            0,
            2_500_000,
        ),
    ]
    codegen = {
        "layer_table": [
            {"name": n, "op": i, "kernel": k, "macs": m, "elements": 10, "reason": f"{r}: why"}
            for i, (n, _, k, r, m, _) in enumerate(layers)
        ]
    }
    per_layer = [{"name": n, "mean": float(i)} for n, _, _, _, _, i in layers]
    return codegen, per_layer


def test_frame_goals_follow_the_measured_layers():
    classes = frame_classes(*_table())
    assert {(c["op"], c["layers"]) for c in classes} >= {("ADD", 1), ("CONV_2D", 1)}
    g = frame_goals(29_000_000.0, classes)
    assert set(g) == set(FRAME_GOALS)
    assert g["frame_instructions_streamed"] == {
        "goal": 30_000_000,
        "measured": 29_000_000.0,
        "meets_goal": True,
    }
    assert g["conv_instructions_per_mac"]["measured"] == 1.65  # (1500 + 1800) / 2000
    assert not g["conv_instructions_per_mac"]["meets_goal"]
    assert g["depthwise_instructions_per_mac"] == {"goal": 4.0, "measured": 3.8, "meets_goal": True}
    assert g["tail_instructions"] == {"goal": 3_000_000, "measured": 2_500_000, "meets_goal": True}
    assert g["separate_add_layers"] == {"goal": 0, "measured": 1, "meets_goal": False}


def test_frame_goals_without_the_classes_are_not_met():
    g = frame_goals(31_000_000.0, [])
    assert not any(v["meets_goal"] for k, v in g.items() if k != "separate_add_layers")
    assert g["separate_add_layers"]["measured"] == 0 and g["separate_add_layers"]["meets_goal"]
