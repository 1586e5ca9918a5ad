"""Notebooks 05 and 06 at the smoke preset, on the session's smoke run of 01-04 (tests/smoke_series.py), executed
the way `make demo` executes them: 05 through `pipeline.run_seed` (parameters preset, seed, run_dir) and 06 through
`pipeline.run_report` (preset, seeds, runs_dir). Checks what they leave: the OlympicArena-shaped set and its
judged answers, results.json (values equal to the eval stages they summarise), report.md and the PNGs.

Per-notebook wall times are printed (pytest -s), never asserted."""
import json
import time

import pytest

from smoke_series import PRESET, SEED, smoke_series  # noqa: F401  (session fixture)
from stage_helpers import gold_openings
from w2s_lib import report as analysis
from w2s_lib.run.jsonl import read_json, read_jsonl
from w2s_lib.grading.olympic import judge
from w2s_lib.run.paths import NOTEBOOKS_DIR
from w2s_lib.run.pipeline import Notebook, run_report, run_seed
from w2s_lib.run.records import Record

MODELS = ("weak_model", "sft_full_weak", "sft_iter2_hybrid", "dpo", "orpo")
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def after_05_06(smoke_series):
    run_dir, _, _ = smoke_series
    runs_dir = run_dir.parent.parent
    opened_before = len(gold_openings(run_dir))
    start = time.time()
    run_seed(PRESET, SEED, [Notebook("05", NOTEBOOKS_DIR / "05_olympicarena_eval.ipynb")], runs_dir)
    TIMES["05"] = time.time() - start
    start = time.time()
    report = run_report(PRESET, Notebook("06", NOTEBOOKS_DIR / "06_results.ipynb"), runs_dir, [SEED])
    TIMES["06"] = time.time() - start
    print("\nsmoke wall times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMES.items()))
    return run_dir, report, opened_before


def metrics(run_dir, stage):
    d = run_dir / stage
    assert (d / "config.json").is_file(), f"stage {stage} missing"
    return read_json(d / "metrics.json")


def test_05_builds_the_olympic_shaped_set(after_05_06):
    run_dir, _, _ = after_05_06
    m = metrics(run_dir, "olympic_data")
    f = run_dir / "olympic_data" / "records.jsonl"
    records = [Record.from_dict(o, f, i) for i, o in enumerate(read_jsonl(f), 1)]
    assert m["n"] == len(records) == 24                       # smoke test size (24 <= 313)
    # 7 kinds in turn over 24 items: count, fraction (both NV), tuple get 4; choice, set-as-MC, truefalse, set 3
    assert m["answer_types"] == {"NV": 8, "TUP": 4, "SC": 3, "MC": 3, "TF": 3, "SET": 3}
    assert all(judge(r.solution, r) for r in records)         # each item's own solution passes the judge


def test_05_evaluates_every_model_and_stores_the_judges_verdicts(after_05_06):
    run_dir, _, _ = after_05_06
    f = run_dir / "olympic_data" / "records.jsonl"
    records = {o["id"]: Record.from_dict(o, f, i) for i, o in enumerate(read_jsonl(f), 1)}
    for name in MODELS:
        m = metrics(run_dir, f"olympic_eval_{name}")
        preds = read_jsonl(run_dir / f"olympic_eval_{name}" / "predictions.jsonl")
        assert [p["id"] for p in preds] == list(records)
        assert [p["correct"] for p in preds] == [judge(p["response"], records[p["id"]]) for p in preds]
        assert m["n"] == 24 and m["accuracy"] == sum(p["correct"] for p in preds) / 24
        assert m["no_answer"] == sum(not p["pred"] for p in preds)
        by_type = m["breakdown"]["answer_type"]
        assert sum(b["n"] for b in by_type.values()) == 24


def test_06_results_json_matches_the_eval_stages(after_05_06):
    run_dir, report, _ = after_05_06
    res = json.loads((report.parent / "results.json").read_text())
    assert res["preset"] == PRESET and res["seeds"] == [SEED]
    acc = {k: metrics(run_dir, f"eval_{s}")["accuracy"] for k, s in
           (("weak", "weak_model"), ("full_weak_ft", "sft_full_weak"), ("stage1_iter1", "sft_iter1_hybrid"),
            ("stage1_iter2", "sft_iter2_hybrid"), ("stage2_dpo", "dpo"), ("stage2_orpo", "orpo"),
            ("strong_ceiling", "sft_ceiling"), ("strong_icl", "strong_icl"), ("stage1_iter1_weak", "sft_iter1_weak"),
            ("stage1_iter2_icl", "sft_iter2_icl"), ("m_plus", "sft_iter2_hybrid"))}
    for k, v in acc.items():
        assert res[k] == pytest.approx(v), k
        assert res["per_seed"][str(SEED)]["accuracy"][k] == pytest.approx(v), k
    gap = acc["strong_ceiling"] - acc["weak"]
    for k in analysis.REQUIRED_KEYS:
        want = (acc[k] - acc["weak"]) / gap if gap > 0 else None
        assert res["pgr"][k] == (pytest.approx(want) if want is not None else None), k
    assert res["maj@k"]["weak"] == pytest.approx(metrics(run_dir, "eval_weak_model")["maj@k"]) and res["k"] == 4
    assert set(res["olympic"]) == {"weak", "full_weak_ft", "stage1_iter2_hybrid", "stage2_dpo", "stage2_orpo"}
    assert res["olympic"]["stage2_dpo"]["accuracy"] == metrics(run_dir, "olympic_eval_dpo")["accuracy"]


def test_06_writes_the_report_and_the_plots(after_05_06):
    run_dir, report, _ = after_05_06
    text = report.read_text()
    for needle in ("| model | accuracy (mean) |", "weak floor (weak model)", "M_plus (Stage I iter 2, hybrid set)",
                   "Stage II DPO (from M_plus)", "strong ceiling", "## Reading the numbers",
                   "## Selection quality (analysis only", "## OlympicArena-shaped evaluation",
                   "no paper counterpart", "(accuracy.png)", "(selection.png)"):
        assert needle in text, needle
    for png in ("accuracy.png", "selection.png"):
        data = (report.parent / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, png
    assert (report.parent / "notebooks" / "06_results.ipynb").is_file()   # the executed notebook, as make demo


def test_06_opens_train_2_gold_only_for_analysis(after_05_06):
    run_dir, _, before = after_05_06
    new = gold_openings(run_dir)[before:]
    assert new and {(p, f, ok) for p, f, ok in new} <= {("analysis", "kept_accuracy", True),
                                                         ("analysis", "pair_analysis", True)}


def test_05_and_06_outputs_are_quiet(after_05_06):
    """No Python warning and at most MAX_STDERR_LINES stderr lines in the executed 05 and 06 (as in 01-04)."""
    from smoke_series import MAX_STDERR_LINES, python_warnings, stderr_lines

    run_dir, report, _ = after_05_06
    for path in (run_dir / "notebooks" / "05_olympicarena_eval.ipynb",
                 report.parent / "notebooks" / "06_results.ipynb"):
        nb = json.loads(path.read_text())
        assert python_warnings(nb) == [], f"{path.name}: {python_warnings(nb)}"
        assert len(stderr_lines(nb)) <= MAX_STDERR_LINES, f"{path.name}: " + "\n".join(stderr_lines(nb))
