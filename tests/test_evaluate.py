"""Evaluation: predictions and metrics agree with the grader row by row, maj@k/pass@k on hand-made samples,
breakdowns, the OlympicArena judge path, and the results table with PGR."""
import json
from pathlib import Path

import pytest

from fixtures.tiny_model.build import build
from w2s_lib.run.context import open_run
from w2s_lib.stages.evaluate import (_breakdown, _majority, evaluate, grade, grade_official, load_predictions,
                                     results_table)
from w2s_lib.grading.answers import is_correct
from w2s_lib.stages.prepare import prepare
from w2s_lib.run.records import load_split

FIX = Path(__file__).parent / "fixtures" / "data"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build(tmp_path_factory.mktemp("tiny") / "model"))


def test_majority_vote_for_maj_at_k(tmp_path):
    ctx = open_run("smoke", 0, tmp_path)
    preds = [["3", "4", "4", "3"],            # tie: the answer seen first (3) wins
             ["", "", "", "7"],                # empty answers never win
             ["0.5", "\\frac12", "2", "2"],     # 0.5 and 1/2 vote together and tie with 2: first seen wins
             ["", "", "", ""]]
    correct = [[True, False, False, True], [False, False, False, True], [True, True, False, False],
               [False] * 4]
    assert _majority(ctx, preds, correct) == ([True, True, True, False], [0.5, 0.25, 0.5, 0.0])


def test_breakdown_counts_every_row():
    rows = [{"meta": {"level": 1}, "correct": True}, {"meta": {"level": 1}, "correct": False},
            {"meta": {"level": 2}, "correct": True}, {"meta": {}, "correct": False}]
    b = _breakdown(rows, ["level"])["level"]
    assert b == {"1": {"accuracy": 0.5, "n": 2}, "2": {"accuracy": 1.0, "n": 1}, "None": {"accuracy": 0.0, "n": 1}}


def test_evaluate_tiny_model_matches_the_grader(tiny, tmp_path):
    ctx = open_run("smoke", 0, tmp_path / "run", strong_base=tiny, overrides={"eval": {"breakdown": ["terms"]}})
    prepare(ctx, verbose=False)
    st = evaluate(ctx, "strong_base", model=tiny, verbose=False)
    rows = load_predictions(ctx, "strong_base")
    test = {r.id: r for r in load_split(ctx.root, "test")}
    assert [r["id"] for r in rows] == list(test)
    assert [r["correct"] for r in rows] == [is_correct(r["response"], test[r["id"]].answer) for r in rows]
    m = st.metrics
    assert m["n"] == 24 and m["n_correct"] == sum(r["correct"] for r in rows)
    assert m["accuracy"] == pytest.approx(m["n_correct"] / 24)
    # both verdicts are recorded: the release's grader on every row, and its accuracy
    assert [r["correct_official"] for r in rows] == [is_correct(r["response"], test[r["id"]].answer,
                                                                grader="official") for r in rows]
    assert m["accuracy_official"] == pytest.approx(sum(r["correct_official"] for r in rows) / 24)
    assert m["k"] == 4 and all(len(r["samples"]) == 4 for r in rows)
    assert m["pass@k"] == pytest.approx(sum(any(r["samples_correct"]) for r in rows) / 24)
    assert m["maj@k"] <= m["pass@k"]
    assert m["maj@k"] == pytest.approx(sum(r["maj_correct"] for r in rows) / 24)
    # the majority's share of the samples: a multiple of 1/4; a right majority has at least one right sample
    assert all(r["maj_share"] in (0.0, 0.25, 0.5, 0.75, 1.0) for r in rows)
    assert all(r["maj_share"] > 0 and any(r["samples_correct"]) for r in rows if r["maj_correct"])
    assert sum(v["n"] for v in m["breakdown"]["terms"].values()) == 24
    assert evaluate(ctx, "strong_base", model=tiny, verbose=False).hash == st.hash     # skipped


def test_sample_stages_limits_the_k_samples_to_the_listed_models(tiny, tmp_path):
    sizes = {"train_1": 8, "train_2": 8, "dev": 4, "test": 6}
    ctx = open_run("smoke", 0, tmp_path / "run", strong_base=tiny,
                   overrides={"eval": {"sample_stages": ["sft_ceiling"]}, "dataset": {"sizes": sizes}})
    prepare(ctx, verbose=False)
    m = evaluate(ctx, "strong_base", model=tiny, verbose=False).metrics
    assert "k" not in m and "maj@k" not in m and m["n"] == 6
    assert all("samples" not in r for r in load_predictions(ctx, "strong_base"))


def test_evaluating_a_missing_model_stage_says_what_to_train(tmp_path):
    ctx = open_run("smoke", 0, tmp_path / "run")
    prepare(ctx, verbose=False)
    with pytest.raises(Exception, match="train the model of stage 'dpo' first"):
        evaluate(ctx, "dpo")


def test_olympic_judge_path(tmp_path, monkeypatch):
    import yaml
    p = tmp_path / "oly.yaml"
    p.write_text(yaml.safe_dump({"extends": "smoke", "models": {"weak_model": "x"}, "eval": {"judge": "olympic"},
                                 "dataset": {"name": "olympicarena", "source": str(FIX / "hub" / "OlympicArena"),
                                             "sizes": {}}}))
    import datasets
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")
    ctx = open_run(p, 0, tmp_path / "run")
    prepare(ctx, verbose=False)
    test = load_split(ctx.root, "test")
    gold = [json.loads(r.answer)[0] for r in test]
    right = [f"So the result follows.\nThe final answer is $\\boxed{{{g}}}$" for g in gold]
    assert grade(ctx, right, test) == [True] * len(test)
    assert not any(grade(ctx, ["The final answer is $\\boxed{nothing}$"] * len(test), test))
    assert grade_official(ctx, right, test) == [True] * len(test)       # OlympicArena's own judge agrees
    assert not any(grade_official(ctx, ["The final answer is $\\boxed{nothing}$"] * len(test), test))


def test_results_table_and_pgr(tmp_path):
    ctx = open_run("smoke", 0, tmp_path / "run")
    for name, acc in (("weak_model", 0.2), ("sft_iter2_hybrid", 0.5), ("dpo", 0.6), ("sft_ceiling", 0.7)):
        st = ctx.store.stage(f"eval_{name}", {"hand": True})
        st.commit({"accuracy": acc, "n": 10})
    rows = results_table(ctx)
    assert [r["stage"] for r in rows] == ["weak_model", "sft_iter2_hybrid", "dpo", "sft_ceiling"]
    assert [r["PGR"] for r in rows] == pytest.approx([0.0, 0.6, 0.8, 1.0])
