"""The GPU check: the toy world through the stages of notebooks 01-04 on one CUDA GPU, timed, with the peak GPU
memory of each stage. Run by benchmarks/gpu_check.sh on a GPU machine (see that script for the wheels it needs).

    python benchmarks/gpu_check.py [--out benchmarks/results/gpu_check.json] [--runs-dir /tmp/gpu_check_runs]

It calls the stage functions the notebooks call (w2s_lib.stages.prepare, weak, selection, stage1, stage2, evaluate) with
the `gpu-check` preset: bf16 and gradient checkpointing (the GPU defaults), every training job in its own process
then generation in another (the engine process of `generation.subprocess`), LoRA merged after the job, DPO.
Peak memory is what nvidia-smi reports as used on the GPU while the stage runs (all processes), sampled every
0.2 s, minus what was used before the check started.
`--allow-cpu` runs the same steps on a CPU (to check the script itself; the result then says so).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


class GpuMemory:
    """Peak used memory (MiB) of GPU 0 over a block, from nvidia-smi, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def used() -> int | None:
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                                  "-i", "0"], capture_output=True, text=True, timeout=10, check=True).stdout
            return int(float(out.split()[0]))
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return None

    def __enter__(self) -> "GpuMemory":
        self.peak = self.used() or 0

        def poll() -> None:
            while not self._stop.wait(0.2):
                u = self.used()
                if u is not None:
                    self.peak = max(self.peak, u)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu_check.json")
    ap.add_argument("--runs-dir", type=Path, default=Path("/tmp/gpu_check_runs"))
    ap.add_argument("--allow-cpu", action="store_true", help="run on a CPU too (checks the script, not the GPU)")
    ap.add_argument("--no-accelerate", action="store_true",
                    help="skip the extra check of `accelerate launch` (the weak SFT once more, launcher accelerate)")
    args = ap.parse_args(argv)

    import torch

    on_gpu = torch.cuda.is_available()
    if not on_gpu and not args.allow_cpu:
        print("no CUDA GPU visible: nothing to check (use --allow-cpu to run the steps on a CPU)", file=sys.stderr)
        return 2
    from w2s_lib.stages import evaluate, prepare, selection, stage1, stage2, weak
    from w2s_lib.run.context import open_run

    overrides = {} if on_gpu else {"compute": {"gpus": 0, "threads": 1}, "train": {"report_to": "none"}}
    ctx = open_run("gpu-check", seed=0, run_dir=str(args.runs_dir / "gpu-check" / "seed0"), overrides=overrides)
    baseline = GpuMemory.used() if on_gpu else None
    result: dict = {
        "ran": True, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "device": "cuda" if on_gpu else "cpu",
        "gpu": torch.cuda.get_device_name(0) if on_gpu else None, "torch": torch.__version__,
        "cuda": torch.version.cuda, "preset": "gpu-check", "gpu_memory_used_before_mib": baseline, "stages": [],
    }

    def stage(name: str, fn) -> object:
        start = time.time()
        entry: dict = {"stage": name}
        mem = GpuMemory() if on_gpu else None
        try:
            if mem:
                with mem:
                    out = fn()
            else:
                out = fn()
            entry["ok"] = True
            return out
        except Exception as e:
            entry["ok"] = False
            entry["error"] = f"{type(e).__name__}: {e}"
            traceback.print_exc()
            raise
        finally:
            entry["seconds"] = round(time.time() - start, 1)
            if mem:
                entry["peak_gpu_memory_mib"] = mem.peak - (baseline or 0)
            result["stages"].append(entry)
            print(f"[gpu_check] {name}: {entry}", flush=True)

    def model_facts(stage_name: str, run=None) -> dict:
        m = (run or ctx).store.require(stage_name).metrics
        return {k: m.get(k) for k in ("launch", "train_loss", "global_step", "merge", "accuracy", "n")
                if m.get(k) is not None}

    status = 0
    try:
        stage("data", lambda: prepare.prepare(ctx, verbose=False))
        stage("weak SFT (full, own process)", lambda: weak.train_weak(ctx, verbose=False))
        stage("eval weak floor (engine process)", lambda: evaluate.evaluate(ctx, "weak_model", verbose=False))
        stage("D_weak (one engine for the step)", lambda: weak.generate_d_weak(ctx, verbose=False))
        stage("D_icl (strong base, 4 demos)", lambda: selection.generate_d_icl(ctx, verbose=False))
        stage("selection iter 1", lambda: selection.select(ctx, 1))
        stage("Stage I SFT (LoRA, merged after the job)", lambda: stage1.train_iteration(ctx, 1))
        stage("declare M_plus", lambda: stage1.declare_m_plus(ctx))
        stage("eval M_plus", lambda: evaluate.evaluate(ctx, stage1.m_plus_stage(ctx), verbose=False))
        stage("M_plus samples (n per question, T=1)", lambda: stage2.sample(ctx, verbose=False))
        stage("pairs", lambda: stage2.make_pairs(ctx))
        stage("DPO (LoRA, merged after the job)", lambda: stage2.train_preference(ctx, "dpo"))
        stage("eval DPO", lambda: evaluate.evaluate(ctx, "dpo", verbose=False))
        result["models"] = {s: model_facts(s) for s in ("weak_model", stage1.m_plus_stage(ctx), "dpo")}
        result["accuracy"] = {s: ctx.store.require(evaluate.eval_stage(s)).metrics["accuracy"]
                              for s in ("weak_model", stage1.m_plus_stage(ctx), "dpo")}
        result["engine_loads"] = len(ctx.engine_loads)
    except Exception:
        status = 1
        result["ran"] = "failed"
    if status == 0 and not args.no_accelerate:
        # The paper presets train through `accelerate launch` (launcher: accelerate). Once more the weak SFT, in a
        # run directory of its own, through that launcher with one process; its failure is reported, not fatal.
        acc = open_run("gpu-check", seed=0, run_dir=str(args.runs_dir / "gpu-check-accelerate" / "seed0"),
                       overrides={**overrides, "train": {**overrides.get("train", {}), "launcher": "accelerate"}})
        try:
            stage("data (accelerate run dir)", lambda: prepare.prepare(acc, verbose=False))
            stage("weak SFT via accelerate launch (1 process)", lambda: weak.train_weak(acc, verbose=False))
            result["accelerate_launch"] = model_facts("weak_model", acc)
        except Exception as e:
            result["accelerate_launch"] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    result["total_seconds"] = round(sum(s["seconds"] for s in result["stages"]), 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"[gpu_check] wrote {args.out}")
    return status


if __name__ == "__main__":
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    sys.exit(main())
