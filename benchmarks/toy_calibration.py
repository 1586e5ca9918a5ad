"""Calibration of the toy world over seeds: is the weak-to-strong premise there?

    .venv/bin/python benchmarks/toy_calibration.py [--models data/toy] [--seeds 0 1 2] [--work /tmp/toycal]

For each seed (its own train_1/train_2; the test set is the same for every seed):
  weak          the weak base + SFT on train_1 gold, greedy on test
  strong_icl    the strong base with 4 demos from the weak model's train_2 answers (one fixed set), on test
  strong_ceiling  the strong base + SFT on train_2 gold (reference only), on test
Targets (docs/toy_world.md): weak 20-45%, strong_icl >= weak + 5 points, strong_ceiling >= weak + 30 points.
Writes benchmarks/results/toy_calibration.json: `weak`, `strong_icl`, `strong_ceiling` (mean test accuracy in
[0, 1]), `per_seed`, and the settings. It reuses the method probe's stages (benchmarks/toy_method_probe.py),
so the numbers are the same code path as the probe, with the same hyperparameters.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import toy_method_probe as probe  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "toy_calibration.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=str(Path(__file__).resolve().parent.parent / "data" / "toy"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--work", default="/tmp/toy_calibration")
    ap.add_argument("--out", default=str(OUT))
    cli = ap.parse_args()

    per_seed = {}
    t0 = time.time()
    for seed in cli.seeds:
        args = probe.parse_args(["--models", cli.models, "--work", f"{cli.work}/seed{seed}", "--seed", str(seed),
                                 "--eval-split", "test"])
        p = probe.Probe(args)
        p.setup()
        d_weak = p.stage_weak()
        p.stage_icl(d_weak)
        p.stage_ceiling()
        r = p.results
        per_seed[seed] = {"weak": r["eval_weak"]["greedy"], "strong_icl": r["eval_icl"]["greedy"],
                          "strong_ceiling": r["eval_ceiling"]["greedy"], "demos_correct": r["demos_correct"],
                          "timing_s": {k: v for k, v in r["timing"].items()}}
        print(seed, per_seed[seed], flush=True)
    mean = {k: round(statistics.mean(v[k] for v in per_seed.values()), 4)
            for k in ("weak", "strong_icl", "strong_ceiling")}
    out = {**mean, "per_seed": per_seed,
           "targets": {"weak": [0.20, 0.45], "strong_icl_minus_weak": 0.05, "strong_ceiling_minus_weak": 0.30},
           "met": {"weak_in_range": 0.20 <= mean["weak"] <= 0.45,
                   "icl_gap": round(mean["strong_icl"] - mean["weak"], 4),
                   "ceiling_gap": round(mean["strong_ceiling"] - mean["weak"], 4)},
           "settings": {k: v for k, v in vars(args).items() if k not in ("work", "seed", "redo")},
           "seconds": round(time.time() - t0, 1)}
    Path(cli.out).parent.mkdir(parents=True, exist_ok=True)
    Path(cli.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("weak", "strong_icl", "strong_ceiling", "met")}, indent=1))


if __name__ == "__main__":
    main()
