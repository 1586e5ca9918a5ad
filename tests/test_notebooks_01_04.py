"""Notebooks 01-04 run in order through papermill at the smoke preset, in a temporary run dir, and leave the
artifacts the method needs: counts, schemas, no train_2 gold on the strong side, gold opened only by the ceiling
and the analysis cells. Re-running 01 skips its stages; 02 on an empty run dir says to run 01 first.

The notebooks run once per session (tests/smoke_series.py, shared with the 05/06 tests); their wall times are
printed (pytest -s), never asserted."""
from pathlib import Path

import pytest

from smoke_series import PRESET, SEED, execute, model_params, run_series
from stage_helpers import gold_openings, scan_strong_side
from w2s_lib.stages.export import read_llama_factory
from w2s_lib.run.jsonl import read_json, read_jsonl


def outputs(nb: dict) -> str:
    text = []
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            text.append("".join(o.get("text", "")) if o["output_type"] == "stream" else o["output_type"])
    return "\n".join(text)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """The session's one smoke run of 01-04 (tests/smoke_series.py; 05/06 tests use the same run)."""
    return run_series(tmp_path_factory)


def stage(run_dir: Path, name: str) -> Path:
    d = run_dir / name
    assert (d / "config.json").is_file(), f"stage {name} missing"
    return d


def shards(d: Path, job: str = "answers") -> list[dict]:
    return [r for f in sorted((d / job).glob("shard-*.jsonl")) for r in read_jsonl(f)]


def test_every_notebook_ran_without_errors_and_ends_with_a_table(series):
    _, _, books = series
    for name, nb in books.items():
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, f"{name}: {errors}"
        last = [c for c in nb["cells"] if c["cell_type"] == "code"][-1]
        assert any("text/html" in o.get("data", {}) for o in last["outputs"]), f"{name} does not end with the table"


def test_01_data_weak_model_floor_and_d_weak(series):
    run_dir, _, _ = series
    m = read_json(stage(run_dir, "data") / "metrics.json")
    assert (m["n_train_1"], m["n_train_2"], m["n_test"]) == (48, 48, 24)
    assert read_json(stage(run_dir, "weak_model") / "metrics.json")["rows"] == 48
    assert (run_dir / "weak_model" / "model" / "config.json").is_file()
    ev = read_json(stage(run_dir, "eval_weak_model") / "metrics.json")
    assert ev["n"] == 24 and 0 <= ev["accuracy"] <= 1 and ev["k"] == 4
    assert len(read_jsonl(run_dir / "eval_weak_model" / "predictions.jsonl")) == 24
    rows = shards(stage(run_dir, "d_weak"))
    questions = read_jsonl(run_dir / "data" / "train_2.questions.jsonl")
    assert [r["id"] for r in rows] == [q["id"] for q in questions]
    assert all(set(r) == {"id", "position", "prompt", "response", "pred"} for r in rows)


def test_02_demos_selection_sets_and_exports(series):
    run_dir, _, _ = series
    weak = {r["id"]: r for r in shards(run_dir / "d_weak")}
    demos = read_json(stage(run_dir, "d_icl") / "demos.json")
    assert len(demos) == 4 and all(weak[d["id"]]["pred"] and weak[d["id"]]["response"] == d["response"]
                                   for d in demos)
    assert len(shards(run_dir / "d_icl")) == 48
    sel = stage(run_dir, "selection_iter1")
    m = read_json(sel / "metrics.json")
    decisions = read_jsonl(sel / "decisions.jsonl")
    assert len(decisions) == 48 and sum(d["kept"] for d in decisions) == m["kept"] > 0
    sets = {s: read_jsonl(sel / f"{s}.jsonl") for s in ("weak", "icl", "hybrid")}
    assert len(sets["weak"]) == len(sets["icl"]) == m["kept"] == len(sets["hybrid"]) // 2
    assert [r["source"] for r in sets["hybrid"]] == ["weak", "icl"] * m["kept"]
    for s, rows in sets.items():
        lf = read_llama_factory(sel / "llama_factory" / f"train_toy_iter1_{s}.json")
        assert [(r["id"], r["content"], r["output"]) for r in lf] == \
            [(r["position"], r["prompt"], r["response"]) for r in rows]
    assert read_json(stage(run_dir, "eval_strong_icl") / "metrics.json")["few_shot"] is True


def test_03_stage1_iterations_m_plus_and_baselines(series):
    run_dir, _, _ = series
    for it in (1, 2):
        for s in ("weak", "icl", "hybrid"):
            assert (stage(run_dir, f"sft_iter{it}_{s}") / "model" / "config.json").is_file()
            assert read_json(stage(run_dir, f"eval_sft_iter{it}_{s}") / "metrics.json")["n"] == 24
    for side in ("weak", "icl"):
        assert len(shards(stage(run_dir, f"answers_iter1_{side}"))) == 48
    sel2 = read_json(stage(run_dir, "selection_iter2") / "config.json")["config"]
    assert (sel2["weak_side"], sel2["icl_side"]) == ("answers_iter1_weak", "answers_iter1_icl")
    assert read_json(stage(run_dir, "m_plus") / "metrics.json")["stage"] == "sft_iter2_hybrid"
    assert read_json(stage(run_dir, "sft_full_weak") / "metrics.json")["rows"] == 48
    assert read_json(stage(run_dir, "sft_ceiling") / "metrics.json")["rows"] == 48
    for name in ("sft_full_weak", "sft_ceiling"):
        assert stage(run_dir, f"eval_{name}")


def test_04_samples_pairs_and_preference_models(series):
    run_dir, _, _ = series
    samples = shards(stage(run_dir, "samples"), "samples")
    assert len(samples) == 48 and all(len(r["samples"]) == 4 == len(r["preds"]) for r in samples)
    pairs_dir = stage(run_dir, "pairs")
    votes = read_jsonl(pairs_dir / "votes.jsonl")
    pairs = read_jsonl(pairs_dir / "pairs.jsonl")
    m = read_json(pairs_dir / "metrics.json")
    assert len(votes) == 48 and m["pairs"] == len(pairs) == m["weak_chosen"] + m["weak_rejected"]
    assert m["questions_with_pairs"] + sum(m["skipped"].values()) == 48
    weak = {r["id"]: r["response"] for r in shards(run_dir / "d_weak")}
    for p in pairs:                                   # the weak response is always one side
        assert weak[p["id"]] == (p["chosen"] if p["branch"] == "weak_chosen" else p["rejected"])
    lf = read_llama_factory(pairs_dir / "llama_factory" / "train_toy_m_plus_paired.json")
    assert len(lf) == len(pairs)
    for method in ("dpo", "orpo"):
        assert stage(run_dir, method) and read_json(stage(run_dir, f"eval_{method}") / "metrics.json")["n"] == 24


def test_no_train_2_gold_on_the_strong_side(series):
    run_dir, _, _ = series
    assert scan_strong_side(run_dir) == []
    opened = gold_openings(run_dir)
    assert all(allowed for _, _, allowed in opened)
    # 02's (and 03's) analysis cells, 03's ceiling, 04's analysis cell when there are pairs; later notebooks
    # (05/06, on the same session run) may add analysis openings
    expected = {("analysis", "kept_accuracy"), ("strong_ceiling", "train_ceiling")}
    if read_jsonl(run_dir / "pairs" / "pairs.jsonl"):
        expected.add(("analysis", "pair_analysis"))
    assert expected <= {(p, f) for p, f, _ in opened}
    assert {p for p, _, _ in opened} <= {"analysis", "strong_ceiling", "data_build"}
    assert {f for p, f, _ in opened if p == "data_build"} == {"prepare"}     # 01's data cell only
    assert {f for p, f, _ in opened if p == "strong_ceiling"} == {"train_ceiling"}


def test_rerunning_01_skips_its_stages(series):
    run_dir, out_dir, _ = series
    names = ("data", "weak_model", "eval_weak_model", "d_weak")
    before = {n: (run_dir / n / "config.json").stat().st_mtime_ns for n in names}
    nb = execute("01_weak_data", {"preset": PRESET, "seed": SEED, "run_dir": str(run_dir), **model_params()},
                 out_dir / "again")
    assert {n: (run_dir / n / "config.json").stat().st_mtime_ns for n in names} == before
    text = outputs(nb)
    assert "weak_model: done" in text and "d_weak: done" in text and "eval_weak_model: done" in text


def test_02_on_an_empty_run_dir_says_run_01(tmp_path):
    import papermill
    with pytest.raises(papermill.PapermillExecutionError) as e:
        execute("02_selection", {"preset": PRESET, "seed": SEED, "run_dir": str(tmp_path / "empty"),
                                 **model_params()}, tmp_path)
    assert "01_weak_data" in str(e.value) and "run notebooks/01_weak_data.ipynb first" in str(e.value)


def test_outputs_are_quiet_no_warnings_and_few_stderr_lines(series):
    """A learner reads results, not noise: no Python warning in any output, and at most MAX_STDERR_LINES lines of
    stderr per notebook (one progress bar per step and per training job)."""
    from smoke_series import MAX_STDERR_LINES, python_warnings, stderr_lines

    _, _, books = series
    for name, nb in books.items():
        assert python_warnings(nb) == [], f"{name}: {python_warnings(nb)}"
        lines = stderr_lines(nb)
        assert len(lines) <= MAX_STDERR_LINES, f"{name}: {len(lines)} stderr lines:\n" + "\n".join(lines)


def test_the_noise_counters_count_what_jupyter_shows():
    from smoke_series import python_warnings, stderr_lines

    bar = "\rgenerate:  10%|#  | 1/10\rgenerate: 100%|###| 10/10\n"
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "name": "stderr", "text": bar + "\n" + bar},
        {"output_type": "stream", "name": "stdout", "text": "x.py:3: UserWarning: careful\n  warn()\nresult 1\n"}]}]}
    assert stderr_lines(nb) == ["generate: 100%|###| 10/10"] * 2
    assert python_warnings(nb) == ["x.py:3: UserWarning: careful"]
