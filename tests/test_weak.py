"""Stage 01 code: the weak model (trained or given), D_weak, the SFT target format. Tiny random model."""
import json

import pytest

from fixtures.tiny_model.build import build
from w2s_lib.run.context import open_run
from w2s_lib.grading.answers import extract_answer
from w2s_lib.stages.prepare import prepare
from w2s_lib.tasks.prompts import zero_shot
from w2s_lib.run.records import Record, load_split
from w2s_lib.run.runstore import StageMissingError
from w2s_lib.tasks import TASKS
from w2s_lib.stages.weak import generate_d_weak, load_d_weak, train_weak, weak_model_path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build(tmp_path_factory.mktemp("tiny") / "model"))


def task_of(name: str):
    return TASKS[name](name)


def test_gold_targets_follow_the_release_converter():
    g = Record("x", "q", "He has 2*3=<<2*3=6>>6 eggs.\n#### 6", "6")
    assert task_of("gsm8k").gold_target(g) == "He has 2*3=6 eggs.\n#### 6"
    m = Record("y", "q", "So it is $\\boxed{5}$.", "5")
    assert task_of("math").gold_target(m) == "So it is $\\boxed{5}$. The answer is: 5"
    assert task_of("toy").gold_target(g) == g.solution
    with pytest.raises(ValueError, match="no gold solution"):
        task_of("toy").gold_target(Record("z", "q"))


def test_trained_weak_model_and_d_weak(tiny, tmp_path):
    ctx = open_run("smoke", 0, tmp_path / "run", weak_base=tiny, strong_base=tiny,
                   overrides={"train": {"overrides": {"weak_sft": {"num_train_epochs": 1,
                                                                    "per_device_train_batch_size": 16}}}})
    with pytest.raises(StageMissingError, match="01_weak_data"):
        generate_d_weak(ctx)
    prepare(ctx, verbose=False)
    st = train_weak(ctx, verbose=False)
    assert st.metrics["trained"] and st.metrics["rows"] == 48 and st.metrics["global_step"] == 3
    assert weak_model_path(ctx) == str(st.dir / "model")
    tm = json.loads((st.dir / "model" / "train_metrics.json").read_text())
    assert tm["num_rows"] == 48 and tm["kind"] == "sft"
    d = generate_d_weak(ctx, verbose=False)
    rows = load_d_weak(ctx)
    q2 = load_split(ctx.root, "train_2")
    assert [r["id"] for r in rows] == [q.id for q in q2] and [r["position"] for r in rows] == list(range(48))
    assert all(r["prompt"] == zero_shot(q.question) for r, q in zip(rows, q2))
    assert all(r["pred"] == extract_answer(r["response"]) for r in rows)
    assert d.metrics["n"] == 48 and d.metrics["no_answer"] == sum(not r["pred"] for r in rows)
    assert all(not set(r) - {"id", "position", "prompt", "response", "pred"} for r in rows)
    # re-running skips both stages
    assert train_weak(ctx, verbose=False).hash == st.hash and generate_d_weak(ctx, verbose=False).hash == d.hash


def test_given_weak_model_is_used_as_is(tiny, tmp_path):
    ctx = open_run("smoke", 0, tmp_path / "run", weak_model=tiny, strong_base=tiny)
    prepare(ctx, verbose=False)
    st = train_weak(ctx, verbose=False)
    assert st.metrics == {"model": tiny, "trained": False, "given": True}
    assert not (st.dir / "model").exists() and weak_model_path(ctx) == tiny
    # another given model is another stage: D_weak would be recomputed
    other = open_run("smoke", 0, tmp_path / "run", weak_model=str(tmp_path))
    assert train_weak(other, verbose=False).hash != st.hash
