"""Stage II: preference pairs from the strong model's own samples (the paper release's
`src/construct_training_data.py`; docs/paper_settings.md section 5).

Answers arrive as keys (one per response, '' = no answer): which responses hold the same answer is the task's
comparator, decided before these rules run (w2s_lib.tasks). Nothing here reads gold.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from .vote import Vote, passes, vote

# Reasons a question yields no pair (the keys of PairStats.skipped).
LOW_CONFIDENCE = "low_confidence"            # top answer's share < min_conf
NO_ANSWER = "majority_has_no_answer"         # the most common "answer" is no answer at all
NO_MINORITY = "agree_no_minority"            # weak agrees with a unanimous majority: nothing to reject
DISAGREE_LOW_CONF = "disagree_below_flip"    # weak disagrees but confidence < flip_conf

WEAK_CHOSEN = "weak_chosen"
WEAK_REJECTED = "weak_rejected"


def pairs_for_question(weak_response: str, weak_key: str, samples: Sequence[str], sample_keys: Sequence[str], *,
                       rng: random.Random, min_conf: float = 0.6, flip_conf: float = 0.8,
                       max_pairs: int = 1) -> tuple[list[dict], str | None, Vote]:
    """The paper's rules for one question. Returns (pairs, skip_reason, vote); each pair is
    {chosen, rejected, branch}; `skip_reason` is None when pairs were made.

    - confidence = share of the most common answer among the samples (the empty answer is a candidate;
      ties go to the answer seen first); skip under `min_conf`, or when the top answer is no answer;
    - branch A, weak answer == majority: chosen = the weak response, rejected = a minority sample (up to
      `max_pairs` distinct draws); skip when every sample agrees (nothing to reject);
    - branch B, weak answer != majority, only at confidence >= `flip_conf`: chosen = a random majority sample,
      rejected = the weak response; further majority samples in sample order whose text differs from the first
      draw, up to `max_pairs` pairs.
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
    if weak_key and weak_key == v.top:                                     # branch A
        minority = [s for s, k in zip(samples, sample_keys) if k != v.top]
        if not minority:
            return [], NO_MINORITY, v
        rejected = rng.sample(minority, min(max_pairs, len(minority)))
        return [{"chosen": weak_response, "rejected": r, "branch": WEAK_CHOSEN} for r in rejected], None, v
    if not passes(v.count, n, flip_conf):                                  # branch B (an empty weak answer
        return [], DISAGREE_LOW_CONF, v                                    # always differs)
    majority = [s for s, k in zip(samples, sample_keys) if k == v.top]
    first = rng.choice(majority)
    chosen = [first] + [s for s in majority if s != first][:max_pairs - 1]
    return [{"chosen": c, "rejected": weak_response, "branch": WEAK_REJECTED} for c in chosen], None, v


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


def build_pairs(questions: Sequence[dict], keys: Sequence[Sequence[str]], *, seed: int = 42, min_conf: float = 0.6,
                flip_conf: float = 0.8, max_pairs: int = 1) -> tuple[list[dict], list[dict], PairStats]:
    """The rules over a whole train_2, in the given order, with one RNG seeded once (as in the release).

    `questions[i]` is {id, prompt, weak_response, samples}; `keys[i]` is [weak key, sample keys...].
    Returns (pairs, votes, stats): each pair is {id, prompt, chosen, rejected, branch, confidence, majority_key,
    weak_key}; `votes` has one row per question {id, vote, reason, pairs, branch}.
    """
    rng = random.Random(seed)
    stats, pairs, votes = PairStats(), [], []
    for q, k in zip(questions, keys, strict=True):
        stats.questions += 1
        made, reason, v = pairs_for_question(q["weak_response"], k[0], q["samples"], k[1:], rng=rng,
                                             min_conf=min_conf, flip_conf=flip_conf, max_pairs=max_pairs)
        votes.append({"id": q["id"], "vote": v, "reason": reason, "pairs": len(made),
                      "branch": made[0]["branch"] if made else None})
        if reason is not None:
            stats.skipped[reason] += 1
            continue
        stats.questions_with_pairs += 1
        for p in made:
            stats.pairs += 1
            stats.weak_chosen += p["branch"] == WEAK_CHOSEN
            stats.weak_rejected += p["branch"] == WEAK_REJECTED
            pairs.append({"id": q["id"], "prompt": q["prompt"], **p, "confidence": v.confidence,
                          "majority_key": v.top, "weak_key": k[0]})
    return pairs, votes, stats
