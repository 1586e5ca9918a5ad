"""Entry point of one training job, the process (or processes) that train and exit:

    python -m w2s_lib.engines.train_job --recipe R.yaml --model BASE_DIR --data rows.jsonl --out OUT_DIR --seed 0
    accelerate launch --config_file configs/accelerate/zero3.yaml --num_processes 8 -m w2s_lib.engines.train_job ...

Stages start it through `w2s_lib.engines.training.train(launcher="process" | "accelerate")`, which then merges a LoRA
adapter in the parent after this job has exited. `--data` is JSONL with the rows of the recipe's kind
(`prompt`/`completion`, or `prompt`/`chosen`/`rejected`).

unsloth: a recipe with `backend: unsloth` imports unsloth here, first, before transformers, TRL or peft are loaded
(unsloth patches them at import), and applies its DPO patch for DPO/ORPO. Where it cannot run (not installed, no
GPU, several processes, a broken install), the job says why on stderr and trains with TRL.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def unsloth_or_why(kind: str) -> str:
    """Import unsloth (and patch TRL's DPO trainer for preference kinds); '' on success, else why it cannot run.
    Must run before transformers, TRL or peft are imported."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return "unsloth trains in one process; this job has several"
    try:
        import torch

        if not torch.cuda.is_available():
            return "no GPU is visible"
        import unsloth  # noqa: F401  (first: it patches transformers, TRL and peft as they load)
        if kind in ("dpo", "orpo"):
            from unsloth import PatchDPOTrainer

            PatchDPOTrainer()
    except ImportError as e:
        return f"unsloth cannot be imported ({e}); pip install -r requirements-gpu.txt"
    except Exception as e:  # noqa: BLE001 - a broken install must not stop training: TRL still can
        return f"unsloth failed to load: {type(e).__name__}: {e}"
    return ""


def _kind_and_backend(recipe: str) -> tuple[str, str]:
    """The recipe's kind and backend, read without importing the training stack (unsloth must come first)."""
    from pathlib import Path

    import yaml

    from w2s_lib.run.paths import CONFIGS_DIR

    path = Path(recipe)
    if not path.is_file():                 # a recipe name under configs/train/
        path = CONFIGS_DIR / "train" / f"{path.name.removesuffix('.yaml')}.yaml"
        if not path.is_file():
            return "", "trl"               # load_recipe below names the problem
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return (str(data.get("kind", "")), str(data.get("backend", "trl"))) if isinstance(data, dict) else ("", "trl")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m w2s_lib.engines.train_job", description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", required=True, help="recipe YAML path or name under configs/train/")
    ap.add_argument("--model", required=True, help="starting model directory")
    ap.add_argument("--data", required=True, help="training rows (JSONL)")
    ap.add_argument("--out", required=True, help="directory to save the trained model in")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metrics", default=None, help="also write the metrics JSON here (main process)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    ap.add_argument("--log-dir", default=None, help="TensorBoard log directory (when the recipe reports to it)")
    args = ap.parse_args(argv)

    import dataclasses

    kind, backend = _kind_and_backend(args.recipe)
    fallback = ""
    if backend == "unsloth":
        fallback = unsloth_or_why(kind)
        if fallback and int(os.environ.get("RANK", "0")) == 0:
            print(f"[w2s.train] backend unsloth not used ({fallback}); training with TRL", file=sys.stderr,
                  flush=True)

    from w2s_lib.engines.launch import run_job
    from w2s_lib.engines.recipes import load_recipe

    recipe = load_recipe(args.recipe)
    if fallback:
        recipe = dataclasses.replace(recipe, backend="trl")
    metrics = run_job(recipe, args.model, args.data, args.out, seed=args.seed, threads=args.threads,
                      log_dir=args.log_dir)
    metrics["backend"] = recipe.backend
    if fallback:
        metrics["backend_fallback"] = fallback
    import torch.distributed as dist

    is_main = not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    if args.metrics and is_main:
        with open(args.metrics, "w", encoding="utf-8") as fh:
            json.dump(metrics, fh, indent=2, default=str)
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
