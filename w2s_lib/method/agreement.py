"""Stage I: which train_2 questions are kept. The weak model's answer and the strong base's few-shot (ICL)
answer must agree; what "agree" means is the task's comparator (w2s_lib.tasks), decided before this rule runs."""
from __future__ import annotations

from typing import Callable, Sequence

# Why a question was not kept (the first failing reason counts).
WEAK_NO_ANSWER = "weak_no_answer"
ICL_NO_ANSWER = "icl_no_answer"
DISAGREE = "disagree"
REASONS = (WEAK_NO_ANSWER, ICL_NO_ANSWER, DISAGREE)


def keep_reason(weak_pred: str, icl_pred: str, same: bool, *, empty_agrees: bool = False) -> str | None:
    """None when the question is kept, else why not.

    `same` is the comparator's verdict on the two answers. By default an empty answer is never kept (our rule);
    `empty_agrees=True` is the release's rule (`stage1.comparator: official`), where two equal normalised
    predictions agree, two empty ones included, and only `same` decides.
    """
    if empty_agrees:
        if same:
            return None
    elif weak_pred and icl_pred and same:
        return None
    if not weak_pred:
        return WEAK_NO_ANSWER
    if not icl_pred:
        return ICL_NO_ANSWER
    return DISAGREE


def cluster_keys(texts: Sequence[str], preds: Sequence[str], same: Callable[[str, str], bool]) -> list[str]:
    """Answer keys for a list of responses under a pairwise rule `same(a, b)`: each response joins the cluster
    of the first earlier cluster it agrees with ('c0', 'c1', ... in order of first sight); '' = no answer.
    Used where answers have no canonical form of their own (OlympicArena's per-answer-type agreement)."""
    reps: list[str] = []
    keys = []
    for t, p in zip(texts, preds):
        if not p:
            keys.append("")
            continue
        hit = next((c for c, r in enumerate(reps) if same(r, t)), None)
        if hit is None:
            reps.append(t)
            hit = len(reps) - 1
        keys.append(f"c{hit}")
    return keys
