"""Repeated measurements and the comparison of one case against its reference."""

from __future__ import annotations

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


@dataclass
class Comparison:
    """One case: pond against its reference, and the ratio that the target speaks of.

    `ratio` is `pond / reference` of the medians when `higher_is_better` is false
    (time, memory), and `reference / pond` (a speed-up or a throughput ratio) when true.
    """

    case: str
    title: str
    pond: Series
    reference: Series
    target: float
    higher_is_better: bool
    ratio_meaning: str
    notes: list[str] = field(default_factory=list)
    extra_limit: tuple[str, bool] | None = None  # (description, met) of a second bar

    @property
    def ratio(self) -> float:
        pond, ref = self.pond.median, self.reference.median
        return ref / pond if self.higher_is_better else pond / ref

    @property
    def met(self) -> bool:
        ok = self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target
        return ok and (self.extra_limit is None or self.extra_limit[1])

    @property
    def target_text(self) -> str:
        sign = "≥" if self.higher_is_better else "≤"
        text = f"{sign} {self.target:g}×"
        if self.extra_limit is not None:
            text += f", {self.extra_limit[0]}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "title": self.title,
            "pond": self.pond.as_dict(),
            "reference": self.reference.as_dict(),
            "ratio": self.ratio,
            "ratio_meaning": self.ratio_meaning,
            "target": self.target_text,
            "met": self.met,
            "notes": self.notes,
        }


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
