"""`python -m benchmarks [--quick]`: set up data, run every case, write the report."""

from __future__ import annotations

import argparse
import importlib
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from benchmarks import report
from benchmarks.environment import Bench, machine, prepare
from benchmarks.measure import Comparison

FULL_ROWS, FULL_REPEAT, FULL_RUNS, FULL_REQUESTS = 5_000_000, 3, 50, 10_000
QUICK_ROWS, QUICK_REPEAT, QUICK_RUNS, QUICK_REQUESTS = 200_000, 2, 20, 2_000
FULL_SCALE_EVENTS, QUICK_SCALE_EVENTS = 20_000_000, 1_000_000
# Each case's function, as `module:function` of this package: a module is imported only
# when one of its cases runs, so `--cases` runs what it names whatever the others need.
CASES: dict[str, str] = {
    "export": "export_case:compare",
    "gzip": "gzip_case:compare",
    "seed": "seed_case:compare",
    "download": "download_case:compare",
    "client": "client_case:compare",
    "small": "api_case:small_snapshot",
    "get": "api_case:authenticated_get",
    "memory": "memory_case:compare",
    "workers": "workers_case:compare",
    "formats": "formats_case:compare",
    "token": "token_case:tokens",
    "longpoll": "longpoll_case:compare",
    "scale": "scale_case:compare",
}
# Cases that run only when named (`--cases scale`, `make bench-scale`): they take long.
ON_REQUEST = ("scale",)
DEFAULT_CASES = [name for name in CASES if name not in ON_REQUEST]
DOCS = Path(__file__).resolve().parent.parent / "docs"


def case(name: str) -> Callable[[Bench], list[Comparison]]:
    """The function that runs case `name`."""
    module, _, function = CASES[name].partition(":")
    run: Callable[[Bench], list[Comparison]] = getattr(
        importlib.import_module(f"benchmarks.{module}"), function
    )
    return run


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: under 3 minutes")
    parser.add_argument("--rows", type=int, help="events to seed (default: 5M, quick 200k)")
    parser.add_argument("--repeat", type=int, help="runs per contender (default: 3, quick 2)")
    parser.add_argument(
        "--runs", type=int, help="small snapshots timed for case 4 (default: 50, quick 20)"
    )
    parser.add_argument(
        "--requests",
        type=int,
        help="requests a run of cases 8, 19 and 20 is sized for (default: 10000, quick 2000)",
    )
    parser.add_argument(
        "--scale-events",
        type=int,
        help="events of case 21's large table; the rest scales with it (default: 20M, quick 1M)",
    )
    parser.add_argument("--out", type=Path, default=DOCS, help="where the report goes (docs/)")
    parser.add_argument(
        "--cases",
        default=",".join(DEFAULT_CASES),
        help=f"comma-separated subset of {', '.join(CASES)} (default: all but"
        f" {', '.join(ON_REQUEST)}, which run only when named)",
    )
    args = parser.parse_args(argv)
    args.scale_events = args.scale_events or (
        QUICK_SCALE_EVENTS if args.quick else FULL_SCALE_EVENTS
    )
    args.rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    args.repeat = args.repeat or (QUICK_REPEAT if args.quick else FULL_REPEAT)
    args.runs = args.runs or (QUICK_RUNS if args.quick else FULL_RUNS)
    args.requests = args.requests or (QUICK_REQUESTS if args.quick else FULL_REQUESTS)
    unknown = set(args.cases.split(",")) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    return args


def size_name(args: argparse.Namespace) -> str:
    """`quick` or `full` for the standard sizes, `custom` for anything else."""
    sizes = (args.rows, args.repeat, args.runs, args.requests)
    if sizes == (QUICK_ROWS, QUICK_REPEAT, QUICK_RUNS, QUICK_REQUESTS):
        return "quick"
    if sizes == (FULL_ROWS, FULL_REPEAT, FULL_RUNS, FULL_REQUESTS):
        return "full"
    return "custom"


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    # The export job logs one event per run; the benchmark prints its own lines.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    began = time.perf_counter()
    names = args.cases.split(",")
    # Cases run on request use databases of their own: the shared events are not needed.
    rows = args.rows if set(names) - set(ON_REQUEST) else 0
    with tempfile.TemporaryDirectory(prefix="pond-bench-") as tmp:
        if rows:
            print(f"seeding {rows:,} events ...", flush=True)
        bench, server = prepare(
            Path(tmp),
            rows=rows,
            repeat=args.repeat,
            latency_runs=args.runs,
            requests=args.requests,
            scale_events=args.scale_events,
        )
        try:
            meta = {
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "size": size_name(args),
                "rows": args.rows,
                "repeat": args.repeat,
                "latency_runs": args.runs,
                "requests": args.requests,
                "scale_events": args.scale_events,
                "seed_seconds": bench.seed_seconds,
                "machine": machine(bench),
            }
            results: list[Comparison] = []
            for name in names:
                for result in case(name)(bench):
                    results.append(result)
                    verdict = "met" if result.met else "MISSED"
                    print(
                        f"case {result.case}: {result.ratio_text} ({result.ratio_meaning});"
                        f" target {result.target_text}: {verdict}",
                        flush=True,
                    )
        finally:
            server.cleanup()
    results.sort(key=lambda r: int(r.case))
    meta["total_seconds"] = round(time.perf_counter() - began, 1)
    md, raw = report.write(args.out, meta, results)
    print(f"wrote {md} and {raw} in {meta['total_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
