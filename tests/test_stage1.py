"""Stage I code: SFT on the selected sets, the iteration loop's answer stages, M_plus, the baselines, the door.

A tiny random model plays both bases; the iteration-1 selection comes from hand-written answers, so it is known."""
import json

import pytest

from fixtures.tiny_model.build import build
from stage_helpers import gold_openings, hand_answers
from w2s_lib.run.context import open_run
from w2s_lib.stages.prepare import prepare
from w2s_lib.tasks.prompts import zero_shot
from w2s_lib.run.records import LeakageError, forbid_gold, load_split
from w2s_lib.run.runstore import StageMissingError
from w2s_lib.stages.selection import select
from w2s_lib.stages import stage1
from w2s_lib.stages.weak import D_WEAK

FAST = {"train": {"overrides": {"strong_sft": {"num_train_epochs": 1, "per_device_train_batch_size": 16}}}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build(tmp_path_factory.mktemp("tiny") / "model"))


def answers(ctx, side: int, agree_every: int | None) -> list[dict]:
    """Hand-written answers of side 0 (weak) or 1 (ICL) for every train_2 question: every `agree_every`-th
    question gets the answer 7 on both sides, the others side-specific answers (1000 + i or 2000 + i)."""
    rows = []
    for i, q in enumerate(load_split(ctx.root, "train_2")):
        pred = "7" if agree_every and i % agree_every == 0 else str(1000 * (side + 1) + i)
        rows.append({"id": q.id, "position": i, "prompt": zero_shot(q.question),
                     "response": f"side {side} steps {i}.\n#### {pred}", "pred": pred})
    return rows


@pytest.fixture(scope="module")
def run(tiny, tmp_path_factory):
    ctx = open_run("smoke", 0, tmp_path_factory.mktemp("s1") / "run", weak_base=tiny, strong_base=tiny,
                   overrides=FAST)
    prepare(ctx, verbose=False)
    hand_answers(ctx, D_WEAK, answers(ctx, 0, 4))          # D_weak (hand-written: 12 of 48 agree)
    hand_answers(ctx, "hand_icl", answers(ctx, 1, 4))
    select(ctx, 1, D_WEAK, "hand_icl", verbose=False)
    return ctx


def test_iteration_1_trains_each_set_from_the_strong_base(run):
    assert stage1.subsets(run, 1) == ["weak", "icl", "hybrid"]
    models = stage1.train_iteration(run, 1, verbose=False)
    sets = {"weak": 12, "icl": 12, "hybrid": 24}
    for s, st in models.items():
        assert st.name == f"sft_iter1_{s}" and st.metrics["rows"] == sets[s] and st.metrics["trained"]
        tm = json.loads((st.dir / "model" / "train_metrics.json").read_text())
        assert tm["num_rows"] == sets[s]
        assert st.config["base"] == run.model("strong_base")
    # re-running skips (same hashes)
    assert {s: st.hash for s, st in stage1.train_iteration(run, 1, verbose=False).items()} == \
        {s: st.hash for s, st in models.items()}


def test_iteration_answers_and_second_selection(run):
    stage1.train_iteration(run, 1, verbose=False)
    out = stage1.iteration_answers(run, 1, verbose=False)
    assert set(out) == {"weak", "icl"}
    from w2s_lib.stages.weak import load_answers
    q2 = load_split(run.root, "train_2")
    for side, st in out.items():
        rows = load_answers(run, st.name)
        assert [r["id"] for r in rows] == [q.id for q in q2]
        assert st.deps == {"data": run.store.require("data").digest,
                           f"sft_iter1_{side}": run.store.require(f"sft_iter1_{side}").digest}
    sel = select(run, 2, *stage1.answer_stages(1), verbose=False)
    assert sel.metrics["questions"] == 48 and sel.config["weak_side"] == "answers_iter1_weak"


def test_m_plus_is_the_last_iterations_hybrid(run, tiny):
    ctx1 = open_run("smoke", 0, run.root, weak_base=tiny, strong_base=tiny, overrides=FAST, iterations=1)
    assert stage1.subsets(ctx1, 1) == ["weak", "icl", "hybrid"] and stage1.m_plus_stage(ctx1) == "sft_iter1_hybrid"
    stage1.train_iteration(ctx1, 1, verbose=False)
    mp = stage1.declare_m_plus(ctx1)
    assert mp.metrics == {"stage": "sft_iter1_hybrid", "model": str(run.root / "sft_iter1_hybrid" / "model")}
    assert stage1.m_plus_path(ctx1) == mp.metrics["model"]
    assert stage1.m_plus_stage(run) == "sft_iter2_hybrid"


def test_full_weak_baseline_trains_on_all_of_d_weak(run):
    st = stage1.train_full_weak(run, verbose=False)
    assert st.metrics["rows"] == 48 and st.name == "sft_full_weak"


def test_ceiling_is_the_only_stage1_path_that_opens_the_door(run):
    with forbid_gold("stage 03 without the ceiling"):
        stage1.train_full_weak(run, verbose=False)
        with pytest.raises(LeakageError, match="must not read train_2 gold"):
            stage1.train_ceiling(run, verbose=False)
    st = stage1.train_ceiling(run, verbose=False)
    assert st.metrics["rows"] == 48 and st.name == "sft_ceiling"
    opened = gold_openings(run.root)
    assert ("strong_ceiling", "train_ceiling", False) in opened and ("strong_ceiling", "train_ceiling", True) in opened
    assert {p for p, _, _ in opened} == {"strong_ceiling", "data_build"}    # data_build: the data stage itself


def test_empty_selection_stops_with_an_explanation(tiny, tmp_path):
    ctx = open_run("smoke", 0, tmp_path / "run", weak_base=tiny, strong_base=tiny, overrides=FAST)
    with pytest.raises(StageMissingError, match="02_selection"):
        stage1.train_iteration(ctx, 1, verbose=False)
    prepare(ctx, verbose=False)
    hand_answers(ctx, D_WEAK, answers(ctx, 0, None))       # no question agrees
    hand_answers(ctx, "hand_icl", answers(ctx, 1, None))
    select(ctx, 1, D_WEAK, "hand_icl", verbose=False)
    with pytest.raises(ValueError, match="kept 0 of 48 questions"):
        stage1.train_iteration(ctx, 1, verbose=False)
