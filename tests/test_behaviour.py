"""The smoke run's artifacts are those recorded in benchmarks/results/behaviour_smoke.json: a refactor that
should not change behaviour (issue 17) shows here when it does. The stages of notebooks 01-04 that the
session's smoke series computed are compared file by file (sha256 of every data file, metrics without clocks
and paths). A change meant to change behaviour refreshes the snapshot:
`.venv/bin/python benchmarks/behaviour_check.py smoke --record` (see that script)."""
from __future__ import annotations

import importlib.util
import json

from smoke_series import smoke_series  # noqa: F401 (fixture)
from w2s_lib.run.paths import REPO_ROOT

_spec = importlib.util.spec_from_file_location("behaviour_check", REPO_ROOT / "benchmarks" / "behaviour_check.py")
bc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bc)

# the stages notebooks 01-04 commit at the smoke preset
SERIES_STAGES = {"data", "weak_model", "eval_weak_model", "d_weak", "d_icl", "eval_strong_icl", "selection_iter1",
                 "sft_iter1_hybrid", "selection_iter2", "sft_iter2_hybrid", "m_plus", "sft_full_weak", "sft_ceiling",
                 "samples", "pairs", "dpo", "orpo", "eval_dpo", "eval_orpo"}


def test_smoke_artifacts_are_the_recorded_ones(smoke_series):
    run_dir, _, _ = smoke_series
    recorded = json.loads(bc.snapshot_file("smoke").read_text())["stages"]
    now = bc.snapshot("smoke", run_dir.parent.parent)["stages"]
    assert SERIES_STAGES <= set(now), sorted(SERIES_STAGES - set(now))
    assert set(now) <= set(recorded), f"stages the snapshot does not have: {sorted(set(now) - set(recorded))}"
    differences = bc.diff({s: recorded[s] for s in now}, now)
    assert not differences, "\n".join(differences[:40])
