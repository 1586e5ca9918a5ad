"""Presets: one YAML file per scale (configs/presets/<name>.yaml) that picks models, data and sizes.

The notebooks and the pipeline take a preset name; nothing else changes between a smoke test on a CPU and the
paper's multi-GPU runs. A preset may `extends:` another one and override parts of it (deep merge), so the
paper's nine GSM8K/MATH experiments differ only in the lines that differ.

    preset = load_preset("toy")
    preset.name, preset.dataset["name"], preset.models["strong_base"], preset.stage2["n_samples"]
    preset.recipe("strong_sft")        # path of the TRL recipe YAML for that training job

Every key is checked against SCHEMA below, and its type and range against preset_types.TYPES, so a typo or a
bad value (`n_samples: "four"`, `min_conf: "0.6"`, a local model path that does not exist) fails when the preset
is loaded (and so at `--dry-run`), naming the file, the line and the key, instead of silently falling back to a
default or failing notebooks later. Values marked `# our choice` in a preset are settings
the paper does not state.

Which series a preset runs is read from the models it names, nothing else:
- the weak-to-strong series (notebooks 01-05) when it names `models.strong_base` (`Preset.has_w2s`); it then
  also needs `models.weak_base` (trained on train_1) or `models.weak_model` (used as-is);
- SCORE, the second paper (notebooks 07-08), when it names `score.small_model` (`Preset.has_score`);
- both when it names both (toy, smoke); the report (06) runs for every preset.
A preset that names neither is refused, and so is one that names a weak model but no `models.strong_base` (half of
the weak-to-strong series). A SCORE-only preset (paper-score-*, single-gpu-score) leaves `models` empty; its Stage I
/ II sections keep their defaults and are not used. `dataset.split: score` is SCORE's own GSM8K split
(w2s_lib.run.data.load_score_gsm8k): train_1 = GSM8K train shuffled (SCORE's 6,500 train, then its 973 dev: the last
`score.dev_size`), test, no train_2.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .names import STAGE1_SUBSETS, STAGE2_METHODS, sft_name  # noqa: F401 (presets.STAGE2_METHODS)
from .paths import CONFIGS_DIR, REPO_ROOT
from .preset_types import check_types, key_lines, local_path, looks_local, missing_local, where

PRESETS_DIR = CONFIGS_DIR / "presets"


class PresetError(ValueError):
    """A preset that cannot be used; the message names the file and the key."""


# Allowed keys per section, with their defaults (None = required or optional without default).
SCHEMA: dict[str, dict[str, Any]] = {
    "dataset": {
        "name": None,             # toy | gsm8k | math | olympicarena | any other name: local JSONL (w2s_lib.tasks)
        "format": None,           # other datasets: the JSONL rows' format (w2s_lib.run.data.FORMATS; default w2s)
        "source": None,           # hub id or local path (gsm8k/math/olympicarena); toy: generator settings below
        "test_source": None,      # MATH500 / separate test set source
        "split": "seeded",        # seeded (split_train with the run's seed) | official (the paper's files) |
                                  # score (SCORE's fixed GSM8K split: train_1 = GSM8K train shuffled, its last
                                  # score.dev_size = 973 are dev; no train_2)
        "sizes": {},              # {train_1, train_2, test, dev}: caps/sizes per split
        "toy": {},                # toy world generator settings (w2s_lib.toy.task)
        "olympic": {},            # OlympicArena filters: subjects, language, text_only
    },
    "models": {
        "weak_base": None,        # weak base model (trained on train_1 gold in 01)
        "strong_base": None,      # strong base model
        "weak_model": None,       # a given weak supervisor used as-is (OlympicArena setup): no train_1 SFT
        "dtype": "auto",
    },
    "generation": {
        "backend": "transformers",
        "max_new_tokens": 256,
        "batch_size": None,
        "stop": None,             # None = tasks.prompts.STOP; paper presets: ["Question", "Answer"] (the release)
        "cleanup": "strip",       # strip | release (the release's `.strip().strip(".")` of every response)
        "subprocess": False,      # run each generation in a child process (frees GPU memory before training)
        "shard_size": None,       # prompts per resumable shard (None: 256 with transformers, 1024 with vllm;
                                  # the engine loads once per step, a shard bounds what an interruption loses)
        "engine": {},             # extra engine kwargs (vllm: tensor_parallel_size, gpu_memory_utilization, ...)
    },
    "icl": {
        "n_demos": 4,
        "demo_seed": 42,          # the release's helper shuffles with seed 42 and takes the first 4 with an answer
        "demos": "sampled",       # sampled (drawn from D_weak with demo_seed) | released (the release's strings)
        "demos_file": None,       # released: data/release/demos/<name>.txt (None = <dataset>_<paper.weak_model>)
    },
    "train": {
        "weak_sft": None,         # recipe YAML paths (configs/train/*.yaml)
        "strong_sft": None,
        "dpo": None,
        "orpo": None,
        "score_refiner": None,    # SCORE: the refiner's SFT recipe
        "score_classifier": None, # SCORE: the self-verifier's LoRA sequence-classifier recipe
        "launcher": "process",    # process (one child process) | accelerate (accelerate launch, several)
        "num_processes": 1,       # accelerate on a CPU; with GPUs visible, one process per visible GPU
        "accelerate_config": None,
        "report_to": None,        # none | tensorboard | wandb | trackio (None: tensorboard with GPUs, else none)
        "overrides": {},          # {job: {TRL field: value}} applied over that job's recipe (e.g. smoke: 1 epoch)
    },
    "stage1": {
        "iterations": 2,
        "subsets": ["weak", "icl", "hybrid"],
        "m_plus": "hybrid",       # which subset's model of the last iteration is M_plus (the paper: hybrid)
        "comparator": "math",     # Stage I agreement and Stage II votes: math (our grader's equality) | official
                                  # (the release's normalised prediction strings; w2s_lib.grading.official)
    },
    "stage2": {
        "n_samples": 10,
        "temperature": 1.0,
        "top_p": 1.0,
        "min_conf": 0.6,
        "flip_conf": 0.8,
        "max_pairs_per_question": 1,   # 1 on GSM8K, 3 on MATH/OlympicArena
        "pair_seed": 42,
        "methods": ["dpo", "orpo"],
    },
    "eval": {
        "judge": "grading",       # grading (GSM8K/MATH/toy) | olympic (per-answer-type judge)
        "max_new_tokens": None,   # None = generation.max_new_tokens
        "sample_k": 0,            # >0: also sample k answers per test question for maj@k / pass@k
        "sample_stages": None,    # models that get the k samples (stage names, e.g. sft_ceiling); None = all
        "breakdown": [],          # meta keys to break accuracy down by (level, subject, answer_type, ...)
    },
    "score": {                    # SCORE, the second paper (notebooks 07-08; w2s_lib.stages.score)
        "small_model": None,      # SCORE's small model: samples, critiques itself, is fine-tuned as the refiner
                                  # (None: the preset has no SCORE run)
        "strong_verifier": None,  # the prompted strong verifier: any model the generation backends load
                                  # (None: that verifier is not run)
        "train_split": "train_1", # the split SCORE samples and critiques; gold labels its samples
        "dev_size": 0,            # its last dev_size records are SCORE's dev split (the threshold is chosen there)
        "train_size": 0,          # SCORE's train: the first train_size of the rest (0 = all of it)
        "sample_demos": 4,        # gold demos (train_split) in the sampling and answering prompt
        "demo_seed": 42,
        "n_samples": 10,          # samples per training question (the paper: 10 at T = 0.7, top_p 0.95)
        "temperature": 0.7,
        "top_p": 0.95,
        "critique_max_new_tokens": 1024,  # critiques and prompted checks copy every step: longer than a solution
        "pairs_per_question": 0,  # (incorrect, correct) pairs critiqued per question; 0 = every pair (the paper)
        "pair_seed": 42,
        "threshold_grid": [0.5, 1.0, 0.01],   # the self-verifier's P(incorrect) grid, searched on dev
        "ood_source": None,       # the MATH test set that SCORE's 181-problem out-of-distribution subset is cut from
                                  # (w2s_lib.run.data.load_score_math_ood: hub id, local hub-shaped folder or a
                                  # MATH-format .jsonl); None: no out-of-distribution evaluation
    },
    "compute": {
        "threads": None,          # torch threads (None = all cores)
        "gpus": 0,                # GPUs the preset expects (for the dry run's memory/time estimate)
        "gpu_memory_gb": None,
    },
}
TOP_LEVEL = {"name", "description", "extends", "seeds", "paper", *SCHEMA}


@dataclass
class Preset:
    name: str
    description: str
    path: Path
    seeds: list[int]
    dataset: dict
    models: dict
    generation: dict
    icl: dict
    train: dict
    stage1: dict
    stage2: dict
    eval: dict
    compute: dict
    score: dict = field(default_factory=dict)
    paper: dict = field(default_factory=dict)   # which published experiment this mirrors (for 06's comparison)

    def recipe(self, job: str) -> Path:
        """The recipe file of a training job (weak_sft, strong_sft, dpo, orpo), resolved from the repo root."""
        value = self.train.get(job)
        if not value:
            raise PresetError(f"{self.path}: train.{job} is not set")
        return resolve(value)

    def overrides(self, job: str) -> dict:
        """TRL config fields this preset sets over the recipe of `job` (may be empty)."""
        return dict((self.train.get("overrides") or {}).get(job) or {})

    def model(self, role: str) -> str:
        """A model reference (weak_base, strong_base, weak_model): a local path if it exists, else a hub id."""
        value = self.models.get(role)
        if not value:
            raise PresetError(f"{self.path}: models.{role} is not set")
        local = resolve(value)
        return str(local) if local.exists() else str(value)

    def to_dict(self) -> dict:
        return {k: copy.deepcopy(getattr(self, k)) for k in
                ("name", "description", "seeds", "dataset", "models", "generation", "icl", "train", "stage1",
                 "stage2", "eval", "compute", "score", "paper")}

    @property
    def has_w2s(self) -> bool:
        """Whether the preset runs the weak-to-strong series (notebooks 01-05): it names `models.strong_base`."""
        return bool(self.models.get("strong_base"))

    @property
    def has_score(self) -> bool:
        """Whether the preset runs SCORE (notebooks 07-08): it names `score.small_model`."""
        return bool(self.score.get("small_model"))

    def score_model(self, role: str) -> str:
        """A SCORE model reference (`small_model`, `strong_verifier`): a local path if it exists, else a hub id."""
        value = self.score.get(role)
        if not value:
            raise PresetError(f"{self.path}: score.{role} is not set")
        local = resolve(value)
        return str(local) if local.exists() else str(value)


def resolve(value: str | os.PathLike) -> Path:
    return local_path(str(value), REPO_ROOT)


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def _read(path: Path) -> tuple[dict, dict]:
    """(data, {key path: line}) of one preset file; PresetError naming the file (and line) if unreadable."""
    try:
        text = path.read_bytes().decode("utf-8")
        data = yaml.safe_load(text) or {}
    except FileNotFoundError:
        raise PresetError(f"{path}: preset file not found (known presets: {', '.join(list_presets())})") from None
    except PermissionError:
        raise PresetError(f"{path}: permission denied (cannot read the preset)") from None
    except UnicodeDecodeError as e:
        raise PresetError(f"{path}: not valid UTF-8 (byte {e.start}); save the preset as UTF-8") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PresetError(f"{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise PresetError(f"{path}: a preset is a mapping at the top level")
    return data, key_lines(text)


def _merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict) and k not in ("sizes",):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _raw(name_or_path: str | os.PathLike, seen: tuple = ()) -> tuple[dict, Path, dict]:
    """The merged data of a preset and its `extends` chain, its path, and where each key was set last:
    {(section, key): "file:line"}. Each file is type-checked on its own (PresetError naming it)."""
    s = str(name_or_path)
    path = Path(s) if s.endswith((".yaml", ".yml")) else PRESETS_DIR / f"{s}.yaml"
    path = path if path.is_absolute() else (REPO_ROOT / path if not path.exists() else path.resolve())
    if path in seen:
        raise PresetError(f"{path}: 'extends' loops back to itself ({' -> '.join(map(str, seen))})")
    data, lines = _read(path)
    bad = check_types(data, path, lines, SCHEMA)
    if bad:
        raise PresetError(bad)
    parent = data.pop("extends", None)
    own, origin = data, {}
    if parent:
        base, _, origin = _raw(parent, seen + (path,))
        data = _merge(base, own)
    for key, value in own.items():
        origin[(key,)] = where(path, lines, key)
        if isinstance(value, dict):
            for sub in value:
                origin[(key, sub)] = where(path, lines, key, sub)
    return data, path, origin


def load_preset(name_or_path: str | os.PathLike) -> Preset:
    """Load and validate a preset by name (configs/presets/<name>.yaml) or path: every key's type and range
    (preset_types.TYPES), the rules between keys, and that files it names (recipes, local model paths,
    local data files, accelerate configs) exist. Errors are PresetError naming the file, line and key."""
    data, path, origin = _raw(name_or_path)

    def at(*key: str) -> str:
        return origin.get(tuple(key)) or origin.get(tuple(key[:1])) or str(path)

    sections = {section: {**copy.deepcopy(defaults), **(data.get(section) or {})}
                for section, defaults in SCHEMA.items()}
    if not sections["dataset"]["name"]:
        raise PresetError(f"{path}: dataset.name is required")
    models, score = sections["models"], sections["score"]
    names_w2s = any(models[r] for r in ("weak_base", "strong_base", "weak_model"))
    if not names_w2s and not score["small_model"]:
        raise PresetError(f"{path}: the preset runs nothing: name models.weak_base (or weak_model) and "
                          "models.strong_base for the weak-to-strong series (01-05), score.small_model for SCORE "
                          "(07-08), or both")
    if names_w2s and not (models["weak_model"] or models["weak_base"]):
        raise PresetError(f"{at('models')}: set models.weak_base (trained on train_1) or models.weak_model (used as-is)")
    if names_w2s and not models["strong_base"]:
        raise PresetError(f"{at('models')}: models.strong_base is required for the weak-to-strong series (a "
                          "SCORE-only preset names no weak or strong model, only score.small_model)")
    for role in ("weak_base", "strong_base", "weak_model"):
        value = sections["models"][role]
        if missing_local(value, [REPO_ROOT]):
            raise PresetError(f"{at('models', role)}: models.{role} is {value!r}, a local path that does not exist "
                              f"(looked in {resolve(value)}); a hub id is 'name' or 'org/name'")
    for role in ("small_model", "strong_verifier"):
        value = sections["score"][role]
        if missing_local(value, [REPO_ROOT]):
            raise PresetError(f"{at('score', role)}: score.{role} is {value!r}, a local path that does not exist "
                              f"(looked in {resolve(value)}); a hub id is 'name' or 'org/name'")
    if score["ood_source"] and missing_local(score["ood_source"], [REPO_ROOT, Path.cwd()]):
        raise PresetError(f"{at('score', 'ood_source')}: score.ood_source is {score['ood_source']!r}, a local path "
                          "that does not exist")
    if sections["dataset"]["split"] == "score":
        if sections["dataset"]["name"] != "gsm8k" or not score["small_model"] or names_w2s:
            raise PresetError(f"{at('dataset', 'split')}: dataset.split: score is SCORE's GSM8K split (train_1 + dev, "
                              "no train_2): it needs dataset.name gsm8k, score.small_model, and no weak-to-strong "
                              f"models (got dataset {sections['dataset']['name']!r}, "
                              f"small_model {score['small_model']!r}, strong_base {models['strong_base']!r})")
        if sections["dataset"]["sizes"].get("train_2"):
            raise PresetError(f"{at('dataset', 'sizes')}: dataset.split: score has no train_2; remove "
                              "dataset.sizes.train_2")
        if not score["dev_size"]:
            raise PresetError(f"{at('score', 'dev_size')}: dataset.split: score needs score.dev_size (the paper: 973, "
                              "the last 973 of the shuffled GSM8K train)")
    grid = sections["score"]["threshold_grid"]
    if len(grid) != 3 or not grid[0] <= grid[1] or grid[2] <= 0:
        raise PresetError(f"{at('score', 'threshold_grid')}: score.threshold_grid is [low, high, step] with "
                          f"low <= high and step > 0, got {grid}")
    for key in ("source", "test_source"):
        value = sections["dataset"][key]
        if value and (looks_local(value) or str(value).endswith(".jsonl")) and \
                missing_local(f"./{value}" if not looks_local(value) else value, [REPO_ROOT, Path.cwd()]):
            raise PresetError(f"{at('dataset', key)}: dataset.{key} is {value!r}, a local path that does not exist")
    if sections["stage1"]["m_plus"] not in sections["stage1"]["subsets"]:
        raise PresetError(f"{at('stage1', 'm_plus')}: stage1.m_plus must be one of stage1.subsets "
                          f"{sections['stage1']['subsets']}")
    if sections["train"]["launcher"] not in ("process", "accelerate"):
        hint = (" (training always runs in its own process now: `inprocess` became `process`)"
                if sections["train"]["launcher"] == "inprocess" else "")
        raise PresetError(f"{at('train', 'launcher')}: train.launcher must be process or accelerate, got "
                          f"{sections['train']['launcher']!r}{hint}")
    s2 = sections["stage2"]
    if not (0 < s2["min_conf"] <= s2["flip_conf"] <= 1):
        raise PresetError(f"{at('stage2', 'min_conf')}: stage2 needs 0 < min_conf <= flip_conf <= 1 "
                          f"(min_conf {s2['min_conf']}, flip_conf {s2['flip_conf']})")
    seeds = data.get("seeds", [0])
    preset = Preset(name=data.get("name") or path.stem, description=data.get("description") or "", path=path,
                    seeds=seeds, paper=data.get("paper") or {}, **sections)
    only = preset.eval.get("sample_stages")
    if only is not None:
        models = evaluated_models(preset)
        if set(only) - set(models):
            raise PresetError(f"{at('eval', 'sample_stages')}: eval.sample_stages must list evaluated models; "
                              f"unknown: {sorted(set(only) - set(models))}; known: {models}")
    jobs = ("weak_sft", "strong_sft", "dpo", "orpo", "score_refiner", "score_classifier")
    bad_jobs = set(preset.train.get("overrides") or {}) - set(jobs)
    if bad_jobs:
        raise PresetError(f"{at('train', 'overrides')}: train.overrides has unknown job(s) {sorted(bad_jobs)}; "
                          f"jobs: {list(jobs)}")
    for job in jobs[:4]:        # score_* recipes: checked where SCORE's stages load them
        value = preset.train.get(job)
        if value and not resolve(value).exists():
            raise PresetError(f"{at('train', job)}: train.{job} points to {value}, which does not exist")
    if preset.has_score:
        missing = [job for job in ("score_refiner", "score_classifier") if not preset.train.get(job)]
        if missing:
            raise PresetError(f"{at('score', 'small_model')}: a preset with a SCORE run needs train.{missing[0]} "
                              f"(a recipe path)")
    acc = preset.train.get("accelerate_config")
    if acc and not (resolve(acc).exists() or (CONFIGS_DIR / "accelerate" / f"{Path(acc).name.removesuffix('.yaml')}.yaml").exists()):
        raise PresetError(f"{at('train', 'accelerate_config')}: train.accelerate_config {acc!r} is neither a file nor "
                          f"one of {sorted(p.stem for p in (CONFIGS_DIR / 'accelerate').glob('*.yaml'))}")
    return preset


def stage1_subsets(preset: "Preset", iteration: int) -> list[str]:
    """The sets Stage I trains in `iteration`: the preset's, plus weak and icl whenever a later iteration
    selects from their answers."""
    want = list(preset.stage1.get("subsets") or STAGE1_SUBSETS)
    if iteration < int(preset.stage1["iterations"]):
        want += [s for s in ("weak", "icl") if s not in want]
    return [s for s in STAGE1_SUBSETS if s in want]


def evaluated_models(preset: "Preset", iterations: int | None = None,
                     methods: list[str] | None = None) -> list[str]:
    """Names of the models a run of this preset evaluates on the test set (the `eval_<name>` stages), in report
    order: what `eval.sample_stages` may list. `iterations` and `methods` override the preset's Stage I count and
    Stage II methods (a run made under an older version of its preset)."""
    names = ["weak_model", "strong_icl", "sft_full_weak"]
    names += [sft_name(it, s) for it in range(1, (iterations or int(preset.stage1["iterations"])) + 1)
              for s in stage1_subsets(preset, it)]
    return names + list(preset.stage2["methods"] if methods is None else methods) + ["sft_ceiling"]
