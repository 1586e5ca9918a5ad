"""Collecting the runs of a preset: every runs/<preset>/seed<k>/ and its evaluated models, by report key.

    res = collect("toy")                  # every runs/toy/seed*/ (or runs_dir=..., seeds=[0, 1])
    res.keys(); res.values("m_plus"); res.label("m_plus")

Keys follow configs/paper_results.yaml (w2s_lib.run.names.stage_key): weak, strong_icl, full_weak_ft,
stage1_iter<k>_<set>, stage2_dpo, stage2_orpo, strong_ceiling; stage1_iter<k> and m_plus are aliases.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Sequence

from w2s_lib.run.names import EVAL_PREFIX, OLYMPIC_PREFIX, m_plus_label, stage_key
from w2s_lib.run.paths import CONFIGS_DIR, RUNS_DIR
from w2s_lib.run.presets import Preset, load_preset
from w2s_lib.run.runstore import OLD_SUFFIX, PARTIAL_SUFFIX, RunStore

PAPER_RESULTS = CONFIGS_DIR / "paper_results.yaml"
_SEED_DIR = re.compile(r"^seed(\d+)$")


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
        return m_plus_label(label) if key in mps else label      # one name per model, as the notebooks say it

    def runs_stage(self, key: str) -> str | None:
        return next((r.stages[key] for r in self.runs if key in r.stages), None)

    @cached_property
    def summary(self) -> dict:
        from .statistics import summarize
        return summarize(self)

    @cached_property
    def selection(self) -> list[dict]:
        from .statistics import selection_quality
        return selection_quality(self)

    @cached_property
    def pairs(self) -> list[dict]:
        from .statistics import pair_quality
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
                                    f"run `python -m w2s_lib --preset {p.name} --seeds {' '.join(map(str, missing))}`")
        found = {s: found[s] for s in seeds}
    runs = [_read_run(s, d, str(p.stage1.get("m_plus") or "hybrid")) for s, d in sorted(found.items())]
    if not any(r.metrics for r in runs):
        if not p.has_w2s:
            raise FileNotFoundError(f"{preset_dir}: preset {p.name} runs SCORE only; this report collects the "
                                    f"weak-to-strong series. SCORE's report is w2s_lib.report.write_score_report "
                                    f"(notebook 06 calls it for a SCORE-only preset)")
        raise FileNotFoundError(f"{preset_dir}: no evaluated run (no seed*/eval_*/ stage); run "
                                f"`python -m w2s_lib --preset {p.name}` (notebooks 01-05) first")
    empty = [r.seed for r in runs if not r.metrics]
    if empty:   # a seed dir whose run has not evaluated anything yet: said, and listed in results.json
        print(f"note: seed(s) {empty} in {preset_dir} have no evaluated model yet; they are left out")
    return Collected(p, preset_dir, [r for r in runs if r.metrics], skipped_seeds=empty)
