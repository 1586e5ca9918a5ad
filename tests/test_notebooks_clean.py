"""Committed notebooks carry no outputs and exactly one papermill `parameters` cell, every line of which papermill
can parse (so `papermill --help-notebook` lists it and runs print no parse warning)."""
import importlib
import inspect
import json
import re

import pytest

from w2s_lib.run.paths import NOTEBOOKS_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def problems(path):
    nb = json.loads(path.read_text())
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
            found.append(f"cell {i} has stored outputs or an execution count (run `make strip`)")
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        found.append(f"{len(tagged)} cells tagged 'parameters' (papermill needs exactly one)")
    else:
        from papermill.translators import PythonTranslator
        src = "".join(tagged[0]["source"])
        parsed = {p.name for p in PythonTranslator.inspect({"source": src})}
        for n, line in enumerate(src.splitlines(), 1):
            m = re.match(r"^(\w+)\s*(:[^=]*)?=", line)
            if m and m.group(1) not in parsed:
                found.append(f"parameters line {n} does not parse for papermill (an '=' in its comment?): {line!r}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stripped_and_parameterised(path):
    assert problems(path) == [], f"{path.name}: {problems(path)}"


def test_checker_catches_outputs_and_missing_parameters(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "x=1", "outputs": [{"output_type": "stream"}],
                     "execution_count": 1}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    p = tmp_path / "bad.ipynb"
    p.write_text(json.dumps(nb))
    found = problems(p)
    assert any("stored outputs" in f for f in found)
    assert any("0 cells tagged" in f for f in found)
    nb["cells"][0].update(metadata={"tags": ["parameters"]}, outputs=[], execution_count=None,
                          source="a: int = 1   # fine\nb: int = 0   # 0: b = the default\n")
    p.write_text(json.dumps(nb))
    assert problems(p) == ["parameters line 2 does not parse for papermill (an '=' in its comment?): "
                           "'b: int = 0   # 0: b = the default'"]


def test_notebook_kernelspec_is_the_one_make_setup_installs():
    """JupyterLab rewrites a notebook's kernelspec to the running kernel's on open; a different display name marks
    the notebook modified, and autosave then writes outputs into notebooks/. So every notebook names the kernel
    exactly as the Makefile installs it (`ipykernel install --name ... --display-name ...`)."""
    from w2s_lib.run.paths import REPO_ROOT

    make = (REPO_ROOT / "Makefile").read_text()
    m = re.search(r"ipykernel install --sys-prefix --name (\S+) --display-name \"([^\"]+)\"", make)
    assert m, "the Makefile's setup no longer installs a named kernel"
    want = {"name": m.group(1), "display_name": m.group(2), "language": "python"}
    for path in NOTEBOOKS:
        assert json.loads(path.read_text())["metadata"]["kernelspec"] == want, path.name


# Each stage's rule is shown as code in its notebook: the library's pure function (w2s_lib.method) displayed with
# inspect.getsource, then called on the run's records and checked against the stage's output (an assert in the
# notebook, so the smoke runs of test_notebooks_01_04 / 05_06 fail if the rule and the stage ever part ways).
# notebook: (functions displayed, functions called on the run's records in a cell that asserts)
RULE_CELLS = {"02_selection.ipynb": (("choose_demos", "keep_reason"), ("choose_demos", "keep_reason")),
              "03_stage1_sft.ipynb": (("build_sets",), ("build_sets",)),
              "04_stage2_preference.ipynb": (("vote", "passes", "pairs_for_question"), ("build_pairs", "vote")),
              "06_results.ipynb": (("pgr",), ("pgr",))}


@pytest.mark.parametrize("name", sorted(RULE_CELLS))
def test_notebook_shows_its_rule_as_code_and_checks_it(name):
    cells = ["".join(c["source"]) for c in json.loads((NOTEBOOKS_DIR / name).read_text())["cells"]
             if c["cell_type"] == "code"]
    shown_fns, called_fns = RULE_CELLS[name]
    for fn in shown_fns:
        shown = [c for c in cells if f"getsource({fn})" in c]
        assert shown, f"{name}: no cell displays getsource({fn})"
        m = re.search(rf"from (w2s_lib\.method\.\w+) import [^\n]*\b{fn}\b", shown[0])
        assert m, f"{name}: {fn} is not imported from w2s_lib.method in the cell that shows it"
        obj = getattr(importlib.import_module(m.group(1)), fn)
        assert inspect.isfunction(obj) and obj.__module__ == m.group(1), f"{name}: {fn} is not defined in {m.group(1)}"
    for fn in called_fns:
        called = [c for c in cells if re.search(rf"\b{fn}\(", c.replace(f"getsource({fn})", "")) and "assert" in c]
        assert called, f"{name}: no cell calls {fn} and checks the result against the stage"
