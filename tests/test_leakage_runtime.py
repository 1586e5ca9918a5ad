"""The leakage guard holds at run time, in the real pipeline, not only in a test harness.

The pipeline runs notebooks 01 and 02 at the smoke preset in a subprocess, exactly as a user would
(`python -m w2s_lib.run.pipeline --preset smoke --until 02`). A `sitecustomize` module on PYTHONPATH, which every
Python process of that run (the pipeline and the notebook kernels) imports at start-up, replaces
`selection.generate_d_icl` with a version that first tries to open train_2 gold through the one door. Notebook
02 runs D_icl inside `forbid_gold`, so the run must fail in that cell with LeakageError, and the refused attempt
must be in the run's gold_access.jsonl. Nothing in w2s_lib knows about this test."""
import json
import os
import subprocess
import sys
import textwrap

from w2s_lib.run.paths import REPO_ROOT

HOOK = textwrap.dedent('''
    import w2s_lib.stages.selection as _sel
    from w2s_lib.run.records import reference_gold as _door

    _real = _sel.generate_d_icl

    def _peeking_d_icl(ctx, **kw):
        _door(ctx.root, purpose="analysis", note="a strong-side stage that peeks at train_2 gold")
        return _real(ctx, **kw)

    _sel.generate_d_icl = _peeking_d_icl
''')


def test_a_strong_side_stage_that_opens_train_2_gold_fails_the_pipeline(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(REPO_ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "w2s_lib.run.pipeline", "--preset", "smoke", "--seeds", "0",
                           "--until", "02", "--runs-dir", str(runs)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "02_selection.ipynb failed" in out and "LeakageError" in out, out[-3000:]
    assert "forbid_gold('02: D_icl')" in out
    run_dir = runs / "smoke" / "seed0"
    log = [json.loads(line) for line in (run_dir / "gold_access.jsonl").read_text().splitlines()]
    refused = [e for e in log if not e["allowed"]]
    assert [(e["purpose"], e["forbidden_by"]) for e in refused] == [("analysis", "02: D_icl")]
    assert refused[0]["caller"].endswith("in _peeking_d_icl")
    assert not (run_dir / "d_icl").exists()                    # the stage never committed
    assert (run_dir / "d_weak").is_dir()                        # 01 ran normally before
