"""The SCORE vocabulary appended to the shipped toy tokenizer, the grown model, and the continuation phases."""
import dataclasses
import json

import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from w2s_lib.toy import score_phase as sp
from w2s_lib.toy import score_vocab as sv
from w2s_lib.toy.build import MODELS, STRONG_CORPUS, TASK
from w2s_lib.toy.corpus import CorpusConfig, corpus_docs
from w2s_lib.toy.critique import DOC_KINDS, default_config, examples
from w2s_lib.toy.task import SplitSizes, make_splits
from w2s_lib.toy.tokenizer import unknown_pieces

STRONG = sv.TOY_DATA / "strong_base"


@pytest.fixture(scope="module")
def shipped():
    return sv.shipped_tokenizer()


@pytest.fixture(scope="module")
def extended(shipped):
    return sv.extend_tokenizer(shipped, sv.new_words(shipped))


def _old_texts() -> list[str]:
    recs = make_splits(SplitSizes(20, 0, 0, 0), seed=0, difficulty=TASK)["train_1"]
    return [f"Question: {r.question}\nAnswer: {r.solution}" for r in recs] + corpus_docs(CorpusConfig(n_docs=20))


def test_the_shipped_vocabulary_lacks_the_critique_words(shipped):
    words = sv.new_words(shipped)
    assert {"Step", "Feedback", "Correction", "Ġincorrect", "Ġwrong", "Ġfirst", "Verdict"} <= set(words)
    assert not set(words) & set(shipped.get_vocab())
    assert words == sorted(words) == sv.new_words(shipped)
    # words the shipped vocabulary already has are not added again
    assert "Ġcorrect" in shipped.get_vocab() and "Ġcorrect" not in words


def test_old_ids_are_unchanged_and_new_ones_come_after(shipped, extended):
    old = shipped.get_vocab()
    new = extended.get_vocab()
    assert all(new[w] == i for w, i in old.items())
    assert sorted(i for w, i in new.items() if w not in old) == list(range(len(old), len(new)))
    for text in _old_texts():
        assert extended(text)["input_ids"] == shipped(text)["input_ids"]
    assert extended.padding_side == shipped.padding_side and extended.model_max_length == shipped.model_max_length


def test_new_documents_round_trip_with_no_unknown_piece(shipped, extended):
    # another seed than the one the vocabulary was collected from, every kind, both hole modes
    docs = [d.text for holes in ("avoid", "true")
            for d in examples(default_config(seed=77, holes=holes, mix={k: 1.0 for k in DOC_KINDS}), 150)]
    assert any(unknown_pieces(shipped, d) for d in docs)        # the shipped tokenizer cannot write them
    for d in docs:
        assert unknown_pieces(extended, d) == []
        assert extended.decode(extended(d, add_special_tokens=False)["input_ids"]) == d


def test_extend_tokenizer_refuses_a_vocabulary_with_gaps(shipped):
    from w2s_lib.toy.tokenizer import build_tokenizer
    from tokenizers import Tokenizer, models
    gappy = build_tokenizer(["<pad>", "<s>", "</s>", "<unk>", "a"])
    gappy._tokenizer = Tokenizer(models.WordLevel({"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 5}, unk_token="<unk>"))
    with pytest.raises(ValueError, match="without gaps"):
        sv.extend_tokenizer(gappy, ["b"])


def test_extended_model_keeps_every_old_row_and_old_logits(tmp_path, shipped, extended):
    dst = sv.extend_model(STRONG, tmp_path / "ext", extended, seed=0)
    old = LlamaForCausalLM.from_pretrained(STRONG).eval()
    new = LlamaForCausalLM.from_pretrained(dst).eval()
    n_old = len(shipped)
    w_old, w_new = old.get_input_embeddings().weight, new.get_input_embeddings().weight
    assert w_new.shape[0] == len(extended) and new.config.vocab_size == len(extended)
    assert torch.equal(w_new[:n_old], w_old)
    assert torch.equal(new.get_output_embeddings().weight, w_new)          # still tied
    assert not torch.equal(w_new[n_old], w_new[n_old + 1])                # new rows differ from each other
    ids = shipped(_old_texts()[0], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        a, b = old(ids).logits, new(ids).logits
    assert torch.allclose(a, b[..., :n_old], atol=1e-5)
    assert PreTrainedTokenizerFast.from_pretrained(str(dst)).get_vocab() == extended.get_vocab()
    with pytest.raises(FileNotFoundError, match="config.json"):
        sv.extend_model(tmp_path / "nowhere", tmp_path / "x", extended)


def test_phases_continue_the_strong_base_with_its_holes_or_without():
    cfg = json.loads((STRONG / "config.json").read_text())
    for p in sp.PHASES.values():
        assert (sv.TOY_DATA.parents[1] / p.init_from) == STRONG
        assert (p.model.hidden, p.model.layers, p.model.heads) == (cfg["hidden_size"], cfg["num_hidden_layers"],
                                                                   cfg["num_attention_heads"])
        assert p.model == MODELS["strong_base"].model and p.docs.task == TASK
        assert p.replay.seed == STRONG_CORPUS.seed and p.replay.max_number == STRONG_CORPUS.max_number
    assert sp.SMALL.docs.holes == "avoid" and sp.SMALL.replay.holes == STRONG_CORPUS.holes > 0
    assert sp.VERIFIER.docs.holes == "true" and sp.VERIFIER.replay.holes == 0
    json.dumps(dataclasses.asdict(sp.SMALL))      # the phase is plain data (it goes into a log)


def test_the_cost_estimate_is_the_shipped_seconds_per_step_times_the_steps():
    build = json.loads((sv.TOY_DATA / "BUILD.json").read_text())
    ph1 = build["models"]["strong_base"]["phases"][0]
    est = sp.estimate(sp.SMALL)
    assert est["seconds"] == pytest.approx(sp.SMALL.train.steps * ph1["seconds"] / ph1["train"]["steps"], abs=0.1)
    half = dataclasses.replace(sp.SMALL, train=dataclasses.replace(sp.SMALL.train, batch=4))
    assert sp.estimate(half)["seconds"] == pytest.approx(est["seconds"] / 2, abs=0.1)
    with pytest.raises(KeyError, match="phase9"):
        sp.estimate(sp.SMALL, ref_phase="phase9")


def test_phase_docs_mix_score_and_replay_documents_deterministically():
    a = sp.phase_docs(sp.SMALL, n_docs=30, n_replay=20)
    assert a == sp.phase_docs(sp.SMALL, n_docs=30, n_replay=20) and len(a) == 50
    assert sum(d.startswith("Question: ") for d in a) == 30
    assert a != sp.phase_docs(sp.VERIFIER, n_docs=30, n_replay=20)


def test_run_wires_tokenizer_model_and_pretraining(tmp_path):
    """Two optimizer steps on a few documents: the code path of a phase, not a training run."""
    tiny = dataclasses.replace(sp.SMALL, train=dataclasses.replace(sp.SMALL.train, steps=2, warmup=1, batch=2,
                                                                     window=64, checkpoint_every=0))
    log = sp.run(tiny, tmp_path, threads=1, docs=sp.phase_docs(tiny, n_docs=20, n_replay=5))
    assert len(log["losses"]) >= 1 and log["init_from"].endswith("score_small.init")
    out = tmp_path / "score_small"
    model = LlamaForCausalLM.from_pretrained(out)
    assert model.config.vocab_size == len(PreTrainedTokenizerFast.from_pretrained(str(out)))
    assert json.loads((out / "score_phase.json").read_text())["docs"]["holes"] == "avoid"
