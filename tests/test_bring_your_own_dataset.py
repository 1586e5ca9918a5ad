"""A dataset that is not built in: local JSONL files and a preset, no code (docs/bring_your_own_dataset.md).

The records are toy-world word problems written to JSONL under a new dataset name, so the shipped toy models
can read them; the run goes through the data stage, the weak model, D_weak, D_icl, the selection and the weak
model's evaluation at smoke size, with the default Task."""
from __future__ import annotations

import json

import pytest
import yaml

from stage_helpers import toy_model_overrides
from w2s_lib.stages import evaluate, selection, weak
from w2s_lib.run.context import open_run
from w2s_lib.stages.export import read_llama_factory
from w2s_lib.run.presets import PresetError, load_preset
from w2s_lib.stages.prepare import prepare
from w2s_lib.run.records import forbid_gold, load_split
from w2s_lib.tasks import Task, TASKS
from w2s_lib.toy.task import SplitSizes, make_splits

NAME = "my-sums"


def write_dataset(root):
    splits = make_splits(SplitSizes(60, 40, 0, 20), seed=7)
    train = root / "train.jsonl"
    test = root / "test.jsonl"
    train.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in splits["train_1"] + splits["train_2"]))
    test.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in splits["test"]))
    return train, test


def write_preset(root, train, test, **dataset):
    path = root / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump({
        "name": NAME, "extends": "smoke",
        "dataset": {"name": NAME, "source": str(train), "test_source": str(test),
                    "sizes": {"train_1": 40, "train_2": 40, "test": 12}, **dataset}}))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("byod")
    train, test = write_dataset(root)
    ctx = open_run(load_preset(write_preset(root, train, test)), 0, root / "run", **toy_model_overrides("smoke"))
    prepare(ctx, verbose=False)
    weak.train_weak(ctx, verbose=False)
    evaluate.evaluate(ctx, "weak_model", verbose=False)
    with forbid_gold("the strong side of a new dataset"):
        weak.generate_d_weak(ctx, verbose=False)
        selection.generate_d_icl(ctx, verbose=False)
        selection.select(ctx, 1, verbose=False)
    return ctx, train, test


def test_a_new_name_gets_the_default_task(run):
    ctx, _, _ = run
    assert NAME not in TASKS and type(ctx.task) is Task and ctx.task.name == NAME
    assert ctx.task.has_train_2_gold and ctx.judge == "grading"


def test_the_data_stage_splits_the_local_pool_and_reads_the_local_test_set(run):
    ctx, train, test = run
    pool = [json.loads(line)["id"] for line in train.read_text().splitlines()]
    t1 = [r.id for r in load_split(ctx.root, "train_1")]
    t2 = [q.id for q in load_split(ctx.root, "train_2")]
    assert len(t1) == len(t2) == 40 and not set(t1) & set(t2) and set(t1) | set(t2) <= set(pool)
    assert [r.id for r in load_split(ctx.root, "test")] == \
        [json.loads(line)["id"] for line in test.read_text().splitlines()][:12]


def test_every_stage_ran_and_names_its_files_after_the_dataset(run):
    ctx, _, _ = run
    m = ctx.store.require("eval_weak_model").metrics
    assert m["n"] == 12 and 0.0 <= m["accuracy"] <= 1.0 and m["judge"] == "grading"
    sel = ctx.store.require("selection_iter1")
    assert sel.metrics["questions"] == 40
    hybrid = read_llama_factory(sel.dir / "llama_factory" / f"train_{NAME}_iter1_hybrid.json")
    assert len(hybrid) == sel.metrics["rows"]["hybrid"]


def test_a_missing_source_is_an_error_naming_the_preset(tmp_path):
    _, test = write_dataset(tmp_path)
    path = tmp_path / "no-source.yaml"
    path.write_text(yaml.safe_dump({"name": "no-source", "extends": "smoke",
                                    "dataset": {"name": NAME, "test_source": str(test)}}))
    ctx = open_run(load_preset(path), 0, tmp_path / "run", **toy_model_overrides("smoke"))
    with pytest.raises(ValueError, match=rf"{path}.*not built in.*dataset.source"):
        prepare(ctx, verbose=False)


def test_a_bad_format_is_refused_by_the_preset_check(tmp_path):
    train, test = write_dataset(tmp_path)
    with pytest.raises(PresetError, match="format"):
        load_preset(write_preset(tmp_path, train, test, format="csv"))


def test_built_in_tasks_use_the_release_answer_keys():
    from w2s_lib.grading.official import ANSWER_KEYS
    assert {n: TASKS[n](n).official_answer_key for n in ANSWER_KEYS} == ANSWER_KEYS
