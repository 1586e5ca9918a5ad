"""The words SCORE's documents need beyond the shipped toy vocabulary, and a tokenizer and model extended with them.

The shipped tokenizer (`data/toy/tokenizer`, 861 pieces) has no "Step", "Feedback", "Correction", "incorrect" ...
`extend_tokenizer` APPENDS the new pieces after the old ids, so every old id keeps its meaning and a shipped model
can be continued: `extend_model` resizes its (tied) embeddings and leaves every old row as it was.

    tok = extend_tokenizer(shipped_tokenizer(), new_words(shipped_tokenizer()))
    extend_model("data/toy/strong_base", "/tmp/strong_base_score", tok)
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from transformers import PreTrainedTokenizerFast

from .critique import DOC_KINDS, ERROR_KINDS, FRAMING_TEXTS, default_config, examples
from .tokenizer import UNK, build_tokenizer, collect_vocab

TOY_DATA = Path(__file__).resolve().parents[2] / "data" / "toy"


def shipped_tokenizer(path: str | Path = TOY_DATA / "tokenizer") -> PreTrainedTokenizerFast:
    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{path}/tokenizer.json: no toy tokenizer there (build it with `make toy-models`)")
    return PreTrainedTokenizerFast.from_pretrained(str(path))


def vocab_texts(seed: int = 0, per_kind: int = 40) -> list[str]:
    """Documents of every kind, with every error kind, in both hole modes, plus the framing: what the new
    vocabulary must cover. The phrasing is fixed by templates, so a few hundred documents name every word."""
    texts = list(FRAMING_TEXTS)
    for holes in ("avoid", "true"):
        for err in ERROR_KINDS:
            if err == "hole" and holes == "avoid":
                continue
            cfg = default_config(seed=seed, holes=holes, errors={err: 1.0}, mix={k: 1.0 for k in DOC_KINDS})
            texts += [d.text for d in examples(cfg, per_kind)]
    return texts


def new_words(tokenizer: PreTrainedTokenizerFast, texts: Iterable[str] | None = None) -> list[str]:
    """The pieces of `texts` (default: `vocab_texts()`) not in `tokenizer`'s vocabulary, every word in both
    spacings (as `tokenizer.collect_vocab` does), sorted: the same texts always give the same list."""
    have = tokenizer.get_vocab()
    return sorted(p for p in collect_vocab(vocab_texts() if texts is None else texts) if p not in have)


def old_vocab(tokenizer: PreTrainedTokenizerFast) -> list[str]:
    """The vocabulary in id order (ids must be 0..n-1 with no gap)."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    if [i for _, i in vocab] != list(range(len(vocab))):
        raise ValueError("old_vocab: the tokenizer's ids are not 0..n-1 without gaps; cannot append to it")
    return [w for w, _ in vocab]


def extend_tokenizer(tokenizer: PreTrainedTokenizerFast, words: Iterable[str]) -> PreTrainedTokenizerFast:
    """A tokenizer with `words` appended after the old vocabulary: old pieces keep their ids."""
    old = old_vocab(tokenizer)
    have = set(old)
    add = [w for w in dict.fromkeys(words) if w not in have]
    if UNK in add:
        raise ValueError(f"extend_tokenizer: {UNK} cannot be a new word")
    return build_tokenizer(old + add, model_max_length=tokenizer.model_max_length)


def extend_model(src: str | Path, dst: str | Path, tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> Path:
    """Load the model in `src`, grow its embeddings to `tokenizer` (old rows unchanged; each new row the old rows'
    mean plus noise with their per-dimension spread, from `seed`), save it with `tokenizer` in `dst`."""
    import torch
    from transformers import LlamaForCausalLM

    src, dst = Path(src), Path(dst)
    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"{src}/config.json: no model there")
    model = LlamaForCausalLM.from_pretrained(src)
    emb = model.get_input_embeddings().weight
    n_old, n_new = emb.shape[0], len(tokenizer)
    if n_new < n_old:
        raise ValueError(f"extend_model: {src} has {n_old} embeddings, the tokenizer only {n_new} pieces")
    old = emb.detach().clone()
    model.resize_token_embeddings(n_new, mean_resizing=False)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        new = model.get_input_embeddings().weight
        new[:n_old] = old
        noise = torch.randn((n_new - n_old, old.shape[1]), generator=gen, dtype=old.dtype)
        new[n_old:] = old.mean(0) + noise * old.std(0)
    dst.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dst)
    tokenizer.save_pretrained(str(dst))
    return dst


def score_tokenizer(tokenizer: PreTrainedTokenizerFast | None = None) -> PreTrainedTokenizerFast:
    """The shipped tokenizer extended with `new_words` (what a SCORE phase trains with)."""
    base = tokenizer or shipped_tokenizer()
    return extend_tokenizer(base, new_words(base))


__all__ = ["TOY_DATA", "extend_model", "extend_tokenizer", "new_words", "old_vocab", "score_tokenizer",
           "shipped_tokenizer", "vocab_texts"]
