"""SCORE's results across seeds (notebooks 07-08): results.json's key `score` and the report's SCORE table.

    s = score_summary(res)     # {} when no seed ran 08; else per seed and as a mean
    score_rows(s)              # the report's table: one line per (refiner, verifier)

Per seed, `stages.score_eval.results` gives the test accuracies (initial; after verify-then-refine with the SCORE
refiner under each verifier; prompted self-refine under the oracle), each verifier's precision / recall on "this
solution is wrong", fixed / broken counts and the critique funnel. Across seeds: means, and a sign test over the
fixed and broken questions pooled over seeds (the seeds' test sets are different draws).
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from w2s_lib.method.stats import sign_test_p
from w2s_lib.run.names import SCORE_REFINED

ACCURACY_KEYS = ("initial", "refined_oracle", "refined_self_verifier", "refined_strong_verifier",
                 "refined_self_prompted", "self_refine_oracle", "strong_refine_oracle")
ROWS = (("score", "oracle"), ("score", "self_verifier"), ("score", "self_prompted"), ("score", "strong_prompted"),
        ("self_refine", "oracle"), ("self_refine", "self_prompted"), ("strong_refine", "oracle"),
        ("strong_refine", "strong_prompted"))


def seed_results(preset: Any, seed: int, root: Path) -> dict | None:
    """The SCORE results of one run directory, or None when its 08 has not finished."""
    from w2s_lib.run.context import open_run
    from w2s_lib.run.runstore import RunStore
    from w2s_lib.stages.score_eval import results
    if not RunStore(root).has(SCORE_REFINED):
        return None
    return results(open_run(preset, seed, root))


def _mean(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


def score_summary(preset: Any, seed_dirs: dict[int, Path]) -> dict:
    """{per_seed, mean, pooled, funnel} over the seeds whose 08 finished; {} when none did."""
    per = {s: r for s, d in sorted(seed_dirs.items()) if (r := seed_results(preset, s, d)) is not None}
    if not per:
        return {}
    verifiers = sorted({v for r in per.values() for v in r["verifiers"]})
    mean: dict[str, Any] = {k: _mean([r[k] for r in per.values()]) for k in ACCURACY_KEYS}
    mean.update({v: {m: _mean([r["verifiers"].get(v, {}).get(m) for r in per.values()])
                     for m in ("precision", "recall")} for v in verifiers})
    pooled = {}
    for refiner, verifier in ROWS:
        key = f"{refiner}/{verifier}"
        fb = [r["fixed_broken"][key] for r in per.values() if key in r["fixed_broken"]]
        if fb:
            fixed, broken = sum(f for f, _ in fb), sum(b for _, b in fb)
            pooled[key] = {"fixed": fixed, "broken": broken, "sign_p": sign_test_p(fixed, broken), "seeds": len(fb)}
    per_seed = {}
    for s, r in per.items():
        per_seed[str(s)] = {**{k: r[k] for k in ACCURACY_KEYS},
                            **{v: r["verifiers"][v] for v in r["verifiers"]},
                            "threshold": r["threshold"], "n_test": r["n_test"], "fixed_broken": r["fixed_broken"]}
    funnel = {k: [r["funnel"][k] for r in per.values()] for k in ("pairs", "after_rule_filter",
                                                                  "after_refinement_filter", "refiner_rows")}
    return {"seeds": sorted(per), "metric": "test accuracy in [0, 1]; precision / recall of 'this solution is "
            "wrong' on the small model's greedy test solutions", **mean, "per_seed": per_seed,
            "pooled_sign_tests": pooled, "funnel_per_seed": funnel}


LABELS = {"score": "SCORE refiner", "self_refine": "prompted self-refine", "strong_refine": "strong model as refiner",
          "oracle": "oracle", "self_verifier": "self-verifier (classifier)",
          "self_prompted": "small model, prompted", "strong_prompted": "strong verifier, prompted"}


def score_rows(s: dict) -> list[list[Any]]:
    """The report's SCORE table: refiner, verifier, mean accuracy after, precision, recall, fixed / broken pooled
    over seeds, sign-test p."""
    acc = {"score/oracle": "refined_oracle", "score/self_verifier": "refined_self_verifier",
           "score/strong_prompted": "refined_strong_verifier", "score/self_prompted": "refined_self_prompted",
           "self_refine/oracle": "self_refine_oracle", "strong_refine/oracle": "strong_refine_oracle"}
    rows = []
    for refiner, verifier in ROWS:
        key = f"{refiner}/{verifier}"
        p = s["pooled_sign_tests"].get(key)
        if p is None:
            continue
        per_seed = [r["fixed_broken"].get(key) for r in s["per_seed"].values()]
        accs = [r.get(acc[key]) for r in s["per_seed"].values()] if key in acc else []
        rows.append([LABELS[refiner], LABELS[verifier], s.get(acc[key]) if key in acc else None,
                     " / ".join(f"{a:.3f}" for a in accs if a is not None) or "-",
                     (s.get(verifier) or {}).get("precision") if refiner == "score" else None,
                     (s.get(verifier) or {}).get("recall") if refiner == "score" else None,
                     f"{p['fixed']} / {p['broken']}", f"{p['sign_p']:.2g}",
                     " ; ".join(f"{f}/{b}" for f, b in (x for x in per_seed if x))])
    return rows


SCORE_HEADER = ["refiner", "verifier", "accuracy after (mean)", "per seed", "precision", "recall",
                "fixed / broken (pooled)", "sign test p", "fixed/broken per seed"]
