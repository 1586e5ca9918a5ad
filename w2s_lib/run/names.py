"""The run's vocabulary in one place: stage names, which notebook writes each (the hints a missing stage
prints), and the labels the tables and the report give each model.

Stage names are directory names under runs/<preset>/seed<k>/ (w2s_lib.run.runstore). Every module that reads or
writes a stage takes its name from here; a hint is what `RunStore.require(stage, hint=...)` says to run when
the stage is missing.
"""
from __future__ import annotations

import re

# ---- stages ------------------------------------------------------------------------------------------------
DATA = "data"
WEAK_MODEL = "weak_model"
D_WEAK = "d_weak"
D_ICL = "d_icl"
FULL_WEAK = "sft_full_weak"
CEILING = "sft_ceiling"
M_PLUS = "m_plus"
SAMPLES = "samples"
PAIRS = "pairs"
OLYMPIC_DATA = "olympic_data"
EVAL_PREFIX = "eval_"
# SCORE (notebooks 07-08; w2s_lib.stages.score, score_eval)
SCORE_SAMPLES = "score_samples"
SCORE_CRITIQUES = "score_critiques"
SCORE_REFINEMENTS = "score_refinements"
SCORE_REFINER = "score_refiner"
SCORE_INITIAL = "score_initial"
SCORE_CHECKS = "score_checks"
SCORE_REFINED = "score_refined"
SCORE_CLASSIFIER = "score_classifier"
SCORE_STRONG_REFINE = "score_strong_refine"
OLYMPIC_PREFIX = "olympic_eval_"
from w2s_lib.method.sets import SUBSETS as STAGE1_SUBSETS   # noqa: E402  (the rule's own home)
STAGE2_METHODS = ("dpo", "orpo")          # Stage II's preference methods, in report order


def selection_stage(iteration: int) -> str:
    return f"selection_iter{iteration}"


def sft_name(iteration: int, subset: str) -> str:
    """The Stage I model trained on `subset` in `iteration` (its evaluation is eval_<name>)."""
    return f"sft_iter{iteration}_{subset}"


def answers_stage(iteration: int, side: str) -> str:
    return f"answers_iter{iteration}_{side}"


def eval_stage(name: str) -> str:
    return EVAL_PREFIX + name


# ---- which notebook to run first ---------------------------------------------------------------------------
HINT_01 = "run notebooks/01_weak_data.ipynb first (it trains the weak model and writes D_weak)"
HINT_02 = "run notebooks/02_selection.ipynb first (it writes D_icl and the iteration-1 selection)"
HINT_03 = "run notebooks/03_stage1_sft.ipynb first (it trains the Stage I models and M_plus)"


def hint_iteration(iteration: int) -> str:
    """What to run when the answers of Stage I iteration `iteration` (its models on train_2) are missing."""
    if iteration == 1:
        return HINT_02
    return f"run notebooks/03_stage1_sft.ipynb (iteration {iteration - 1} models answer train_2 first)"


HINT_04 = "run notebooks/04_stage2_preference.ipynb first"
HINT_05 = "run notebooks/05_olympicarena_eval.ipynb first"
HINT_07 = "run notebooks/07_score_data.ipynb first (SCORE's samples, critiques and refiner)"
HINT_08 = "run notebooks/08_score_verify.ipynb first (SCORE's verify-then-refine)"
HINT_MODELS = "run notebooks 01-04 first (05 evaluates the models they trained)"


# ---- model labels (tables, plots, report) ------------------------------------------------------------------
# model stage -> (report key, label); the keys follow configs/paper_results.yaml
FIXED = {WEAK_MODEL: ("weak", "weak floor (weak model)"),
         "strong_icl": ("strong_icl", "strong base, 4 weak demos (ICL)"),
         FULL_WEAK: ("full_weak_ft", "full weak fine-tuning"),
         "dpo": ("stage2_dpo", "Stage II DPO (from M_plus)"),
         "orpo": ("stage2_orpo", "Stage II ORPO (from M_plus)"),
         CEILING: ("strong_ceiling", "strong ceiling (train_2 gold; reference only)")}
_SFT = re.compile(r"^sft_iter(\d+)_(\w+)$")


def stage_key(stage: str) -> tuple[str, str]:
    """(key, label) of a model stage: `sft_iter2_hybrid` -> ('stage1_iter2_hybrid', 'Stage I iter 2, hybrid set');
    a Stage II method without a fixed label gets 'Stage II <METHOD> (from M_plus)'."""
    if stage in FIXED:
        return FIXED[stage]
    m = _SFT.match(stage)
    if m:
        return f"stage1_iter{m[1]}_{m[2]}", f"Stage I iter {m[1]}, {'ICL' if m[2] == 'icl' else m[2]} set"
    if stage in STAGE2_METHODS:
        return f"stage2_{stage}", f"Stage II {stage.upper()} (from M_plus)"
    return stage, stage


def label(stage: str) -> str:
    """The label of a model stage in tables and plots."""
    return stage_key(stage)[1]


def m_plus_label(label: str) -> str:
    """The one name of the M_plus model, as 03, 04 and 06 say it: 'M_plus (Stage I iter 2, hybrid set)'."""
    return f"M_plus ({label})"
