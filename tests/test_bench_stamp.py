"""Every bench JSON says which commit it measured (bench.common.write_result), and whether the
tree held changes beyond that commit."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from bench.common import ROOT, commit, write_result


def test_a_stage_result_is_stamped_with_head_first(tmp_path: Path):
    res = write_result(tmp_path / "x.json", {"commit": "stale", "frame": 1})
    doc = json.loads((tmp_path / "x.json").read_text())
    assert doc == res and list(doc) == ["commit", "frame"] and doc["frame"] == 1
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert (
        re.fullmatch(r"[0-9a-f]{40}(\+changes)?", doc["commit"]) and doc["commit"][:40] == head.stdout.strip()
    )


def test_every_stage_writes_through_the_stamp():
    stages = __import__("bench.__main__", fromlist=["STAGES"]).STAGES
    for name in stages:
        text = (ROOT / "bench" / f"{name}.py").read_text()
        assert "write_result(" in text and "atomic_write_json(" not in text, name
    assert commit() is not None
