"""Figures and their summaries: every figure is a list of samples from repeated runs, summarised as median and spread."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Figure:
    """One measured quantity: its samples (one per repeat), a target and whether the median meets it."""

    benchmark: str
    name: str
    unit: str
    samples: list[float]
    target: str = ""
    met: bool | None = None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else math.nan

    @property
    def low(self) -> float:
        return min(self.samples) if self.samples else math.nan

    @property
    def high(self) -> float:
        return max(self.samples) if self.samples else math.nan

    @property
    def iqr(self) -> tuple[float, float]:
        return percentile(self.samples, 25), percentile(self.samples, 75)

    def as_dict(self) -> dict[str, Any]:
        q1, q3 = self.iqr
        return {
            "benchmark": self.benchmark,
            "name": self.name,
            "unit": self.unit,
            "n": len(self.samples),
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "q1": q1,
            "q3": q3,
            "samples": self.samples,
            "target": self.target,
            "met": self.met,
            "note": self.note,
            "detail": self.detail,
        }


def ratio_samples(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Pairwise ratios of two equally long sample lists (runs interleaved, so pairs share conditions)."""
    return [n / d for n, d in zip(numerators, denominators) if d > 0]
