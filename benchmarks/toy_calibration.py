"""Calibration of the toy world over seeds: is the weak-to-strong premise there?

    .venv/bin/python benchmarks/toy_calibration.py [--preset toy] [--seeds 0 1 2] [--jobs 3]

It runs the notebook series through the pipeline (`python -m w2s_lib.run.pipeline --preset toy --until 03`), the
same code path and hyperparameters as `make demo`, and reads three models' test accuracy from the run store.
When `runs/<preset>/seed*/` already holds the three models (a finished `make demo`), it only reads them.
For each seed (its own train_1/train_2; the test set is the same for every seed):
  weak            the weak base + SFT on train_1 gold, greedy on test                 (01, `weak_model`)
  strong_icl      the strong base with 4 demos from the weak model's train_2 answers  (02, `strong_icl`)
  strong_ceiling  the strong base + SFT on train_2 gold (reference only)              (03, `sft_ceiling`)
Targets (issue 3): weak 20-45%, strong_icl >= weak + 5 points, strong_ceiling >= weak + 30 points.
Writes benchmarks/results/toy_calibration.json: `weak`, `strong_icl`, `strong_ceiling` (mean test accuracy in
[0, 1]), `per_seed`, the targets and whether they are met.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from w2s_lib.report import collect  # noqa: E402
from w2s_lib.run.paths import RUNS_DIR  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "toy_calibration.json"
KEYS = ("weak", "strong_icl", "strong_ceiling")


def have_all(cli) -> bool:
    """Do the runs already hold the three models' test accuracy for every seed?"""
    try:
        res = collect(cli.preset, cli.runs_dir, cli.seeds)
    except FileNotFoundError:
        return False
    return len(res.runs) == len(cli.seeds) and all(set(KEYS) <= set(r.acc) for r in res.runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="toy")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=3, help="seeds at once (pipeline --jobs)")
    ap.add_argument("--runs-dir", type=Path, default=RUNS_DIR)
    ap.add_argument("--out", type=Path, default=OUT)
    cli = ap.parse_args()

    t0 = time.time()
    if not have_all(cli):
        # the run store would skip finished stages anyway, but re-executing the notebooks overwrites the executed
        # copies a finished `make demo` left in runs/<preset>/seed*/notebooks/
        cmd = [sys.executable, "-m", "w2s_lib.run.pipeline", "--preset", cli.preset, "--seeds", *map(str, cli.seeds),
               "--until", "03", "--jobs", str(cli.jobs), "--no-report", "--runs-dir", str(cli.runs_dir)]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)

    res = collect(cli.preset, cli.runs_dir, cli.seeds)
    per_seed = {}
    for run in res.runs:
        acc = run.acc
        missing = [k for k in KEYS if k not in acc]
        if missing:
            raise SystemExit(f"seed {run.seed}: no test accuracy for {missing} under {cli.runs_dir}")
        per_seed[run.seed] = {k: round(acc[k], 4) for k in KEYS}
        print(run.seed, per_seed[run.seed], flush=True)
    mean = {k: round(statistics.mean(v[k] for v in per_seed.values()), 4) for k in KEYS}
    out = {**mean, "per_seed": per_seed,
           "targets": {"weak": [0.20, 0.45], "strong_icl_minus_weak": 0.05, "strong_ceiling_minus_weak": 0.30},
           "met": {"weak_in_range": 0.20 <= mean["weak"] <= 0.45,
                   "icl_gap": round(mean["strong_icl"] - mean["weak"], 4),
                   "icl_gap_met": mean["strong_icl"] - mean["weak"] >= 0.05,
                   "ceiling_gap": round(mean["strong_ceiling"] - mean["weak"], 4),
                   "ceiling_gap_met": mean["strong_ceiling"] - mean["weak"] >= 0.30},
           "preset": cli.preset, "n_test": res.runs[0].metrics["weak"].get("n"),
           "machine": f"{platform.machine()} {platform.processor()}".strip(),
           "seconds": round(time.time() - t0, 1)}
    cli.out.parent.mkdir(parents=True, exist_ok=True)
    cli.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in (*KEYS, "met")}, indent=1))


if __name__ == "__main__":
    main()
