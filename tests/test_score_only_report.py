"""A SCORE-only preset end to end (smoke-score: the path of paper-score-* and single-gpu-score at the smoke size):
the pipeline runs 07, 08, then the report 06, which writes results.json with the key `score` and report.md with
SCORE's section only (no weak-to-strong series ran, so there is no results table and no PGR)."""
import json

import pytest

from stage_helpers import toy_models
from w2s_lib.report.score import score_summary, write_score_report
from w2s_lib.run.pipeline import main
from w2s_lib.run.presets import load_preset

PRESET = "smoke-score"


@pytest.fixture(scope="module")
def score_only_run(tmp_path_factory):
    toy_models()                                   # skips when the toy models are absent
    runs = tmp_path_factory.mktemp("score_only_runs")
    assert main(["--preset", PRESET, "--runs-dir", str(runs), "--report"]) == 0
    return runs / PRESET


def test_only_07_08_ran_and_06_wrote_the_score_report(score_only_run):
    seed_dir = score_only_run / "seed0"
    assert sorted(p.name for p in (seed_dir / "notebooks").glob("*.ipynb")) == ["07_score_data.ipynb",
                                                                                "08_score_verify.ipynb"]
    assert not any(seed_dir.glob("eval_*")) and not (seed_dir / "weak_model").exists()
    res = json.loads((score_only_run / "results.json").read_text())
    assert res["preset"] == PRESET and res["seeds"] == [0] and res["series"].startswith("SCORE only")
    mine = score_summary(load_preset(PRESET), {0: seed_dir})
    assert res["score"]["initial"] == pytest.approx(mine["initial"])
    assert res["score"]["pooled_sign_tests"] == json.loads(json.dumps(mine["pooled_sign_tests"]))
    text = (score_only_run / "report.md").read_text()
    assert "## SCORE: verify, then refine (notebooks 07-08)" in text and "SCORE refiner" in text
    assert "PGR" not in text.replace("no PGR", "")


def test_a_score_only_report_without_08_names_the_command(tmp_path):
    (tmp_path / PRESET / "seed0").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no seed has finished notebook 08.*--preset smoke-score"):
        write_score_report(PRESET, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"seed\(s\) \[3\]"):
        write_score_report(PRESET, tmp_path, [3])
