"""w2s_lib.stages.olympic_eval (notebook 05): the OlympicArena-shaped toy set, the evaluation stage on a toy run with a
stand-in for generation (its answers are chosen, so the accuracy is known), the model list, and the
paper-olympicarena path that reuses the run's own test-set evaluation."""
import json
import random
from collections import Counter

import pytest

from stage_helpers import olympic_response, olympic_run
from w2s_lib.stages import olympic_eval as oe
from w2s_lib.run.context import open_run
from w2s_lib.run.data import olympic_record
from w2s_lib.grading.olympic import build_prompt, gold_list, judge, option_letters, prompt_fields
from w2s_lib.stages.prepare import prepare
from w2s_lib.run.records import load_split
from w2s_lib.run.runstore import RunStore, StageMissingError
from w2s_lib.toy.task import Difficulty


# ---- the toy set ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def records():
    return oe.toy_olympic_records(70, seed=3)


def test_toy_set_is_deterministic_balanced_and_distinct(records):
    assert [r.to_dict() for r in oe.toy_olympic_records(70, seed=3)] == [r.to_dict() for r in records]
    assert [r.id for r in records] == [f"toy-olympic-{i:05d}" for i in range(70)]
    kinds = Counter((r.meta["family"], r.meta["answer_type"]) for r in records)
    assert kinds == {k: 10 for k in oe.TOY_KINDS}                  # 7 kinds, equal shares
    assert len({r.question for r in records}) == 70
    assert oe.toy_olympic_records(70, seed=4)[0].question != records[0].question or \
        oe.toy_olympic_records(70, seed=4)[1].question != records[1].question


def test_toy_items_have_the_olympicarena_schema_and_prompt(records):
    for r in records:
        assert set(r.meta) >= {"answer_type", "subject", "unit", "language", "modality", "prompt"}
        assert r.meta["subject"] == "Math" and r.meta["language"] == "EN"
        assert isinstance(json.loads(r.answer), list) and gold_list(r) == json.loads(r.answer)
        p = build_prompt(r)
        assert p.endswith("\n\nAnswer:") and "\n\nQuestion: " in p
        f = prompt_fields(p)                                     # reads back as a release prompt
        assert (f["subject"], f["answer_type"], f["problem"]) == ("Math", r.meta["answer_type"], r.question)
        if r.meta["family"] == "count":
            assert f["unit"] == r.meta["unit"] and r.meta["unit"] in r.question
        else:
            assert r.meta["unit"] is None
        # the HF row schema round-trips through the real loader's record builder
        row = {"id": r.id, "problem": r.question, "answer": gold_list(r), "solution": r.solution, **r.meta}
        assert olympic_record(row, ("x", 1)).answer == r.answer


def test_choice_items_list_their_options_like_olympicarena(records):
    for r in records:
        t = r.meta["answer_type"]
        if t in ("SC", "MC"):
            letters = option_letters(r.question)
            assert letters == list("ABCDE"[:len(letters)]) and len(letters) >= 4
            assert set(gold_list(r)) <= set(letters)
            assert len(gold_list(r)) == 1 if t == "SC" else len(gold_list(r)) >= 2
        if t == "SET":
            assert all(g.isdigit() for g in gold_list(r))


def test_every_item_is_judged_right_on_its_solution_and_wrong_on_another_answer(records):
    rng = random.Random(0)
    for r in records:
        assert judge(r.solution, r), r.id
        assert judge(f"Steps.\nThe final answer is $\\boxed{{{', '.join(gold_list(r))}}}$", r), r.id
        others = [o for o in records if o.meta["answer_type"] == r.meta["answer_type"] and gold_list(o) != gold_list(r)
                  and not (r.meta["answer_type"] == "SET" and set(gold_list(o)) == set(gold_list(r)))]
        other = rng.choice(others)
        wrong = f"The final answer is $\\boxed{{{', '.join(gold_list(other))}}}$"
        if r.meta["answer_type"] == "NV" and judge(wrong, r):    # 2/4 and 1/2 are the same number
            continue
        assert not judge(wrong, r), (r.id, gold_list(r), gold_list(other))


def test_count_items_follow_the_given_difficulty():
    easy = Difficulty(min_terms=2, max_terms=2, group_prob=0.0, remove_prob=0.0, max_value=40)
    counts = [r for r in oe.toy_olympic_records(35, 3, easy) if r.meta["family"] == "count"]
    assert counts and all(int(gold_list(r)[0]) <= 40 and "gives" not in r.question for r in counts)
    with pytest.raises(ValueError, match="n must be >= 1"):
        oe.toy_olympic_records(0)


# ---- the stages, on a toy run with a stand-in for generation -----------------------------------------------------
def fake_generate(right_ids):
    """ctx.generate stand-in: the gold answer (boxed) for ids in right_ids, else '#### 0'. Records are found
    by their prompt."""
    def gen(model, prompts, **kw):
        out = []
        for p in prompts:
            r = gen.by_prompt[p]
            out.append([f"Work.\nThe final answer is $\\boxed{{{', '.join(gold_list(r))}}}$" if r.id in right_ids
                        else "Work.\n#### 0"])
        gen.calls.append((model, len(prompts), kw.get("purpose")))
        return out
    gen.calls = []
    return gen


@pytest.fixture
def toy_run(tmp_path):
    ctx = open_run("smoke", 0, tmp_path / "smoke" / "seed0")
    prepare(ctx, verbose=False)
    for name in ("weak_model", "sft_full_weak", "sft_iter2_hybrid"):
        RunStore(ctx.root).stage(name, {"hand": name}, deps=["data"]).commit({"model": f"fake/{name}"})
    RunStore(ctx.root).stage("m_plus", {"stage": "sft_iter2_hybrid"}).commit({"stage": "sft_iter2_hybrid"})
    return ctx


def test_targets_lists_what_exists_and_says_what_is_missing(toy_run, capsys):
    assert oe.targets(toy_run) == [("weak_model", "weak model"), ("sft_full_weak", "full weak fine-tuning"),
                                   ("sft_iter2_hybrid", "M_plus (sft_iter2_hybrid)")]
    out = capsys.readouterr().out
    assert "skipped: Stage II DPO (stage 'dpo' is missing; notebook 04 makes it)" in out and "ORPO" in out


def test_prepare_set_and_evaluate_a_model(toy_run, monkeypatch):
    ctx = toy_run
    assert oe.default_size(ctx) == 24 and oe.set_kind(ctx) == "toy"
    st = oe.prepare_set(ctx, verbose=False)
    recs = oe.load_records(ctx)
    assert len(recs) == st.metrics["n"] == 24 and st.metrics["overlap_with_run_questions"] >= 0
    assert [r.to_dict() for r in recs] == [r.to_dict() for r in oe.toy_olympic_records(
        24, 3, oe._toy_difficulty(ctx))]                           # the toy world seed's set, smoke difficulty
    right = {r.id for r in recs[::3]}                              # 8 of 24
    gen = fake_generate(right)
    gen.by_prompt = {build_prompt(r): r for r in recs}
    monkeypatch.setattr(ctx, "generate", gen)
    ev = oe.evaluate_model(ctx, "weak_model", verbose=False)
    m = ev.metrics
    assert m["accuracy"] == pytest.approx(8 / 24) and m["n"] == 24 and m["n_correct"] == 8
    assert m["model"] == "fake/weak_model" and gen.calls == [("fake/weak_model", 24, "eval")]
    preds = oe.load_predictions(ctx, "weak_model")
    assert [p["correct"] for p in preds] == [r.id in right for r in recs]
    from w2s_lib.grading.official_olympic import judge_official      # OlympicArena's own judge, recorded beside
    assert [p["correct_official"] for p in preds] == [judge_official(p["response"], r) for p, r in zip(preds, recs)]
    assert m["accuracy_official"] == pytest.approx(sum(p["correct_official"] for p in preds) / 24)
    assert all("prompt" not in p["meta"] for p in preds)
    assert m["no_answer"] == 0                                     # '#### 0' is an answer (a wrong one)
    by_type = m["breakdown"]["answer_type"]
    assert {t: b["n"] for t, b in by_type.items()} == dict(Counter(r.meta["answer_type"] for r in recs))
    for t, b in by_type.items():
        ids = [r.id for r in recs if r.meta["answer_type"] == t]
        assert b["accuracy"] == pytest.approx(sum(i in right for i in ids) / len(ids))
    assert set(m["breakdown"]) == {"answer_type", "subject", "family"}
    # done: a second call reuses the stage, no generation
    assert oe.evaluate_model(ctx, "weak_model", verbose=False).done and len(gen.calls) == 1
    rows = oe.summary(ctx)
    assert [r["stage"] for r in rows] == ["weak_model"] and rows[0]["accuracy"] == pytest.approx(8 / 24)
    assert rows[0]["answer_type=SC"] == by_type["SC"]["accuracy"]


def test_evaluating_before_the_set_or_the_model_says_what_to_run(toy_run):
    with pytest.raises(StageMissingError, match="05_olympicarena_eval"):
        oe.evaluate_model(toy_run, "weak_model", verbose=False)
    oe.prepare_set(toy_run, n=7, verbose=False)
    assert len(oe.load_records(toy_run)) == 7
    with pytest.raises(StageMissingError, match="01-04"):
        oe.evaluate_model(toy_run, "dpo", verbose=False)


def test_a_different_size_rebuilds_the_set(toy_run):
    a = oe.prepare_set(toy_run, n=7, verbose=False)
    b = oe.prepare_set(toy_run, n=14, verbose=False)
    assert a.hash != b.hash and b.metrics["n"] == 14 and len(oe.load_records(toy_run)) == 14


# ---- paper-olympicarena: the run's own test split, through w2s_lib.stages.evaluate -------------------------------
def test_olympicarena_run_reuses_its_test_set_evaluation(tmp_path, monkeypatch):
    from w2s_lib.stages.weak import train_weak
    ctx = olympic_run(tmp_path, monkeypatch)
    assert oe.uses_run_test_set(ctx) and oe.set_kind(ctx) == "run test set"
    train_weak(ctx, verbose=False)                                 # the given weak model: nothing is trained
    test = load_split(ctx.root, "test")
    assert oe.prepare_set(ctx, verbose=False).name == "data" and [r.id for r in oe.load_records(ctx)] == \
        [r.id for r in test]
    right = {r.id for r in test[::2]}
    prompts = {build_prompt(r): r for r in test}
    calls = []

    def gen(model, ps, n=1, **kw):                               # greedy, and n samples for maj@k/pass@k
        calls.append((len(ps), n))
        return [[olympic_response(", ".join(gold_list(prompts[p])) if prompts[p].id in right else "no idea")] * n
                for p in ps]

    monkeypatch.setattr(ctx, "generate", gen)
    st = oe.evaluate_model(ctx, "weak_model", verbose=False)
    assert st.name == "eval_weak_model" and oe.eval_stage(ctx, "weak_model") == "eval_weak_model"
    assert st.metrics["accuracy"] == pytest.approx(len(right) / len(test))
    assert not RunStore(ctx.root).has("olympic_data")
    rows = oe.summary(ctx, keys=("answer_type", "subject"))
    assert rows[0]["stage"] == "weak_model" and rows[0]["n"] == len(test)
    assert any(k.startswith("subject=") for k in rows[0])
    k = ctx.preset.eval['sample_k']
    assert calls == [(len(test), 1)] + ([(len(test), k)] if k else [])
    assert st.metrics.get('pass@k', st.metrics['accuracy']) == st.metrics['accuracy']
    assert [p["correct"] for p in oe.load_predictions(ctx, "weak_model")] == [r.id in right for r in test]
