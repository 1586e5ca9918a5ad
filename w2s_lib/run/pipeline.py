"""Run the notebook series headless with papermill, for one preset and one or more seeds (`python -m w2s_lib`).

    python -m w2s_lib --preset toy --seeds 0 1 2 --jobs 2 --report        # make demo
    python -m w2s_lib --preset paper-gsm8k-llama2-7b --from 02 --until 04
    python -m w2s_lib --preset paper-math-llama2-7b --dry-run              # stages, sizes, memory, GPU-hours
    python -m w2s_lib --list-presets
    python -m w2s_lib --preset smoke -p strong_base=/tmp/my_model          # a notebook parameter

Per seed, the per-seed notebooks of the series the preset runs (01 .. 05 when it names models.strong_base, the
weak-to-strong series; 07, 08 when it names score.small_model, SCORE; both when it names both) run in order with the parameters `preset`, `seed` and `run_dir`
(only those the notebook's `parameters` cell declares). Each executed notebook and its log (the cells' stdout and
stderr) land in `<run_dir>/notebooks/`, e.g. runs/toy/seed0/notebooks/01_weak_data.ipynb and .log. The results
notebook (06) runs once after all seeds, in `runs/<preset>/notebooks/`, and writes runs/<preset>/report.md.

- The first failing cell stops the run: its notebook, cell source and traceback are printed with the paths of
  the executed notebook and its log, and the exit status is 1.
- Re-running resumes: the notebooks skip every stage the run store already holds with the same config, so only
  the failed and later work is redone. `--from`/`--until` pick a range of notebooks by number.
- `--jobs N` runs up to N seeds at once, each in its own process (and its own kernel). On a CPU each gets
  cores/N threads (OMP_NUM_THREADS); with GPUs each gets its own slice of CUDA_VISIBLE_DEVICES. If one seed
  fails, seeds already running finish, no new seed starts, and 06 does not run.
- One writer per run: before it runs anything, the pipeline takes the lock of every seed's run directory (and of
  runs/<preset>/ when it runs 06) and holds it to the end; its kernels write as its delegates (w2s_lib.run.runlock).
  A second pipeline (or notebook) on the same run stops at once, naming the holder, and touches nothing.
- Ctrl-C stops with "interrupted; re-run to resume": finished stages stay, a stage in progress resumes from its
  last finished shard.
- Same seed, same numbers (on the same machine, thread settings and library versions): kernels get
  PYTHONHASHSEED=0, torch threads come from the preset (`compute.threads`, recorded in every stage's config);
  tests/test_determinism.py checks it. Progress bars update every 10 s (TQDM_MININTERVAL) in headless runs.
- `--dry-run` checks everything a run would need before anything runs (the preset's types, ranges and paths,
  the -p parameters against the notebooks' declared types, that the runs directory can be written) and fails
  on what would fail later.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import runlock
from .paths import NOTEBOOKS_DIR, REPO_ROOT, RUNS_DIR
from .pipeline_checks import MODEL_PARAMS, check_params, check_writable, lock_notes, take_locks

REPORT_STEP = "06"                      # the notebook that collects all seeds (runs once per preset)
W2S_STEPS = ("01", "02", "03", "04", "05")   # the weak-to-strong series: presets with models.strong_base
SCORE_STEPS = ("07", "08")                   # SCORE, the second paper: presets with score.small_model
# The kernel's own log (e.g. ipykernel's warning that it talks over local TCP) would interleave with our progress
# lines; errors still show.
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookFailed(RuntimeError):
    """A notebook stopped with an error; the message says which cell, with its source and traceback."""


@dataclass
class Notebook:
    step: str                           # "01"
    path: Path

    @property
    def stem(self) -> str:
        return self.path.stem


def find_notebooks(notebooks_dir: str | Path = NOTEBOOKS_DIR) -> list[Notebook]:
    """The series: notebooks named `NN_*.ipynb` in `notebooks_dir`, in number order."""
    found = []
    for p in sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb")):
        found.append(Notebook(p.name[:2], p))
    return found


def select(notebooks: list[Notebook], start: str | None, until: str | None) -> list[Notebook]:
    """The notebooks with start <= number <= until (by their two-digit prefix)."""
    lo, hi = _step(start) if start else "00", _step(until) if until else "99"
    return [nb for nb in notebooks if lo <= nb.step <= hi]


def for_preset(notebooks: list[Notebook], preset) -> list[Notebook]:
    """The notebooks of the series `preset` runs: 01-05 only when it runs the weak-to-strong series
    (`Preset.has_w2s`), 07-08 only when it runs SCORE (`Preset.has_score`); the report (06) and any other number
    always."""
    skip = set() if preset.has_w2s else set(W2S_STEPS)
    skip |= set() if preset.has_score else set(SCORE_STEPS)
    return [nb for nb in notebooks if nb.step not in skip]


def series_text(preset) -> str:
    """Which series a preset runs, in words (for messages)."""
    return " and ".join(x for x, on in (("the weak-to-strong series (01-05)", preset.has_w2s),
                                        ("SCORE (07-08)", preset.has_score)) if on)


def _step(value: str) -> str:
    m = re.match(r"^(\d{1,2})", str(value))
    if not m:
        raise SystemExit(f"--from/--until take a notebook number such as 02 or 02_selection, not {value!r}")
    return m.group(1).zfill(2)


def declared_parameters(path: Path) -> set[str]:
    """The names the notebook's `parameters` cell assigns (papermill's own parser)."""
    import papermill

    return set(papermill.inspect_notebook(str(path)))


# ---------------------------------------------------------------------------------------------------------------
# Running one notebook
# ---------------------------------------------------------------------------------------------------------------


def run_notebook(nb: Notebook, out_dir: Path, parameters: dict, *, label: str = "") -> float:
    """Execute `nb` into `out_dir/<name>.ipynb` with the parameters it declares; cell output goes to
    `out_dir/<name>.log`. Returns the seconds taken; raises NotebookFailed with a readable report."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    out_nb, log = out_dir / nb.path.name, out_dir / f"{nb.stem}.log"
    declared = declared_parameters(nb.path)
    params = {k: v for k, v in parameters.items() if k in declared}
    if not declared:
        print(f"{label}warning: {nb.path.name} has no `parameters` cell; running it with its own values",
              flush=True)
    print(f"{label}{nb.stem} ...", flush=True)
    start = time.time()
    with open(log, "w", encoding="utf-8") as fh:
        fh.write(f"# {nb.path} -> {out_nb}\n# parameters: {params}\n")
        fh.flush()
        try:
            with _interrupt_forwarded():
                papermill.execute_notebook(str(nb.path), str(out_nb), parameters=params, progress_bar=False,
                                           stdout_file=fh, stderr_file=fh, cwd=str(nb.path.parent),
                                           kernel_name=None, extra_arguments=KERNEL_ARGS)
        except PapermillExecutionError as e:
            fh.write(f"\n# FAILED in cell {e.cell_index} ({e.ename}: {e.evalue})\n")
            if e.ename == "KeyboardInterrupt":      # Ctrl-C reached the kernel too
                raise KeyboardInterrupt from None
            raise NotebookFailed(_failure_report(nb, out_nb, log, e)) from None
        except Exception as e:  # kernel died, timeout, missing kernel: no cell to show
            fh.write(f"\n# FAILED: {type(e).__name__}: {e}\n")
            raise NotebookFailed(f"{nb.path.name} failed before a cell could report: {type(e).__name__}: {e}\n"
                                 f"  executed notebook: {out_nb}\n  log: {log}") from None
    seconds = time.time() - start
    print(f"{label}{nb.stem} done in {seconds:.0f} s  ({out_nb})", flush=True)
    return seconds


@contextlib.contextmanager
def _interrupt_forwarded():
    """Ctrl-C while a notebook runs: the kernel runs in its own session and does not see it, so interrupt its
    running cell (as JupyterLab's stop button does); papermill then returns and we stop with "interrupted". A
    second Ctrl-C stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    forwarded = []

    def handler(signum, frame):
        import psutil

        kids = [] if forwarded else psutil.Process().children()
        if not kids:
            raise KeyboardInterrupt
        print("\nCtrl-C: interrupting the running cell (press it again to stop at once)", file=sys.stderr, flush=True)
        for kid in kids:
            with contextlib.suppress(psutil.Error):
                kid.send_signal(signal.SIGINT)
        forwarded.append(True)

    before = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _failure_report(nb: Notebook, out_nb: Path, log: Path, e: Exception) -> str:
    tb = "\n".join(_ANSI.sub("", line) for line in (getattr(e, "traceback", None) or []))
    source = getattr(e, "source", "") or ""
    return "\n".join([
        f"{nb.path.name} failed in cell {getattr(e, 'cell_index', '?')} "
        f"(execution count {getattr(e, 'exec_count', '?')}): {getattr(e, 'ename', '')}: {getattr(e, 'evalue', '')}",
        "---- cell source " + "-" * 60,
        source.rstrip(),
        "---- traceback " + "-" * 62,
        tb.rstrip(),
        "-" * 77,
        f"executed notebook (with the error cell): {out_nb}",
        f"log (all cell output): {log}",
    ])


# ---------------------------------------------------------------------------------------------------------------
# A seed's series, and several seeds
# ---------------------------------------------------------------------------------------------------------------


def seed_run_dir(runs_dir: Path, preset: str, seed: int) -> Path:
    return runs_dir / preset / f"seed{seed}"


def run_seed(preset: str, seed: int, notebooks: Sequence[Notebook], runs_dir: Path,
             extra: dict | None = None, *, name: str | None = None) -> float:
    """Run the per-seed notebooks of one seed in order; raises NotebookFailed at the first failure.
    `preset` is what the notebooks receive (a name or a YAML path); `name` (default: preset) names the run dir."""
    name = name or preset
    run_dir = seed_run_dir(runs_dir, name, seed)
    total = 0.0
    for nb in notebooks:
        params = {**(extra or {}), "preset": preset, "seed": seed, "run_dir": str(run_dir)}
        total += run_notebook(nb, run_dir / "notebooks", params, label=f"[{name} seed {seed}] ")
    return total


def run_report(preset: str, nb: Notebook, runs_dir: Path, seeds: Sequence[int], extra: dict | None = None, *,
               name: str | None = None) -> Path:
    """Run the results notebook once for the preset; returns runs/<name>/report.md (which it must write)."""
    name = name or preset
    preset_dir = runs_dir / name
    params = {**(extra or {}), "preset": preset, "seeds": list(seeds), "run_dir": str(preset_dir),
              "runs_dir": str(runs_dir)}
    run_notebook(nb, preset_dir / "notebooks", params, label=f"[{name}] ")
    return preset_dir / "report.md"


def _device_slices(jobs: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each parallel seed: the visible GPUs cut into `jobs` slices (None: no GPUs)."""
    from w2s_lib.engines.scale import visible_gpus

    gpus = visible_gpus()
    if not gpus:
        return [None] * jobs
    if len(gpus) < jobs:
        raise SystemExit(f"--jobs {jobs} needs at least {jobs} GPUs to give each seed its own; {len(gpus)} visible")
    per = len(gpus) // jobs
    return [",".join(gpus[i * per:(i + 1) * per]) for i in range(jobs)]


def check_gpu_share(preset_name: str, jobs: int) -> None:
    """Refuse `--jobs N` before anything starts when one seed's share of the visible GPUs cannot hold the preset's
    models for training or generation (each seed trains and generates on its share alone)."""
    from w2s_lib.engines.costs import share_problems
    from .presets import load_preset
    from w2s_lib.engines.scale import visible_gpus

    gpus = visible_gpus()
    if not gpus or jobs < 2:
        return
    per = len(gpus) // jobs
    problems = share_problems(load_preset(preset_name), per) if per else ["no GPU left for each seed"]
    if problems:
        raise SystemExit(f"--jobs {jobs} gives each seed {per} of the {len(gpus)} visible GPUs, too few for preset "
                         f"{preset_name}:\n  " + "\n  ".join(problems) + "\nrun the seeds one after another "
                         "(--jobs 1) or on more GPUs")


def run_seeds_parallel(args: argparse.Namespace, seeds: Sequence[int], runs_dir: Path) -> list[int]:
    """Run each seed's series in its own `python -m w2s_lib.run.pipeline --seeds k --no-report` process, up to
    `args.jobs` at a time. Returns the seeds that failed."""
    check_gpu_share(args.preset, args.jobs)
    slices = _device_slices(args.jobs)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    pending, running, failed = list(seeds), {}, []
    try:
        _schedule(args, runs_dir, slices, threads, pending, running, failed)
    except KeyboardInterrupt:               # a terminal's Ctrl-C reaches the children too: let them stop
        for _, proc in running.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:        # the signal was ours alone (kill -INT): pass it on
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    proc.wait()
        raise
    if failed and pending:
        print(f"not started after the failure: seeds {pending}", flush=True)
    return failed


def _schedule(args: argparse.Namespace, runs_dir: Path, slices: list, threads: int, pending: list, running: dict,
              failed: list) -> None:
    while pending or running:
        while pending and len(running) < args.jobs and not failed:
            seed = pending.pop(0)
            slot = next(i for i in range(args.jobs) if i not in {s for s, _ in running.values()})
            cmd = [sys.executable, "-m", "w2s_lib.run.pipeline", "--preset", args.preset, "--seeds", str(seed),
                   "--jobs", "1", "--no-report", "--notebooks-dir", str(args.notebooks_dir),
                   "--runs-dir", str(runs_dir)]
            if args.start:
                cmd += ["--from", args.start]
            if args.until:
                cmd += ["--until", args.until]
            for item in args.param:         # model paths as check_params made them (absolute)
                key = item.partition("=")[0]
                cmd += ["-p", f"{key}={args.params[key]}" if key in MODEL_PARAMS else item]
            env = dict(os.environ)
            env.setdefault("OMP_NUM_THREADS", str(threads))
            if slices[slot] is not None:
                env["CUDA_VISIBLE_DEVICES"] = slices[slot]
            running[seed] = (slot, subprocess.Popen(cmd, env=env, cwd=str(REPO_ROOT)))
        if failed and not running:
            break
        time.sleep(0.5)
        for seed, (slot, proc) in list(running.items()):
            if proc.poll() is not None:
                del running[seed]
                if proc.returncode != 0:
                    failed.append(seed)


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------


def list_presets_text() -> str:
    from .presets import PresetError, list_presets, load_preset

    lines = []
    for name in list_presets():
        try:
            desc = " ".join(load_preset(name).description.split())
        except PresetError as e:
            desc = f"(invalid: {e})"
        lines.append(f"{name:<30} {desc}")
    return "\n".join(lines)


def dry_run(preset_name: str, seeds: Sequence[int] | None, notebooks: list[Notebook]) -> str:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from w2s_lib.engines.costs import format_plan, plan
    from .presets import load_preset

    p = load_preset(preset_name)
    text = format_plan(p, plan(p), seeds)
    listed = ", ".join(nb.path.name for nb in notebooks) or f"none found in {NOTEBOOKS_DIR}"
    return f"{text}\nnotebooks this run would execute, per seed then once: {listed}\n(dry run: no model was loaded)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m w2s_lib", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", help="preset name (configs/presets/<name>.yaml) or path")
    ap.add_argument("--seeds", type=int, nargs="+", help="seeds to run (default: the preset's)")
    ap.add_argument("--from", dest="start", help="first notebook to run, by number (e.g. 02)")
    ap.add_argument("--until", help="last notebook to run, by number (e.g. 04)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds to run at once, each in its own process")
    ap.add_argument("--report", action="store_true", help="run the results notebook (06) even outside "
                    "--from/--until, and check that it wrote runs/<preset>/report.md")
    ap.add_argument("--no-report", action="store_true", help="never run the results notebook (06)")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                    help="extra notebook parameter (YAML value: 3, true, [dpo], a path), given to every notebook "
                    "that declares it, e.g. -p strong_base=/models/my-7b")
    ap.add_argument("--dry-run", action="store_true", help="print stages, sizes, memory and GPU-hours; run nothing")
    ap.add_argument("--list-presets", action="store_true", help="list the presets with their descriptions")
    ap.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR, help=argparse.SUPPRESS)
    ap.add_argument("--runs-dir", type=Path, default=None, help="where runs/<preset>/ live (default: runs/, or "
                    "$W2S_RUNS)")
    args = ap.parse_args(argv)
    if not args.list_presets and not args.preset:
        ap.error("--preset is required (see --list-presets)")
    if args.jobs < 1:
        ap.error("--jobs must be >= 1")
    args.params = {}
    for item in args.param:
        name, eq, value = item.partition("=")
        if not eq or not name.isidentifier() or name in ("preset", "seed", "run_dir", "runs_dir", "seeds"):
            ap.error(f"-p takes NAME=VALUE with a notebook parameter other than preset/seed/run_dir: {item!r}")
        import yaml

        args.params[name] = yaml.safe_load(value) if value else ""
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("\ninterrupted; re-run to resume (the same command: finished stages are skipped, a stage in "
              "progress resumes from its last finished shard)", file=sys.stderr, flush=True)
        return 130
    except runlock.RunDirAccessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except PermissionError as e:
        print(f"error: permission denied: {e.filename or ''} ({e.strerror or e})", file=sys.stderr)
        return 1


# Same seed, same numbers: every kernel and child process of a run gets a fixed string-hash seed, so no order
# that Python's hash randomisation decides (iterating a set of strings) can differ between two runs. (None of
# the method's code is known to depend on it; tests/test_determinism.py runs the first stages under two different
# hash seeds.) Torch threads are fixed per preset (`compute.threads`, in each stage's config).
FIXED_ENV = {"PYTHONHASHSEED": "0"}


def _main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for key, value in FIXED_ENV.items():    # inherited by the kernels papermill starts, and by their children
        os.environ.setdefault(key, value)
    # Nobody watches a headless run's bars live: a progress bar updates every 10 s (tqdm reads TQDM_* defaults
    # from the environment), so the executed notebooks and logs keep a few lines per step, not hundreds.
    os.environ.setdefault("TQDM_MININTERVAL", "10")
    if args.list_presets:
        print(list_presets_text())
        return 0
    from .presets import PresetError, load_preset

    try:
        preset = load_preset(args.preset)
    except PresetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    all_nbs = find_notebooks(args.notebooks_dir)
    chosen = for_preset(select(all_nbs, args.start, args.until), preset)
    per_seed = [nb for nb in chosen if nb.step != REPORT_STEP]
    report_nb = next((nb for nb in all_nbs if nb.step == REPORT_STEP), None)
    run_report_nb = not args.no_report and report_nb is not None and (args.report or report_nb in chosen)
    seeds = args.seeds if args.seeds is not None else preset.seeds
    if not per_seed and not run_report_nb:
        print(f"error: no notebooks to run in {args.notebooks_dir} (range {args.start or 'start'}.."
              f"{args.until or 'end'}; preset {preset.name} runs {series_text(preset)})", file=sys.stderr)
        return 2
    if args.report and report_nb is None:
        print(f"error: --report needs a {REPORT_STEP}_*.ipynb notebook in {args.notebooks_dir}", file=sys.stderr)
        return 2
    used = per_seed + ([report_nb] if run_report_nb and report_nb else [])
    runs_dir = (args.runs_dir or RUNS_DIR).resolve()
    name = preset.name
    lock_dirs = ([seed_run_dir(runs_dir, name, s) for s in seeds] if per_seed else []) + \
        ([runs_dir / name] if run_report_nb else [])
    errors = check_writable(lock_dirs)
    holds: list[runlock.Hold] = []
    if not errors and not args.dry_run:
        try:
            holds = take_locks(lock_dirs, report_dir=runs_dir / name)     # before anything else: fail fast
        except runlock.RunLockedError as e:
            print(f"error: {e}", file=sys.stderr)
            return 3
    try:
        errors += check_params(args.params, used) if args.params else []
        if errors:
            print("\n".join(f"error: {e}" for e in errors), file=sys.stderr)
            return 2
        if args.dry_run:
            print(dry_run(args.preset, seeds, used))
            for note in lock_notes(lock_dirs):
                print(note)
            return 0
        # Notebooks that build paths from w2s_lib.run.paths.RUNS_DIR (e.g. run_dir "" = runs/<preset>/seed<k>) see
        # the same.
        os.environ["W2S_RUNS"] = str(runs_dir)
        token_before = os.environ.get(runlock.ENV_TOKEN)
        os.environ[runlock.ENV_TOKEN] = runlock.child_env_token()     # our kernels write as our delegates
        try:
            return _run(args, preset, seeds, per_seed, report_nb, run_report_nb, runs_dir, name)
        finally:
            if token_before is None:
                os.environ.pop(runlock.ENV_TOKEN, None)
            else:
                os.environ[runlock.ENV_TOKEN] = token_before
    finally:
        for h in holds:
            h.release()


def _run(args: argparse.Namespace, preset, seeds: Sequence[int], per_seed: list[Notebook], report_nb: Notebook | None,
         run_report_nb: bool, runs_dir: Path, name: str) -> int:
    start = time.time()
    failed: list[int] = []
    if per_seed and args.jobs > 1 and len(seeds) > 1:
        failed = run_seeds_parallel(args, seeds, runs_dir)
    elif per_seed:
        for seed in seeds:
            try:
                run_seed(args.preset, seed, per_seed, runs_dir, args.params, name=name)
            except NotebookFailed as e:
                print(f"\nFAILED: preset {name}, seed {seed}\n{e}", file=sys.stderr, flush=True)
                failed = [seed]
                break
    if failed:
        print(f"\nstopped: seed(s) {failed} failed after {time.time() - start:.0f} s; fix the cell and re-run the "
              "same command (finished stages are skipped)", file=sys.stderr)
        return 1
    if run_report_nb:
        assert report_nb is not None
        try:
            report = run_report(args.preset, report_nb, runs_dir, seeds, args.params, name=name)
        except NotebookFailed as e:
            print(f"\nFAILED: preset {name}, results notebook\n{e}", file=sys.stderr, flush=True)
            return 1
        if args.report and not report.is_file():
            print(f"error: {report_nb.path.name} ran but did not write {report}", file=sys.stderr)
            return 1
        if report.is_file():
            print(f"report: {report}")
    print(f"done: preset {name}, seeds {seeds}, {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
