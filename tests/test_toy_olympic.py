"""The toy forward-looking world (issue #19): the bounded OlympicArena-shaped generator, the compact toy prompt, the
toy-olympic dataset (no train_1, train_2 without gold), the weak model's instruct phase, and the forward summary
(each model against the as-is weak model, per answer type, with a sign test)."""
import collections
import dataclasses
import json
import re
from pathlib import Path

import pytest

from w2s_lib.grading.olympic import judge_batch
from w2s_lib.method.stats import sign_test_p
from w2s_lib.report.olympic import MODELS, _paired, forward_summary, versus_weak
from w2s_lib.run.context import open_run
from w2s_lib.run.presets import load_preset
from w2s_lib.run.records import Record, load_split, reference_gold
from w2s_lib.toy.olympic_world import TOY_KINDS, numbers_within, toy_olympic_records
from w2s_lib.stages.prepare import prepare
from w2s_lib.tasks import ToyOlympicTask, task_for
from w2s_lib.toy import olympic_phase as op
from w2s_lib.toy.build import MODELS as RECIPES, TASK
from w2s_lib.toy.olympic_world import TYPE_LINE, toy_prompt
from w2s_lib.toy.score_vocab import TOY_DATA, shipped_tokenizer
from w2s_lib.toy.tokenizer import unknown_pieces

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def records():
    return toy_olympic_records(700, seed=5, difficulty=TASK, max_number=49)


def test_bounded_records_keep_every_number_under_the_bound_and_every_kind(records):
    assert all(numbers_within((r.question, r.solution), 49) for r in records)
    counts = collections.Counter((r.meta["family"], r.meta["answer_type"]) for r in records)
    assert set(counts) == set(TOY_KINDS) and set(counts.values()) == {100}     # 700 items, 7 kinds in turn
    # without the bound the families write bigger numbers (the bound is a real filter, not a no-op)
    free = toy_olympic_records(700, seed=5, difficulty=TASK)
    assert not all(numbers_within((r.question, r.solution), 49) for r in free)
    assert numbers_within(["12 and 49"], 49) and not numbers_within(["12 and 50"], 49)


def test_every_gold_solution_passes_the_judge_and_reads_in_the_toy_vocabulary(records):
    assert all(judge_batch([r.solution for r in records], records, progress=False))
    tok = shipped_tokenizer()
    unknown = collections.Counter(p for r in records for p in unknown_pieces(tok, toy_prompt(r) + " " + r.solution))
    assert not unknown, f"pieces outside the toy vocabulary: {unknown.most_common(5)}"
    sets = [r for r in records if r.meta["answer_type"] == "SET"]
    assert all(re.search(r"\\boxed\{\\\{[\d, ]+\\\}\}\$$", r.solution) for r in sets)   # LaTeX sets
    mc = [r for r in records if r.meta["answer_type"] == "MC"]
    assert all(r.question.count("\n") == 5 and len(json.loads(r.answer)) >= 2 for r in mc)  # 4 options, >= 2 right


def test_exclude_and_id_prefix(records):
    held = {r.question for r in records[:50]}
    other = toy_olympic_records(300, seed=5, difficulty=TASK, max_number=49, exclude=held, id_prefix="x")
    assert not held & {r.question for r in other}
    assert [r.id for r in other[:2]] == ["x-00000", "x-00001"]


def test_toy_prompt_is_the_type_sentence_the_question_and_answer():
    rec = next(r for r in toy_olympic_records(20, seed=1, difficulty=TASK, max_number=49)
               if r.meta["answer_type"] == "SC")
    p = toy_prompt(rec)
    assert p.startswith("This is a multiple choice question (only one correct answer).\nQuestion: ")
    assert p.endswith("\nD: " + rec.question.split("D: ")[1] + "\nAnswer:") and "\n\n" not in p
    bad = Record("r-7", "What?", None, None, {"answer_type": "XX"})
    with pytest.raises(ValueError, match="r-7.*XX"):
        toy_prompt(bad)


def test_the_preset_uses_the_toy_olympic_task_without_train_2_gold():
    preset = load_preset("toy-olympic")
    task = task_for(preset)
    assert isinstance(task, ToyOlympicTask) and task.synthetic and not task.has_train_2_gold
    assert task.olympic_set == "run test set" and task.stop() == ["\n\n", "\nQuestion:"]
    recs = toy_olympic_records(3, seed=2, difficulty=TASK, max_number=49)
    fs = task.few_shot_prompt([(recs[0], "a"), (recs[1], "b")], recs[2])
    assert fs == toy_prompt(recs[0]) + " a\n\n" + toy_prompt(recs[1]) + " b\n\n" + toy_prompt(recs[2])
    assert preset.models["weak_model"] == "data/toy/weak_instruct" and not preset.models.get("weak_base")
    assert preset.stage2["max_pairs_per_question"] == 3 and preset.stage1["iterations"] == 2
    assert not preset.has_score


def test_the_data_stage_has_no_train_1_no_train_2_gold_and_one_test_set(tmp_path):
    splits = {}
    for seed in (0, 1):
        ctx = open_run("toy-olympic", seed, tmp_path / f"seed{seed}", sizes={"train_2": 60, "test": 35})
        st = prepare(ctx, verbose=False)
        assert st.metrics["n_train_1"] == 0
        splits[seed] = {s: load_split(ctx.root, s) for s in ("train_1", "train_2", "test")}
    for seed, sp in splits.items():
        assert sp["train_1"] == [] and len(sp["train_2"]) == 60 and len(sp["test"]) == 35
        gold = reference_gold(tmp_path / f"seed{seed}", purpose="analysis", note="test: train_2 has no gold")
        assert [g.id for g in gold] == [q.id for q in sp["train_2"]]
        assert all(g.answer is None and g.solution is None for g in gold)
        assert not {q.question for q in sp["train_2"]} & {r.question for r in sp["test"]}
        assert all(r.answer and r.solution for r in sp["test"])
    assert [r.question for r in splits[0]["test"]] == [r.question for r in splits[1]["test"]]
    assert [q.question for q in splits[0]["train_2"]] != [q.question for q in splits[1]["train_2"]]
    ctx = open_run("toy-olympic", 0, tmp_path / "bad", sizes={"train_1": 10, "train_2": 60, "test": 35})
    with pytest.raises(ValueError, match="toy-olympic.yaml.*no train_1"):
        prepare(ctx, verbose=False)


def test_instruct_documents_are_seeded_blocks_of_every_answer_type():
    a = op.instruct_docs(op.WEAK_INSTRUCT.docs, n_docs=120)
    assert a == op.instruct_docs(op.WEAK_INSTRUCT.docs, n_docs=120) and len(a) == 120
    blocks = [b for d in a for b in d.split("\n\n")]
    assert all(1 <= len(d.split("\n\n")) <= 3 for d in a)
    starts = collections.Counter(b.split("\n")[0] for b in blocks)
    assert len(starts) == 6                                 # the six answer-type sentences
    assert all("\nAnswer: " in b and "The final answer is $\\boxed{" in b for b in blocks)
    tok = shipped_tokenizer()
    assert not [p for d in a for p in unknown_pieces(tok, d)]
    mixed = op.phase_docs(op.WEAK_INSTRUCT, n_docs=30, n_replay=20)
    assert len(mixed) == 50 and sum(d.split("\n")[0] in starts for d in mixed) == 30


def test_boxed_documents_use_corpus_framings_never_the_toy_olympic_prompt():
    a = op.boxed_docs(op.STRONG_BOXED.docs, n_docs=80)
    assert a == op.boxed_docs(op.STRONG_BOXED.docs, n_docs=80) and len(a) == 80
    blocks = [b for d in a for b in d.split("\n\n")]
    assert all(2 <= len(d.split("\n\n")) <= 4 for d in a)
    assert not any(b.startswith(tuple(TYPE_LINE.values())) or "\nAnswer: " in b or b.startswith("Question: ")
                   for b in blocks)
    assert all(b.rstrip().endswith("}$") and "The final answer is $\\boxed{" in b for b in blocks)
    assert {f[0].split("{")[0] for f in op.BOXED_FRAMINGS} >= {"Problem: ", "Task: "}
    assert not [f for f in op.BOXED_FRAMINGS if f[1].strip().startswith("A")]     # "A: " is an option line
    assert not [p for d in a for p in unknown_pieces(shipped_tokenizer(), d)]


@pytest.mark.parametrize("phase, base", [(op.WEAK_INSTRUCT, "weak_base"), (op.STRONG_BOXED, "strong_base")])
def test_the_shipped_olympic_models_are_the_phases_of_the_recipes(phase, base):
    out = TOY_DATA / phase.name
    shipped = json.loads((out / "olympic_phase.json").read_text())
    assert shipped == json.loads(json.dumps(dataclasses.asdict(phase)))
    assert phase.model == RECIPES[base].model and phase.init_from == f"data/toy/{base}"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["hidden_size"] == phase.model.hidden and cfg["vocab_size"] == len(shipped_tokenizer())
    log = json.loads((out / "pretrain_log.json").read_text())
    assert log["init_from"].endswith(f"data/toy/{base}") and log["train"]["steps"] == phase.train.steps


# ---- the forward summary -------------------------------------------------------------------------------------
def _rows(correct: str, types: str) -> list[dict]:
    return [{"id": f"q{i}", "correct": c == "1", "meta": {"answer_type": {"n": "NV", "t": "TF"}[t]}}
            for i, (c, t) in enumerate(zip(correct, types))]


def test_paired_counts_and_the_sign_test():
    weak = _rows("0011", "nntt")
    model = _rows("1101", "nntt")
    c = _paired(model, weak, "here")
    assert c["all"] == [2, 1] and c["NV"] == [2, 0] and c["TF"] == [0, 1]
    rows = versus_weak({"M": model}, weak)
    assert [(r["answer_type"], r["better"], r["worse"]) for r in rows] == [("all", 2, 1), ("NV", 2, 0), ("TF", 0, 1)]
    assert rows[0]["p"] == sign_test_p(2, 1) == 1.0
    with pytest.raises(ValueError, match="different items"):
        _paired(model[:3], weak, "here")


class _Run:
    def __init__(self, seed, preds):
        self.seed, self.root, self._preds = seed, Path(f"/runs/seed{seed}"), preds
        self.stages = {k: {"weak": "weak_model", "full_weak_ft": "sft_full_weak", "m_plus": "sft_iter2_hybrid",
                           "stage2_dpo": "dpo"}[k] for k in preds}

    def predictions(self, key):
        return self._preds[key]


class _Res:
    def __init__(self, runs):
        self.runs = runs

    def label(self, key):
        return key.upper()


def test_forward_summary_pools_seeds_and_names_the_best_method_model():
    runs = [_Run(0, {"weak": _rows("0000", "nntt"), "m_plus": _rows("1100", "nntt"), "stage2_dpo": _rows("1110", "nntt"),
                     "full_weak_ft": _rows("0001", "nntt")}),
            _Run(1, {"weak": _rows("1000", "nntt"), "m_plus": _rows("1000", "nntt"), "stage2_dpo": _rows("0110", "nntt"),
                     "full_weak_ft": _rows("1000", "nntt")})]
    s = forward_summary(_Res(runs))
    assert list(s["models"]) == [k for k in MODELS if k in s["models"]] == ["weak", "full_weak_ft", "m_plus",
                                                                           "stage2_dpo"]
    dpo = s["models"]["stage2_dpo"]
    assert dpo["per_seed"] == {"0": 0.75, "1": 0.5} and dpo["accuracy"] == 0.625
    assert dpo["answer_type"] == {"NV": 0.75, "TF": 0.5}
    assert dpo["vs_weak"]["better"] == 3 + 2 and dpo["vs_weak"]["worse"] == 1
    assert dpo["vs_weak"]["answer_type"]["TF"] == {"better": 2, "worse": 0, "p": sign_test_p(2, 0)}
    assert s["best_method"]["key"] == "stage2_dpo" and s["best_method"]["above_weak"]
    assert s["best_method"]["p"] == sign_test_p(5, 1) and "no strong ceiling" in s["no_pgr"]
    assert s["models"]["m_plus"]["label"].startswith("M_plus (")
    assert "vs_weak" not in s["models"]["weak"]
    assert forward_summary(_Res([])) == {}
