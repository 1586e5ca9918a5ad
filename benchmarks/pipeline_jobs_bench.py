"""Is it faster to run seeds one after another or in parallel processes (`--jobs`)? Times the real notebook
series both ways, each into a fresh runs directory, and writes benchmarks/results/pipeline_jobs.json.

    python benchmarks/pipeline_jobs_bench.py --preset smoke --seeds 0 1 --until 04 \\
        -p weak_base=/path/weak_base -p strong_base=/path/strong_base     # models when data/toy is not built

Each mode runs `python -m w2s_lib.run.pipeline --preset P --seeds ... --jobs N --no-report` as a subprocess. The machine
is shared, so the load average before and after each run is recorded next to the times.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(preset: str, seeds: list[str], jobs: int, until: str | None, params: list[str]) -> dict:
    runs = Path(tempfile.mkdtemp(prefix=f"w2s-jobs{jobs}-"))
    cmd = [sys.executable, "-m", "w2s_lib.run.pipeline", "--preset", preset, "--seeds", *seeds, "--jobs", str(jobs),
           "--no-report", "--runs-dir", str(runs)]
    if until:
        cmd += ["--until", until]
    for p in params:
        cmd += ["-p", p]
    load_before = os.getloadavg()[0]
    start = time.time()
    proc = subprocess.run(cmd, cwd=str(REPO), capture_output=True, text=True)
    seconds = time.time() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"jobs={jobs}: the pipeline failed (exit {proc.returncode})")
    per_nb = [line for line in proc.stdout.splitlines() if " done in " in line]
    return {"jobs": jobs, "seconds": round(seconds, 1), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2), "notebooks": per_nb, "runs_dir": str(runs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="smoke")
    ap.add_argument("--seeds", nargs="+", default=["0", "1"])
    ap.add_argument("--until", default="04")
    ap.add_argument("-p", "--param", action="append", default=[])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "pipeline_jobs.json"))
    args = ap.parse_args()
    results = []
    for jobs in (1, 2):
        r = run(args.preset, args.seeds, jobs, args.until, args.param)
        print(f"--jobs {jobs}: {r['seconds']} s (load {r['load_before']} -> {r['load_after']})", flush=True)
        results.append(r)
    out = {"preset": args.preset, "seeds": args.seeds, "until": args.until, "params": args.param,
           "cpu_count": os.cpu_count(), "results": results,
           "speedup_jobs2": round(results[0]["seconds"] / results[1]["seconds"], 2)}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"speed-up with --jobs 2: {out['speedup_jobs2']}x -> {args.out}")


if __name__ == "__main__":
    main()
