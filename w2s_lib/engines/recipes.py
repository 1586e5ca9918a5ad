"""Training recipes (configs/train/*.yaml) and training rows: what a training job is asked to do.

A recipe is a YAML file under `configs/train/` (or a dict) in the alignment-handbook style; see
w2s_lib.engines.training's docstring for its keys. `load_recipe` checks it, `build_trl_config` turns it into the TRL
config (with the device defaults), `load_rows` validates the rows (a bad row names its file and line).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

from w2s_lib.run.jsonl import DataError, iter_jsonl, require
from w2s_lib.run.paths import CONFIGS_DIR

KINDS = ("sft", "dpo", "orpo", "classifier")
ROW_FIELDS = {"sft": ("prompt", "completion"), "dpo": ("prompt", "chosen", "rejected"),
              "orpo": ("prompt", "chosen", "rejected"),
              "classifier": ("text", "label")}   # a sequence classifier (w2s_lib.engines.classifier): label 0 | 1
# The paper's LoRA targets: every linear layer of a Llama block.
PAPER_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RECIPE_KEYS = {"kind", "trl", "lora", "save", "model_kwargs", "orpo_nll", "backend", "description"}
TRAIN_RECIPES_DIR = CONFIGS_DIR / "train"
ACCELERATE_CONFIGS_DIR = CONFIGS_DIR / "accelerate"


# ---------------------------------------------------------------------------------------------------------------
# Recipes
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Recipe:
    """A parsed training recipe (see the module docstring for the YAML layout)."""

    kind: str
    trl: dict = field(default_factory=dict)
    lora: dict | None = None
    save: str = "merged"
    model_kwargs: dict = field(default_factory=dict)
    orpo_nll: str = "completion"
    backend: str = "trl"
    description: str = ""
    source: str = "<dict>"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("source")
        return d


def config_class(kind: str) -> type:
    """The TRL config dataclass of a training kind."""
    if kind == "sft":
        from trl import SFTConfig

        return SFTConfig
    if kind == "dpo":
        from trl import DPOConfig

        return DPOConfig
    if kind == "orpo":
        # TRL's ORPO lives in trl.experimental, which warns on import (said once in docs/ARCHITECTURE.md); the
        # child jobs are silenced through relay.child_env, this process (a notebook kernel) here
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        from trl.experimental.orpo import ORPOConfig

        return ORPOConfig
    if kind == "classifier":
        # transformers' TrainingArguments plus the tokenization fields (max_length, truncation_side); its `trl`
        # section holds these fields although no TRL trainer runs (one recipe layout for every kind)
        from w2s_lib.engines.classifier import classifier_arguments_class

        return classifier_arguments_class()
    raise ValueError(f"unknown training kind {kind!r}; choose one of {KINDS}")


def load_recipe(recipe: str | os.PathLike | dict | Recipe) -> Recipe:
    """Parse a recipe: a Recipe, a dict, a YAML path, or a name under configs/train/ ("sft_full" or "sft_full.yaml").

    Every key is checked against the pinned TRL / peft dataclasses, so a renamed field fails here (and in CI)
    with the file and the field named, not deep inside a trainer.
    """
    if isinstance(recipe, Recipe):
        return recipe
    source = "<dict>"
    if not isinstance(recipe, dict):
        import yaml

        path = Path(recipe)
        if not path.exists():
            named = TRAIN_RECIPES_DIR / (path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml")
            if not named.exists():
                known = sorted(p.stem for p in TRAIN_RECIPES_DIR.glob("*.yaml"))
                raise DataError(f"{recipe}: no such recipe file (recipes in {TRAIN_RECIPES_DIR}: {known})")
            path = named
        source = str(path)
        try:
            recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise DataError(f"{path}: malformed YAML ({e})") from None
        if not isinstance(recipe, dict):
            raise DataError(f"{path}: a recipe must be a mapping with at least `kind` and `trl`")
    unknown = set(recipe) - RECIPE_KEYS
    if unknown:
        raise DataError(f"{source}: unknown recipe keys {sorted(unknown)} (known: {sorted(RECIPE_KEYS)})")
    kind = require(recipe, "kind", source)
    if kind not in KINDS:
        raise DataError(f"{source}: kind must be one of {KINDS}, got {kind!r}")
    r = Recipe(kind=kind, trl=dict(recipe.get("trl") or {}), lora=recipe.get("lora"),
               save=recipe.get("save", "merged"), model_kwargs=dict(recipe.get("model_kwargs") or {}),
               orpo_nll=recipe.get("orpo_nll", "completion"), backend=recipe.get("backend", "trl"),
               description=recipe.get("description", ""), source=source)
    _validate(r)
    return r


def _validate(r: Recipe) -> None:
    names = {f.name for f in dataclasses.fields(config_class(r.kind))}
    bad = sorted(set(r.trl) - names)
    if bad:
        raise DataError(f"{r.source}: trl fields {bad} are not fields of {config_class(r.kind).__name__} "
                        f"in the pinned TRL (renamed or removed?)")
    if "output_dir" in r.trl or "seed" in r.trl:
        raise DataError(f"{r.source}: output_dir and seed are set by train(), not by the recipe")
    if r.lora is not None:
        if not isinstance(r.lora, dict):
            raise DataError(f"{r.source}: lora must be null or a mapping of peft.LoraConfig fields")
        from peft import LoraConfig

        lora_names = {f.name for f in dataclasses.fields(LoraConfig)}
        bad = sorted(set(r.lora) - lora_names)
        if bad:
            raise DataError(f"{r.source}: lora fields {bad} are not fields of peft.LoraConfig")
    if r.save not in ("merged", "adapter"):
        raise DataError(f"{r.source}: save must be 'merged' or 'adapter', got {r.save!r}")
    if r.save == "adapter" and r.lora is None:
        raise DataError(f"{r.source}: save: adapter needs a lora section (full fine-tuning has no adapter)")
    if r.orpo_nll not in ("completion", "full"):
        raise DataError(f"{r.source}: orpo_nll must be 'completion' or 'full', got {r.orpo_nll!r}")
    if r.backend not in ("trl", "unsloth"):
        raise DataError(f"{r.source}: backend must be 'trl' or 'unsloth', got {r.backend!r}")
    if r.kind == "classifier" and r.backend != "trl":
        raise DataError(f"{r.source}: a classifier trains with transformers' Trainer; backend must be 'trl' "
                        f"(the default), got {r.backend!r}")


def gpu_available() -> bool:
    return torch.cuda.is_available()


def device_defaults(has_gpu: bool | None = None) -> tuple[dict, dict]:
    """(defaults the recipe may override, settings forced on this device)."""
    has_gpu = gpu_available() if has_gpu is None else has_gpu
    always = dict(save_strategy="no", eval_strategy="no", report_to="none", dataloader_num_workers=0,
                  logging_steps=10, save_only_model=True, ddp_find_unused_parameters=False)
    if has_gpu:
        bf16 = torch.cuda.is_bf16_supported() if torch.cuda.is_available() else True
        return {**always, "bf16": bf16, "fp16": not bf16, "gradient_checkpointing": True}, {}
    forced = dict(use_cpu=True, bf16=False, fp16=False, gradient_checkpointing=False, dataloader_pin_memory=False)
    return always, forced


def build_trl_config(recipe: Recipe, out_dir: str | os.PathLike, *, seed: int, overrides: dict | None = None,
                     has_gpu: bool | None = None) -> Any:
    """The TRL config object of a recipe: device defaults < recipe < overrides < forced device settings."""
    defaults, forced = device_defaults(has_gpu)
    values = {**defaults, **recipe.trl, **(overrides or {}), **forced}
    values.update(output_dir=str(out_dir), seed=seed, data_seed=seed)
    if recipe.kind in ("dpo", "orpo") or not values.get("gradient_checkpointing"):
        values.setdefault("gradient_checkpointing_kwargs", None)
    elif recipe.kind == "classifier":
        # a plain Trainer on a peft model: the frozen embeddings give reentrant checkpointing no input that needs
        # a gradient, so the LoRA weights would get none; the non-reentrant variant does not need one
        values.setdefault("gradient_checkpointing_kwargs", {"use_reentrant": False})
    if recipe.kind == "orpo":
        # ORPO's collator needs the raw columns; TRL sets this itself, with a warning a user cannot act on
        values.setdefault("remove_unused_columns", False)
    return config_class(recipe.kind)(**values)


def lora_config(recipe: Recipe) -> Any:
    if recipe.lora is None:
        return None
    from peft import LoraConfig

    # SEQ_CLS: peft trains and saves the classifier's new score head in full (modules_to_save) next to the adapter
    task_type = "SEQ_CLS" if recipe.kind == "classifier" else "CAUSAL_LM"
    fields = {"target_modules": list(PAPER_LORA_TARGETS), "task_type": task_type, **recipe.lora}
    return LoraConfig(**fields)


# ---------------------------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------------------------


def load_rows(rows: Iterable[dict] | str | os.PathLike, kind: str) -> list[dict]:
    """Validated training rows from a list of dicts or a JSONL file; a bad row names its file/line (or index)."""
    wanted = ROW_FIELDS[kind]
    out = []
    if isinstance(rows, (str, os.PathLike)):
        items = ((str(rows), lineno, obj) for lineno, obj in iter_jsonl(rows))
    else:
        items = (("rows", i, obj) for i, obj in enumerate(rows))
    for where, line, obj in items:
        if not isinstance(obj, dict):
            raise DataError(f"{where}[{line}]: expected a dict row, got {type(obj).__name__}")
        row = {}
        for f in wanted:
            value = require(obj, f, where, line)
            if f == "label":                  # a classifier row: 1 = the solution is incorrect, 0 = correct
                if isinstance(value, bool) or value not in (0, 1):
                    raise DataError(f"{where}:{line}: field 'label' must be 0 or 1, got {value!r}")
                row[f] = int(value)
                continue
            if not isinstance(value, str):
                raise DataError(f"{where}:{line}: field '{f}' must be a string, got {type(value).__name__}")
            if kind == "classifier" and not value.strip():
                raise DataError(f"{where}:{line}: field '{f}' is empty")
            row[f] = value
        out.append(row)
    if not out:
        raise DataError(f"no training rows for {kind} (need fields {wanted})")
    return out
