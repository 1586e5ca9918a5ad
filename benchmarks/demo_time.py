"""Wall time of `make demo` from an empty run directory (issue 5: at most 20 minutes on a 2-core CPU).

    .venv/bin/python benchmarks/demo_time.py [--runs-dir /tmp/demo_runs]

Runs the same command as `make demo` (`python -m w2s_lib.run.pipeline --preset toy --seeds 0 1 2 --jobs 3 --report`)
into a fresh runs directory, parses the per-notebook times the pipeline prints, and writes
benchmarks/results/demo_time.json. A measurement, never asserted by a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "demo_time.json"
LINE = re.compile(r"^\[(\S+)(?: seed (\d+))?\] (\S+) done in (\d+) s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs-dir", type=Path, default=Path("/tmp/w2s_demo_runs"))
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT)
    cli = ap.parse_args()
    if cli.runs_dir.exists():
        shutil.rmtree(cli.runs_dir)
    cmd = [sys.executable, "-m", "w2s_lib.run.pipeline", "--preset", "toy", "--seeds", "0", "1", "2",
           "--jobs", str(cli.jobs), "--report", "--runs-dir", str(cli.runs_dir)]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.time() - t0
    sys.stdout.write(proc.stdout)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"make demo's command failed (exit {proc.returncode})")
    per_notebook: dict[str, dict[str, int]] = {}
    for line in proc.stdout.splitlines():
        m = LINE.match(line.strip())
        if m:
            per_notebook.setdefault(m[3], {})[f"seed{m[2]}" if m[2] else "all"] = int(m[4])
    out = {"seconds": round(wall, 1), "minutes": round(wall / 60, 2), "target_minutes": 20,
           "jobs": cli.jobs, "cpus": os.cpu_count(), "machine": platform.machine(),
           "per_notebook_seconds": per_notebook, "command": " ".join(cmd[1:])}
    cli.out.parent.mkdir(parents=True, exist_ok=True)
    cli.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("minutes", "target_minutes")}))


if __name__ == "__main__":
    main()
