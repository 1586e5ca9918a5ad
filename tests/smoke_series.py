"""One smoke run of notebooks 01-04 per pytest session, shared by every test module that needs it.

    from smoke_series import smoke_series        # a session-scoped fixture; use it as a test argument
    def test_x(smoke_series):
        run_dir, out_dir, books = smoke_series    # runs/<smoke>/seed0 layout under a session tmp dir

The run directory follows the pipeline's layout, `<root>/smoke/seed0`, so that 05 (per seed) and 06 (which
collects `<runs_dir>/<preset>/seed*/`) run on it as `make demo` would. The series is executed once per process
(a module-level cache), however many test modules import the fixture: importing a fixture into two modules
gives pytest two fixture definitions, and the cache keeps that from running the notebooks twice.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from stage_helpers import TOY_ENV, toy_models
from w2s_lib.run.paths import NOTEBOOKS_DIR

PRESET = "smoke"
SEED = 0
SERIES = ("01_weak_data", "02_selection", "03_stage1_sft", "04_stage2_preference")
TIMES: dict[str, float] = {}
_CACHE: dict[str, tuple[Path, Path, dict]] = {}


def model_params() -> dict:
    """weak_base / strong_base overrides when the toy models live elsewhere ($W2S_TOY_MODELS)."""
    if os.environ.get(TOY_ENV):
        models = toy_models()
        return {"weak_base": str(models / "weak_base"), "strong_base": str(models / "strong_base")}
    return {}


def execute(name: str, parameters: dict, out_dir: Path) -> dict:
    """Run notebooks/<name>.ipynb through papermill; returns the executed notebook (JSON)."""
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}.ipynb"
    start = time.time()
    papermill.execute_notebook(str(NOTEBOOKS_DIR / f"{name}.ipynb"), str(out), parameters=parameters,
                               kernel_name="python3", cwd=str(NOTEBOOKS_DIR), progress_bar=False)
    TIMES[name] = time.time() - start
    return json.loads(out.read_text())


def run_series(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(run_dir, out_dir, executed notebooks by name) of the session's smoke run of 01-04."""
    if "series" not in _CACHE:
        toy_models()                                  # skips the test when the toy models are absent
        root = tmp_path_factory.mktemp("smoke_runs")
        run_dir = root / PRESET / f"seed{SEED}"
        out_dir = tmp_path_factory.mktemp("smoke_nb_out")
        params = {"preset": PRESET, "seed": SEED, "run_dir": str(run_dir), **model_params()}
        books = {name: execute(name, params, out_dir) for name in SERIES}
        print("\nsmoke notebook wall times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMES.items()))
        _CACHE["series"] = (run_dir, out_dir, books)
    return _CACHE["series"]


@pytest.fixture(scope="session")
def smoke_series(tmp_path_factory):
    return run_series(tmp_path_factory)


# ---- what a learner sees under the cells ------------------------------------------------------------------------
MAX_STDERR_LINES = 30        # per notebook: one progress bar per step, not one per shard, model load or dataset map
WARNING_RE = r"\b[A-Z]\w*Warning\b"      # a Python warning category (UserWarning:, TqdmWarning:, ...)


def stderr_lines(nb: dict) -> list[str]:
    """The stderr lines of an executed notebook as JupyterLab shows them: consecutive stream outputs of a cell are
    one text, and a carriage return rewrites its line (a console progress bar is one line however often it
    updated); blank lines are not counted."""
    lines = []
    for c in nb["cells"]:
        text = ""
        for o in c.get("outputs", []) + [{"output_type": "end"}]:
            if o["output_type"] == "stream" and o.get("name") == "stderr":
                text += "".join(o.get("text", ""))
                continue
            for line in text.split("\n"):
                shown = next((part for part in reversed(line.split("\r")) if part.strip()), "")
                if shown:
                    lines.append(shown)
            text = ""
    return lines


def python_warnings(nb: dict) -> list[str]:
    """Output lines (stdout or stderr) that carry a Python warning."""
    import re

    found = []
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            if o["output_type"] == "stream":
                found += [line for line in "".join(o.get("text", "")).splitlines() if re.search(WARNING_RE, line)]
    return found
