"""The forward-looking setup end to end at the smoke-olympic preset (toy-olympic at a few dozen rows): notebooks
01-05 through `pipeline.run_seed` and 06 through `pipeline.run_report`, as `make demo-olympic` runs them. Checks
what they leave: no train_1, a given weak model, no strong ceiling, 05's reuse of the eval stages, and results.json's
`olympic` key (per model, per seed, by answer type, against the weak model) equal to the predictions it summarises.

Per-notebook wall times are printed (pytest -s), never asserted."""
import json
import time

import pytest

from stage_helpers import toy_models
from w2s_lib.method.stats import sign_test_p
from w2s_lib.run.jsonl import read_json, read_jsonl
from w2s_lib.run.paths import NOTEBOOKS_DIR
from w2s_lib.run.pipeline import Notebook, run_report, run_seed

PRESET, SEED = "smoke-olympic", 0
SERIES = ("01_weak_data", "02_selection", "03_stage1_sft", "04_stage2_preference", "05_olympicarena_eval")
STAGES = {"weak": "weak_model", "full_weak_ft": "sft_full_weak", "m_plus": "sft_iter2_hybrid", "stage2_dpo": "dpo",
          "stage2_orpo": "orpo"}


@pytest.fixture(scope="module")
def olympic_run(tmp_path_factory):
    toy_models()                                   # skips when the toy models are absent
    runs_dir = tmp_path_factory.mktemp("olympic_runs")
    times = {}
    for name in SERIES:
        start = time.time()
        run_seed(PRESET, SEED, [Notebook(name[:2], NOTEBOOKS_DIR / f"{name}.ipynb")], runs_dir)
        times[name[:2]] = time.time() - start
    start = time.time()
    report = run_report(PRESET, Notebook("06", NOTEBOOKS_DIR / "06_results.ipynb"), runs_dir, [SEED])
    times["06"] = time.time() - start
    print("\nsmoke-olympic wall times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    return runs_dir / PRESET / f"seed{SEED}", report


def test_the_weak_model_is_given_and_there_is_no_ceiling(olympic_run):
    run_dir, _ = olympic_run
    assert read_json(run_dir / "weak_model" / "metrics.json")["given"] is True
    assert read_json(run_dir / "data" / "metrics.json")["n_train_1"] == 0
    assert not (run_dir / "sft_ceiling").exists() and not (run_dir / "eval_sft_ceiling").exists()
    assert not (run_dir / "olympic_data").exists()          # 05 scores the run's own test split
    # nothing opened train_2 gold but the data build (and there is none to open)
    purposes = {json.loads(line)["purpose"] for line in (run_dir / "gold_access.jsonl").read_text().splitlines()}
    assert purposes == {"data_build"}


def test_results_json_olympic_key_matches_the_predictions(olympic_run):
    run_dir, report = olympic_run
    res = json.loads((report.parent / "results.json").read_text())
    oly = res["olympic"]
    assert oly["seeds"] == [SEED] and "no strong ceiling" in oly["no_pgr"]
    assert set(oly["models"]) == set(STAGES)
    weak = {p["id"]: p for p in read_jsonl(run_dir / "eval_weak_model" / "predictions.jsonl")}
    for key, stage in STAGES.items():
        preds = read_jsonl(run_dir / f"eval_{stage}" / "predictions.jsonl")
        m = oly["models"][key]
        assert m["per_seed"] == {str(SEED): sum(p["correct"] for p in preds) / len(preds)} and len(preds) == 28
        for t, acc in m["answer_type"].items():
            of_t = [p["correct"] for p in preds if p["meta"]["answer_type"] == t]
            assert acc == sum(of_t) / len(of_t)
        if key == "weak":
            continue
        better = sum(p["correct"] and not weak[p["id"]]["correct"] for p in preds)
        worse = sum(weak[p["id"]]["correct"] and not p["correct"] for p in preds)
        assert (m["vs_weak"]["better"], m["vs_weak"]["worse"]) == (better, worse)
        assert m["vs_weak"]["p"] == sign_test_p(better, worse)
    best = oly["best_method"]
    assert best["key"] in ("m_plus", "stage2_dpo", "stage2_orpo")
    assert best["accuracy"] == max(oly["models"][k]["accuracy"] for k in ("m_plus", "stage2_dpo", "stage2_orpo"))
    assert res["pgr_note"].startswith("PGR undefined: no strong ceiling")


def test_the_report_has_the_forward_looking_table(olympic_run):
    _, report = olympic_run
    text = report.read_text()
    assert "## The forward-looking setup: accuracy by answer type (notebook 05)" in text
    assert "vs weak: better / worse (sign p)" in text and "Best method model:" in text
