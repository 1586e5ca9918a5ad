"""Results across seeds (notebook 06): the table, PGR, maj@k / pass@k, breakdowns, selection quality, plots,
the paper's numbers beside ours, and the report.

    res = collect("toy")                  # every runs/toy/seed*/ (or runs_dir=..., seeds=[0, 1])
    res.summary                           # what results.json holds: mean accuracy per key, PGR, spread, per seed
    results_frame(res)                    # the results table (pandas), one row per model
    orderings(res)                        # which comparisons (e.g. M_plus > full weak FT) hold in every seed
    breakdown(res, "level")               # accuracy per value of a test-set meta key (MATH levels, answer types)
    res.selection, res.pairs              # ANALYSIS ONLY: quality of the kept data and of the Stage II pairs
                                          #   (open train_2 gold through records.reference_gold, logged)
    paper_comparison(res)                 # configs/paper_results.yaml rows matching the preset's `paper:` key
    plot_accuracy(res), plot_pgr(res), plot_selection(res)
    write_report(res)                     # runs/<preset>/results.json, report.md and the PNGs next to it

Keys. Every evaluated model of a run is an `eval_<stage>/` directory; its key here follows
configs/paper_results.yaml: weak (stage weak_model), strong_icl, full_weak_ft (sft_full_weak),
stage1_iter<k>_<set> (sft_iter<k>_<set>), stage2_dpo, stage2_orpo, strong_ceiling (sft_ceiling). Two aliases:
stage1_iter<k> = the iteration-k model of the preset's M_plus set (`stage1.m_plus`, the paper's hybrid) and
m_plus = the model the run's `m_plus` stage declared (what Stage II started from).

PGR = (acc - weak) / (ceiling - weak). The headline PGR of a key is computed from mean accuracies over the
seeds that have that key, the weak floor and the ceiling (averaging accuracies first keeps one seed with a
tiny ceiling-weak gap from blowing up the mean); per-seed PGRs are listed beside it. PGR is undefined (None,
with the reason in `pgr_note`) when there is no ceiling (OlympicArena) or the ceiling is not above the weak
floor: there is then no gap to recover.
"""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

from .jsonl import DataError, write_json
from .pairs import passes
from .paths import CONFIGS_DIR, RUNS_DIR
from .presets import Preset, load_preset
from .runstore import OLD_SUFFIX, PARTIAL_SUFFIX, RunStore

EVAL_PREFIX = "eval_"
OLYMPIC_PREFIX = "olympic_eval_"
PAPER_RESULTS = CONFIGS_DIR / "paper_results.yaml"
# results.json always has these keys (None when the runs lack that model)
REQUIRED_KEYS = ("weak", "full_weak_ft", "stage1_iter1", "stage1_iter2", "stage2_dpo", "stage2_orpo",
                 "strong_ceiling")
FIXED = {"weak_model": ("weak", "weak floor (weak model)"),
         "strong_icl": ("strong_icl", "strong base, 4 weak demos (ICL)"),
         "sft_full_weak": ("full_weak_ft", "full weak fine-tuning"),
         "dpo": ("stage2_dpo", "Stage II DPO (from M_plus)"),
         "orpo": ("stage2_orpo", "Stage II ORPO (from M_plus)"),
         "sft_ceiling": ("strong_ceiling", "strong ceiling (train_2 gold; reference only)")}
_SFT = re.compile(r"^sft_iter(\d+)_(\w+)$")
_SEED_DIR = re.compile(r"^seed(\d+)$")
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


def stage_key(stage: str) -> tuple[str, str]:
    """(key, label) of a model stage: `sft_iter2_hybrid` -> ('stage1_iter2_hybrid', 'Stage I iter 2, hybrid set')."""
    if stage in FIXED:
        return FIXED[stage]
    m = _SFT.match(stage)
    if m:
        return f"stage1_iter{m[1]}_{m[2]}", f"Stage I iter {m[1]}, {'ICL' if m[2] == 'icl' else m[2]} set"
    return stage, stage


def key_order(keys: Sequence[str]) -> list[str]:
    """Keys in method order: weak, strong_icl, full weak FT, Stage I by iteration and set, Stage II, ceiling,
    then anything else alphabetically."""
    subset_rank = {"weak": 0, "icl": 1, "hybrid": 2}

    def rank(k: str) -> tuple:
        head = {"weak": 0, "strong_icl": 1, "full_weak_ft": 2}
        if k in head:
            return (head[k],)
        m = re.match(r"^stage1_iter(\d+)_(\w+)$", k)
        if m:
            return (3, int(m[1]), subset_rank.get(m[2], 9), m[2])
        tail = {"stage2_dpo": 4, "stage2_orpo": 5, "strong_ceiling": 6}
        return (tail.get(k, 7), k)

    return sorted(keys, key=rank)


# ---------------------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------------------
def pgr(acc: float | None, weak: float | None, ceiling: float | None) -> float | None:
    """(acc - weak) / (ceiling - weak); None when a value is missing or the ceiling is not above the weak floor
    (no gap to recover: the ratio would divide by zero or flip its meaning)."""
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


# ---------------------------------------------------------------------------------------------------
# collecting the runs
# ---------------------------------------------------------------------------------------------------
@dataclass
class SeedRun:
    """One run directory runs/<preset>/seed<k>/: its evaluated models by key."""
    seed: int
    root: Path
    stages: dict[str, str] = field(default_factory=dict)     # key -> model stage name (sft_iter2_hybrid, ...)
    metrics: dict[str, dict] = field(default_factory=dict)   # key -> metrics.json of eval_<stage>
    m_plus: str | None = None                                 # key of the declared M_plus
    olympic: dict[str, dict] = field(default_factory=dict)   # model stage -> metrics of olympic_eval_<stage>

    @property
    def acc(self) -> dict[str, float]:
        return {k: float(m["accuracy"]) for k, m in self.metrics.items()}

    def predictions(self, key: str) -> list[dict]:
        """Per-question test predictions ({id, correct, meta, ...}) of the model behind `key`."""
        stage = self.stages[key]
        return RunStore(self.root).require(EVAL_PREFIX + stage).read_jsonl("predictions.jsonl")


def _read_run(seed: int, root: Path, m_plus_subset: str) -> SeedRun:
    store = RunStore(root)
    run = SeedRun(seed, root)
    for d in sorted(root.iterdir()):
        # only committed stages: not <stage>.partial/, not a half-swapped <stage>.old-*/, not notebooks/
        if (not d.is_dir() or d.name.startswith(".") or d.name.endswith(PARTIAL_SUFFIX) or OLD_SUFFIX in d.name
                or not store.has(d.name)):
            continue
        if d.name.startswith(OLYMPIC_PREFIX):
            run.olympic[d.name[len(OLYMPIC_PREFIX):]] = store.require(d.name).metrics
        elif d.name.startswith(EVAL_PREFIX):
            stage = d.name[len(EVAL_PREFIX):]
            key, _ = stage_key(stage)
            run.stages[key], run.metrics[key] = stage, store.require(d.name).metrics
    for key in list(run.stages):                      # aliases: stage1_iter<k> = the M_plus set of iteration k
        m = re.match(r"^stage1_iter(\d+)_(\w+)$", key)
        if m and m[2] == m_plus_subset:
            run.stages[f"stage1_iter{m[1]}"], run.metrics[f"stage1_iter{m[1]}"] = run.stages[key], run.metrics[key]
    if store.has("m_plus"):
        mp_key, _ = stage_key(store.require("m_plus").metrics["stage"])
        run.m_plus = mp_key
        if mp_key in run.metrics:
            run.stages["m_plus"], run.metrics["m_plus"] = run.stages[mp_key], run.metrics[mp_key]
    return run


@dataclass
class Collected:
    """All seeds of one preset. `summary`, `selection` and `pairs` are computed once, on first use."""
    preset: Preset
    preset_dir: Path
    runs: list[SeedRun]
    skipped_seeds: list[int] = field(default_factory=list)    # seed dirs with no evaluated model


    def official(self, key: str) -> float | None:
        """Mean test accuracy of `key` over seeds under the paper release's grader (None when no seed has it)."""
        vals = [m[key]["accuracy_official"] for m in (r.metrics for r in self.runs)
                if key in m and m[key].get("accuracy_official") is not None]
        return statistics.fmean(vals) if vals else None

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    @property
    def m_plus_subset(self) -> str:
        return str(self.preset.stage1.get("m_plus") or "hybrid")

    def keys(self) -> list[str]:
        """Model keys (no aliases) that at least one seed evaluated, in method order."""
        found = {k for r in self.runs for k in r.metrics if k not in ("m_plus",) and not _is_iter_alias(k)}
        return key_order(found)

    def values(self, key: str, metric: str = "accuracy") -> dict[int, float]:
        """seed -> value of `metric` for `key`, for the seeds that have it."""
        return {r.seed: float(r.metrics[key][metric]) for r in self.runs
                if key in r.metrics and r.metrics[key].get(metric) is not None}

    def label(self, key: str) -> str:
        label = stage_key(self.runs_stage(key))[1] if self.runs_stage(key) else key
        mps = {r.m_plus for r in self.runs if r.m_plus}
        return f"M_plus ({label})" if key in mps else label      # one name per model, as the notebooks say it

    def runs_stage(self, key: str) -> str | None:
        return next((r.stages[key] for r in self.runs if key in r.stages), None)

    @cached_property
    def summary(self) -> dict:
        return summarize(self)

    @cached_property
    def selection(self) -> list[dict]:
        return selection_quality(self)

    @cached_property
    def pairs(self) -> list[dict]:
        return pair_quality(self)


def _is_iter_alias(key: str) -> bool:
    return re.match(r"^stage1_iter\d+$", key) is not None


def collect(preset: str | Preset, runs_dir: str | Path = "", seeds: Sequence[int] = ()) -> Collected:
    """Every run of `preset` under `<runs_dir>/<preset>/seed<k>/` (runs_dir default: runs/ or $W2S_RUNS);
    `seeds` restricts to those seeds (each must exist). Raises FileNotFoundError when there is nothing to
    collect, saying which command makes the runs."""
    p = preset if isinstance(preset, Preset) else load_preset(preset)
    preset_dir = Path(runs_dir or RUNS_DIR) / p.name
    found = {int(m[1]): d for d in (sorted(preset_dir.iterdir()) if preset_dir.is_dir() else [])
             if d.is_dir() and (m := _SEED_DIR.match(d.name))}
    if seeds:
        missing = [s for s in seeds if s not in found]
        if missing:
            raise FileNotFoundError(f"{preset_dir}: no run for seed(s) {missing} (found {sorted(found) or 'none'}); "
                                    f"run `python -m w2s_lib.pipeline --preset {p.name} --seeds {' '.join(map(str, missing))}`")
        found = {s: found[s] for s in seeds}
    runs = [_read_run(s, d, str(p.stage1.get("m_plus") or "hybrid")) for s, d in sorted(found.items())]
    if not any(r.metrics for r in runs):
        raise FileNotFoundError(f"{preset_dir}: no evaluated run (no seed*/eval_*/ stage); run "
                                f"`python -m w2s_lib.pipeline --preset {p.name}` (notebooks 01-05) first")
    empty = [r.seed for r in runs if not r.metrics]
    if empty:   # a seed dir whose run has not evaluated anything yet: said, and listed in results.json
        print(f"note: seed(s) {empty} in {preset_dir} have no evaluated model yet; they are left out")
    return Collected(p, preset_dir, [r for r in runs if r.metrics], skipped_seeds=empty)


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
    olympic = olympic_summary(res)
    if olympic:
        out["olympic"] = olympic
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
    return res.preset.dataset["name"] != "olympicarena"


def selection_quality(res: Collected) -> list[dict]:
    """ANALYSIS ONLY. Per seed and Stage I iteration: the share of train_2 kept by the agreement rule and the
    accuracy (against train_2 gold) of the weak and ICL answers, over all questions and over the kept ones.
    Opens the sealed gold through `reference_gold(..., purpose="analysis")` (logged in each run's
    gold_access.jsonl); the method never uses these numbers. [] for OlympicArena (no train_2 gold)."""
    if not has_train_2_gold(res):
        return []
    from .context import open_run
    from .selection import kept_accuracy, selection_stage

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
    correct and the rejected side wrong (w2s_lib.stage2.pair_analysis; opens train_2 gold, logged)."""
    if not has_train_2_gold(res):
        return []
    from .context import open_run
    from .stage2 import PAIRS, load_pairs, pair_analysis

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
                            "arithmetic, and its numbers have no paper counterpart." if res.preset.dataset["name"] == "toy"
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


# ---------------------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------------------
def _bar_keys(res: Collected) -> list[str]:
    return [k for k in res.keys() if res.values(k)]


def plot_accuracy(res: Collected, path: str | Path | None = None):
    """Mean test accuracy per model (bars, ± sd), each seed as a dot; weak floor and ceiling as lines."""
    import matplotlib.pyplot as plt

    keys = _bar_keys(res)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(keys) + 1.4))
    ys = list(range(len(keys)))[::-1]
    means = [res.summary[k] for k in keys]
    sds = [res.summary["spread"][k]["std"] or 0.0 for k in keys]
    colors = ["tab:gray" if k in ("weak", "strong_ceiling", "strong_icl", "full_weak_ft") else "tab:blue" for k in keys]
    ax.barh(ys, means, xerr=sds, color=colors, alpha=0.8, capsize=3)
    for y, k in zip(ys, keys):
        vals = list(res.values(k).values())
        ax.plot(vals, [y] * len(vals), "k.", ms=6)
    for k, style in (("weak", ":"), ("strong_ceiling", "--")):
        if res.summary.get(k) is not None:
            ax.axvline(res.summary[k], color="k", ls=style, lw=1)
    ax.set_yticks(ys, [res.label(k) for k in keys])
    ax.set_xlabel(f"test accuracy (mean over {len(res.runs)} seed{'s' * (len(res.runs) != 1)}; dots = seeds)")
    ax.set_xlim(0, max([1e-3] + [v for k in keys for v in res.values(k).values()]) * 1.15)
    ax.set_title(f"{res.preset.name}: accuracy by stage")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig


def plot_pgr(res: Collected, path: str | Path | None = None):
    """PGR per model (bars: PGR of the mean accuracies; dots: per seed); None when PGR is undefined."""
    import matplotlib.pyplot as plt

    s = res.summary
    keys = [k for k in _bar_keys(res) if k not in ("weak", "strong_ceiling") and s["pgr"].get(k) is not None]
    if not keys:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(keys) + 1.4))
    ys = list(range(len(keys)))[::-1]
    ax.barh(ys, [s["pgr"][k] for k in keys], color="tab:green", alpha=0.8)
    for y, k in zip(ys, keys):
        vals = [v for sd in res.seeds if (v := s["per_seed"][str(sd)]["pgr"].get(k)) is not None]
        ax.plot(vals, [y] * len(vals), "k.", ms=6)
    ax.axvline(0, color="k", lw=1)
    ax.axvline(1, color="k", ls="--", lw=1)
    ax.set_yticks(ys, [res.label(k) for k in keys])
    ax.set_xlabel("PGR = (acc - weak) / (ceiling - weak)   (0 = weak floor, 1 = ceiling)")
    ax.set_title(f"{res.preset.name}: performance gap recovered")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig


def plot_selection(res: Collected, path: str | Path | None = None):
    """ANALYSIS ONLY (uses res.selection): share of train_2 kept vs accuracy of the kept answers, per seed and
    iteration, with the accuracy over all questions at share 1; None when there is no selection data."""
    import matplotlib.pyplot as plt

    rows = res.selection
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4))
    markers = {1: "o", 2: "s", 3: "^"}
    for side, color in (("weak", "tab:orange"), ("icl", "tab:purple")):
        for r in rows:
            mk = markers.get(r["iteration"], "D")
            if r[f"{side}_kept"] is not None:
                ax.plot([1.0, r["kept_share"]], [r[f"{side}_all"], r[f"{side}_kept"]], color=color, alpha=0.35, lw=1)
                ax.plot(r["kept_share"], r[f"{side}_kept"], mk, color=color, ms=7)
            ax.plot(1.0, r[f"{side}_all"], mk, color=color, ms=7, mfc="none")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color="tab:orange", marker="o", ls="", label="weak-side answers"),
               Line2D([], [], color="tab:purple", marker="o", ls="", label="ICL-side answers")]
    handles += [Line2D([], [], color="k", marker=markers.get(i, "D"), ls="", label=f"iteration {i}")
                for i in sorted({r["iteration"] for r in rows})]
    ax.legend(handles=handles, fontsize=8, loc="best")
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("share of train_2 kept (1.0 = all questions, hollow markers)")
    ax.set_ylabel("accuracy vs train_2 gold")
    ax.set_title("analysis only: share of train_2 kept vs accuracy of the answers")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig


# ---------------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------------
def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 3) -> str:
    """A GitHub markdown table; floats with `digits` decimals, None as '-'."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c, digits).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results_json(res: Collected, path: str | Path | None = None) -> Path:
    """runs/<preset>/results.json (see `summarize`)."""
    path = Path(path) if path else res.preset_dir / "results.json"
    write_json(path, res.summary)
    return path


def write_report(res: Collected, out_dir: str | Path | None = None, *, selection: bool = True) -> Path:
    """Write results.json, the PNG plots and report.md into `out_dir` (default runs/<preset>/); returns the
    report's path. `selection=False` skips the analysis-only sections (no train_2 gold is opened)."""
    out = Path(out_dir) if out_dir else res.preset_dir
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib.pyplot as plt

    s = res.summary
    write_results_json(res, out / "results.json")
    figs = {"accuracy.png": plot_accuracy(res, out / "accuracy.png"), "pgr.png": plot_pgr(res, out / "pgr.png")}
    if selection:
        figs["selection.png"] = plot_selection(res, out / "selection.png")
    for f in figs.values():
        if f is not None:
            plt.close(f)
    for name, f in figs.items():          # a plot that no longer applies must not linger from an earlier report
        if f is None and (out / name).exists():
            (out / name).unlink()
    p = res.preset
    n_test = sorted({v for v in s["n_test"].values() if v})
    L = [f"# Results: preset `{p.name}`", "",
         " ".join(str(p.description).split()), "",
         f"Seeds: {', '.join(map(str, res.seeds))} (runs under `{res.preset_dir}/seed*/`"
         + (f"; seed dirs {res.skipped_seeds} have no evaluated model yet and are left out" if res.skipped_seeds else "")
         + "). Test set: "
         f"{' / '.join(map(str, n_test)) or '?'} questions ({p.dataset['name']}). M_plus per seed: "
         + ", ".join(f"seed {k}: `{v}`" for k, v in s["m_plus_stage"].items()) + ".", ""]
    cmp = paper_comparison(res)
    if not cmp["matched"]:
        L += [f"> {cmp['note']}", ""]
    # ---- main table
    L += ["## Test accuracy and PGR", ""]
    rows = []
    for k in res.keys():
        acc = res.values(k)
        ps = s["per_seed"]
        rows.append([res.label(k), s[k], s["spread"][k]["std"], " / ".join(f"{acc[sd]:.3f}" for sd in sorted(acc)),
                     res.official(k), s["pgr"].get(k),
                     " / ".join(_fmt(ps[str(sd)]["pgr"].get(k), 2) for sd in sorted(acc)),
                     s["maj@k"].get(k), s["pass@k"].get(k)])
    kk = s.get("k") or "k"
    L += [markdown_table(["model", "accuracy (mean)", "sd", "per seed", "official grader (mean)", "PGR",
                          "PGR per seed", f"maj@{kk}",
                          f"pass@{kk}"], rows), ""]
    L += ["PGR = (acc - weak) / (ceiling - weak), computed from the mean accuracies (seeds with the model, the "
          "weak floor and the ceiling); per-seed PGRs beside it. sd = sample standard deviation over seeds. "
          f"maj@{kk}: the majority answer of {kk} samples at T=1 is correct; pass@{kk}: any sample is correct." +
          (f" **{s['pgr_note']}.**" if s.get("pgr_note") else ""), ""]
    L += ["![accuracy by stage](accuracy.png)", ""]
    if figs.get("pgr.png") is not None:
        L += ["![PGR](pgr.png)", ""]
    # ---- reading
    ords = orderings(res)
    L += ["## Reading the numbers", ""]
    if n_test:
        n = n_test[0]
        se_max = math.sqrt(0.25 / n)                           # the binomial standard error at 50% accuracy
        L += [f"Scale of the noise: with {n} test questions one question is {1 / n:.4f} of accuracy, and the "
              f"binomial standard error of one accuracy is at most {se_max:.3f} (at 50%). Differences smaller "
              "than about twice that are within the noise of a single seed; the sign test below pairs the models "
              "question by question.", ""]
    L += [f"- {line}" for line in reading(res, ords)] or ["- (no pair of models to compare)"]
    L += [""]
    sc = self_consistency(res)
    if sc:
        L += ["## Majority vote against greedy (what Stage II can learn from)", "",
              markdown_table(["model", "seeds", "questions", "majority right, greedy wrong",
                              "greedy right, majority wrong", "sign test p", "majority wins past the gate"],
                             [[r["model"], len(r["seeds"]), r["questions"], r["maj_right_greedy_wrong"],
                               r["greedy_right_maj_wrong"], f"{r['sign_test_p']:.2g}",
                               "-" if r["maj_wins_past_gate"] is None else r["maj_wins_past_gate"]] for r in sc]), "",
              f"Gate: Stage II keeps a question only when its majority answer has at least "
              f"{float(p.stage2.get('min_conf', 0.6)):g} of the "
              "samples; the last column counts the questions where the majority wins and clears it (- when the "
              "evaluation predates the recorded share).", ""]
        L += [f"- {r['reading'][0].upper()}{r['reading'][1:]}." for r in sc] + [""]
    # ---- breakdowns
    for key in BREAKDOWN_KEYS:
        vals = test_meta_values(res, key)
        if len(vals) < 2:
            continue
        groups = MATH_LEVEL_GROUPS if key == "level" else None
        b = breakdown(res, key, groups)
        t = breakdown_frame(b)
        title = {"level": "MATH level (levels 4-5 pooled, as the paper reports)", "answer_type": "answer type",
                 "subject": "subject", "steps": "toy difficulty: arithmetic steps per problem"}[key]
        L += [f"## Accuracy by {title}", "",
              markdown_table(["model", *map(str, t.columns)], [[i, *t.loc[i].tolist()] for i in t.index]), ""]
    # ---- selection and pairs (analysis only)
    if selection:
        L += ["## Selection quality (analysis only: opens train_2 gold)", ""]
        if not has_train_2_gold(res):
            L += ["Not available: OlympicArena's train_2 (the HF test split) has no public gold.", ""]
        elif res.selection:
            L += [markdown_table(["seed", "iteration", "kept", "kept share", "weak acc (all)", "weak acc (kept)",
                                  "ICL acc (all)", "ICL acc (kept)", "weak acc (dropped)"],
                                 [[r["seed"], r["iteration"], f"{r['kept']}/{r['questions']}", r["kept_share"],
                                   r["weak_all"], r["weak_kept"], r["icl_all"], r["icl_kept"], r["weak_dropped"]]
                                  for r in res.selection]), "",
                  "Accuracy of the answers against train_2 gold, read through `records.reference_gold(purpose="
                  "\"analysis\")` (logged in each run's gold_access.jsonl); the method never sees these numbers.", ""]
            if figs.get("selection.png") is not None:
                L += ["![selection quality](selection.png)", ""]
        else:
            L += ["No selection stage found.", ""]
        if res.pairs:
            L += ["### Stage II pairs (analysis only)", "",
                  markdown_table(["seed", "branch", "pairs", "chosen correct", "rejected wrong",
                                  "chosen right and rejected wrong"],
                                 [[r["seed"], r["branch"], r["pairs"], r["chosen_correct"], r["rejected_wrong"],
                                   r["chosen_right_and_rejected_wrong"]] for r in res.pairs]), ""]
    # ---- OlympicArena (05)
    oly = s.get("olympic")
    if oly:
        types = sorted({t for v in oly.values() for t in v["answer_type"]})
        L += ["## OlympicArena-shaped evaluation (notebook 05)" if p.dataset["name"] == "toy" else
              "## OlympicArena val (notebook 05)", "",
              markdown_table(["model", "accuracy (mean)", "per seed", "no answer (share)", *types],
                             [[v["label"], v["accuracy"], " / ".join(f"{a:.3f}" for a in v["per_seed"].values()),
                               v["no_answer"], *[v["answer_type"].get(t) for t in types]] for v in oly.values()]),
              "", "Columns after `no answer`: mean accuracy per answer type.", ""]
        if p.dataset["name"] == "toy":
            L += ["The method fine-tunes the toy models on `count` problems only, in the `Question:/Answer:` "
                  "format; this set wraps toy problems of six families in OlympicArena's prompt and answer types. "
                  "What they answer here measures format and family transfer of tiny models, nothing about "
                  "OlympicArena.", ""]
    # ---- paper
    L += ["## The paper's numbers", ""]
    if cmp["matched"]:
        L += [cmp["note"], "",
              "The paper's numbers come from the release's grader: compare them with *ours, official grader*; "
              "*ours, default grader* is this project's math-aware grader on the same answers.", "",
              markdown_table(["stage", "paper (%)", "ours, official grader (%)", "ours, default grader (%)",
                              "source", "verified against paper", "note"],
                             [[r["stage"], r["paper"], r.get("ours_official"), r["ours"],
                               f"{r['source']} ({r['provenance']})",
                               r["verified_against_paper"], r["note"]] for r in cmp["rows"]], digits=2), ""]
        if cmp["missing"]:
            L += ["Reported by the paper but not available from any source we could read: "
                  + ", ".join(f"`{m}`" for m in cmp["missing"]) + ".", ""]
    else:
        L += [cmp["note"], ""]
    L += ["Files: `results.json` (the numbers above, per seed), the PNGs next to this report."]
    path = out / "report.md"
    from .jsonl import atomic_write_text
    atomic_write_text(path, "\n".join(L) + "\n")
    return path
