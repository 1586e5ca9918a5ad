"""The pipeline runner (`python -m w2s_lib.run.pipeline`) on small throwaway notebooks written into a tmp dir.

They use the real run store, so "resume" here is what it is in the method notebooks: a re-run skips the stages a
run already holds. The method notebooks themselves run in their own tests (tests/test_notebooks_01_04.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from w2s_lib.run.paths import REPO_ROOT
from w2s_lib.run.pipeline import find_notebooks, main, select

PARAMS = 'preset = "toy"\nseed = 0\nrun_dir = ""\ntag = ""\n'

# 01: one run-store stage that records, per seed, how often it was computed (so a test can see a skip).
NB01 = """
from pathlib import Path
from w2s_lib.run.runstore import RunStore
import os
store = RunStore(run_dir)
st = store.stage("first", config={"preset": preset, "seed": seed})
if st.done:
    print("first: skipped (already in the run store)")
else:
    (st.path / "value.txt").write_text(str(seed * 10))
    with open(Path(run_dir).parent / "computed.log", "a") as fh:
        fh.write(f"{seed}\\n")
    st.commit(metrics={"value": seed * 10, "pid": os.getpid()})
    print("first: computed")
"""
# 02: reads 01's stage; fails while a FAIL file exists next to the notebook (the "bug" a user then fixes).
NB02 = """
from pathlib import Path
from w2s_lib.run.runstore import RunStore
store = RunStore(run_dir)
first = store.require("first", hint="run 01 first")
if Path("FAIL").exists():
    broken = {"answer": 1}
    print("about to fail")
    broken["missing_key"] + 1
st = store.stage("second", config={"x": 1}, deps=["first"])
if not st.done:
    (st.path / "double.txt").write_text(str(2 * first.metrics["value"]))
    st.commit(metrics={"double": 2 * first.metrics["value"]})
"""
# 06: collects every seed under runs/<preset>/ and writes report.md.
NB06 = """
import json
from pathlib import Path
root = Path(run_dir)
rows = []
for d in sorted(root.glob("seed*")):
    m = json.loads((d / "second" / "metrics.json").read_text())
    rows.append(f"| {d.name} | {m['double']} |")
(root / "report.md").write_text("| seed | double |\\n|---|---|\\n" + "\\n".join(rows) + "\\n")
print("\\n".join(rows))
"""


def write_nb(path: Path, params: str, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), p, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture
def series(tmp_path) -> Path:
    d = tmp_path / "notebooks"
    d.mkdir()
    write_nb(d / "01_first.ipynb", PARAMS, NB01)
    write_nb(d / "02_second.ipynb", PARAMS, NB02)
    write_nb(d / "06_results.ipynb", 'preset = "toy"\nrun_dir = ""\n', NB06)
    (d / "README.md").write_text("not a notebook")
    return d


def computed(runs: Path, preset: str = "smoke") -> list[str]:
    f = runs / preset / "computed.log"
    return f.read_text().split() if f.exists() else []


def test_select_by_number(series):
    nbs = find_notebooks(series)
    assert [nb.step for nb in nbs] == ["01", "02", "06"]
    assert [nb.step for nb in select(nbs, "02", None)] == ["02", "06"]
    assert [nb.step for nb in select(nbs, None, "02_second")] == ["01", "02"]
    assert [nb.step for nb in select(nbs, "2", "2")] == ["02"]


def test_runs_each_seed_then_the_report_and_writes_notebooks_and_logs(series, tmp_path, capsys):
    runs = tmp_path / "runs"
    rc = main(["--preset", "smoke", "--seeds", "0", "1", "--report", "--notebooks-dir", str(series),
               "--runs-dir", str(runs)])
    assert rc == 0
    for seed in (0, 1):
        nbdir = runs / "smoke" / f"seed{seed}" / "notebooks"
        assert (nbdir / "01_first.ipynb").is_file() and (nbdir / "02_second.ipynb").is_file()
        assert "first: computed" in (nbdir / "01_first.log").read_text()
        executed = nbformat.read(str(nbdir / "01_first.ipynb"), as_version=4)
        injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and f"seed = {seed}" in injected[0].source and "smoke" in injected[0].source
        assert json.loads((runs / "smoke" / f"seed{seed}" / "second" / "metrics.json").read_text()) == {
            "double": 20 * seed}
    report = (runs / "smoke" / "report.md").read_text()
    assert "| seed0 | 0 |" in report and "| seed1 | 20 |" in report
    assert (runs / "smoke" / "notebooks" / "06_results.ipynb").is_file()
    assert computed(runs) == ["0", "1"]
    out = capsys.readouterr().out
    assert "report:" in out and "done: preset smoke" in out


def test_failure_stops_with_the_cell_shown_and_rerun_resumes(series, tmp_path, capsys):
    runs = tmp_path / "runs"
    (series / "FAIL").write_text("")
    args = ["--preset", "smoke", "--seeds", "0", "1", "--notebooks-dir", str(series), "--runs-dir", str(runs)]
    assert main(args) == 1
    err = capsys.readouterr().err
    # the failing notebook, its cell source, the error and the paths to look at
    assert "02_second.ipynb failed in cell" in err and "KeyError" in err and "missing_key" in err
    assert 'broken["missing_key"] + 1' in err
    executed = runs / "smoke" / "seed0" / "notebooks" / "02_second.ipynb"
    assert f"executed notebook (with the error cell): {executed}" in err
    assert "about to fail" in (runs / "smoke" / "seed0" / "notebooks" / "02_second.log").read_text()
    assert "\x1b[" not in err                                  # ANSI colours stripped from the traceback
    # stopped at the first failure: seed 1 never started, the report did not run
    # (the pipeline locked seed 1's run dir before it started: the dir holds the lock file, nothing else)
    assert [p.name for p in (runs / "smoke" / "seed1").iterdir()] == [".lock"]
    assert not (runs / "smoke" / "report.md").exists()
    assert computed(runs) == ["0"]

    (series / "FAIL").unlink()                                 # the fix
    assert main(args) == 0
    assert computed(runs) == ["0", "1"]                        # seed 0's first stage was not recomputed
    assert "first: skipped" in (runs / "smoke" / "seed0" / "notebooks" / "01_first.log").read_text()
    assert (runs / "smoke" / "report.md").is_file()            # 06 is in the default range


def test_from_until_and_missing_upstream_message(series, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["--preset", "smoke", "--seeds", "3", "--notebooks-dir", str(series), "--runs-dir", str(runs)]
    assert main(args + ["--from", "02", "--until", "02"]) == 1
    err = capsys.readouterr().err
    assert "StageMissingError" in err and "run 01 first" in err
    assert main(args + ["--until", "01"]) == 0
    assert not (runs / "smoke" / "report.md").exists()         # 06 outside the range and no --report
    assert main(args + ["--from", "02", "--no-report"]) == 0
    assert (runs / "smoke" / "seed3" / "second").is_dir() and not (runs / "smoke" / "report.md").exists()


def test_jobs_runs_seeds_in_parallel_processes(series, tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "w2s_lib.run.pipeline", "--preset", "smoke", "--seeds", "0", "1", "2",
                           "--jobs", "2", "--report", "--notebooks-dir", str(series), "--runs-dir", str(runs)],
                          capture_output=True, text=True, env=env, cwd=str(REPO_ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(computed(runs)) == ["0", "1", "2"]
    pids = {json.loads((runs / "smoke" / f"seed{s}" / "first" / "metrics.json").read_text())["pid"] for s in range(3)}
    assert len(pids) == 3                                      # each seed ran in its own kernel
    assert "| seed2 | 40 |" in (runs / "smoke" / "report.md").read_text()
    for s in range(3):
        assert (runs / "smoke" / f"seed{s}" / "notebooks" / "02_second.log").is_file()


def test_jobs_failure_in_one_seed_fails_the_run_without_report(series, tmp_path):
    runs = tmp_path / "runs"
    # seed 1 fails in 02 (its run dir holds a poisoned 'first' stage); seeds 0 and 2 are independent
    nb02 = series / "02_second.ipynb"
    nb = nbformat.read(str(nb02), as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace('if Path("FAIL").exists():', 'if seed == 1:')
    nbformat.write(nb, str(nb02))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "w2s_lib.run.pipeline", "--preset", "smoke", "--seeds", "0", "1",
                           "--jobs", "2", "--notebooks-dir", str(series), "--runs-dir", str(runs)],
                          capture_output=True, text=True, env=env, cwd=str(REPO_ROOT))
    assert proc.returncode == 1
    assert "seed(s) [1] failed" in proc.stderr and "missing_key" in proc.stderr
    assert (runs / "smoke" / "seed0" / "second").is_dir()      # the other seed finished
    assert not (runs / "smoke" / "report.md").exists()


def test_extra_parameters_reach_the_notebooks_that_declare_them(series, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["--preset", "smoke", "--seeds", "0", "--until", "01", "--notebooks-dir", str(series), "--runs-dir",
            str(runs)]
    assert main(args + ["-p", "tag=[a, 2]"]) == 0
    executed = nbformat.read(str(runs / "smoke" / "seed0" / "notebooks" / "01_first.ipynb"), as_version=4)
    injected = next(c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert 'tag = ["a", 2]' in injected.source
    assert main(args + ["-p", "tga=1"]) == 2
    assert "no notebook of this run declares parameter(s) ['tga']" in capsys.readouterr().err


def test_a_preset_given_as_a_path_runs_under_its_name_and_reaches_the_notebooks_as_that_path(series, tmp_path):
    runs = tmp_path / "runs"
    preset = tmp_path / "my-experiment.yaml"
    preset.write_text("name: my-exp\nextends: smoke\nseeds: [4]\n")
    assert main(["--preset", str(preset), "--until", "01", "--notebooks-dir", str(series), "--runs-dir",
                 str(runs)]) == 0
    executed = runs / "my-exp" / "seed4" / "notebooks" / "01_first.ipynb"   # the preset's name and seeds
    injected = next(c for c in nbformat.read(str(executed), as_version=4).cells
                    if "injected-parameters" in c.metadata.get("tags", []))
    assert f'preset = "{preset}"' in injected.source                      # notebooks can load_preset() it


def test_list_presets_and_bad_preset(capsys):
    assert main(["--list-presets"]) == 0
    out = capsys.readouterr().out
    assert "paper-gsm8k-llama2-7b" in out and "single-gpu" in out and "toy" in out
    assert main(["--preset", "no-such-preset", "--dry-run"]) == 2
    assert "known presets" in capsys.readouterr().err


def test_short_form_python_m_w2s_lib_is_the_pipeline(tmp_path):
    """`python -m w2s_lib` (README, Makefile) runs the same command line as `python -m w2s_lib.run.pipeline`,
    from any directory, with the same exit status: listing presets, and a bad preset stopping with status 2."""
    def run(module, *args):
        return subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
    short, long = run("w2s_lib", "--list-presets"), run("w2s_lib.run.pipeline", "--list-presets")
    assert short.returncode == long.returncode == 0, short.stderr
    assert short.stdout == long.stdout and "paper-gsm8k-llama2-7b" in short.stdout
    bad = run("w2s_lib", "--preset", "no-such-preset", "--dry-run")
    assert bad.returncode == 2 and "known presets" in bad.stderr
    assert run("w2s_lib", "--help").stdout.startswith("usage: python -m w2s_lib ")


# ---- one writer per run, interruption, checks before anything runs (issue 20) ----------------------------------
HOLD = """
import os, time
from pathlib import Path
from w2s_lib.run.runstore import RunStore
st = RunStore(run_dir).stage("held", {"seed": seed})
if not st.done:
    (st.path / "who.txt").write_text(str(os.getpid()))
    Path(signal_dir, "started").write_text("1")
    t = time.time()
    while not Path(signal_dir, "release").exists() and time.time() - t < 300:
        time.sleep(0.1)
    st.commit({"pid": os.getpid()})
"""


@pytest.fixture
def holding(tmp_path) -> tuple[Path, Path, list[str]]:
    """A one-notebook series whose stage waits for a `release` file; the command line that runs it."""
    d, sig = tmp_path / "hold_nbs", tmp_path / "sig"
    d.mkdir()
    sig.mkdir()
    write_nb(d / "01_hold.ipynb", 'preset = "toy"\nseed = 0\nrun_dir = ""\nsignal_dir = ""\n', HOLD)
    cmd = [sys.executable, "-m", "w2s_lib.run.pipeline", "--preset", "smoke", "--seeds", "0", "--notebooks-dir", str(d),
           "--runs-dir", str(tmp_path / "runs"), "-p", f"signal_dir={sig}"]
    return tmp_path / "runs" / "smoke" / "seed0", sig, cmd


def start(cmd: list[str], sig: Path) -> subprocess.Popen:
    import signal
    import time

    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, cwd=str(REPO_ROOT), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t = time.time()
    while not (sig / "started").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t < 300, "the first pipeline never started its stage"
        time.sleep(0.1)
    return proc


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


def test_two_pipelines_on_one_run_the_second_stops_at_once_naming_the_first(holding):
    run_dir, sig, cmd = holding
    first = start(cmd, sig)
    before = snapshot(run_dir)
    second = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, cwd=str(REPO_ROOT),
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 3
    assert f"error: {run_dir} is being written by another process (pid {first.pid} on " in second.stderr
    assert "w2s_lib.run.pipeline --preset smoke" in second.stderr                 # the holder's command line
    assert snapshot(run_dir) == before                                         # nothing of the first touched
    (sig / "release").write_text("")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    kernel_pid = (run_dir / "held" / "who.txt").read_text()
    assert json.loads((run_dir / "held" / "metrics.json").read_text()) == {"pid": int(kernel_pid)}
    assert (run_dir / ".lock").read_text() == ""                               # released


def test_ctrl_c_says_how_to_resume_and_the_rerun_resumes(holding):
    import signal

    run_dir, sig, cmd = holding
    proc = start(cmd, sig)
    proc.send_signal(signal.SIGINT)                                            # what Ctrl-C sends the pipeline
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130
    assert "interrupted; re-run to resume" in err and "Traceback" not in err
    assert (run_dir / "held.partial" / "who.txt").exists()                     # the stage in progress is kept
    (sig / "release").write_text("")
    again = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, cwd=str(REPO_ROOT),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (run_dir / "held" / "metrics.json").is_file()


def test_dry_run_fails_on_a_preset_value_that_would_fail_later(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text('extends: smoke\nstage2:\n  n_samples: "four"\n')
    assert main(["--preset", str(bad), "--dry-run"]) == 2
    assert f"error: {bad}:3: stage2.n_samples must be an integer >= 1, got 'four'" in capsys.readouterr().err
    bad.write_text("extends: smoke\nmodels: {strong_base: /no/such/model}\n")
    assert main(["--preset", str(bad), "--dry-run"]) == 2
    assert f"error: {bad}:2: models.strong_base is '/no/such/model', a local path that does not exist" in \
        capsys.readouterr().err


def test_dry_run_checks_parameters_against_the_notebooks(capsys):
    assert main(["--preset", "smoke", "--dry-run", "-p", "n_samples=four", "-p", "strong_base=/no/such/model"]) == 2
    err = capsys.readouterr().err
    assert "-p n_samples='four': 04_stage2_preference.ipynb declares n_samples: int, got str" in err
    assert "-p strong_base=/no/such/model: a local path that does not exist" in err
    assert main(["--preset", "smoke", "--dry-run", "-p", "n_samples=4"]) == 0
