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


def score_markdown(sc: dict) -> list[str]:
    """The report's SCORE section (lines of markdown) from `score_summary`'s dict."""
    from .markdown import _fmt, markdown_table
    return ["## SCORE: verify, then refine (notebooks 07-08)", "",
            f"Test accuracy of the small model's greedy solutions: {_fmt(sc['initial'])} (mean over seeds "
            f"{', '.join(map(str, sc['seeds']))}). Each line refines the solutions its verifier flags as wrong; "
            "fixed = wrong -> right, broken = right -> wrong, pooled over seeds, with a two-sided sign test. "
            "Precision and recall are the verifier's, on \"this solution is wrong\".", "",
            markdown_table(SCORE_HEADER, score_rows(sc)), "",
            "The critique funnel per seed (pairs -> rule filter -> refinement filter -> refiner rows): "
            + "; ".join(" -> ".join(str(sc["funnel_per_seed"][k][i]) for k in
                                    ("pairs", "after_rule_filter", "after_refinement_filter", "refiner_rows"))
                        for i in range(len(sc["seeds"]))) + ".", ""]


def write_score_report(preset: Any, runs_dir: str | Path = "", seeds: Any = ()) -> Path:
    """The report of a SCORE-only preset (paper-score-*, single-gpu-score: 07-08 ran, no weak-to-strong series):
    `<runs_dir>/<preset>/results.json` with the key `score` and `report.md` with the SCORE section. Raises
    FileNotFoundError, naming the command, when no seed has finished 08."""
    import re

    from w2s_lib.run.jsonl import atomic_write_text, write_json
    from w2s_lib.run.paths import RUNS_DIR
    from w2s_lib.run.presets import Preset, load_preset
    p = preset if isinstance(preset, Preset) else load_preset(preset)
    preset_dir = Path(runs_dir or RUNS_DIR) / p.name
    found = {int(m[1]): d for d in (sorted(preset_dir.iterdir()) if preset_dir.is_dir() else [])
             if d.is_dir() and (m := re.match(r"^seed(\d+)$", d.name))}
    if seeds:
        missing = [s for s in seeds if s not in found]
        if missing:
            raise FileNotFoundError(f"{preset_dir}: no run for seed(s) {missing} (found {sorted(found) or 'none'})")
        found = {s: found[s] for s in seeds}
    sc = score_summary(p, found)
    if not sc:
        raise FileNotFoundError(f"{preset_dir}: no seed has finished notebook 08 (stage {SCORE_REFINED}); run "
                                f"`python -m w2s_lib --preset {p.name}` (notebooks 07-08) first")
    write_json(preset_dir / "results.json", {"preset": p.name, "dataset": p.dataset["name"], "seeds": sc["seeds"],
                                             "series": "SCORE only (notebooks 07-08)", "score": sc})
    lines = [f"# Results: preset `{p.name}`", "", " ".join(str(p.description).split()), "",
             f"Seeds: {', '.join(map(str, sc['seeds']))} (runs under `{preset_dir}/seed*/`). This preset runs SCORE "
             "only: no weak-to-strong table, no PGR.", "", *score_markdown(sc)]
    atomic_write_text(preset_dir / "report.md", "\n".join(lines) + "\n")
    return preset_dir / "report.md"
