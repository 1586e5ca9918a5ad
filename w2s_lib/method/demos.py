"""Stage I: the in-context demos the strong base sees before each train_2 question (the `sampled` mode)."""
from __future__ import annotations

import random
from typing import Sequence


def choose_demos(weak_rows: Sequence[dict], n_demos: int = 4, seed: int = 42) -> list[dict]:
    """The release's rule: shuffle D_weak with `random.Random(seed)`, take the first `n_demos` rows whose
    response has a final answer (`pred` != ''). Their correctness is not checked (no gold is read), so a demo
    may well be wrong: the release's Llama2-7b GSM8K demos have 1 correct answer of 4."""
    order = list(range(len(weak_rows)))
    random.Random(seed).shuffle(order)
    demos = [weak_rows[i] for i in order if weak_rows[i]["pred"]][:n_demos]
    if len(demos) < n_demos:
        raise ValueError(f"only {len(demos)} weak responses have a final answer; {n_demos} demos are needed")
    return demos
