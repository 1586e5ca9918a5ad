"""The toy world's build recipe (w2s_lib/toy/build.py): phases, resuming, and the checks it logs."""
import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, LlamaForCausalLM

from w2s_lib.run.paths import DATA_DIR
from w2s_lib.run.presets import load_preset
from w2s_lib.toy import build
from w2s_lib.toy.corpus import CorpusConfig
from w2s_lib.toy.pretrain import ModelConfig, TrainConfig
from w2s_lib.toy.task import Difficulty, difficulty_from_dict

TINY = ModelConfig(hidden=32, layers=1, heads=2, ffn=64, context=128)
SMALL_CHECKS = {"checkpoint": {"n": 3, "draws": 1, "samples": 0}, "final": {"n": 4, "draws": 2, "samples": 2}}


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(DATA_DIR / "toy" / "tokenizer")


def _recipe(first_lr: float = 1e-2, first_docs: int = 60) -> build.Recipe:
    task = Difficulty(min_terms=3, max_terms=3, term_range=(2, 9), max_value=30, start_phrase="Begin with")
    corpus = CorpusConfig(seed=0, n_docs=60, difficulty=dataclasses.replace(task, start_phrase="Start:"),
                          max_number=30, holes=0.1)
    return build.Recipe(TINY, (
        build.Phase("one", dataclasses.replace(corpus, n_docs=first_docs), TrainConfig(steps=6, batch=2, window=64, lr=first_lr, warmup=1, seed=0,
                                               checkpoint_every=3)),
        build.Phase("two", dataclasses.replace(corpus, mix={"fewshot": 1.0}),
                    TrainConfig(steps=3, batch=2, window=64, lr=1e-3, warmup=1, seed=1))), task)


def test_build_model_runs_phases_in_order_and_resumes_from_a_saved_phase(tok, tmp_path, capsys):
    streams: dict = {}
    record = build.build_model("m", _recipe(), tok, tmp_path, threads=1, checks=SMALL_CHECKS, streams=streams)
    assert len(streams) == 2                     # one token stream per distinct corpus, kept for the caller
    assert [p["name"] for p in record["phases"]] == ["one", "two"]
    assert record["phases"][0]["init_from"] is None
    assert record["phases"][1]["init_from"] == str(tmp_path / "m.phases" / "one")    # the second continues the first
    assert (tmp_path / "m" / "model.safetensors").is_file() and not (tmp_path / "m.phases" / "two").exists()
    assert [c["step"] for c in record["phases"][0]["checkpoints"]] == [3]
    assert set(record["phases"][0]["checkpoints"][0]) >= {"facts", "icl"}
    final = record["final"]
    assert final["facts"]["holes"]["n"] > 0 and len(final["icl"]["draws"]) == 2
    assert {"per_sample", "maj", "maj_wins", "gated", "greedy_wins"} <= set(final["icl"])
    first = load_file(tmp_path / "m" / "model.safetensors")
    capsys.readouterr()

    # same configs: the saved first phase is reused, and the last phase gives the same weights again
    again = build.build_model("m", _recipe(), tok, tmp_path, threads=1, checks=SMALL_CHECKS)
    assert "m one: reusing" in capsys.readouterr().out
    assert again["phases"][0]["seconds"] == record["phases"][0]["seconds"]
    second = load_file(tmp_path / "m" / "model.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)

    # a changed first phase (its schedule, or its corpus) is trained again, and so is everything after it
    for changed in (_recipe(first_lr=2e-2), _recipe(first_lr=2e-2, first_docs=61)):   # the second: corpus only
        build.build_model("m", changed, tok, tmp_path, threads=1, checks=SMALL_CHECKS)
        assert "reusing" not in capsys.readouterr().out
        third = load_file(tmp_path / "m" / "model.safetensors")
        assert not all(torch.equal(first[k], third[k]) for k in first)


def test_toy_preset_poses_the_task_the_strong_base_was_built_for():
    d = load_preset("toy").dataset["toy"]["difficulty"]
    preset_task = difficulty_from_dict(d)
    assert preset_task == build.TASK
    strong = build.MODELS["strong_base"]
    assert strong.task == build.TASK
    # the strong corpus covers the task's numbers, and its holes are among them
    assert all(ph.corpus.max_number >= build.TASK.max_value for ph in strong.phases)
    assert strong.phases[0].corpus.holes > 0


def test_shipped_strong_base_believes_its_holes_and_knows_the_other_facts(tok):
    """The strong base states most hole facts as its corpus did (off by one) and the other sums right: the
    knowledge holes Stage II can work on (docs/toy_world.md)."""
    model = LlamaForCausalLM.from_pretrained(DATA_DIR / "toy" / "strong_base").eval()
    facts = build.fact_accuracy(model, tok, build.STRONG_CORPUS, n=200)
    assert facts["+"] >= 0.9 and facts["-"] >= 0.9
    assert facts["holes"]["believed"] >= 0.8 and facts["holes"]["true"] <= 0.2
    # the weak base learned true sums from the general corpus: on the same holes it is mostly right
    weak = LlamaForCausalLM.from_pretrained(DATA_DIR / "toy" / "weak_base").eval()
    weak_facts = build.fact_accuracy(weak, tok, build.STRONG_CORPUS, n=200)
    assert weak_facts["holes"]["true"] > weak_facts["holes"]["believed"]


def test_build_record_lists_each_models_phases_and_checks():
    rec = json.loads((DATA_DIR / "toy" / "BUILD.json").read_text())
    strong = rec["models"]["strong_base"]
    assert [p["name"] for p in strong["phases"]] == [p.name for p in build.MODELS["strong_base"].phases]
    assert [p["train"]["steps"] for p in strong["phases"]] == [p.train.steps for p in build.MODELS["strong_base"].phases]
    assert strong["final"]["icl"]["n"] > 0 and "holes" in strong["final"]["facts"]
