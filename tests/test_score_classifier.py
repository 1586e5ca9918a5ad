"""SCORE's self-verifier engine (w2s_lib.engines.classifier) on the shipped toy strong base: it learns to tell
incorrect toy solutions from correct ones (held-out AUC; the same run with labels that carry no information does
not), it reads the last real token under either padding, it keeps the end of a long text, the same seed gives the
same probabilities, both save layouts load, and bad rows are named before any job starts."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from w2s_lib.engines.classifier import (CLASSIFIER_FILE, _tokenize, load_classifier, load_tokenizer,
                                        score_classifier, train_classifier)
from w2s_lib.run.jsonl import DataError
from w2s_lib.run.paths import REPO_ROOT
from w2s_lib.toy import critique

BASE = str(REPO_ROOT / "data" / "toy" / "strong_base")
RECIPE = "score_classifier_toy"
# The learnable-signal setting (measured, docs/score.md "The self-verifier"): verification documents whose wrong
# solutions leave a term out (`skip`, the error kind this budget learns best), 240 training rows, batch 8,
# 3 epochs = 90 steps at the toy recipe's rate. Training and held-out rows come from different document seeds.
SIGNAL = dict(errors={"skip": 1.0}, mix={"verify": 1.0})
FAST = {"per_device_train_batch_size": 8}


def rows(seed: int, n: int, **cfg) -> list[dict]:
    docs = critique.examples(critique.default_config(seed=seed, **{**SIGNAL, **cfg}), n)
    return [{"text": critique.classifier_input(d.question, d.solution), "label": int(not d.correct)} for d in docs]


def auc(p: list[float], y: list[int]) -> float:
    pos = [a for a, b in zip(p, y) if b]
    neg = [a for a, b in zip(p, y) if not b]
    return sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))


@pytest.fixture(scope="module")
def held_out() -> list[dict]:
    return rows(seed=11, n=200)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clf") / "model"
    metrics = train_classifier(BASE, rows(seed=10, n=240), out, RECIPE, seed=0, overrides=FAST)
    return out, metrics


# ---------------------------------------------------------------------------------------------------------------
# rows and texts
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, message", [
    ({"text": "Question: x", "label": 2}, r"rows:2: field 'label' must be 0 or 1, got 2"),
    ({"text": "Question: x", "label": "1"}, r"rows:2: field 'label' must be 0 or 1, got '1'"),
    ({"text": "Question: x", "label": True}, r"rows:2: field 'label' must be 0 or 1, got True"),
    ({"label": 1}, r"rows:2: missing field 'text'"),
    ({"text": "Question: x"}, r"rows:2: missing field 'label'"),
    ({"text": "  ", "label": 0}, r"rows:2: field 'text' is empty"),
    ({"text": 7, "label": 0}, r"rows:2: field 'text' must be a string"),
])
def test_bad_rows_are_named_before_any_job_starts(bad, message, tmp_path):
    good = {"text": "Question: y", "label": 0}
    with pytest.raises(DataError, match=message):
        train_classifier(BASE, [good, good, bad], tmp_path / "m", RECIPE, seed=0)
    assert not (tmp_path / "m").exists()


def test_wrong_recipe_kind_and_unknown_override_fail(tmp_path):
    good = [{"text": "Question: y", "label": 0}]
    with pytest.raises(DataError, match="kind: classifier"):
        train_classifier(BASE, good, tmp_path / "m", "sft_lora", seed=0)
    with pytest.raises(DataError, match="learning_rte"):
        train_classifier(BASE, good, tmp_path / "m", RECIPE, seed=0, overrides={"learning_rte": 1.0})


def test_long_texts_keep_their_end_and_pad_on_the_right():
    tok = load_tokenizer(BASE)
    assert tok.pad_token_id is not None and tok.padding_side == "right"
    text = rows(seed=3, n=1)[0]["text"]
    full = tok(text)["input_ids"]
    (cut,), truncated = _tokenize(tok, [text], 16)
    assert truncated == 1 and cut == full[-16:]           # the final answer survives
    assert tok.decode(cut).rstrip().endswith(text.rsplit(" ", 1)[-1])
    (whole,), truncated = _tokenize(tok, [text], 512)
    assert truncated == 0 and whole == full


# ---------------------------------------------------------------------------------------------------------------
# training and scoring
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_learns_to_flag_incorrect_solutions_and_shuffled_labels_do_not(trained, held_out, tmp_path):
    out, metrics = trained
    y = [r["label"] for r in held_out]
    p = score_classifier(out, [r["text"] for r in held_out])
    assert len(p) == len(held_out) and all(0.0 <= x <= 1.0 for x in p)
    learned = auc(p, y)
    # control: the same rows, recipe and seed, labels shuffled within each class (half of the correct and half of
    # the incorrect rows get label 1), so they say nothing about correctness. A plain shuffle would not do: its
    # chance agreement with the truth (130 of 240 rows here) is enough to learn a cue as plain as a missing step.
    train = rows(seed=10, n=240)
    control_rows = []
    for label in (0, 1):
        group = [r for r in train if r["label"] == label]
        flips = [i % 2 for i in range(len(group))]
        random.Random(label).shuffle(flips)
        control_rows += [{**r, "label": f} for r, f in zip(group, flips)]
    # it saves its LoRA adapter and score head only (save: adapter), so this also loads that layout
    train_classifier(BASE, control_rows, tmp_path / "shuffled", {**yaml_recipe(), "save": "adapter"}, seed=0,
                     overrides=FAST)
    assert (tmp_path / "shuffled" / "adapter_config.json").is_file()
    control = auc(score_classifier(tmp_path / "shuffled", [r["text"] for r in held_out]), y)
    print(f"held-out AUC {learned:.3f}, shuffled-label control {control:.3f}")
    # measured (docs/score.md): 1.000 here, 0.999 on the tuning split; controls 0.61 here and 0.64 / 0.73 with
    # plain shuffles on the tuning split. A control's AUC strays from 0.5 in either direction: with one cue as
    # plain as a missing step, whatever it fits to labels without information moves with that cue.
    assert learned >= 0.90, learned
    assert control < 0.90, control
    # the metrics the stages record
    assert metrics["rows"] == 240 and metrics["positives"] == sum(r["label"] for r in train)
    assert metrics["global_step"] == 90 and metrics["train_loss"] > 0
    s = metrics["settings"]
    assert s["training_arguments"]["learning_rate"] == 1e-3 and s["training_arguments"]["num_train_epochs"] == 3
    assert s["training_arguments"]["per_device_train_batch_size"] == 8         # the override
    assert s["lora"]["r"] == 32 and s["lora"]["lora_alpha"] == 64 and s["lora"]["task_type"] == "SEQ_CLS"
    assert "score" in s["lora"]["modules_to_save"] and s["max_length"] == 512 and s["truncation_side"] == "left"
    assert any("loss" in h for h in metrics["log_history"])
    assert json.loads((out / "train_metrics.json").read_text())["rows"] == 240
    assert not (out / "_adapter").exists() and (out / CLASSIFIER_FILE).is_file()


@pytest.mark.slow
def test_the_head_reads_the_last_real_token_under_either_padding(trained, held_out):
    out, _ = trained
    texts = [r["text"] for r in held_out[:12]]
    batched = score_classifier(out, texts, batch_size=12)
    alone = score_classifier(out, texts, batch_size=1)
    assert torch.allclose(torch.tensor(batched), torch.tensor(alone), atol=1e-5)
    model, tok, _ = load_classifier(out)
    assert model.config.pad_token_id == tok.pad_token_id
    with torch.inference_mode():
        single = torch.cat([model(**tok(t, return_tensors="pt")).logits for t in texts])
        for side in ("right", "left"):        # the toy tokenizer's own side is left
            tok.padding_side = side
            padded = model(**tok(texts, return_tensors="pt", padding=True)).logits
            assert torch.allclose(padded, single, atol=1e-4), side
        # the pad token really is padding: pad ids appended without the mask do not move the reading position
        ids = tok(texts[0], return_tensors="pt")["input_ids"]
        extra = torch.cat([ids, torch.full((1, 5), tok.pad_token_id)], dim=1)
        assert torch.allclose(model(input_ids=extra).logits, single[:1], atol=1e-4)


@pytest.mark.slow
def test_same_seed_same_probabilities(tmp_path, held_out):
    # in this process (launcher inprocess: the same training function the child job runs, without a second
    # interpreter start); the first run leaves torch's RNG elsewhere, so equality also says that the seed alone
    # decides the score head's and the LoRA matrices' initialisation and the data order
    train, texts = rows(seed=12, n=48), [r["text"] for r in held_out[:40]]
    tiny = {**FAST, "num_train_epochs": 1}
    probs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        train_classifier(BASE, train, tmp_path / name, RECIPE, seed=seed, overrides=tiny, threads=1,
                         launcher="inprocess")
        probs[name] = score_classifier(tmp_path / name, texts, threads=1)
    assert probs["a"] == probs["b"]
    assert probs["a"] != probs["c"]                    # the seed matters
    assert len(set(probs["a"])) > 1                    # not a constant answer
    again = score_classifier(tmp_path / "a", texts[::-1], threads=1, batch_size=7)[::-1]   # order in = order out
    assert torch.allclose(torch.tensor(again), torch.tensor(probs["a"]), atol=1e-6)


def yaml_recipe() -> dict:
    import yaml

    return yaml.safe_load((REPO_ROOT / "configs" / "train" / f"{RECIPE}.yaml").read_text())


def test_score_classifier_rejects_bad_input(tmp_path):
    with pytest.raises(DataError, match=r"texts\[1\]"):
        score_classifier(tmp_path, ["ok", ""])
    with pytest.raises(DataError, match="not a classifier saved by train_classifier"):
        score_classifier(tmp_path, ["ok"])
    assert score_classifier(tmp_path, []) == []


def test_the_trl_engine_refuses_a_classifier_recipe(tmp_path):
    from w2s_lib.engines.training import train

    with pytest.raises(ValueError, match="train_classifier"):
        train("classifier", BASE, [{"text": "Question: y", "label": 0}], tmp_path / "m", RECIPE, seed=0)
