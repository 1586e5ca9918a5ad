"""The generation engine on a tiny locally built Llama: same greedy text as `model.generate`, reproducible and
batch-independent sampling from the right distribution, stop strings, shapes, subprocess mode."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fixtures.tiny_model.build import build, task_rows
from w2s_lib.engines import generation as gen
from w2s_lib.engines.generation import Generator, generate
from w2s_lib.tasks.prompts import zero_shot


@pytest.fixture(scope="module")
def varied_model(tmp_path_factory) -> Path:
    """A random tiny model whose greedy outputs differ between prompts (init_std 0.6) and that stops at several
    ordinary tokens as well as EOS, so rows in a batch finish at different steps (exercises batch compaction)."""
    path = build(tmp_path_factory.mktemp("varied"), init_std=0.6)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    extra = [tok(" 5")["input_ids"][-1], tok("Ques")["input_ids"][-1]]
    cfg_path = path / "generation_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["eos_token_id"] = [tok.eos_token_id, *extra]
    cfg_path.write_text(json.dumps(cfg))
    return path


@pytest.fixture(scope="module")
def prompts() -> list[str]:
    return [zero_shot(q) for q, _ in task_rows(24, seed=5)] + [zero_shot("x"), "Question: a much longer question "
                                                               "with many more words in it than the others\nAnswer:"]


def hf_greedy(path: Path, prompts: list[str], max_new_tokens: int) -> list[str]:
    """Reference: transformers' own generate, one prompt at a time (no padding), cut at the first EOS id."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    texts = []
    for p in prompts:
        enc = tok(p, return_tensors="pt")
        out = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id)
        new = out[0, enc["input_ids"].shape[1]:].tolist()
        cut = next((i for i, t in enumerate(new) if t in eos), len(new))
        texts.append(tok.decode(new[:cut], skip_special_tokens=True))
    return texts


def test_greedy_matches_transformers_generate(varied_model, prompts):
    ref = hf_greedy(varied_model, prompts, max_new_tokens=20)
    lengths = {len(t) for t in ref}
    assert len(lengths) >= 3, "the fixture should make rows finish at different steps"
    for batch_size in (None, 5):  # one big batch (rows finish early -> compaction) and several small ones
        ours = generate(varied_model, prompts, max_new_tokens=20, batch_size=batch_size, progress=False)
        assert [o[0] for o in ours] == ref


def test_greedy_with_a_loaded_model_object(varied_model, prompts):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(varied_model)
    tok = AutoTokenizer.from_pretrained(varied_model)
    from_object = generate(model, prompts[:6], max_new_tokens=12, tokenizer=tok, progress=False)
    from_path = generate(varied_model, prompts[:6], max_new_tokens=12, progress=False)
    assert from_object == from_path


def test_sampling_is_seeded_and_batch_independent(varied_model, prompts):
    kwargs = dict(n=4, temperature=1.0, max_new_tokens=10, progress=False)
    a = generate(varied_model, prompts, seed=7, **kwargs)
    with Generator(varied_model, batch_size=3) as g:  # other batching, reversed order, reused engine
        b = g.generate(prompts[::-1], seed=7, **kwargs)[::-1]
        c = g.generate(prompts, seed=8, **kwargs)
    assert a == b
    assert a != c
    assert all(len(o) == 4 for o in a)
    # the n samples of a prompt are different draws, not copies
    assert sum(len(set(o)) > 1 for o in a) >= len(prompts) // 2


def test_sampler_matches_softmax_distribution():
    """Gumbel-max with hashed noise: empirical frequencies over many rows match softmax(logits / T), and top-p
    keeps exactly the nucleus."""
    torch.manual_seed(0)
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
    rows = 40_000
    keys = torch.tensor([gen._row_key(0, f"p{i}", 0) for i in range(rows)], dtype=torch.int64)
    vocab_hash = gen._mix32(torch.arange(5, dtype=torch.int64) * 0x61C88647 + 0x3C6EF372)
    for temperature in (1.0, 0.5):
        picks = gen._pick_tokens(logits.expand(rows, 5), temperature, 1.0, keys, 3, vocab_hash)
        freq = torch.bincount(picks, minlength=5).float() / rows
        expected = (logits / temperature).softmax(-1)
        assert torch.allclose(freq, expected, atol=0.01), (temperature, freq, expected)
    # top_p = 0.7 at T=1: probs are [.54, .20, .12, .07, .03]: the nucleus is the first two tokens
    picks = gen._pick_tokens(logits.expand(rows, 5), 1.0, 0.7, keys, 3, vocab_hash)
    freq = torch.bincount(picks, minlength=5).float() / rows
    p = logits.softmax(-1)
    assert freq[2:].sum() == 0
    assert abs(freq[0] - p[0] / (p[0] + p[1])) < 0.01
    # different steps draw different noise
    other = gen._pick_tokens(logits.expand(rows, 5), 1.0, 1.0, keys, 4, vocab_hash)
    same_step = gen._pick_tokens(logits.expand(rows, 5), 1.0, 1.0, keys, 3, vocab_hash)
    assert (other != same_step).float().mean() > 0.3


def test_stop_strings_cut_the_completion(varied_model, prompts):
    ref = hf_greedy(varied_model, prompts, max_new_tokens=30)
    long = [t for t in ref if len(t) >= 12]
    stop = [long[0][6:8], long[1][9:11]]  # strings that do occur in (some) completions
    hits = [t for t in ref if any(s in t for s in stop)]
    assert hits, "the fixture outputs should contain a stop string"
    ours = generate(varied_model, prompts, max_new_tokens=30, stop=stop, progress=False)
    for text, full in zip(ours, ref):
        cut = min([full.find(s) for s in stop if s in full], default=len(full))
        assert text[0] == full[:cut]
        assert not any(s in text[0] for s in stop)


def test_shapes_and_argument_errors(varied_model, prompts):
    with Generator(varied_model) as g:
        assert g.generate([], max_new_tokens=4) == []
        out = g.generate(prompts[:3], n=2, temperature=0.7, top_p=0.9, max_new_tokens=3, progress=False)
        assert len(out) == 3 and all(len(o) == 2 and all(isinstance(t, str) for t in o) for o in out)
        with pytest.raises(ValueError):
            g.generate(prompts[:1], n=0, max_new_tokens=4)
        with pytest.raises(ValueError):
            g.generate(prompts[:1], max_new_tokens=4, top_p=0.0)
        with pytest.raises(ValueError, match="max_position_embeddings"):
            g.generate(prompts[:1], max_new_tokens=10_000)
    with pytest.raises(RuntimeError, match="closed"):
        g.generate(prompts[:1], max_new_tokens=2)
    with pytest.raises(ValueError, match="backend"):
        generate(varied_model, prompts[:1], max_new_tokens=2, backend="nope")


def test_subprocess_mode_gives_the_same_greedy_text(varied_model, prompts):
    inproc = generate(varied_model, prompts[:5], max_new_tokens=12, progress=False)
    child = generate(varied_model, prompts[:5], max_new_tokens=12, progress=False, subprocess=True)
    assert child == inproc


def test_thread_policy_is_scoped(varied_model, prompts, monkeypatch):
    """Small models run on 1 torch thread on CPU (measured much faster on shared cores); the caller's setting is
    restored afterwards, and W2S_TORCH_THREADS overrides the default."""
    before = torch.get_num_threads()
    assert gen.default_threads(30_000) == 1 and gen.default_threads(10**9) is None
    monkeypatch.setenv("W2S_TORCH_THREADS", "3")
    assert gen.default_threads(30_000) == 3
    monkeypatch.delenv("W2S_TORCH_THREADS")
    seen = []
    original = gen._TransformersEngine._generate

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(gen._TransformersEngine, "_generate", spy)
    generate(varied_model, prompts[:2], max_new_tokens=2, progress=False)
    generate(varied_model, prompts[:2], max_new_tokens=2, progress=False, threads=2)
    assert seen == [1, 2]
    assert torch.get_num_threads() == before
