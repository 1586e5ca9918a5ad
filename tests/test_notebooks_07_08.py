"""Notebooks 07 and 08 (SCORE) at the smoke preset, on the session's smoke run (tests/smoke_series.py: 07 reads
only its `data` stage), executed the way `make demo` executes them (`pipeline.run_seed`), then 06 through
`pipeline.run_report`. Checks what they leave against SCORE's rules recomputed from the artifacts: the pairs, the
rule filter's verdicts, the refinement filter and the refiner's rows, verify-then-refine per verifier, results.json's
`score` key and the report's SCORE table; and that no SCORE stage opens train_2 gold.

Per-notebook wall times are printed (pytest -s), never asserted. Accuracies at this size mean nothing."""
import json
import time

import pytest

from smoke_series import PRESET, SEED, smoke_series  # noqa: F401  (session fixture)
from stage_helpers import gold_openings
from w2s_lib.method import score as sr
from w2s_lib.run.context import open_run
from w2s_lib.run.jsonl import read_json
from w2s_lib.run.paths import NOTEBOOKS_DIR
from w2s_lib.run.pipeline import Notebook, run_report, run_seed
from w2s_lib.stages import score, score_eval
from w2s_lib.tasks import score_prompts as SP

TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def after_07_08(smoke_series):
    run_dir, _, _ = smoke_series
    runs_dir = run_dir.parent.parent
    opened_before = len(gold_openings(run_dir))
    for step, name in (("07", "07_score_data"), ("08", "08_score_verify")):
        start = time.time()
        run_seed(PRESET, SEED, [Notebook(step, NOTEBOOKS_DIR / f"{name}.ipynb")], runs_dir)
        TIMES[step] = time.time() - start
    start = time.time()
    report = run_report(PRESET, Notebook("06", NOTEBOOKS_DIR / "06_results.ipynb"), runs_dir, [SEED])
    TIMES["06"] = time.time() - start
    print("\nsmoke SCORE wall times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMES.items()))
    return open_run(PRESET, SEED, run_dir), report, opened_before


def test_splits_are_train_1_without_and_with_its_tail_and_never_train_2(after_07_08):
    ctx, _, before = after_07_08
    sp = score.splits(ctx)
    n_dev = ctx.preset.score["dev_size"]
    from w2s_lib.run.records import load_split
    train_1 = load_split(ctx.root, "train_1")
    assert [r.id for r in sp["dev"]] == [r.id for r in train_1[-n_dev:]]
    demo_ids = {r.id for r in score.demos(ctx)}
    assert len(demo_ids) == ctx.preset.score["sample_demos"]
    assert [r.id for r in sp["train"]] == [r.id for r in train_1[:-n_dev] if r.id not in demo_ids]
    train_2 = {q.id for q in load_split(ctx.root, "train_2")}
    assert not train_2 & {r.id for s in sp.values() for r in s}
    assert gold_openings(ctx.root)[before:] == [] or \
        all(p == "analysis" for p, _, _ in gold_openings(ctx.root)[before:])   # 06's analysis cells only


def test_samples_are_labelled_by_gold(after_07_08):
    ctx, _, _ = after_07_08
    rows = score.load_samples(ctx)
    by_id = {r.id: r for r in score.splits(ctx)["train"]}
    assert [r["id"] for r in rows] == list(by_id)
    n = ctx.preset.score["n_samples"]
    for r in rows:
        assert len(r["samples"]) == len(r["correct"]) == n
        assert r["correct"] == ctx.task.grade([SP.from_steps(s) for s in r["samples"]], [by_id[r["id"]]] * n) or \
            not all(s.strip() for s in r["samples"])


def test_critiques_are_the_pairs_and_the_rule_filter_recomputes(after_07_08):
    ctx, _, _ = after_07_08
    crit = score.load_critiques(ctx)
    sc = ctx.preset.score
    want = score.pairs(score.load_samples(ctx), sc["pairs_per_question"], sc["pair_seed"])
    assert [(c["id"], c["wrong"], c["hint"]) for c in crit] == [(p["id"], p["wrong"], p["hint"]) for p in want]
    gold = {r.id: r.answer for r in score.splits(ctx)["train"]}
    for c in crit:
        v = sr.rule_filter(c["wrong"], c["critique"], gold[c["id"]])
        assert v.reason == c["reason"] and bool(c["kept"]) == v.kept
    m = ctx.store.require("score_critiques").metrics
    assert m["pairs"] == len(crit) and sum(m["reasons"].values()) == len(crit)


def test_refiner_rows_are_refinements_that_reached_gold(after_07_08):
    ctx, _, _ = after_07_08
    refs = score.load_refinements(ctx)
    crit = score.load_critiques(ctx)
    assert [(r["id"], r["wrong"]) for r in refs] == [(c["id"], c["wrong"]) for c in crit if c["kept"]]
    rows = score.refiner_rows(ctx)
    by_id = {r.id: r for r in score.splits(ctx)["train"]}
    assert len(rows) == len({(r["prompt"], r["completion"]) for r in rows})
    for row in rows:
        head, corrected = sr.split_refinement(row["completion"])
        assert head.startswith("Step ") and corrected
        assert ctx.task.grade([SP.from_steps(corrected)], [by_id[row["id"]]])[0]
        assert row["prompt"].endswith(SP.REVIEW)
    f = score.funnel(ctx)
    assert f["pairs"] >= f["after_rule_filter"] >= f["after_refinement_filter"] >= f["refiner_rows"] == len(rows)
    st = ctx.store.require("score_refiner")
    if rows:
        assert (st.dir / "model" / "config.json").is_file() and st.metrics["rows"] == len(rows)
    else:   # no critique survived: no refiner, said and recorded; 08 asks the untrained small model
        assert st.metrics["trained"] is False and st.metrics["model"] == score.small_model(ctx)
        assert score.refiner_path(ctx) == score.small_model(ctx)


def test_verify_then_refine_per_verifier(after_07_08):
    ctx, _, _ = after_07_08
    initial = score_eval.load_initial(ctx)
    refined = score_eval.load_refined(ctx)
    assert [(r["split"], r["id"]) for r in initial] == [(r["split"], r["id"]) for r in refined]
    o = score_eval.outcomes(ctx, "test")
    test_ok = [r["correct"] for r in initial if r["split"] == "test"]
    assert o["n"] == len(test_ok) == ctx.store.require("data").metrics["n_test"]
    assert set(o["table"]["score"]) == {"oracle", "self_verifier", "self_prompted", "strong_prompted"}
    oracle = o["table"]["score"]["oracle"]
    assert oracle["broken"] == 0 and oracle["flagged"] == test_ok.count(False)
    ref_ok = [r["refined_correct"] for r in refined if r["split"] == "test"]
    assert oracle["fixed"] == sum(1 for i, r in zip(test_ok, ref_ok) if not i and r)
    t = o["threshold"]["value"]
    lo, hi, _ = ctx.preset.score["threshold_grid"]
    assert lo <= t <= hi
    p = [r["p_incorrect"] for r in score_eval.load_p_incorrect(ctx) if r["split"] == "test"]
    assert all(0.0 <= x <= 1.0 for x in p) and len(p) == len(test_ok)
    assert o["table"]["score"]["self_verifier"]["flagged"] == sum(x >= t - 1e-12 for x in p)
    checks = score_eval.load_checks(ctx, "strong_prompted")
    assert [c["flag"] for c in checks] == [SP.read_verdict(c["check"]) for c in checks]
    # the baseline "strong model as refiner": one row per test solution, graded; under the oracle nothing breaks
    strong = score_eval.load_strong_refined(ctx)
    assert [r["id"] for r in strong] == [r["id"] for r in initial if r["split"] == "test"]
    assert set(o["table"]["strong_refine"]) == {"oracle", "strong_prompted"}
    so = o["table"]["strong_refine"]["oracle"]
    assert so["broken"] == 0 and so["fixed"] == sum(1 for i, r in zip(test_ok, strong)
                                                     if not i and r["strong_refined_correct"])


def test_06_results_json_has_score_and_the_report_its_table(after_07_08):
    ctx, report, _ = after_07_08
    res = json.loads((report.parent / "results.json").read_text())
    s = res["score"]
    mine = score_eval.results(ctx)
    for k in ("initial", "refined_oracle", "refined_self_verifier", "refined_strong_verifier", "self_refine_oracle",
              "strong_refine_oracle"):
        assert s[k] == pytest.approx(mine[k]), k
        assert s["per_seed"][str(SEED)][k] == pytest.approx(mine[k]), k
    for v in ("oracle", "self_verifier", "self_prompted", "strong_prompted"):
        assert set(s[v]) == {"precision", "recall"}
    assert s["pooled_sign_tests"]["score/oracle"]["broken"] == 0
    assert s["pooled_sign_tests"]["strong_refine/oracle"]["broken"] == 0
    text = report.read_text()
    assert "## SCORE: verify, then refine" in text and "SCORE refiner" in text


def test_07_and_08_outputs_are_quiet(after_07_08):
    from smoke_series import MAX_STDERR_LINES, python_warnings, stderr_lines
    ctx, _, _ = after_07_08
    for name in ("07_score_data", "08_score_verify"):
        nb = json.loads((ctx.root / "notebooks" / f"{name}.ipynb").read_text())
        assert python_warnings(nb) == [], f"{name}: {python_warnings(nb)}"
        assert len(stderr_lines(nb)) <= MAX_STDERR_LINES, f"{name}: " + "\n".join(stderr_lines(nb))
    assert read_json(ctx.root / "score_refiner" / "metrics.json")["rows"] == len(score.refiner_rows(ctx))
