"""Behaviour check for refactors: a run's artifacts and accuracies, recorded once and compared after a change.

    .venv/bin/python benchmarks/behaviour_check.py smoke --record      # snapshot (the code before the change)
    .venv/bin/python benchmarks/behaviour_check.py smoke                # compare the current code with it
    .venv/bin/python benchmarks/behaviour_check.py toy --record         # one toy seed (seed 0, notebooks 01-04)
    .venv/bin/python benchmarks/behaviour_check.py toy

`smoke` runs `python -m w2s_lib.run.pipeline --preset smoke --seeds 0 --report` into a scratch runs directory and
records, for every committed stage, the sha256 of every data file its manifest lists (JSONL, JSON: model weights
and checkpoints are left out, see `skipped`), its metrics.json, and the report's results.json. `toy` runs seed 0
of the toy preset (notebooks 01-04, `--jobs 1`) and records every stage's metrics.json (the accuracies).

The snapshot is benchmarks/results/behaviour_<name>.json (with the date and commit it was taken at). A change
that is meant to change behaviour (new seeding, thread counts, a new rule) makes the comparison fail: refresh the
snapshot with `--record` on the new code, and say in the commit why the figures moved. tests/test_behaviour.py
runs the smoke comparison in `make test`; the toy comparison (about 10 minutes on 2 cores) is run by hand.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
COMMANDS = {
    "smoke": ["--preset", "smoke", "--seeds", "0", "--report"],
    "toy": ["--preset", "toy", "--seeds", "0", "--jobs", "1", "--until", "04", "--no-report"],
}
# Files whose bytes are not behaviour: model weights and trainer state (float noise across thread counts is
# possible; their effect is in the generations and accuracies, which are compared), notebooks and logs.
SKIP_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".ipynb", ".log")
SKIP_PARTS = ("model", "checkpoints", "notebooks", "adapter", "runs")
# Fields that legitimately differ between two runs of the same code: clocks, paths, pids.
VOLATILE = ("seconds", "time", "wall", "elapsed", "path", "dir", "pid", "date", "started", "host", "samples_per_sec",
            "steps_per_second", "runtime", "per_second")


def snapshot_file(name: str) -> Path:
    return RESULTS / f"behaviour_{name}.json"


def _volatile(key: str) -> bool:
    k = key.lower()
    return any(v in k for v in VOLATILE)


def _clean(obj):
    """A metrics object without its clock, path and pid fields."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if not _volatile(k)}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _skipped(rel: str) -> bool:
    parts = rel.split("/")
    return rel.endswith(SKIP_SUFFIXES) or any(p in SKIP_PARTS for p in parts[:-1]) or \
        parts[-1] in ("trainer_state.json", "train_log.jsonl", "training_args.bin")


def collect(run_dir: Path, with_files: bool) -> dict:
    """{stage: {"metrics": ..., "files": {rel: sha256}}} of every committed stage under run_dir."""
    out: dict = {}
    for stage in sorted(p for p in run_dir.iterdir() if (p / "config.json").is_file()):
        entry: dict = {}
        metrics = stage / "metrics.json"
        if metrics.is_file():
            entry["metrics"] = _clean(json.loads(metrics.read_text()))
        if with_files:
            manifest = json.loads((stage / "manifest.json").read_text())["files"]
            entry["files"] = {rel: e["sha256"] for rel, e in sorted(manifest.items())
                              if not _skipped(rel) and rel != "metrics.json"}
        out[stage.name] = entry
    return out


def run(name: str, runs_dir: Path, reuse: bool = False) -> dict:
    """Run the pipeline into runs_dir (unless `reuse`: a finished run is there) and snapshot it."""
    cmd = [sys.executable, "-m", "w2s_lib.run.pipeline", *COMMANDS[name], "--runs-dir", str(runs_dir)]
    if not reuse:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit(f"behaviour_check: {' '.join(cmd[1:])} failed (exit {proc.returncode})")
    return snapshot(name, runs_dir)


def snapshot(name: str, runs_dir: Path) -> dict:
    """The snapshot of a finished run under runs_dir (what --record writes, without its header)."""
    preset = COMMANDS[name][1]
    snap = {"stages": collect(runs_dir / preset / "seed0", with_files=(name == "smoke"))}
    results = runs_dir / preset / "results.json"
    if results.is_file():
        snap["results"] = _clean(json.loads(results.read_text()))
    # paths inside metrics (a model's directory) name the scratch directory: make them relative to it
    # and the checkout (the base models under data/toy): make them relative to those
    text = json.dumps(snap).replace(str(runs_dir.resolve()), "<runs>").replace(str(runs_dir), "<runs>")
    return json.loads(text.replace(str(ROOT), "<repo>"))


def diff(before, after, where: str = "") -> list[str]:
    """Every leaf where two snapshots differ, as 'path: before -> after'."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for k in sorted(set(before) | set(after)):
            if k not in after:
                out.append(f"{where}/{k}: only before")
            elif k not in before:
                out.append(f"{where}/{k}: only after")
            else:
                out += diff(before[k], after[k], f"{where}/{k}")
        return out
    return [] if before == after else [f"{where}: {json.dumps(before)[:120]} -> {json.dumps(after)[:120]}"]


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(COMMANDS))
    ap.add_argument("--record", action="store_true", help="write the snapshot instead of comparing with it")
    ap.add_argument("--runs-dir", type=Path, help="scratch runs directory (default: a temporary one, removed)")
    ap.add_argument("--reuse", action="store_true", help="snapshot the finished run already in --runs-dir")
    cli = ap.parse_args(argv)
    if cli.reuse and not cli.runs_dir:
        ap.error("--reuse needs --runs-dir")
    runs_dir = cli.runs_dir or Path(tempfile.mkdtemp(prefix=f"w2s_behaviour_{cli.name}_"))
    try:
        snap = run(cli.name, runs_dir, cli.reuse)
    finally:
        if cli.runs_dir is None:
            shutil.rmtree(runs_dir, ignore_errors=True)
    path = snapshot_file(cli.name)
    if cli.record:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        record = {"name": cli.name, "command": "python -m w2s_lib.run.pipeline " + " ".join(COMMANDS[cli.name]),
                  "recorded": datetime.date.today().isoformat(), "commit": commit,
                  "skipped": {"suffixes": SKIP_SUFFIXES, "dirs": SKIP_PARTS, "volatile_fields": VOLATILE},
                  "digest": digest(snap), **snap}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"recorded {path.relative_to(ROOT)} (digest {record['digest'][:12]})")
        return 0
    recorded = json.loads(path.read_text())
    before = {k: recorded[k] for k in ("stages", "results") if k in recorded}
    differences = diff(before, snap)
    if differences:
        print(f"behaviour differs from {path.relative_to(ROOT)} (recorded {recorded['recorded']} at "
              f"{recorded['commit']}):")
        print("\n".join("  " + d for d in differences[:60]))
        return 1
    print(f"same as {path.relative_to(ROOT)} (recorded {recorded['recorded']} at {recorded['commit']}; "
          f"digest {digest(snap)[:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
