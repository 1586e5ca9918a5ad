"""Majority vote over a question's sampled answers (Stage II's confidence, and maj@k in evaluation)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

_EPS = 1e-9  # 6/10 must pass a 0.6 gate whatever the float rounding


@dataclass(frozen=True)
class Vote:
    """A majority vote: the answer keys voted on ('' = no answer), the winner and its count."""
    keys: tuple[str, ...]
    top: str
    count: int

    @property
    def confidence(self) -> float:
        """The winner's share of all the samples, samples without an answer included in the denominator."""
        return self.count / len(self.keys) if self.keys else 0.0


def vote(keys: Sequence[str], *, empty_wins: bool = True) -> Vote:
    """The most common answer key; ties go to the key seen first.

    `empty_wins=True` (Stage II, as the release's `Counter`): the empty answer '' is a candidate like any other,
    so a question whose samples mostly have no answer has top '' and is skipped. `empty_wins=False` (maj@k in
    evaluation): '' never wins; with no answer at all, top is '' with count 0. The two agree whenever the
    winner's share is above 0.5, so both decide Stage II's 0.6 gate the same way.
    """
    counts = Counter(k for k in keys if empty_wins or k)
    if not counts:
        return Vote(tuple(keys), "", 0)
    top, count = counts.most_common(1)[0]   # most_common is stable: equal counts keep first-seen order
    return Vote(tuple(keys), top, count)


def passes(count: int, n: int, threshold: float) -> bool:
    """count / n >= threshold, exact at the boundary (6 of 10 passes 0.6)."""
    return count >= threshold * n - _EPS
