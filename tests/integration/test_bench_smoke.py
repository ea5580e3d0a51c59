"""The benchmark harness runs end to end at a tiny size, so it cannot rot; no timing is checked."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--rows", "2000", "--repeat", "1", "--runs", "3", "--requests", "200"]


@pytest.mark.slow
def test_the_harness_writes_a_report_with_a_figure_for_every_case(tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", *TINY, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    raw = json.loads((out / "benchmarks.json").read_text())
    assert raw["rows"] == 2000
    assert raw["size"] == "custom"
    cases = {case["case"]: case for case in raw["cases"]}
    # 13 and 14 repeat 1 and 11 at 2M rows, only when the benchmark is larger.
    assert set(cases) == {str(n) for n in [*range(1, 13), *range(15, 21)]}
    for name, case in cases.items():
        assert isinstance(case["met"], bool)
        if name == "12":  # no reference tool: judged by its limit alone
            assert case["ratio"] is None
            assert [limit["limit"] for limit in case["limits"]] == ["median < 1 s"]
            continue
        if name == "4":  # no reference tool: judged by its limits alone
            assert case["ratio"] is None
            assert case["reference"] is None
            assert len(case["pond"]["values"]) == 3
            assert [limit["limit"] for limit in case["limits"]] == ["p50 ≤ 300 ms", "p99 ≤ 1 s"]
            continue
        assert isinstance(case["ratio"], float)
        assert math.isfinite(case["ratio"])
        assert case["ratio"] > 0
        assert len(case["pond"]["values"]) == len(case["reference"]["values"]) == 1
    assert "no VACUUM, no ANALYZE" in cases["1"]["notes"][0], (
        "the report says how rows were written"
    )
    assert "same files" in cases["7"]["notes"][0], "pond and curl must download the same bytes"
    assert "4 parts" in cases["7"]["notes"][0]
    assert [limit["limit"] for limit in cases["8"]["limits"]] == ["p99 ≤ 50 ms"]
    assert [limit["limit"] for limit in cases["19"]["limits"]] == [
        "≥ 500 tokens/s",
        "p99 ≤ 50 ms",
    ]
    assert raw["not_measured"] == []

    report = (out / "benchmarks.md").read_text()
    for case in cases:
        assert f"## Case {case}:" in report
    assert str(tmp_path) not in report, "the report must not name machine paths"


@pytest.mark.slow
def test_the_scale_case_runs_on_request_and_the_report_keeps_it(tmp_path: Path) -> None:
    from benchmarks import report
    from benchmarks.measure import Comparison, Series

    out = tmp_path / "report"
    out.mkdir()
    (out / "benchmarks.md").write_text("# Benchmarks\n\nWhat the last full run wrote.\n")
    tiny = ["--cases", "scale", "--scale-events", "40000", "--repeat", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", *tiny, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    raw = json.loads((out / "benchmarks-scale.json").read_text())
    case = raw["case"]
    assert case["case"] == "21"
    assert isinstance(case["met"], bool)
    assert math.isfinite(case["ratio"])
    assert case["ratio"] > 0
    assert [limit["limit"] for limit in case["limits"]] == [
        "GET p99 ≤ 1.25×",
        "list p99 ≤ 1.25×",
        "sweep of 200 ≤ 60 s",
        "GET p99 while it runs ≤ 250 ms",
    ]
    assert len(case["series"]) == 9
    for series in case["series"]:
        assert len(series["values"]) == 1
        assert series["median"] > 0
    assert not (out / "benchmarks.json").exists(), "the run on request leaves the rest alone"
    page = (out / "benchmarks.md").read_text()
    assert page.startswith("# Benchmarks\n\nWhat the last full run wrote.\n")
    assert "## Case 21: Scale: 40,000 events of 10 organisations, 200 snapshots" in page
    assert str(tmp_path) not in page, "the report must not name machine paths"

    # A later run of the other cases writes the page anew and keeps case 21's section.
    figures = Series("pond", [1.0])
    other = Comparison("9", "Seeding", figures, Series("psql", [1.0]), 1.2, False, "time / time")
    run = {"size": "custom", "rows": 10, "latency_runs": 1, "requests": 1, "seed_seconds": 0.1}
    report.write(out, {**raw, **run}, [other])
    page = (out / "benchmarks.md").read_text()
    assert "What the last full run wrote." not in page
    assert "## Case 9: Seeding" in page
    assert "## Case 21: Scale: 40,000 events of 10 organisations, 200 snapshots" in page
