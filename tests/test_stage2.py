"""Stage II code: M_plus samples, votes and pairs on hand-made samples (gates at their exact boundaries, empty
answers, equivalent answers), the LLaMA-Factory export, DPO/ORPO from M_plus, and the analysis door."""
import pytest

from fixtures.tiny_model.build import build
from stage_helpers import gold_openings, hand_answers
from w2s_lib.run.context import open_run
from w2s_lib.stages.export import read_llama_factory
from test_pairs import grader_pairs
from w2s_lib.method.pairs import DISAGREE_LOW_CONF, LOW_CONFIDENCE, NO_ANSWER, NO_MINORITY, WEAK_CHOSEN, WEAK_REJECTED
from w2s_lib.stages.prepare import prepare
from w2s_lib.tasks.prompts import zero_shot
from w2s_lib.run.records import LeakageError, forbid_gold, load_split
from w2s_lib.run.runstore import StageMissingError
from w2s_lib.stages import stage1, stage2
from w2s_lib.stages.weak import D_WEAK

N = 5     # samples per question: 3/5 = 0.6 and 4/5 = 0.8 sit exactly on the two gates
FAST = {"train": {"overrides": {k: {"num_train_epochs": 1, "per_device_train_batch_size": 8} for k in ("dpo", "orpo")}},
        "stage2": {"n_samples": N}}
LETTERS = "abcdefghijklmnopqrstuvwxyz"

# (weak answer, the 5 sample answers, expected outcome); '' = a response with no final answer
CASES = [
    ("5", ["5", "5", "5", "1", "2"], WEAK_CHOSEN),          # 0.6 passes min_conf exactly; weak = majority
    ("5", ["5", "5", "1", "2", "3"], LOW_CONFIDENCE),       # 0.4
    ("5", ["9", "9", "9", "9", "1"], WEAK_REJECTED),        # 0.8 passes flip_conf exactly; weak differs
    ("5", ["9", "9", "9", "1", "2"], DISAGREE_LOW_CONF),    # 0.6 < 0.8: the weak answer is not overruled
    ("5", ["5", "5", "5", "5", "5"], NO_MINORITY),          # nothing to reject
    ("5", ["", "", "", "5", "1"], NO_ANSWER),               # the most common "answer" is no answer
    ("0.5", ["\\frac12", "1/2", "0.5", "3", "4"], WEAK_CHOSEN),   # equal values vote together
    ("", ["9", "9", "9", "9", "9"], WEAK_REJECTED),         # an empty weak answer always differs
]


def text(q: int, who: str, ans: str) -> str:
    tag = f"{LETTERS[q % 26]}{LETTERS[q // 26]} {who}"
    return f"Steps {tag}.\n#### {ans}" if ans else f"Steps {tag} that never finish"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="module")
def run(tiny, tmp_path_factory):
    """A toy run whose D_weak and samples are hand-written from CASES, M_plus = the tiny model."""
    ctx = open_run("smoke", 0, tmp_path_factory.mktemp("s2") / "run", weak_base=tiny, strong_base=tiny,
                   overrides=FAST, iterations=1)
    prepare(ctx, verbose=False)
    q2 = load_split(ctx.root, "train_2")
    weak = [{"id": q.id, "position": i, "prompt": zero_shot(q.question),
             "response": text(i, "weak", CASES[i % len(CASES)][0]), "pred": CASES[i % len(CASES)][0]}
            for i, q in enumerate(q2)]
    hand_answers(ctx, D_WEAK, weak)
    mp = ctx.store.stage("sft_iter1_hybrid", {"hand": True})      # M_plus: the tiny model, as a pass-through stage
    if not mp.done:
        mp.commit({"model": tiny, "trained": False})
    stage1.declare_m_plus(ctx)
    return ctx


def write_samples(ctx):
    """The samples stage as stage2.sample would write it, with CASES' samples instead of generated ones."""
    q2 = load_split(ctx.root, "train_2")
    items = [{"id": q.id, "position": i} for i, q in enumerate(q2)]
    st = ctx.store.stage(stage2.SAMPLES, {"hand": True}, deps=["data", stage1.M_PLUS])
    if not st.done:
        def fill(batch):
            out = []
            for it in batch:
                answers = CASES[it["position"] % len(CASES)][1]
                out.append({**it, "samples": [text(it["position"], f"s{j}", a) for j, a in enumerate(answers)],
                            "preds": answers})
            return out
        st.sharded("samples", items, 64, fill)
        st.commit({"questions": len(items)})
    return st


def test_sample_stage_shapes(run):
    st = stage2.sample(run)
    rows = stage2.load_samples(run)
    assert len(rows) == 48 and all(len(r["samples"]) == N == len(r["preds"]) for r in rows)
    assert st.metrics["samples"] == 48 * N and st.config["temperature"] == 1.0
    assert stage2.sample(run).hash == st.hash


def test_votes_and_pairs_follow_the_rules(run):
    write_samples(run)
    st = stage2.make_pairs(run, verbose=False)
    votes = stage2.load_votes(run)
    pairs = stage2.load_pairs(run)
    q2 = load_split(run.root, "train_2")
    expected = [CASES[i % len(CASES)][2] for i in range(len(q2))]
    got = [v["branch"] if v["reason"] is None else v["reason"] for v in votes]
    assert got == expected
    conf = {0: 0.6, 1: 0.4, 2: 0.8, 3: 0.6, 4: 1.0, 5: 0.6, 6: 0.6, 7: 1.0}
    assert [v["confidence"] for v in votes] == [pytest.approx(conf[i % len(CASES)]) for i in range(len(q2))]
    m = st.metrics
    assert m["pairs"] == len(pairs) == expected.count(WEAK_CHOSEN) + expected.count(WEAK_REJECTED)
    assert m["weak_chosen"] == expected.count(WEAK_CHOSEN) and m["weak_rejected"] == expected.count(WEAK_REJECTED)
    assert m["skipped"] == {r: expected.count(r) for r in (LOW_CONFIDENCE, NO_ANSWER, NO_MINORITY, DISAGREE_LOW_CONF)}
    weak = {i: text(i, "weak", CASES[i % len(CASES)][0]) for i in range(len(q2))}
    for p in pairs:
        i = p["position"]
        assert p["prompt"] == zero_shot(q2[i].question) and p["id"] == q2[i].id
        if p["branch"] == WEAK_CHOSEN:
            assert p["chosen"] == weak[i] and p["rejected"] != weak[i]
            assert p["rejected"].split("#### ")[-1] in {"1", "2", "3", "4"}      # a minority sample
        else:
            assert p["rejected"] == weak[i] and p["chosen"].endswith("#### 9")
    # the pairs are exactly build_pairs' output for the same questions (same seed: same draws)
    questions = [{"id": q.id, "prompt": zero_shot(q.question), "weak_response": weak[i],
                  "samples": [text(i, f"s{j}", a) for j, a in enumerate(CASES[i % len(CASES)][1])]}
                 for i, q in enumerate(q2)]
    ref, _ = grader_pairs(questions, seed=42, min_conf=0.6, flip_conf=0.8, max_pairs=1)
    assert [(p["id"], p["chosen"], p["rejected"]) for p in pairs] == [(p["id"], p["chosen"], p["rejected"])
                                                                      for p in ref]
    lf = read_llama_factory(st.dir / "llama_factory" / "train_toy_m_plus_paired.json")
    assert [(r["id"], r["instruction"], r["input"], r["output"]) for r in lf] == \
        [(p["position"], p["prompt"], "", [p["chosen"], p["rejected"]]) for p in pairs]


def test_preference_training_from_m_plus(run):
    write_samples(run)
    stage2.make_pairs(run, verbose=False)
    for method in ("dpo", "orpo"):
        st = stage2.train_preference(run, method, verbose=False)
        assert st.metrics["trained"] and st.metrics["pairs"] == len(stage2.load_pairs(run))
        assert st.config["m_plus"] == "sft_iter1_hybrid" and (st.dir / "model" / "config.json").is_file()
    with pytest.raises(ValueError, match="method must be one of"):
        stage2.train_preference(run, "ppo")


def test_no_pairs_keeps_m_plus_unchanged(tiny, tmp_path):
    ctx = open_run("smoke", 0, tmp_path / "run", weak_base=tiny, strong_base=tiny, overrides=FAST, iterations=1)
    with pytest.raises(StageMissingError, match="03_stage1_sft"):
        stage2.sample(ctx)
    prepare(ctx, verbose=False)
    q2 = load_split(ctx.root, "train_2")
    hand_answers(ctx, D_WEAK, [{"id": q.id, "position": i, "prompt": zero_shot(q.question),
                                "response": text(i, "weak", "1"), "pred": "1"} for i, q in enumerate(q2)])
    mp = ctx.store.stage("sft_iter1_hybrid", {"hand": True})
    mp.commit({"model": tiny, "trained": False})
    stage1.declare_m_plus(ctx)
    st = ctx.store.stage(stage2.SAMPLES, {"hand": True}, deps=["data", stage1.M_PLUS])
    st.sharded("samples", [{"id": q.id, "position": i} for i, q in enumerate(q2)], 64,
               lambda b: [{**it, "samples": [text(it["position"], f"s{j}", str(j)) for j in range(N)],
                           "preds": [str(j) for j in range(N)]} for it in b])    # 5 different answers: 0.2
    st.commit({})
    assert stage2.make_pairs(ctx, verbose=False).metrics["pairs"] == 0
    dpo = stage2.train_preference(ctx, "dpo", verbose=False)
    assert dpo.metrics["trained"] is False and ctx.model_of("dpo") == tiny


def test_pair_analysis_opens_the_door_for_analysis_only(run):
    write_samples(run)
    stage2.make_pairs(run, verbose=False)
    with forbid_gold("stage 04"):
        with pytest.raises(LeakageError):
            stage2.pair_analysis(run)
    qa = stage2.pair_analysis(run)
    assert qa["all"]["pairs"] == len(stage2.load_pairs(run))
    assert 0.0 <= qa["all"]["chosen_correct"] <= 1.0
    assert ("analysis", "pair_analysis", True) in gold_openings(run.root)


# ---- OlympicArena: the vote uses the per-answer-type agreement ----------------------------------------------------
def test_olympic_votes_and_up_to_three_pairs(tmp_path, monkeypatch):
    from stage_helpers import olympic_response, olympic_run
    ctx = olympic_run(tmp_path, monkeypatch, stage2={"n_samples": N, "max_pairs_per_question": 3}, stage1={"iterations": 1})
    q2 = load_split(ctx.root, "train_2")
    cases = {  # id: (weak answer, sample answers, expected (branch or skip reason), pairs)
        "Math_55": ("0.5", ["1/2", "\\frac12", "0.5", "0.50", "3"], WEAK_CHOSEN, 1),
        "Physics_13": ("A", ["(A)", "A", "\\text{A}", "B", "C"], WEAK_CHOSEN, 2),
        "Math_3121": ("False", ["True", "true", "True", "TRUE", "True"], WEAK_REJECTED, 3),
    }
    other = ["1", "2", "3", "4", "5"]                                # every other question: 0.2, skipped
    hand_answers(ctx, D_WEAK, [{"id": q.id, "position": i, "prompt": ctx.prompt(q),
                                "response": olympic_response(cases.get(q.id, ("9",))[0]),
                                "pred": ctx.pred(olympic_response(cases.get(q.id, ("9",))[0]), q)}
                               for i, q in enumerate(q2)])
    mp = ctx.store.stage("sft_iter1_hybrid", {"hand": True})
    mp.commit({"model": "given/m-plus", "trained": False})
    stage1.declare_m_plus(ctx)
    st = ctx.store.stage(stage2.SAMPLES, {"hand": True}, deps=["data", stage1.M_PLUS])
    by_id = {q.id: q for q in q2}

    def fill(batch):
        out = []
        for it in batch:
            answers = cases[it["id"]][1] if it["id"] in cases else other
            texts = [olympic_response(a) + f"\n(sample {j})" for j, a in enumerate(answers)]
            out.append({**it, "samples": texts, "preds": [ctx.pred(t, by_id[it["id"]]) for t in texts]})
        return out
    st.sharded("samples", [{"id": q.id, "position": i} for i, q in enumerate(q2)], 64, fill)
    st.commit({})
    pr = stage2.make_pairs(ctx, verbose=False)
    votes = {v["id"]: v for v in stage2.load_votes(ctx)}
    pairs = stage2.load_pairs(ctx)
    for qid, (_, _, outcome, n_pairs) in cases.items():
        assert votes[qid]["branch"] == outcome and votes[qid]["pairs"] == n_pairs, qid
        assert sum(p["id"] == qid for p in pairs) == n_pairs
    assert all(votes[q.id]["reason"] == LOW_CONFIDENCE for q in q2 if q.id not in cases)
    assert pr.metrics["pairs"] == 6 and pr.metrics["weak_chosen"] == 3 and pr.metrics["weak_rejected"] == 3
    chosen_tf = [p["chosen"] for p in pairs if p["id"] == "Math_3121"]
    assert len(set(chosen_tf)) == 3                                 # three different majority texts
    lf = read_llama_factory(pr.dir / "llama_factory" / "train_olympicarena_m_plus_paired.json")
    assert {r["id"] for r in lf} == set(cases)                         # record ids, as the release
