"""Same seed, same numbers: the smoke preset's first stages (data, weak SFT, the weak floor, D_weak), run twice at
once in two processes with different string-hash seeds, write the same weights, the same generated answers and
the same accuracy.

What may differ between the two runs is only what names the run or the clock: paths (the run directory), run
times, and files that embed them (training_args.bin pickles the output directory). Everything a later stage reads
must be equal byte for byte. The two processes run side by side on purpose (as `make demo --jobs 3` runs its
seeds), each with 1 torch thread (the toy presets' `compute.threads`), and with different PYTHONHASHSEED values,
so that an order that depends on the string hash (iterating a set of answers) would show here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stage_helpers import toy_model_overrides
from w2s_lib.run.paths import REPO_ROOT

STAGES = ("data", "weak_model", "eval_weak_model", "d_weak")
# Files that record where or when a run happened, not what it computed (compared field by field below instead).
VOLATILE = {"metrics.json", "model/train_metrics.json", "model/training_args.bin", "train_log.jsonl",
            "predictions.jsonl", "model/config.json"}
TIME_KEYS = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos"}

SCRIPT = """
import json, sys
from w2s_lib.run.context import open_run
from w2s_lib.stages import evaluate, prepare, weak
ctx = open_run("smoke", 0, sys.argv[1], **json.loads(sys.argv[2]))
prepare.prepare(ctx, verbose=False)
weak.train_weak(ctx, verbose=False)
evaluate.evaluate(ctx, "weak_model", verbose=False)
weak.generate_d_weak(ctx, verbose=False)
"""


def _run_twice(tmp_path: Path) -> tuple[Path, Path]:
    overrides = json.dumps(toy_model_overrides("smoke"))
    procs, dirs = [], []
    for k in (1, 2):
        run_dir = tmp_path / f"run{k}"
        env = {**os.environ, "PYTHONHASHSEED": str(k), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, "-c", SCRIPT, str(run_dir), overrides], env=env,
                                      cwd=str(REPO_ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        dirs.append(run_dir)
    for p in procs:
        out, _ = p.communicate(timeout=900)
        assert p.returncode == 0, out[-3000:]
    return dirs[0], dirs[1]


def _files(run_dir: Path, stage: str) -> dict[str, str]:
    return {path: entry["sha256"] for path, entry in
            json.loads((run_dir / stage / "manifest.json").read_text())["files"].items()}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _without(obj, keys):
    if isinstance(obj, dict):
        return {k: _without(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [_without(v, keys) for v in obj]
    return obj


def test_same_seed_same_artifacts(tmp_path):
    a, b = _run_twice(tmp_path)
    for stage in STAGES:
        fa, fb = _files(a, stage), _files(b, stage)
        assert sorted(fa) == sorted(fb), stage
        differ = sorted(p for p in fa if fa[p] != fb[p] and p not in VOLATILE)
        assert differ == [], f"{stage}: same seed, different content in {differ}"
    assert "model/model.safetensors" in _files(a, "weak_model")        # the weights are among what was compared

    # the volatile files, field by field: only paths and clocks may differ
    ma, mb = (json.loads((d / "eval_weak_model" / "metrics.json").read_text()) for d in (a, b))
    assert ma["accuracy"] == mb["accuracy"] and ma["n_correct"] == mb["n_correct"]
    pa, pb = (_jsonl(d / "eval_weak_model" / "predictions.jsonl") for d in (a, b))
    assert [(r["id"], r["response"], r["correct"]) for r in pa] == [(r["id"], r["response"], r["correct"]) for r in pb]
    la, lb = (_jsonl(d / "weak_model" / "train_log.jsonl") for d in (a, b))
    assert _without(la, TIME_KEYS) == _without(lb, TIME_KEYS)
    ta, tb = (json.loads((d / "weak_model" / "model" / "train_metrics.json").read_text()) for d in (a, b))
    assert ta["train_loss"] == tb["train_loss"] and ta["torch_threads"] == tb["torch_threads"] == 1
