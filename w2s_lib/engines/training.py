"""The training engine: SFT, DPO and ORPO on TRL 1.15 from YAML recipes, LoRA (peft) or full fine-tuning.

    from w2s_lib.engines.training import train
    metrics = train("sft", "data/toy/strong_base", rows, "runs/toy/seed0/stage1/model", "sft_full", seed=0)
    metrics["train_loss"], metrics["train_runtime"], metrics["tokens_per_second"]

Rows: SFT `{"prompt", "completion"}` (loss on the completion only, as the paper's LLaMA-Factory SFT), preference
`{"prompt", "chosen", "rejected"}`. EOS is appended to every completion (TRL does it; ORPO too), so a trained model
stops. The model is saved with `save_pretrained` (weights + tokenizer) in `out_dir`, merged by default, so
`w2s_lib.engines.generation` and the next stage load it by path. `save: adapter` keeps only the LoRA adapter
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

Launchers: `inprocess` (CPU, one GPU) or `accelerate` (`accelerate launch -m w2s_lib.engines.train_job ...` with a config
from `configs/accelerate/`: DDP, DeepSpeed ZeRO-3, FSDP). The same function runs inside that command.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Iterable

import torch

from w2s_lib.run.jsonl import DataError
from w2s_lib.engines.launch import _train_child
from w2s_lib.engines.recipes import (PAPER_LORA_TARGETS, ROW_FIELDS, Recipe, build_trl_config, gpu_available,
                                     load_recipe, load_rows, lora_config)
from w2s_lib.engines.trl_patches import _orpo_trainer_class, patch_trl_for_cpu

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
    - `process`: one child process (`python -m w2s_lib.engines.train_job`), which exits before this returns: the caller
      (a notebook kernel) never holds the trainer, the optimizer or GPU memory. What every stage uses on one device.
    - `accelerate`: `accelerate launch -m w2s_lib.engines.train_job` with `num_processes` processes and an accelerate
      config (DDP, DeepSpeed ZeRO-3, FSDP from configs/accelerate/).
    - `inprocess`: in this process (for tests and for stepping through a trainer in a notebook).
    A LoRA recipe with `save: merged` has the job save its adapter only; the merge into the base happens after
    the job has exited, in this process, on the CPU (`merge_adapter`). So no merge ever runs inside a
    distributed job, where rank 0 reloading the base under a live ZeRO-3 config would wait for ranks that never
    come.

    `overrides` are TRL config fields applied over the recipe's. `threads`: torch intra-op threads for CPU
    training (default: 1 for models under 50M parameters, see `w2s_lib.engines.generation.SMALL_MODEL_PARAMS`);
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
    _not_a_classifier(r)
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


def _not_a_classifier(r: Recipe) -> None:
    if r.kind == "classifier":
        raise ValueError(f"{r.source}: a classifier recipe trains with w2s_lib.engines.classifier.train_classifier, "
                         f"not with the TRL engine")


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
    _not_a_classifier(r)
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
    from w2s_lib.engines.generation import default_threads, torch_threads

    if log_dir is not None:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(log_dir)
    from w2s_lib.engines.generation import quiet_library_bars

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
