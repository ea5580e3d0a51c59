"""Repeated measurements and the comparison of one case against its reference."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Series:
    """Repeated figures of one contender (seconds, or megabytes for memory)."""

    label: str
    values: list[float] = field(default_factory=list)
    unit: str = "s"

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "values": self.values,
            "median": self.median,
            "min": min(self.values),
            "max": max(self.values),
        }


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.99 for p99) of `values`."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Comparison:
    """One case: pond against its reference, and the ratio that the target speaks of.

    `ratio` is `pond / reference` of the medians when `higher_is_better` is false
    (time, memory), and `reference / pond` (a speed-up or a throughput ratio) when true.
    A case without a reference tool has no ratio: it is judged by its `limits` alone.
    Each limit is (description, met), for example ("p99 ≤ 1 s", True).
    """

    case: str
    title: str
    pond: Series
    reference: Series | None
    target: float | None
    higher_is_better: bool
    ratio_meaning: str
    notes: list[str] = field(default_factory=list)
    limits: list[tuple[str, bool]] = field(default_factory=list)
    # Further figures of the case, shown in its table below pond's and the reference's.
    series: list[Series] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.reference is None:
            return None
        pond, ref = self.pond.median, self.reference.median
        return ref / pond if self.higher_is_better else pond / ref

    @property
    def met(self) -> bool:
        ok = True
        if self.target is not None and self.ratio is not None:
            ok = self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target
        return ok and all(met for _, met in self.limits)

    @property
    def target_text(self) -> str:
        parts = [description for description, _ in self.limits]
        if self.target is not None:
            sign = "≥" if self.higher_is_better else "≤"
            parts.insert(0, f"{sign} {self.target:g}×")
        return ", ".join(parts)

    @property
    def ratio_text(self) -> str:
        return "–" if self.ratio is None else f"{self.ratio:.2f}×"

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "title": self.title,
            "pond": self.pond.as_dict(),
            "reference": None if self.reference is None else self.reference.as_dict(),
            "ratio": self.ratio,
            "ratio_meaning": self.ratio_meaning,
            "target": self.target_text,
            "limits": [{"limit": text, "met": met} for text, met in self.limits],
            "met": self.met,
            "notes": self.notes,
            **({"series": [s.as_dict() for s in self.series]} if self.series else {}),
        }


def busy_cpu() -> float:
    """CPU-seconds the whole machine has spent busy (every process, every core) so far."""
    import psutil

    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def children_cpu() -> float:
    """CPU-seconds spent so far by this process's finished children (and theirs), waited for."""
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(action: Callable[[], object]) -> float:
    """Seconds `action` took on the monotonic clock."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def alternate(
    repeat: int,
    pond: tuple[Series, Callable[[int], float]],
    reference: tuple[Series, Callable[[int], float]],
    *,
    warm_up: bool = False,
) -> None:
    """Run both contenders `repeat` times, alternating who goes first so drift hits both.

    Each callable gets the run number and returns its figure; with `warm_up`, each
    runs once first (run number -1) with its figure thrown away.
    """
    if warm_up:
        for _, action in (pond, reference):
            action(-1)
    for run in range(repeat):
        order = [pond, reference] if run % 2 == 0 else [reference, pond]
        for series, action in order:
            series.values.append(action(run))
