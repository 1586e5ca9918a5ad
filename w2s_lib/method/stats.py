"""The numbers the report is built on: PGR, spread over seeds, and the per-question sign test."""
from __future__ import annotations

import math
import statistics
from typing import Sequence


def pgr(acc: float | None, weak: float | None, ceiling: float | None) -> float | None:
    """Performance gap recovered: (acc - weak) / (ceiling - weak).

    0 is the weak floor, 1 the strong ceiling; below 0 or above 1 is possible. None when a value is missing or
    the ceiling is not above the weak floor (no gap to recover: the ratio would divide by zero or flip its
    meaning). This is the report's definition; the run's results table uses it too.
    """
    if acc is None or weak is None or ceiling is None or not ceiling - weak > 1e-12:
        return None
    return (acc - weak) / (ceiling - weak)


def spread(values: Sequence[float]) -> dict:
    """mean, sample standard deviation (None for one value), min, max and count of per-seed values."""
    v = list(values)
    if not v:
        return {"mean": None, "std": None, "min": None, "max": None, "n_seeds": 0}
    return {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else None,
            "min": min(v), "max": max(v), "n_seeds": len(v)}


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact sign test (binomial, p = 1/2) over discordant items; 1.0 when there are none."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)
