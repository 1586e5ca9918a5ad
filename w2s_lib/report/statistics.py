"""The numbers of the report: the summary (results.json), orderings across seeds, self-consistency, breakdowns,
the quality of the selected data and of the pairs (ANALYSIS ONLY: opens train_2 gold, logged), and the paper's
numbers beside ours. PGR and the sign test are the method's (w2s_lib.method.stats)."""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Sequence

from w2s_lib.run.jsonl import DataError
from w2s_lib.run.names import stage_key
from w2s_lib.run.runstore import RunStore
from ..method.stats import pgr, sign_test_p, spread
from ..method.vote import passes
from ..tasks import task_for
from .collect import PAPER_RESULTS, Collected, _is_iter_alias, key_order

# results.json always has these keys (None when the runs lack that model)
REQUIRED_KEYS = ("weak", "full_weak_ft", "stage1_iter1", "stage1_iter2", "stage2_dpo", "stage2_orpo",
                 "strong_ceiling")
# test-set meta keys worth a breakdown when they take two or more values (`steps`: the toy's difficulty)
BREAKDOWN_KEYS = ("level", "answer_type", "subject", "steps")
MATH_LEVEL_GROUPS = {"levels 1-3": ("1", "2", "3"), "levels 4-5": ("4", "5")}
# (a, b, what "a > b" means): the orderings the paper's story rests on
COMPARISONS = (
    ("full_weak_ft", "weak", "full weak fine-tuning beats the weak floor"),
    ("m_plus", "full_weak_ft", "M_plus (Stage I) beats full weak fine-tuning"),
    ("m_plus", "strong_icl", "M_plus beats the few-shot strong base"),
    ("stage1_iter2", "stage1_iter1", "iteration 2 beats iteration 1 (M_plus set)"),
    ("stage1_iter1_hybrid", "stage1_iter1_weak", "iteration 1: the hybrid set beats the weak set"),
    ("stage1_iter1_icl", "stage1_iter1_weak", "iteration 1: the ICL set beats the weak set"),
    ("stage2_dpo", "m_plus", "Stage II DPO improves on M_plus"),
    ("stage2_orpo", "m_plus", "Stage II ORPO improves on M_plus"),
    ("strong_ceiling", "m_plus", "the strong ceiling stays above M_plus"),
)


# ---------------------------------------------------------------------------------------------------
# the summary (results.json)
# ---------------------------------------------------------------------------------------------------
def summarize(res: Collected) -> dict:
    """The content of results.json: mean accuracy per key at the top level (REQUIRED_KEYS always present,
    None when missing), `pgr`, `spread`, `maj@k` / `pass@k`, `per_seed`, and what the numbers are."""
    keys = res.keys()
    aliases = sorted({k for r in res.runs for k in r.metrics if k == "m_plus" or _is_iter_alias(k)})
    all_keys = list(dict.fromkeys([*REQUIRED_KEYS, *keys, *aliases]))
    acc = {k: res.values(k) for k in all_keys}
    weak, ceil = acc["weak"], acc["strong_ceiling"]
    out: dict[str, Any] = {
        "preset": res.preset.name, "dataset": res.preset.dataset["name"], "seeds": res.seeds,
        "skipped_seeds": res.skipped_seeds,
        "metric": "greedy test accuracy, a fraction in [0, 1], mean over seeds",
        "n_test": {str(r.seed): r.metrics.get("weak", next(iter(r.metrics.values()), {})).get("n") for r in res.runs},
        "m_plus_stage": {str(r.seed): r.m_plus for r in res.runs}, "m_plus_subset": res.m_plus_subset,
    }
    out.update({k: spread(list(acc[k].values()))["mean"] for k in all_keys})
    out["pgr"] = {}
    for k in all_keys:
        common = [sd for sd in acc[k] if sd in weak and sd in ceil]   # seeds with the model, weak and ceiling
        if not common:
            out["pgr"][k] = None
            continue
        a, w, c = (statistics.fmean(d[sd] for sd in common) for d in (acc[k], weak, ceil))
        out["pgr"][k] = pgr(a, w, c)
    if not ceil:
        out["pgr_note"] = "PGR undefined: no strong ceiling was evaluated (OlympicArena has none: no train_2 gold)"
    elif out["pgr"]["weak"] is None:
        out["pgr_note"] = "PGR undefined: the strong ceiling is not above the weak floor (no gap to recover)"
    out["spread"] = {k: spread(list(acc[k].values())) for k in all_keys if acc[k]}
    ks = sorted({int(m["k"]) for r in res.runs for m in r.metrics.values() if m.get("k")})
    out["k"] = ks[0] if len(ks) == 1 else (ks or None)
    for metric in ("maj@k", "pass@k"):
        out[metric] = {k: spread(list(res.values(k, metric).values()))["mean"] for k in all_keys
                       if res.values(k, metric)}
    out["per_seed"] = {}
    for r in res.runs:
        a = {k: r.acc[k] for k in all_keys if k in r.acc}
        out["per_seed"][str(r.seed)] = {
            "accuracy": a,
            "pgr": {k: pgr(v, a.get("weak"), a.get("strong_ceiling")) for k, v in a.items()},
            "maj@k": {k: r.metrics[k]["maj@k"] for k in a if r.metrics[k].get("maj@k") is not None},
            "pass@k": {k: r.metrics[k]["pass@k"] for k in a if r.metrics[k].get("pass@k") is not None},
            "n_test": r.metrics.get("weak", {}).get("n"),
        }
    from w2s_lib.tasks import task_for
    if task_for(res.preset).olympic_set == "run test set":     # 05 scores the run's own test split (forward-looking)
        from .olympic import forward_summary
        olympic = forward_summary(res)
    else:
        olympic = olympic_summary(res)
    if olympic:
        out["olympic"] = olympic
    if res.preset.has_score:
        from .score import score_summary
        score = score_summary(res.preset, {r.seed: r.root for r in res.runs})
        if score:
            out["score"] = score
    return out


def olympic_summary(res: Collected) -> dict:
    """Notebook 05's results (stages olympic_eval_<model>) across seeds: {model key: {accuracy, per_seed,
    answer_type: {type: mean accuracy}}}; {} when no seed ran 05 on a separate set."""
    out: dict = {}
    stages = {s for r in res.runs for s in r.olympic}
    by_key = {stage_key(s)[0]: s for s in stages}
    for stage in (by_key[k] for k in key_order(list(by_key))):
        key, label = stage_key(stage)
        per = {r.seed: r.olympic[stage] for r in res.runs if stage in r.olympic}
        types: dict[str, list[float]] = {}
        for m in per.values():
            for t, b in ((m.get("breakdown") or {}).get("answer_type") or {}).items():
                types.setdefault(t, []).append(b["accuracy"])
        out[key] = {"label": label, "stage": stage, "accuracy": statistics.fmean(m["accuracy"] for m in per.values()),
                    "per_seed": {str(s): m["accuracy"] for s, m in per.items()},
                    "n": {str(s): m["n"] for s, m in per.items()},
                    "no_answer": statistics.fmean(m["no_answer"] / m["n"] for m in per.values() if m["n"]),
                    "answer_type": {t: statistics.fmean(v) for t, v in sorted(types.items())}}
    return out


def results_frame(res: Collected):
    """The results table as a pandas DataFrame indexed by model label: mean ± sd accuracy, per-seed values, the
    mean accuracy under the paper release's grader ("official"), PGR (of the means) and its per-seed values,
    maj@k and pass@k when sampled."""
    import pandas as pd

    s = res.summary
    rows = []
    for k in res.keys():
        acc = res.values(k)
        pseeds = {seed: s["per_seed"][str(seed)]["pgr"].get(k) for seed in acc}
        rows.append({"model": res.label(k), "key": k, "accuracy": s[k],
                     "sd": s["spread"][k]["std"],
                     "per seed": " / ".join(f"{acc[seed]:.3f}" for seed in sorted(acc)),
                     "official": res.official(k), "PGR": s["pgr"].get(k),
                     "PGR per seed": " / ".join("-" if v is None else f"{v:.2f}" for _, v in sorted(pseeds.items())),
                     "maj@k": s["maj@k"].get(k), "pass@k": s["pass@k"].get(k), "seeds": len(acc)})
    return pd.DataFrame(rows).set_index("model")


# ---------------------------------------------------------------------------------------------------
# orderings: which comparisons hold in every seed
# ---------------------------------------------------------------------------------------------------
def orderings(res: Collected, comparisons: Sequence[tuple[str, str, str]] = COMPARISONS) -> list[dict]:
    """For each comparison (a, b, claim) both sides of which some seed evaluated: per-seed differences
    acc(a) - acc(b), how many seeds have a > b / a = b / a < b, the pooled per-question discordant counts
    (a right and b wrong vs the reverse, over the seeds' test sets) with a two-sided sign-test p-value, and a
    verdict: 'holds in every seed', 'reversed in every seed', 'no difference in any seed', 'holds or ties',
    'reversed or ties' or 'mixed' (a > b in some seeds and a < b in others)."""
    out = []
    for a, b, claim in comparisons:
        seeds = [r for r in res.runs if a in r.metrics and b in r.metrics and r.stages[a] != r.stages[b]]
        if not seeds:
            continue
        diffs = {r.seed: r.acc[a] - r.acc[b] for r in seeds}
        win, tie, loss = (sum(d > 1e-12 for d in diffs.values()), sum(abs(d) <= 1e-12 for d in diffs.values()),
                          sum(d < -1e-12 for d in diffs.values()))
        a_only = b_only = 0
        for r in seeds:
            pa = {p["id"]: bool(p["correct"]) for p in r.predictions(a)}
            pb = {p["id"]: bool(p["correct"]) for p in r.predictions(b)}
            if pa.keys() != pb.keys():      # both answer the run's one test set: a difference is damage
                raise DataError(f"{r.root}: eval_{r.stages[a]} and eval_{r.stages[b]} predict different questions "
                                f"({len(pa)} and {len(pb)}, {len(pa.keys() ^ pb.keys())} not in both); discard "
                                "the damaged eval stage (rm -r it) and re-run its notebook")
            for qid in pa:
                a_only += pa[qid] and not pb[qid]
                b_only += pb[qid] and not pa[qid]
        n = len(seeds)
        verdict = ("holds in every seed" if win == n else "reversed in every seed" if loss == n else
                   "no difference in any seed" if tie == n else "holds or ties" if loss == 0 else
                   "reversed or ties" if win == 0 else "mixed")
        out.append({"a": a, "b": b, "claim": claim, "seeds": n, "a>b": win, "a=b": tie, "a<b": loss,
                    "mean_diff": statistics.fmean(diffs.values()), "per_seed_diff": {str(k): v for k, v in diffs.items()},
                    "a_right_b_wrong": a_only, "b_right_a_wrong": b_only, "sign_test_p": sign_test_p(a_only, b_only),
                    "verdict": verdict})
    return out


def reading(res: Collected, ords: list[dict] | None = None) -> list[str]:
    """Plain-language lines about the orderings (generated from the numbers, never written by hand)."""
    ords = orderings(res) if ords is None else ords
    lines = []
    for o in ords:
        n = o["seeds"]
        tally = f"a > b in {o['a>b']}, a = b in {o['a=b']}, a < b in {o['a<b']} of {n} seeds; " if n > 1 else ""
        noise = (f"per question, {o['a_right_b_wrong']} right only for {o['a']} vs {o['b_right_a_wrong']} right only "
                 f"for {o['b']} (sign test p = {o['sign_test_p']:.2g})")
        if n == 1:
            sign = "a > b" if o["a>b"] else "a < b" if o["a<b"] else "a = b"
            head = f"**{sign}** in the only seed (one seed says nothing about consistency)"
        elif o["verdict"] == "holds in every seed":
            head = "**Holds** in every seed"
        elif o["verdict"] == "reversed in every seed":
            head = "**Reversed** in every seed"
        elif o["verdict"] == "no difference in any seed":
            head = "**No difference** in any seed"
        elif o["verdict"] == "holds or ties":
            head = "**Holds or ties** (never reversed)"
        elif o["verdict"] == "reversed or ties":
            head = "**Reversed or ties** (never holds)"
        else:
            head = "**Mixed**: goes both ways across seeds"
        weak_ev = " Within noise (p > 0.05)." if o["sign_test_p"] > 0.05 and o["verdict"] != "no difference in any seed" else ""
        lines.append(f"{o['claim']} (`{o['a']}` vs `{o['b']}`): {head}; {tally}mean difference "
                     f"{o['mean_diff']:+.3f}; {noise}.{weak_ev}")
    return lines


def self_consistency(res: Collected) -> list[dict]:
    """For each model whose test predictions carry samples (`maj_correct`), pooled over the seeds that sampled
    it: on how many questions the majority of its samples is right where its greedy answer is wrong, and the
    reverse, with a two-sided sign test, and a plain-language `reading`.

    Why it matters: Stage II builds its pairs from questions where M_plus's samples agree, so it can only lift
    greedy accuracy when the majority knows something the greedy answer gets wrong. `maj_wins_past_gate` counts
    the questions where the majority wins with a share of at least the preset's `stage2.min_conf` (None when the
    evaluation predates the recorded `maj_share`)."""
    gate = float(res.preset.stage2.get("min_conf", 0.6))
    out = []
    for key in res.keys():
        seeds, n, maj_only, greedy_only, confident, shares_known = [], 0, 0, 0, 0, True
        for r in res.runs:
            if key not in r.metrics or r.metrics[key].get("maj@k") is None:
                continue
            rows = [p for p in r.predictions(key) if p.get("maj_correct") is not None]
            if not rows:
                continue
            seeds.append(r.seed)
            n += len(rows)
            maj_only += sum(bool(p["maj_correct"]) and not p["correct"] for p in rows)
            greedy_only += sum(bool(p["correct"]) and not p["maj_correct"] for p in rows)
            shares_known &= all("maj_share" in p for p in rows)   # not recorded by evals made before it existed
            confident += sum(bool(p["maj_correct"]) and not p["correct"] and passes(p.get("maj_share", 0), 1, gate)
                             for p in rows)   # Stage II's own boundary rule: 0.6 passes a 0.6 gate
        if not seeds:
            continue
        p_value = sign_test_p(maj_only, greedy_only)
        label = res.label(key)
        if maj_only > greedy_only and p_value <= 0.05:
            reading = (f"the majority vote of {label} is right on {maj_only} questions its greedy answer gets wrong, "
                       f"against {greedy_only} the other way: its samples know more than greedy decoding "
                       "(what Stage II's pairs can teach)")
        elif greedy_only > maj_only and p_value <= 0.05:
            reading = (f"the greedy answer of {label} is right on {greedy_only} questions its majority vote gets "
                       f"wrong, against {maj_only} the other way: its samples know *less* than greedy decoding")
        else:
            reading = (f"the majority vote and the greedy answer of {label} differ on {maj_only} + {greedy_only} "
                       f"questions, no clear winner (p = {p_value:.2g})")
        if shares_known and maj_only:
            reading += (f"; of the {maj_only} questions where the majority wins, {confident} "
                        f"{'has' if confident == 1 else 'have'} a majority share "
                        f"of at least {gate:g}, Stage II's confidence gate")
        out.append({"key": key, "model": label, "seeds": seeds, "questions": n, "maj_right_greedy_wrong": maj_only,
                    "greedy_right_maj_wrong": greedy_only, "sign_test_p": p_value,
                    "maj_wins_past_gate": confident if shares_known else None, "reading": reading})
    return out


# ---------------------------------------------------------------------------------------------------
# breakdowns
# ---------------------------------------------------------------------------------------------------
def test_meta_values(res: Collected, key: str) -> list[str]:
    """Distinct values of meta[key] in the first run's test predictions (as strings, sorted; [] if absent)."""
    for r in res.runs:
        k = "weak" if "weak" in r.stages else next(iter(r.stages), None)
        if k is not None:
            vals = {str(p["meta"].get(key)) for p in r.predictions(k) if (p.get("meta") or {}).get(key) is not None}
            return sorted(vals, key=lambda v: (len(v), v))
    return []


def breakdown(res: Collected, key: str, groups: dict[str, Sequence[str]] | None = None,
              models: Sequence[str] | None = None) -> list[dict]:
    """Accuracy per value of the test set's meta[key] (e.g. MATH `level`), per model key, mean over seeds:
    rows {model, key, value, accuracy, n (questions per seed), per_seed}. `groups` adds pooled values (e.g.
    {'levels 4-5': ('4', '5')}). `models` defaults to every model key."""
    out = []
    for k in models or res.keys():
        per_value: dict[str, dict[int, list[bool]]] = {}
        for r in res.runs:
            if k not in r.stages:
                continue
            for p in r.predictions(k):
                v = p.get("meta", {}).get(key)
                if v is None:
                    continue
                names = [str(v)] + [g for g, members in (groups or {}).items() if str(v) in members]
                for name in names:
                    per_value.setdefault(name, {}).setdefault(r.seed, []).append(bool(p["correct"]))
        for v, by_seed in per_value.items():
            accs = {s: sum(c) / len(c) for s, c in by_seed.items()}
            out.append({"model": res.label(k), "key": k, "value": v, "accuracy": statistics.fmean(accs.values()),
                        "n": max(len(c) for c in by_seed.values()), "per_seed": accs})
    return out


def breakdown_frame(rows: list[dict]):
    """breakdown() rows as a model x value table of mean accuracies."""
    import pandas as pd

    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    order = list(dict.fromkeys(df["value"]))
    order = sorted(order, key=lambda v: (v.startswith("levels"), len(v), v))
    t = df.pivot_table(index="model", columns="value", values="accuracy", sort=False)
    return t[[c for c in order if c in t.columns]]


# ---------------------------------------------------------------------------------------------------
# ANALYSIS ONLY: quality of the selected data and of the pairs (opens train_2 gold, logged)
# ---------------------------------------------------------------------------------------------------
def has_train_2_gold(res: Collected) -> bool:
    """OlympicArena's train_2 (the HF test split) has no public gold; every other dataset has."""
    return task_for(res.preset).has_train_2_gold


def selection_quality(res: Collected) -> list[dict]:
    """ANALYSIS ONLY. Per seed and Stage I iteration: the share of train_2 kept by the agreement rule and the
    accuracy (against train_2 gold) of the weak and ICL answers, over all questions and over the kept ones.
    Opens the sealed gold through `reference_gold(..., purpose="analysis")` (logged in each run's
    gold_access.jsonl); the method never uses these numbers. [] for OlympicArena (no train_2 gold)."""
    if not has_train_2_gold(res):
        return []
    from w2s_lib.run.context import open_run
    from w2s_lib.stages.selection import kept_accuracy, selection_stage

    out = []
    for r in res.runs:
        store = RunStore(r.root)
        it = 1
        while store.has(selection_stage(it)):
            m = store.require(selection_stage(it)).metrics
            a = kept_accuracy(open_run(res.preset, r.seed, r.root), it)   # its sides come from the stage config
            out.append({"seed": r.seed, "iteration": it, "questions": m["questions"], "kept": m["kept"],
                        "kept_share": m["kept_share"], **{k: a[k] for k in ("weak_all", "icl_all", "weak_kept",
                                                                             "icl_kept", "weak_dropped")}})
            it += 1
    return out


def pair_quality(res: Collected) -> list[dict]:
    """ANALYSIS ONLY. Per seed and pair branch (weak_chosen, weak_rejected, all): how often the chosen side is
    correct and the rejected side wrong (w2s_lib.stages.stage2.pair_analysis; opens train_2 gold, logged)."""
    if not has_train_2_gold(res):
        return []
    from w2s_lib.run.context import open_run
    from w2s_lib.stages.stage2 import PAIRS, load_pairs, pair_analysis

    out = []
    for r in res.runs:
        if not RunStore(r.root).has(PAIRS):
            continue
        ctx = open_run(res.preset, r.seed, r.root)
        if not load_pairs(ctx):
            out.append({"seed": r.seed, "branch": "all", "pairs": 0, "chosen_correct": None, "rejected_wrong": None,
                        "chosen_right_and_rejected_wrong": None})
            continue
        for branch, v in pair_analysis(ctx).items():
            out.append({"seed": r.seed, "branch": branch, **v})
    return out


# ---------------------------------------------------------------------------------------------------
# the paper's numbers
# ---------------------------------------------------------------------------------------------------
def paper_results(path: str | Path = PAPER_RESULTS) -> dict:
    import yaml

    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


# our key -> the paper file's stage; stage1_iter<k> (alias) -> stage1_iter<k>_<M_plus set>
def _paper_stage(key: str, m_plus_subset: str) -> str:
    return f"{key}_{m_plus_subset}" if _is_iter_alias(key) else key


def paper_comparison(res: Collected, path: str | Path = PAPER_RESULTS) -> dict:
    """The paper's published numbers for the experiment this preset mirrors (preset `paper:` = join keys
    dataset, weak_model, strong_model), beside our means, in percent. Returns {"matched": bool, "note": str,
    "rows": [{stage, paper, ours, ours_per_seed, source, provenance, verified_against_paper, note}],
    "missing": [stages the paper reports but no source transcribes]}. Presets without a `paper:` key (toy,
    smoke, single-gpu) get matched=False and a note saying they have no paper counterpart."""
    key = res.preset.paper or {}
    need = ("dataset", "weak_model", "strong_model")
    if not all(key.get(k) for k in need):
        return {"matched": False, "rows": [], "missing": [],
                "note": (f"Preset `{res.preset.name}` mirrors no experiment of the paper (no `paper:` key): "
                         + ("the toy world is an analog of the paper's setting, with tiny models on synthetic "
                            "arithmetic, and its numbers have no paper counterpart." if task_for(res.preset).synthetic
                            else "its models or sizes differ from the paper's, so there is nothing to compare with."))}
    data = paper_results(path)
    s = res.summary
    ours_by_stage: dict[str, str] = {}
    for k in [*res.keys(), *(k for k in ("stage1_iter1", "stage1_iter2") if s.get(k) is not None)]:
        ours_by_stage.setdefault(_paper_stage(k, res.m_plus_subset), k)
    rows = []
    for row in data.get("results", []):
        if any(row.get(k) != key[k] for k in need):
            continue
        ours_key = ours_by_stage.get(row["stage"])
        ours = s.get(ours_key) if ours_key else None
        official = res.official(ours_key) if ours_key else None
        rows.append({"stage": row["stage"], "metric": row.get("metric"), "paper": row["value"],
                     "ours_official": None if official is None else 100 * official,
                     "ours": None if ours is None else 100 * ours,
                     "ours_per_seed": {sd: 100 * v for sd, v in res.values(ours_key).items()} if ours_key else {},
                     "source": row.get("source"), "provenance": row.get("provenance"),
                     "verified_against_paper": row.get("verified_against_paper"), "note": row.get("note", "")})
    missing = ((data.get("missing") or {}).get(key["dataset"]) or {}).get(key["weak_model"]) or []
    note = (f"Paper: {key['dataset']}, weak {key['weak_model']}, strong {key['strong_model']}. Paper values come "
            "from secondary sources (not checked against the paper's tables; see configs/paper_results.yaml). "
            "Ours: this preset's runs" + ("" if res.preset.dataset.get("sizes") is None else
                                         f" (sizes {res.preset.dataset.get('sizes')})") + ".")
    return {"matched": True, "rows": rows, "missing": list(missing), "note": note}
