"""Command-line entry of one training stage, for `accelerate launch` on several GPUs (or CPU processes):

    accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 8 -m w2s_lib.train \\
        --recipe configs/train/sft_lora.yaml --model BASE_DIR --data rows.jsonl --out OUT_DIR --seed 0

`--data` is JSONL with the rows of the recipe's kind (`prompt`/`completion`, or `prompt`/`chosen`/`rejected`).
It runs `w2s_lib.training.train(..., launcher="inprocess")` in every process; TRL/accelerate split the batches.
"""
from __future__ import annotations

import argparse
import json
import sys

from w2s_lib.training import load_recipe, train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m w2s_lib.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", required=True, help="recipe YAML path or name under configs/train/")
    ap.add_argument("--model", required=True, help="starting model directory")
    ap.add_argument("--data", required=True, help="training rows (JSONL)")
    ap.add_argument("--out", required=True, help="directory to save the trained model in")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metrics", default=None, help="also write the metrics JSON here (main process)")
    args = ap.parse_args(argv)
    recipe = load_recipe(args.recipe)
    metrics = train(recipe.kind, args.model, args.data, args.out, recipe, seed=args.seed)
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
