"""Committed notebooks carry no outputs and exactly one papermill `parameters` cell."""
import json

import pytest

from w2s_lib.paths import NOTEBOOKS_DIR

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
