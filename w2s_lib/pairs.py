"""Stage II data: majority voting over the strong model's own samples, and preference pairs.

The rules follow the paper's release (`src/construct_training_data.py`, see docs/paper_settings.md section 5):

- confidence = (count of the most common final answer among the n samples) / n. A sample with no answer
  counts as a candidate (the empty answer), and ties go to the answer seen first, in sample order.
- skip the question when confidence < min_conf (0.6), or when the top answer is the empty answer.
- branch A, weak answer == majority: chosen = the weak response, rejected = a minority sample
  (up to `max_pairs` distinct draws); skip when every sample agrees (nothing to reject).
- branch B, weak answer != majority, only when confidence >= flip_conf (0.8): chosen = a random majority
  sample, rejected = the weak response; with max_pairs > 1, further majority samples in sample order whose
  text differs from the first chosen one, up to max_pairs pairs.
- otherwise skip.

Answers are compared under the preset's `stage1.comparator`: `math` (our improvement) through the grader's
clusters of equal answers (`w2s_lib.grading.cluster_batch`), the same notion of equality used for Stage I
agreement, so `0.5` and `\\frac12` vote together; `official` (the paper presets) through the release's normalised
prediction strings (`official_keys`: its `Counter` over `pred`, where "0.5" and "0.50" are two answers). Nothing here reads gold: `chosen_is_correct` and friends
are added by analysis code, never by this module.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

# Reasons a question yields no pair (the keys of PairStats.skipped).
LOW_CONFIDENCE = "low_confidence"            # top answer's share < min_conf
NO_ANSWER = "majority_has_no_answer"         # the most common "answer" is no answer at all
NO_MINORITY = "agree_no_minority"            # weak agrees with a unanimous majority: nothing to reject
DISAGREE_LOW_CONF = "disagree_below_flip"    # weak disagrees but confidence < flip_conf

WEAK_CHOSEN = "weak_chosen"
WEAK_REJECTED = "weak_rejected"

_EPS = 1e-9  # 6/10 must pass a 0.6 gate whatever the float rounding


@dataclass(frozen=True)
class Vote:
    """Majority vote over one question's samples (keys are canonical answer keys; '' = no answer)."""
    keys: tuple[str, ...]
    top: str
    count: int

    @property
    def confidence(self) -> float:
        return self.count / len(self.keys) if self.keys else 0.0


def vote(keys: Sequence[str]) -> Vote:
    """Most common key; ties go to the key seen first (Counter keeps insertion order for equal counts)."""
    if not keys:
        return Vote((), "", 0)
    top, count = Counter(keys).most_common(1)[0]
    return Vote(tuple(keys), top, count)


def passes(confidence_count: int, n: int, threshold: float) -> bool:
    """count / n >= threshold, exact at the boundary (6 of 10 passes 0.6)."""
    return confidence_count >= threshold * n - _EPS


@dataclass
class PairStats:
    questions: int = 0
    pairs: int = 0
    weak_chosen: int = 0        # pairs from branch A
    weak_rejected: int = 0      # pairs from branch B
    questions_with_pairs: int = 0
    skipped: dict = field(default_factory=lambda: {LOW_CONFIDENCE: 0, NO_ANSWER: 0, NO_MINORITY: 0,
                                                    DISAGREE_LOW_CONF: 0})

    def to_dict(self) -> dict:
        return {"questions": self.questions, "questions_with_pairs": self.questions_with_pairs,
                "pairs": self.pairs, "weak_chosen": self.weak_chosen, "weak_rejected": self.weak_rejected,
                "skipped": dict(self.skipped)}


def pairs_for_question(weak_response: str, weak_key: str, samples: Sequence[str], sample_keys: Sequence[str], *,
                       rng: random.Random, min_conf: float = 0.6, flip_conf: float = 0.8,
                       max_pairs: int = 1) -> tuple[list[dict], str | None, Vote]:
    """Apply the paper's rules to one question.

    Returns (pairs, skip_reason, vote); each pair is {chosen, rejected, branch}. `skip_reason` is None when
    pairs were made.
    """
    if len(samples) != len(sample_keys):
        raise ValueError(f"{len(samples)} samples but {len(sample_keys)} keys")
    if max_pairs < 1:
        raise ValueError("max_pairs must be >= 1")
    v = vote(sample_keys)
    n = len(sample_keys)
    if n == 0 or not passes(v.count, n, min_conf):
        return [], LOW_CONFIDENCE, v
    if v.top == "":
        return [], NO_ANSWER, v

    if weak_key and weak_key == v.top:
        minority = [s for s, k in zip(samples, sample_keys) if k != v.top]
        if not minority:
            return [], NO_MINORITY, v
        rejected = rng.sample(minority, min(max_pairs, len(minority)))
        return [{"chosen": weak_response, "rejected": r, "branch": WEAK_CHOSEN} for r in rejected], None, v

    # The weak answer differs from the majority (an empty weak answer always differs).
    if not passes(v.count, n, flip_conf):
        return [], DISAGREE_LOW_CONF, v
    majority = [s for s, k in zip(samples, sample_keys) if k == v.top]
    first = rng.choice(majority)
    chosen = [first]
    for s in majority:  # further majority samples in sample order, text different from the first draw
        if len(chosen) >= max_pairs:
            break
        if s != first:
            chosen.append(s)
    return [{"chosen": c, "rejected": weak_response, "branch": WEAK_REJECTED} for c in chosen], None, v


def answer_keys(questions: Sequence[dict]) -> list[list[str]]:
    """Per question, [weak key, sample keys...] from the grader's clusters of equal final answers.

    `cluster_batch` groups answers by canonical key and then merges groups that are mathematically equal
    (so sqrt(8) and 2*sqrt(2) vote together); '' marks a response without an answer.
    """
    from .grading import cluster_batch, extract_answer  # lazy: keep this module importable on its own
    groups = [[extract_answer(q["weak_response"])] + [extract_answer(s) for s in q["samples"]] for q in questions]
    labels = cluster_batch(groups)
    return [[f"c{lab}" if lab >= 0 else "" for lab in labs] for labs in labels]


def official_keys(questions: Sequence[dict], dataset: str) -> list[list[str]]:
    """Per question, [weak key, sample keys...] = the release's normalised predictions (`'' ` = no answer), as its
    `construct_majority_voting_data` counts them. OlympicArena (no released code): the first-box answer."""
    from .grading_official import pred_for
    return [[pred_for(q["weak_response"], dataset)] + [pred_for(s, dataset) for s in q["samples"]]
            for q in questions]


def build_pairs(questions: Sequence[dict], *, key: Callable[[str], str] | None = None, seed: int = 42,
                min_conf: float = 0.6, flip_conf: float = 0.8, max_pairs: int = 1) -> tuple[list[dict], PairStats]:
    """Preference pairs for a list of questions, processed in the given (train_2) order.

    Each question is {id, prompt, weak_response, samples: [str, ...]}. Answers are compared through the
    grader's clusters (`answer_keys`), or through `key(response) -> str` when given (tests, custom tasks).
    One RNG seeded once, as in the release. Returns (pairs, stats); each pair is {id, prompt, chosen,
    rejected, branch, confidence, majority_key, weak_key}.
    """
    if key is None:
        all_keys = answer_keys(questions)
    else:
        all_keys = [[key(q["weak_response"])] + [key(r) for r in q["samples"]] for q in questions]
    rng = random.Random(seed)
    stats = PairStats()
    out: list[dict] = []
    for q, keys in zip(questions, all_keys):
        stats.questions += 1
        weak_key, sample_keys = keys[0], keys[1:]
        pairs, reason, v = pairs_for_question(q["weak_response"], weak_key, q["samples"], sample_keys, rng=rng,
                                              min_conf=min_conf, flip_conf=flip_conf, max_pairs=max_pairs)
        if reason is not None:
            stats.skipped[reason] += 1
            continue
        stats.questions_with_pairs += 1
        for p in pairs:
            stats.pairs += 1
            stats.weak_chosen += p["branch"] == WEAK_CHOSEN
            stats.weak_rejected += p["branch"] == WEAK_REJECTED
            out.append({"id": q["id"], "prompt": q["prompt"], **p, "confidence": v.confidence,
                        "majority_key": v.top, "weak_key": weak_key})
    return out, stats
