"""The training engine: SFT, DPO and ORPO on TRL 1.15 from YAML recipes, LoRA (peft) or full fine-tuning.

    from w2s_lib.training import train
    metrics = train("sft", "data/toy/strong_base", rows, "runs/toy/seed0/stage1/model", "sft_full", seed=0)
    metrics["train_loss"], metrics["train_runtime"], metrics["tokens_per_second"]

Rows: SFT `{"prompt", "completion"}` (loss on the completion only, as the paper's LLaMA-Factory SFT), preference
`{"prompt", "chosen", "rejected"}`. EOS is appended to every completion (TRL does it; ORPO too), so a trained model
stops. The model is saved with `save_pretrained` (weights + tokenizer) in `out_dir`, merged by default, so
`w2s_lib.generation` and the next stage load it by path. `save: adapter` keeps only the LoRA adapter
(`adapter_config.json` with the base path inside): load it with `load_model(out_dir)` (or
`peft.AutoPeftModelForCausalLM.from_pretrained(out_dir)`; transformers' `from_pretrained` also resolves it when
peft is installed). vLLM needs merged weights (or a LoRARequest), which is why merged is the default.

A recipe is a YAML file under `configs/train/` (or a dict) in the alignment-handbook style:

    kind: sft                 # sft | dpo | orpo
    trl: {learning_rate: 1.0e-4, num_train_epochs: 3, ...}   # fields of trl.SFTConfig / DPOConfig / ORPOConfig
    lora: null                # or fields of peft.LoraConfig (target_modules default: the paper's seven)
    save: merged              # merged | adapter
    model_kwargs: {}          # extra AutoModelForCausalLM.from_pretrained arguments
    orpo_nll: completion      # ORPO's NLL term: completion (LLaMA-Factory, the paper) | full (TRL's default)
    backend: trl              # trl | unsloth (single GPU only, untested here)

Device defaults: with no GPU visible, `use_cpu=True, bf16=False, fp16=False, gradient_checkpointing=False` are
forced (they cannot work otherwise); with a GPU, bf16 and gradient checkpointing are defaults the recipe can
override. Always (unless the recipe says otherwise): no checkpoints mid-run (`save_strategy="no"`), no eval,
`report_to="none"`, dataloader workers 0.

Launchers: `inprocess` (CPU, one GPU) or `accelerate` (`accelerate launch -m w2s_lib.train ...` with a config from
`configs/accelerate/`: DDP, DeepSpeed ZeRO-3, FSDP). The same function runs inside that command.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F

from w2s_lib import relay
from w2s_lib.jsonl import DataError, iter_jsonl, require, write_jsonl
from w2s_lib.paths import CONFIGS_DIR

KINDS = ("sft", "dpo", "orpo")
ROW_FIELDS = {"sft": ("prompt", "completion"), "dpo": ("prompt", "chosen", "rejected"),
              "orpo": ("prompt", "chosen", "rejected")}
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
    if recipe.kind == "orpo":
        # ORPO's collator needs the raw columns; TRL sets this itself, with a warning a user cannot act on
        values.setdefault("remove_unused_columns", False)
    return config_class(recipe.kind)(**values)


def lora_config(recipe: Recipe) -> Any:
    if recipe.lora is None:
        return None
    from peft import LoraConfig

    fields = {"target_modules": list(PAPER_LORA_TARGETS), "task_type": "CAUSAL_LM", **recipe.lora}
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
            if not isinstance(value, str):
                raise DataError(f"{where}:{line}: field '{f}' must be a string, got {type(value).__name__}")
            row[f] = value
        out.append(row)
    if not out:
        raise DataError(f"no training rows for {kind} (need fields {wanted})")
    return out


# ---------------------------------------------------------------------------------------------------------------
# TRL on a CPU-only torch: TRL 1.15 computes SFT/DPO log-probs through a Triton kernel (`_ChunkedLogProbFunction`,
# a fused LM head) that is None when Triton is absent (CPU wheels of torch) and cannot run on CPU tensors when it
# is present. We route non-CUDA tensors to the same maths in plain torch (autograd does the backward).
# ---------------------------------------------------------------------------------------------------------------


def _torch_chunked_logprob(hidden, weight, bias, targets, temperature, chunk_size, softcap=None, logit_scale=1.0,
                           outputs=("entropy", "log_sum_sq_probs", "mean_logits", "is_top1")):
    z = F.linear(hidden, weight, bias).float() * logit_scale
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    z = z / temperature
    logp = z.log_softmax(dim=-1)
    logprobs = logp.gather(-1, targets[:, None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1) if "entropy" in outputs else None
    with torch.no_grad():
        log_sum_sq = torch.logsumexp(2 * logp, dim=-1) if "log_sum_sq_probs" in outputs else None
        mean_logits = z.mean(-1) if "mean_logits" in outputs else None
        is_top1 = (z.argmax(-1) == targets) if "is_top1" in outputs else None
    return logprobs, entropy, log_sum_sq, mean_logits, is_top1


class _ChunkedLogProbDispatch:
    """Stands in for trl.trainer.utils._ChunkedLogProbFunction: the Triton kernel on GPU, plain torch elsewhere."""

    def __init__(self, original: Any):
        self.original = original

    def apply(self, hidden, *args):
        if self.original is not None and hidden.device.type in ("cuda", "xpu"):
            return self.original.apply(hidden, *args)
        return _torch_chunked_logprob(hidden, *args)


def patch_trl_for_cpu() -> None:
    """Idempotently install the CPU fallback for TRL's fused log-prob kernel."""
    import trl.trainer.utils as tu

    if not isinstance(tu._ChunkedLogProbFunction, _ChunkedLogProbDispatch):
        tu._ChunkedLogProbFunction = _ChunkedLogProbDispatch(tu._ChunkedLogProbFunction)


# ---------------------------------------------------------------------------------------------------------------
# ORPO: TRL's experimental trainer, with two corrections so it trains what the paper's LLaMA-Factory trains and on
# the token sequences the generation engine feeds at inference.
# ---------------------------------------------------------------------------------------------------------------


def _orpo_trainer_class() -> type:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")      # as in config_class
    from trl.experimental.orpo import ORPOTrainer

    class W2SORPOTrainer(ORPOTrainer):
        """ORPOTrainer with (1) the NLL term over completion tokens only, length-normalised per sequence
        (`orpo_nll="completion"`, LLaMA-Factory's `sft_loss = -chosen_logps_avg`; TRL's own NLL also covers the
        prompt tokens: `orpo_nll="full"` keeps it), and (2) no BOS token added to prompts when the tokenizer
        itself does not add one (TRL's ORPO always prepends BOS, so the model would train on a context it never
        sees at generation time)."""

        orpo_nll = "completion"

        def tokenize_row(self, feature, model=None):
            batch = super().tokenize_row(feature, model)
            tok = self.processing_class
            bos = tok.bos_token_id
            if bos is not None and not _tokenizer_adds_bos(tok):
                for prefix in ("", "chosen_", "rejected_"):
                    ids_key = f"{prefix}input_ids" if prefix else "prompt_input_ids"
                    mask_key = f"{prefix}attention_mask" if prefix else "prompt_attention_mask"
                    if batch.get(ids_key) and batch[ids_key][0] == bos:
                        batch[ids_key] = batch[ids_key][1:]
                        batch[mask_key] = batch[mask_key][1:]
                        if prefix:
                            batch[f"{prefix}labels"] = batch[f"{prefix}labels"][1:]
            return batch

        def concatenated_forward(self, model, batch):
            out = super().concatenated_forward(model, batch)
            if self.orpo_nll == "full":
                return out
            chosen_logps = out[0]  # mean log-prob of each chosen completion (prompt masked by -100 labels)
            return (out[0], out[1], out[2], out[3], -chosen_logps.mean(), *out[5:])

    return W2SORPOTrainer


def _tokenizer_adds_bos(tok: Any) -> bool:
    if tok.bos_token_id is None:
        return False
    ids = tok("x", add_special_tokens=True)["input_ids"]
    return len(ids) > 0 and ids[0] == tok.bos_token_id


# ---------------------------------------------------------------------------------------------------------------
# train()
# ---------------------------------------------------------------------------------------------------------------


LAUNCHERS = ("process", "accelerate", "inprocess")


def train(kind: str, model_path: str | os.PathLike, rows: Iterable[dict] | str | os.PathLike,
          out_dir: str | os.PathLike, recipe: str | os.PathLike | dict | Recipe, *, seed: int,
          launcher: str = "inprocess", num_processes: int = 1, accelerate_config: str | os.PathLike | None = None,
          overrides: dict | None = None, threads: int | None = None, log_dir: str | os.PathLike | None = None) -> dict:
    """Train `model_path` on `rows` with `recipe` and save the result in `out_dir`. Returns the metrics.

    Launchers (where the training runs):
    - `process`: one child process (`python -m w2s_lib.train`), which exits before this returns: the caller (a
      notebook kernel) never holds the trainer, the optimizer or GPU memory. What every stage uses on one device.
    - `accelerate`: `accelerate launch -m w2s_lib.train` with `num_processes` processes and an accelerate config
      (DDP, DeepSpeed ZeRO-3, FSDP from configs/accelerate/).
    - `inprocess`: in this process (for tests and for stepping through a trainer in a notebook).
    A LoRA recipe with `save: merged` has the job save its adapter only; the merge into the base happens after
    the job has exited, in this process, on the CPU (`merge_adapter`). So no merge ever runs inside a
    distributed job, where rank 0 reloading the base under a live ZeRO-3 config would wait for ranks that never
    come.

    `overrides` are TRL config fields applied over the recipe's. `threads`: torch intra-op threads for CPU
    training (default: 1 for models under 50M parameters, see `w2s_lib.generation.SMALL_MODEL_PARAMS`);
    accelerate CPU processes get OMP_NUM_THREADS = cores / processes. `log_dir`: where TensorBoard writes when
    the recipe (or overrides) set `report_to: tensorboard`.

    Metrics: train_loss, train_runtime (s), num_rows, num_tokens (prompt + completion tokens seen per epoch),
    tokens_per_second, truncated_rows, dropped_rows, log_history (the trainer's per-step logs), `launch`
    (launcher, num_processes, distributed_type, zero_stage, merged_in: parent | inprocess | none), and the
    resolved settings. They are also written to `out_dir/train_metrics.json`.
    """
    r = load_recipe(recipe)
    if r.kind != kind:
        raise ValueError(f"train(kind={kind!r}) with a {r.kind!r} recipe ({r.source})")
    rows = load_rows(rows, kind)
    out_dir = Path(out_dir)
    if launcher == "inprocess":
        if num_processes != 1:
            raise ValueError("launcher='inprocess' runs one process; use launcher='accelerate' for several")
        metrics = _train_inprocess(r, str(model_path), rows, out_dir, seed=seed, overrides=overrides,
                                   threads=threads, log_dir=log_dir)
        merged_in = "inprocess"
    elif launcher in ("process", "accelerate"):
        if launcher == "process" and num_processes != 1:
            raise ValueError("launcher='process' runs one process; use launcher='accelerate' for several")
        metrics = _train_child(r, str(model_path), rows, out_dir, seed=seed, launcher=launcher,
                               num_processes=num_processes, accelerate_config=accelerate_config,
                               overrides=overrides, threads=threads, log_dir=log_dir)
        merged_in = "parent"
    else:
        raise ValueError(f"unknown launcher {launcher!r}; choose one of {LAUNCHERS}")
    merge = finish_merge(out_dir, str(model_path))
    metrics["launcher"] = launcher
    metrics["launch"] = {**metrics.get("launch", {}), "launcher": launcher,
                         "merged_in": merged_in if merge else "none"}
    if merge:
        metrics["merge"] = merge
    (out_dir / "train_metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    return metrics


def _count_tokens(tok: Any, rows: list[dict], kind: str, max_length: int | None) -> tuple[int, int]:
    """(tokens forwarded per epoch, rows with a sequence longer than max_length), counting EOS, as the trainers
    tokenize: SFT forwards prompt+completion; DPO/ORPO forward prompt+chosen and prompt+rejected."""
    total, long_rows = 0, [False] * len(rows)
    for key in ROW_FIELDS[kind][1:]:
        for i, ids in enumerate(tok([r["prompt"] + r[key] for r in rows])["input_ids"]):
            total += len(ids) + 1
            long_rows[i] |= max_length is not None and len(ids) + 1 > max_length
    return total, sum(long_rows)


def make_trainer(recipe: str | os.PathLike | dict | Recipe, model_path: str | os.PathLike,
                 rows: Iterable[dict] | str | os.PathLike, out_dir: str | os.PathLike, *, seed: int,
                 overrides: dict | None = None) -> tuple[Any, dict]:
    """The TRL trainer `train` would run (not yet trained), and facts about the data (tokens, dropped rows).

    Exposed for tests and notebooks that want to look at a batch or the loss before training.
    """
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    r = load_recipe(recipe)
    rows = load_rows(rows, r.kind)
    model_path = str(model_path)
    patch_trl_for_cpu()
    set_seed(seed)
    args = build_trl_config(r, out_dir, seed=seed, overrides=overrides)
    is_main = args.process_index == 0
    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if tok.eos_token is None:
        raise DataError(f"{model_path}: the tokenizer has no EOS token; completions need one to stop")

    if r.backend == "unsloth":
        model, peft_config = _unsloth_model(r, model_path, args)
    else:
        model_kwargs = dict(r.model_kwargs)
        if "dtype" not in model_kwargs:
            model_kwargs["dtype"] = torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else torch.float32
        elif isinstance(model_kwargs["dtype"], str) and model_kwargs["dtype"] != "auto":
            model_kwargs["dtype"] = getattr(torch, model_kwargs["dtype"])
        if gpu_available() and "attn_implementation" not in model_kwargs:
            # flash-attention when it is installed (the GPU requirements may carry it), else torch's SDPA kernels
            model_kwargs["attn_implementation"] = (
                "flash_attention_2" if importlib.util.find_spec("flash_attn") is not None else "sdpa")
        model = AutoModelForCausalLM.from_pretrained(model_path, **model_kwargs)
        peft_config = lora_config(r)

    dataset = Dataset.from_list(rows)
    num_tokens, truncated = _count_tokens(tok, rows, r.kind, getattr(args, "max_length", None))
    common = dict(model=model, args=args, train_dataset=dataset, processing_class=tok, peft_config=peft_config)
    if r.kind == "sft":
        from trl import SFTTrainer

        trainer = SFTTrainer(**common)
    elif r.kind == "dpo":
        from trl import DPOTrainer

        # ref_model=None: TRL loads a frozen copy of `model_path` (full FT) or disables the adapter (LoRA).
        trainer = DPOTrainer(**common)
    else:
        cls = _orpo_trainer_class()
        cls.orpo_nll = r.orpo_nll
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*experimental.*")
            trainer = cls(**common)

    dropped = len(rows) - len(trainer.train_dataset)
    max_length = getattr(args, "max_length", None)
    if dropped and is_main:
        print(f"[w2s.training] {dropped} of {len(rows)} rows dropped by {type(trainer).__name__}: their prompt "
              f"alone fills max_length={max_length}", file=sys.stderr)
    if truncated and is_main:
        print(f"[w2s.training] {truncated} of {len(rows)} rows are longer than max_length={max_length} tokens "
              f"and are truncated", file=sys.stderr)
    info = dict(recipe=r, rows=rows, tokenizer=tok, num_tokens=num_tokens, truncated=truncated, dropped=dropped,
                attn_implementation=getattr(getattr(model, "config", None), "_attn_implementation", None))
    return trainer, info


def _train_inprocess(r: Recipe, model_path: str, rows: list[dict], out_dir: Path, *, seed: int,
                     overrides: dict | None, threads: int | None = None, log_dir: str | os.PathLike | None = None
                     ) -> dict:
    """Train in this process (also what each process of a child job runs); a LoRA `save: merged` recipe leaves
    its adapter in `out_dir/_adapter` for `finish_merge`."""
    from w2s_lib.generation import default_threads, torch_threads

    if log_dir is not None:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(log_dir)
    from w2s_lib.generation import quiet_library_bars

    with quiet_library_bars():              # no "Loading weights" / dataset-map bars: the trainer's bar is the step's
        trainer, info = make_trainer(r, model_path, rows, out_dir, seed=seed, overrides=overrides)
    _quiet_progress(trainer, r.kind)
    args, tok = trainer.args, info["tokenizer"]
    is_main = args.process_index == 0
    num_tokens, truncated, dropped = info["num_tokens"], info["truncated"], info["dropped"]

    if threads is None and trainer.args.world_size == 1:
        threads = default_threads(sum(p.numel() for p in trainer.model.parameters()))
    start = time.time()
    with torch_threads(threads):
        result = trainer.train()
    runtime = time.time() - start
    with quiet_library_bars():              # no "Writing model shards" bar either
        _save(trainer, r, model_path, out_dir, tok)

    epochs = float(result.metrics.get("epoch", args.num_train_epochs))
    metrics = {
        "kind": r.kind, "recipe": r.source, "num_processes": args.world_size, "lora": r.lora is not None, "save": r.save, "seed": seed,
        "train_loss": float(result.training_loss), "train_runtime": runtime,
        "num_rows": len(rows), "dropped_rows": dropped, "truncated_rows": truncated,
        "num_tokens": num_tokens, "tokens_per_second": num_tokens * epochs / runtime if runtime > 0 else None,
        "global_step": int(result.global_step), "epoch": epochs, "torch_threads": threads or torch.get_num_threads(),
        "log_history": [h for h in trainer.state.log_history],
        "settings": {"trl": {k: v for k, v in args.to_dict().items() if k in r.trl or k in (overrides or {})},
                     "bf16": args.bf16, "use_cpu": args.use_cpu, "report_to": args.report_to,
                     "attn_implementation": info.get("attn_implementation")},
        "launch": launch_facts(trainer),
        "model_dtype": str(next(trainer.accelerator.unwrap_model(trainer.model).parameters()).dtype
                           ).removeprefix("torch."),
    }
    if is_main:
        (out_dir / "train_metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    del trainer
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return metrics


def _quiet_progress(trainer: Any, kind: str) -> None:
    """One progress bar per training job, with the latest loss on it, instead of the trainer's bar plus a printed
    dict of every log row (those rows are kept in `log_history` and `train_log.jsonl`)."""
    from transformers.trainer_callback import ProgressCallback

    class _OneBar(ProgressCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            super().on_train_begin(args, state, control, **kwargs)
            if self.training_bar is not None:
                self.training_bar.set_description(f"train {kind}")

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.training_bar is not None and logs and "loss" in logs:
                self.training_bar.set_postfix(loss=f"{float(logs['loss']):.4g}", refresh=False)

    if any(isinstance(cb, ProgressCallback) for cb in trainer.callback_handler.callbacks):
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(_OneBar())


def launch_facts(trainer: Any) -> dict:
    """How a trainer ran: processes, accelerate's distributed type, and the ZeRO stage under DeepSpeed."""
    state = trainer.accelerator.state
    facts = {"num_processes": int(state.num_processes),
             "distributed_type": str(getattr(state.distributed_type, "value", state.distributed_type))}
    plugin = getattr(state, "deepspeed_plugin", None)
    if plugin is not None:
        facts["zero_stage"] = int(plugin.zero_stage)
    return facts


ADAPTER_DIR = "_adapter"


def _save(trainer: Any, r: Recipe, model_path: str, out_dir: Path, tok: Any) -> None:
    """Save the trained model in out_dir: full weights, or the LoRA adapter (in out_dir/_adapter when the recipe
    wants merged weights: `finish_merge` merges it after the job); plus the tokenizer. Nothing here loads a model,
    so every process of a ZeRO-3 / FSDP job takes the same collective steps (`save_model` gathers the shards)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if r.lora is not None and r.save == "merged":
        trainer.save_model(str(out_dir / ADAPTER_DIR))
    else:
        trainer.save_model(str(out_dir))
    trainer.accelerator.wait_for_everyone()
    if trainer.accelerator.is_main_process:
        tok.save_pretrained(str(out_dir))
        _fix_generation_config(out_dir, tok)
    trainer.accelerator.wait_for_everyone()


def finish_merge(out_dir: str | os.PathLike, base_path: str) -> dict | None:
    """Merge `out_dir/_adapter` (left by a LoRA `save: merged` job) into `base_path` and save the merged weights in
    `out_dir`; return what it did (None when there is no adapter to merge). Runs after the training job exited."""
    out_dir = Path(out_dir)
    adapter = out_dir / ADAPTER_DIR
    if not (adapter / "adapter_config.json").is_file():
        return None
    metrics_file = out_dir / "train_metrics.json"
    dtype = json.loads(metrics_file.read_text()).get("model_dtype") if metrics_file.is_file() else None
    start = time.time()
    merge_adapter(base_path, adapter, out_dir, dtype=dtype)
    shutil.rmtree(adapter)
    return {"seconds": time.time() - start, "dtype": dtype,
            "bytes": sum(f.stat().st_size for f in out_dir.glob("*.safetensors"))}


def merge_adapter(base_path: str, adapter_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                  dtype: str | None = None) -> None:
    """Load the base on the CPU (no GPU memory is taken), apply the LoRA adapter, save the merged model in out_dir
    (tokenizer and generation config included)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, dtype) if dtype else "auto"
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch_dtype, device_map="cpu")
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    out_dir = Path(out_dir)
    merged.save_pretrained(str(out_dir))
    del merged, base
    # the job saved the tokenizer in out_dir; a bare adapter directory falls back to the base's
    tok = AutoTokenizer.from_pretrained(str(out_dir if (out_dir / "tokenizer_config.json").is_file() else base_path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.save_pretrained(str(out_dir))
    _fix_generation_config(out_dir, tok)


def _fix_generation_config(out_dir: Path, tok: Any) -> None:
    """Make sure the saved generation config stops at the tokenizer's EOS (the trained models emit it)."""
    path = out_dir / "generation_config.json"
    if not path.exists():
        return
    cfg = json.loads(path.read_text())
    eos = cfg.get("eos_token_id")
    eos_list = eos if isinstance(eos, list) else [eos] if eos is not None else []
    if tok.eos_token_id not in eos_list:
        cfg["eos_token_id"] = eos_list + [tok.eos_token_id] if eos_list else tok.eos_token_id
    cfg.setdefault("pad_token_id", tok.pad_token_id)
    path.write_text(json.dumps(cfg, indent=2) + "\n")


def load_model(path: str | os.PathLike, **kwargs: Any) -> Any:
    """Load a model saved by `train`: merged weights directly, or base + LoRA adapter merged in memory."""
    from transformers import AutoModelForCausalLM

    path = Path(path)
    if (path / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        return AutoPeftModelForCausalLM.from_pretrained(str(path), **kwargs).merge_and_unload()
    return AutoModelForCausalLM.from_pretrained(str(path), **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# accelerate launcher: the same stage as `accelerate launch -m w2s_lib.train ...` in a child process group.
# ---------------------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_command(recipe_path: str, model_path: str, data_path: str, out_dir: str, *, seed: int,
                launcher: str = "accelerate", num_processes: int = 1,
                accelerate_config: str | os.PathLike | None = None, metrics_path: str | None = None,
                threads: int | None = None, log_dir: str | None = None) -> list[str]:
    """The command line of a training job: `python -m w2s_lib.train ...` (launcher `process`) or
    `accelerate launch --config_file ... -m w2s_lib.train ...` (printed by the notebooks for GPUs)."""
    if launcher == "process":
        cmd = [sys.executable, "-m", "w2s_lib.train"]
    else:
        config = Path(accelerate_config) if accelerate_config else ACCELERATE_CONFIGS_DIR / "ddp.yaml"
        if not config.exists():
            named = ACCELERATE_CONFIGS_DIR / f"{config.name.removesuffix('.yaml')}.yaml"
            if not named.exists():
                raise DataError(f"{accelerate_config}: no such accelerate config (see {ACCELERATE_CONFIGS_DIR})")
            config = named
        accelerate_bin = Path(sys.executable).with_name("accelerate")
        cmd = ([str(accelerate_bin), "launch"] if accelerate_bin.exists()
               else [sys.executable, "-m", "accelerate.commands.launch"])
        cmd += ["--config_file", str(config), "--num_processes", str(num_processes),
                "--main_process_port", str(_free_port())]
        if not gpu_available():
            # the GPU configs ask for bf16; CPU processes train in float32 (build_trl_config forces it too)
            cmd += ["--mixed_precision", "no"]
        cmd += ["-m", "w2s_lib.train"]
    cmd += ["--recipe", recipe_path, "--model", model_path, "--data", data_path, "--out", out_dir,
            "--seed", str(seed)]
    if metrics_path:
        cmd += ["--metrics", metrics_path]
    if threads:
        cmd += ["--threads", str(threads)]
    if log_dir:
        cmd += ["--log-dir", str(log_dir)]
    return cmd


def accelerate_command(recipe_path: str, model_path: str, data_path: str, out_dir: str, *, seed: int,
                       num_processes: int, accelerate_config: str | os.PathLike | None = None,
                       metrics_path: str | None = None) -> list[str]:
    """The `accelerate launch -m w2s_lib.train ...` command line for a stage."""
    return job_command(recipe_path, model_path, data_path, out_dir, seed=seed, launcher="accelerate",
                       num_processes=num_processes, accelerate_config=accelerate_config, metrics_path=metrics_path)


def run_job(recipe: str | os.PathLike | dict | Recipe, model_path: str, rows: str | os.PathLike, out_dir: str,
            *, seed: int, threads: int | None = None, log_dir: str | None = None) -> dict:
    """What each process of a training job runs (`python -m w2s_lib.train`): train and save, no merge."""
    r = load_recipe(recipe)
    return _train_inprocess(r, model_path, load_rows(rows, r.kind), Path(out_dir), seed=seed, overrides=None,
                            threads=threads, log_dir=log_dir)


def _train_child(r: Recipe, model_path: str, rows: list[dict], out_dir: Path, *, seed: int, launcher: str,
                 num_processes: int, accelerate_config: str | os.PathLike | None, overrides: dict | None,
                 threads: int | None, log_dir: str | os.PathLike | None) -> dict:
    import yaml

    with tempfile.TemporaryDirectory(prefix="w2s-train-") as tmp:
        recipe_path, data_path = Path(tmp) / "recipe.yaml", Path(tmp) / "rows.jsonl"
        recipe_dict = r.to_dict()
        recipe_dict["trl"] = {**recipe_dict["trl"], **(overrides or {})}
        recipe_path.write_text(yaml.safe_dump(recipe_dict, sort_keys=False))
        write_jsonl(data_path, rows)
        metrics_path = Path(tmp) / "metrics.json"
        cmd = job_command(str(recipe_path), model_path, str(data_path), str(out_dir), seed=seed, launcher=launcher,
                          num_processes=num_processes, accelerate_config=accelerate_config,
                          metrics_path=str(metrics_path), threads=threads,
                          log_dir=str(log_dir) if log_dir else None)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
        if not gpu_available():
            env.setdefault("DS_ACCELERATOR", "cpu")   # DeepSpeed's CPU accelerator, chosen without a warning
        if not gpu_available() and launcher == "accelerate":
            # Each CPU process gets its share of the cores instead of all of them (oversubscription is slow).
            env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // num_processes)))
        code = relay.run(cmd, env=env)          # its output shows under the calling cell
        if code != 0:
            raise RuntimeError(f"training job failed (exit {code}); its output above says why: "
                               f"{' '.join(cmd)}")
        metrics = json.loads(metrics_path.read_text())
        metrics["recipe"] = r.source
        metrics["command"] = " ".join(cmd)
        return metrics


# ---------------------------------------------------------------------------------------------------------------
# unsloth (optional single-GPU backend). UNTESTED HERE: this machine has no GPU; the TRL path is the reference.
# ---------------------------------------------------------------------------------------------------------------


def _unsloth_model(r: Recipe, model_path: str, args: Any) -> tuple[Any, Any]:
    if not gpu_available():
        raise RuntimeError("backend: unsloth needs a GPU; use backend: trl on CPU")
    try:
        from unsloth import FastLanguageModel
    except ImportError as e:
        raise ImportError("backend: unsloth needs `pip install unsloth` (single GPU only)") from e
    model, _ = FastLanguageModel.from_pretrained(model_name=model_path, max_seq_length=getattr(args, "max_length",
                                                 None) or 2048, dtype=None, load_in_4bit=False)
    if r.lora is not None:
        lora = {k: v for k, v in r.lora.items() if k in ("r", "lora_alpha", "lora_dropout", "bias")}
        model = FastLanguageModel.get_peft_model(model, target_modules=r.lora.get("target_modules",
                                                 PAPER_LORA_TARGETS), use_gradient_checkpointing="unsloth",
                                                 random_state=args.seed, **lora)
    return model, None  # the adapter is already attached: no peft_config for the trainer


# ---------------------------------------------------------------------------------------------------------------
# Reference losses, from the papers' formulas (checked against the trainers in tests/test_training.py).
# ---------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def completion_logps(model: Any, tokenizer: Any, prompts: Sequence[str], completions: Sequence[str], *,
                     add_eos: bool = True, add_bos: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of log-probs over completion tokens, number of completion tokens) per (prompt, completion) pair.

    One sequence at a time, no padding: an independent computation to check the trainers' batched ones.
    Completion tokens = tokens of prompt + completion (+ EOS) after the tokens of the prompt alone.
    """
    sums, counts = [], []
    for p, c in zip(prompts, completions):
        p_ids = tokenizer(p)["input_ids"]
        full = tokenizer(p + c)["input_ids"] + ([tokenizer.eos_token_id] if add_eos else [])
        if add_bos and (not full or full[0] != tokenizer.bos_token_id):
            p_ids, full = [tokenizer.bos_token_id] + p_ids, [tokenizer.bos_token_id] + full
        assert full[: len(p_ids)] == p_ids, "prompt tokens are not a prefix of prompt+completion tokens"
        ids = torch.tensor([full], device=model.device)
        logp = model(input_ids=ids).logits.float().log_softmax(-1)[0, :-1]
        token_logp = logp.gather(-1, ids[0, 1:, None]).squeeze(-1)[max(len(p_ids) - 1, 0):]
        sums.append(token_logp.sum())
        counts.append(len(token_logp))
    return torch.stack(sums), torch.tensor(counts, dtype=torch.float32)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO (Rafailov et al. 2023): -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), mean over pairs;
    inputs are sequence log-probs summed over completion tokens."""
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


def orpo_loss(chosen_avg_logp: torch.Tensor, rejected_avg_logp: torch.Tensor, nll: torch.Tensor,
              lam: float) -> torch.Tensor:
    """ORPO (Hong et al. 2024): NLL(chosen) - lambda * log sigmoid(log odds(chosen) - log odds(rejected)),
    with odds(y) = P(y|x) / (1 - P(y|x)) from length-normalised log-probs, mean over pairs."""
    def log_odds(logp: torch.Tensor) -> torch.Tensor:
        return logp - torch.log1p(-torch.exp(logp))

    ratio = log_odds(chosen_avg_logp) - log_odds(rejected_avg_logp)
    return nll - lam * F.logsigmoid(ratio).mean()
