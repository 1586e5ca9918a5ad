"""SCORE's self-verifier: a sequence classifier (LoRA by default) on a causal LM, trained and used to score texts.

    from w2s_lib.engines.classifier import train_classifier, score_classifier
    rows = [{"text": critique.classifier_input(q, solution), "label": 1}, ...]   # 1 = the solution is incorrect
    metrics = train_classifier("data/toy/strong_base", rows, "runs/.../score_verifier/model",
                               "configs/train/score_classifier_toy.yaml", seed=0)
    p = score_classifier("runs/.../score_verifier/model", texts)     # P(label = 1) per text, in order

The model is `AutoModelForSequenceClassification` with two labels on the causal LM's weights: a new linear `score`
head reads the hidden state of the last token that is not padding (transformers finds it as the rightmost token
that is not `pad_token_id`, so it works under either padding side; we pad on the right, so the real tokens keep
the positions they have unpadded). With a `lora` section the base is frozen except the LoRA matrices and the
score head (peft's SEQ_CLS task: the head is trained and saved in full, `modules_to_save`). The loss is
transformers' cross-entropy over the two labels. No EOS is appended: the last token is the text's own.

Recipe (configs/train/score_classifier_*.yaml): the layout of every recipe (`kind: classifier`, `trl`, `lora`,
`save`, `model_kwargs`, `description`). Its `trl` section holds fields of transformers' `TrainingArguments` (no
TRL trainer runs; the section keeps its name so presets override every kind the same way), plus two fields of
the text side: `max_length` (tokens; longer texts are cut) and `truncation_side` (`left`, the default, keeps
the END of a long text: a solution's final answer is at its end). Device defaults as every recipe
(`recipes.device_defaults`).

Processes. Training runs in a child process (`python -m w2s_lib.engines.train_job`, as every training job of the
repository: the caller, a notebook kernel, never holds the trainer); with `save: merged` the LoRA adapter is
merged into the base in this process after the job exited, on the CPU. `score_classifier` runs in this process
on the CPU (a small model is loaded, used and released within the call, and a child would cost more to start
than the toy's scoring takes) and in a child process on a GPU (`python -m w2s_lib.engines.classifier`, so that
the kernel never holds GPU memory that the next generation engine needs); `subprocess=` chooses explicitly.

Determinism: the score head's initialisation, the LoRA initialisation, dropout and the data order all come
from `seed`; so the same rows, seed, recipe and threads give the same weights and the same probabilities.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from w2s_lib.run.jsonl import DataError

LABELS = {0: "correct", 1: "incorrect"}        # SCORE's verifier: label 1 = the solution is incorrect
TRUNCATION_SIDES = ("left", "right")
CLASSIFIER_FILE = "w2s_classifier.json"        # what score_classifier needs besides the weights and tokenizer


@functools.lru_cache(maxsize=1)
def classifier_arguments_class() -> type:
    """transformers' TrainingArguments with the two text-side fields a classifier recipe also sets."""
    from transformers import TrainingArguments

    @dataclasses.dataclass
    class ClassifierArguments(TrainingArguments):
        max_length: int = 512                 # tokens of a text; longer ones are cut on `truncation_side`
        truncation_side: str = "left"         # left: keep the end of a long text (the final answer)

        def __post_init__(self):
            super().__post_init__()
            if self.truncation_side not in TRUNCATION_SIDES:
                raise ValueError(f"truncation_side must be one of {TRUNCATION_SIDES}, got {self.truncation_side!r}")
            if not isinstance(self.max_length, int) or self.max_length < 2:
                raise ValueError(f"max_length must be an integer >= 2, got {self.max_length!r}")

    # a module-level name (served by __getattr__ below), so the Trainer can pickle its arguments (training_args.bin)
    ClassifierArguments.__qualname__ = ClassifierArguments.__name__ = "ClassifierArguments"
    ClassifierArguments.__module__ = __name__
    return ClassifierArguments


def __getattr__(name: str) -> Any:
    # `ClassifierArguments` is built on first use, so importing this module does not import transformers
    if name == "ClassifierArguments":
        return classifier_arguments_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------------------------


def train_classifier(base: str | os.PathLike, rows: list[dict], out_dir: str | os.PathLike,
                     recipe: str | os.PathLike | dict, *, seed: int, overrides: dict | None = None,
                     threads: int | None = None, launcher: str = "process", num_processes: int = 1,
                     accelerate_config: str | os.PathLike | None = None) -> dict:
    """Train a two-label sequence classifier on `base` (a causal-LM checkpoint directory or hub id) from `rows`
    (`{"text": str, "label": 0 | 1}`, 1 = the solution is incorrect) in a child process, and save it in
    `out_dir` for `score_classifier`. `recipe`: a `kind: classifier` recipe (path, name under configs/train/, or
    dict); `overrides`: fields over its `trl` section (e.g. a preset's `overrides("score_classifier")`);
    `threads`: torch threads of the CPU job (default: 1 for models under 50M parameters).
    `launcher`: `process` (one child process: what the stages use), `accelerate` (`num_processes` processes with
    an accelerate config; not run on GPUs here yet) or `inprocess` (this process: tests, stepping through).

    Returns (and writes to `out_dir/train_metrics.json`): train_loss, train_runtime (s), global_step, rows,
    positives (rows with label 1), truncated_rows, settings (every effective hyperparameter: the full
    TrainingArguments, the LoRA config, max_length, truncation_side, the model's dtype, threads), log_history,
    and the job's command and merge facts.
    """
    from w2s_lib.engines.launch import _train_child
    from w2s_lib.engines.recipes import load_recipe, load_rows

    r = load_recipe(recipe)
    if r.kind != "classifier":
        raise DataError(f"{r.source}: train_classifier needs a `kind: classifier` recipe, got kind {r.kind!r}")
    rows = load_rows(rows, "classifier")     # checked here, so a bad row fails before any process starts
    if overrides:
        from w2s_lib.engines.recipes import build_trl_config

        with tempfile.TemporaryDirectory() as tmp:   # a misspelled override fails here, naming the field
            try:
                build_trl_config(r, tmp, seed=seed, overrides=overrides)
            except TypeError as e:
                raise DataError(f"overrides {sorted(overrides)} over {r.source}: {e}") from None
    out_dir = Path(out_dir)
    # a local base by its absolute path: a `save: adapter` directory records it and loads it from anywhere
    base = str(Path(base).resolve()) if Path(base).exists() else str(base)
    if launcher == "inprocess":
        if num_processes != 1:
            raise ValueError("launcher='inprocess' runs one process; use launcher='accelerate' for several")
        metrics = _train_inprocess(r, str(base), rows, out_dir, seed=seed, overrides=overrides, threads=threads)
    elif launcher in ("process", "accelerate"):
        metrics = _train_child(r, str(base), rows, out_dir, seed=seed, launcher=launcher,
                               num_processes=num_processes, accelerate_config=accelerate_config,
                               overrides=overrides, threads=threads, log_dir=None)
    else:
        raise ValueError(f"unknown launcher {launcher!r}; choose 'process', 'accelerate' or 'inprocess'")
    merge = finish_classifier_merge(out_dir, str(base))
    metrics["launcher"] = launcher
    if merge:
        metrics["merge"] = merge
    (out_dir / "train_metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    return metrics


def load_tokenizer(path: str, *, truncation_side: str = "left") -> Any:
    """The tokenizer of `path` as the classifier uses it: a pad token (EOS when it has none), right padding,
    `truncation_side` cutting."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise DataError(f"{path}: the tokenizer has neither a pad nor an EOS token; the classifier pads")
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    tok.truncation_side = truncation_side
    return tok


def _tokenize(tok: Any, texts: Sequence[str], max_length: int) -> tuple[list[list[int]], int]:
    """Token ids of each text cut to max_length (on the tokenizer's truncation side), and how many were cut."""
    full = tok(list(texts), truncation=False)["input_ids"]
    ids = tok(list(texts), truncation=True, max_length=max_length)["input_ids"]
    return ids, sum(len(a) > len(b) for a, b in zip(full, ids))


def _load_classifier_base(model_path: str, tok: Any, model_kwargs: dict, dtype: Any) -> Any:
    from transformers import AutoModelForSequenceClassification

    kwargs = {"dtype": dtype, **model_kwargs}
    if isinstance(kwargs["dtype"], str) and kwargs["dtype"] != "auto":
        import torch

        kwargs["dtype"] = getattr(torch, kwargs["dtype"])
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()         # "score.weight newly initialized": it is the head we train
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path, num_labels=2, id2label=dict(LABELS), label2id={v: k for k, v in LABELS.items()},
            pad_token_id=tok.pad_token_id, **kwargs)
    finally:
        hf_logging.set_verbosity(level)
    model.config.pad_token_id = tok.pad_token_id
    return model


def _train_inprocess(r: Any, model_path: str, rows: list[dict], out_dir: Path, *, seed: int,
                     overrides: dict | None, threads: int | None = None, log_dir: str | os.PathLike | None = None
                     ) -> dict:
    """Train in this process: what the child job runs (`launch.run_job` sends `kind: classifier` here)."""
    import importlib.util

    import torch
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, Trainer, set_seed

    from w2s_lib.engines.generation import default_threads, quiet_library_bars, torch_threads
    from w2s_lib.engines.recipes import build_trl_config, gpu_available, lora_config
    from w2s_lib.engines.training import ADAPTER_DIR, _quiet_progress, launch_facts

    if log_dir is not None:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(log_dir)
    args = build_trl_config(r, out_dir, seed=seed, overrides=overrides)
    is_main = args.process_index == 0
    tok = load_tokenizer(model_path, truncation_side=args.truncation_side)
    model_kwargs = dict(r.model_kwargs)
    if gpu_available() and "attn_implementation" not in model_kwargs:
        model_kwargs["attn_implementation"] = (
            "flash_attention_2" if importlib.util.find_spec("flash_attn") is not None else "sdpa")
    dtype = model_kwargs.pop("dtype", torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else torch.float32)
    set_seed(seed)                           # the score head's and the LoRA matrices' initialisation
    with quiet_library_bars():
        model = _load_classifier_base(model_path, tok, model_kwargs, dtype)
        peft_config = lora_config(r)
        if peft_config is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config)
        ids, truncated = _tokenize(tok, [row["text"] for row in rows], args.max_length)
        dataset = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids],
                                     "labels": [row["label"] for row in rows]})
    if truncated and is_main:
        side = "start" if args.truncation_side == "left" else "end"
        print(f"[w2s.classifier] {truncated} of {len(rows)} texts are longer than max_length={args.max_length} "
              f"tokens: their {side} is cut", file=sys.stderr)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, processing_class=tok,
                      data_collator=DataCollatorWithPadding(tok))
    _quiet_progress(trainer, "classifier")
    if threads is None and args.world_size == 1:
        threads = default_threads(sum(p.numel() for p in model.parameters()))
    start = time.time()
    with torch_threads(threads):
        result = trainer.train()
    runtime = time.time() - start

    out_dir.mkdir(parents=True, exist_ok=True)
    with quiet_library_bars():
        if peft_config is not None and r.save == "merged":
            trainer.save_model(str(out_dir / ADAPTER_DIR))   # merged by finish_classifier_merge after the job
        else:
            trainer.save_model(str(out_dir))
    trainer.accelerator.wait_for_everyone()
    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    model_dtype = str(next(unwrapped.parameters()).dtype).removeprefix("torch.")
    if is_main:
        tok.save_pretrained(str(out_dir))
        (out_dir / CLASSIFIER_FILE).write_text(json.dumps({
            "max_length": args.max_length, "truncation_side": args.truncation_side, "padding_side": "right",
            "labels": {str(k): v for k, v in LABELS.items()}, "base": model_path, "save": r.save,
            "lora": peft_config is not None, "dtype": model_dtype}, indent=2) + "\n")
    trainer.accelerator.wait_for_everyone()

    training_args = {k: v for k, v in args.to_dict().items() if k not in ("output_dir", "logging_dir")}
    lora = None
    if peft_config is not None:
        lora = {k: (sorted(v) if isinstance(v, set) else v) for k, v in peft_config.to_dict().items()
                if k in ("r", "lora_alpha", "lora_dropout", "target_modules", "bias", "task_type", "modules_to_save",
                         "use_rslora", "init_lora_weights")}
    metrics = {
        "kind": "classifier", "recipe": r.source, "seed": seed, "base": model_path,
        "train_loss": float(result.training_loss), "train_runtime": runtime, "global_step": int(result.global_step),
        "epoch": float(result.metrics.get("epoch", args.num_train_epochs)),
        "rows": len(rows), "positives": sum(row["label"] for row in rows), "truncated_rows": truncated,
        "log_history": list(trainer.state.log_history),
        "settings": {"training_arguments": training_args, "lora": lora, "save": r.save,
                     "max_length": args.max_length, "truncation_side": args.truncation_side,
                     "padding_side": "right", "num_labels": 2, "model_dtype": model_dtype,
                     "torch_threads": threads or torch.get_num_threads(),
                     "trainable_params": sum(p.numel() for p in unwrapped.parameters() if p.requires_grad),
                     "launch": launch_facts(trainer)},
    }
    del trainer, model
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return metrics


def finish_classifier_merge(out_dir: str | os.PathLike, base_path: str) -> dict | None:
    """Merge `out_dir/_adapter` (a LoRA job with `save: merged`) into the base classifier and save the merged
    weights in `out_dir`, on the CPU, after the job exited; None when there is no adapter to merge."""
    import shutil

    import torch
    from peft import PeftModel

    from w2s_lib.engines.training import ADAPTER_DIR

    out_dir = Path(out_dir)
    adapter = out_dir / ADAPTER_DIR
    if not (adapter / "adapter_config.json").is_file():
        return None
    facts = json.loads((out_dir / CLASSIFIER_FILE).read_text())
    from w2s_lib.engines.generation import quiet_library_bars

    start = time.time()
    tok = load_tokenizer(str(out_dir), truncation_side=facts["truncation_side"])
    with quiet_library_bars():
        base = _load_classifier_base(base_path, tok, {"device_map": "cpu"}, getattr(torch, facts["dtype"]))
        merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
        merged.save_pretrained(str(out_dir))
    del merged, base
    shutil.rmtree(adapter)
    return {"seconds": time.time() - start, "dtype": facts["dtype"],
            "bytes": sum(f.stat().st_size for f in out_dir.glob("*.safetensors"))}


# ---------------------------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------------------------


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise DataError("score_classifier: texts must be a list of strings, got one string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str) or not t.strip():
            raise DataError(f"score_classifier: texts[{i}] must be a non-empty string, got {t!r:.60}")
    return out


def _resolve_device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def score_classifier(model_dir: str | os.PathLike, texts: list[str], *, batch_size: int = 32,
                     threads: int | None = None, device: str | None = None,
                     subprocess: bool | None = None) -> list[float]:
    """P(label = 1) (the solution is incorrect) for each text, in order, from a model `train_classifier` saved.

    Where it runs: `subprocess=None` runs in this process on the CPU and in a child process on a GPU (the kernel
    then never holds GPU memory); True / False choose. `device`: default cuda when visible, else cpu. Texts are
    batched by length (less padding); the order of the result is the order of `texts`.
    """
    texts = _check_texts(texts)
    if not texts:
        return []
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model_dir = Path(model_dir)
    if not (model_dir / CLASSIFIER_FILE).is_file():
        raise DataError(f"{model_dir}: no {CLASSIFIER_FILE}; not a classifier saved by train_classifier")
    device = _resolve_device(device)
    if subprocess is None:
        subprocess = device != "cpu"
    if subprocess:
        return _score_child(model_dir, texts, batch_size=batch_size, threads=threads, device=device)
    return _score_inprocess(model_dir, texts, batch_size=batch_size, threads=threads, device=device)


def load_classifier(model_dir: str | os.PathLike, *, device: str = "cpu") -> tuple[Any, Any, dict]:
    """(model in eval mode on `device`, tokenizer, the facts of CLASSIFIER_FILE) of a saved classifier: merged
    weights, or a LoRA adapter (`save: adapter`) merged into its base in memory."""
    import torch

    model_dir = Path(model_dir)
    facts = json.loads((model_dir / CLASSIFIER_FILE).read_text())
    tok = load_tokenizer(str(model_dir), truncation_side=facts["truncation_side"])
    dtype = torch.float32 if device == "cpu" else "auto"
    if (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        base = _load_classifier_base(json.loads((model_dir / "adapter_config.json").read_text())
                                     ["base_model_name_or_path"], tok, {}, dtype)
        model = PeftModel.from_pretrained(base, str(model_dir)).merge_and_unload()
    else:
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=dtype)
    if model.config.pad_token_id != tok.pad_token_id:
        raise DataError(f"{model_dir}: the model's pad_token_id {model.config.pad_token_id} is not the "
                        f"tokenizer's {tok.pad_token_id}; the classifier would read the wrong token")
    return model.to(device).eval(), tok, facts


def _score_inprocess(model_dir: Path, texts: list[str], *, batch_size: int, threads: int | None,
                     device: str) -> list[float]:
    import gc

    import torch

    from w2s_lib.engines.generation import default_threads, quiet_library_bars, torch_threads

    with quiet_library_bars():
        model, tok, facts = load_classifier(model_dir, device=device)
    if threads is None:
        threads = default_threads(sum(p.numel() for p in model.parameters())) if device == "cpu" else None
    ids, _ = _tokenize(tok, texts, facts["max_length"])
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    probs = [math.nan] * len(texts)
    try:
        with torch_threads(threads), torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                batch = tok.pad({"input_ids": [ids[i] for i in chunk]}, return_tensors="pt").to(device)
                logits = model(**batch).logits.float()
                for i, p in zip(chunk, torch.softmax(logits, dim=-1)[:, 1].tolist()):
                    probs[i] = float(p)
    finally:
        del model
        gc.collect()
        if device != "cpu" and torch.cuda.is_available():
            torch.cuda.empty_cache()
    return probs


def _score_child(model_dir: Path, texts: list[str], *, batch_size: int, threads: int | None,
                 device: str) -> list[float]:
    from w2s_lib.engines import relay
    from w2s_lib.run.jsonl import write_jsonl
    from w2s_lib.run.paths import REPO_ROOT

    with tempfile.TemporaryDirectory(prefix="w2s-classifier-") as tmp:
        texts_path, out_path = Path(tmp) / "texts.jsonl", Path(tmp) / "probs.json"
        write_jsonl(texts_path, [{"text": t} for t in texts])
        cmd = [sys.executable, "-m", "w2s_lib.engines.classifier", "--model", str(model_dir), "--texts",
               str(texts_path), "--out", str(out_path), "--batch-size", str(batch_size), "--device", device]
        if threads:
            cmd += ["--threads", str(threads)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
        code = relay.run(cmd, env=env)
        if code != 0:
            raise RuntimeError(f"classifier scoring failed (exit {code}); its output above says why: {' '.join(cmd)}")
        probs = json.loads(out_path.read_text())
    if len(probs) != len(texts):
        raise RuntimeError(f"classifier scoring returned {len(probs)} probabilities for {len(texts)} texts")
    return probs


def main(argv: list[str] | None = None) -> int:
    """`python -m w2s_lib.engines.classifier --model DIR --texts texts.jsonl --out probs.json`: score in a process
    of its own (what `score_classifier` runs on a GPU)."""
    from w2s_lib.run.jsonl import iter_jsonl, require

    ap = argparse.ArgumentParser(prog="python -m w2s_lib.engines.classifier", description=main.__doc__)
    ap.add_argument("--model", required=True, help="a directory saved by train_classifier")
    ap.add_argument("--texts", required=True, help="JSONL with a `text` field per line")
    ap.add_argument("--out", required=True, help="where to write the JSON list of P(label = 1)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default=None)
    args = ap.parse_args(argv)
    texts = [require(obj, "text", args.texts, line) for line, obj in iter_jsonl(args.texts)]
    probs = score_classifier(args.model, texts, batch_size=args.batch_size, threads=args.threads,
                             device=args.device, subprocess=False)
    Path(args.out).write_text(json.dumps(probs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
