"""The benchmark harness runs end to end at a tiny size, so it cannot rot; no timing is checked."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_harness_writes_a_report_with_a_ratio_for_every_case(tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--rows", "2000", "--repeat", "1", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    raw = json.loads((out / "benchmarks.json").read_text())
    assert raw["rows"] == 2000
    assert raw["size"] == "custom"
    cases = {case["case"]: case for case in raw["cases"]}
    assert set(cases) == {"1", "2", "5", "6", "9"}
    for case in cases.values():
        assert isinstance(case["ratio"], float)
        assert math.isfinite(case["ratio"])
        assert case["ratio"] > 0
        assert isinstance(case["met"], bool)
        assert len(case["pond"]["values"]) == len(case["reference"]["values"]) == 1
    assert "same" in cases["1"]["notes"][0], "pond and psql must export the same bytes"

    report = (out / "benchmarks.md").read_text()
    for case in cases:
        assert f"## Case {case}:" in report
    assert str(tmp_path) not in report, "the report must not name machine paths"
