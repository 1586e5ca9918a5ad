"""A word-level tokenizer for the toy world, built locally with the `tokenizers` library.

Byte-level pre-tokenization (GPT-2's regex: a word keeps its leading space, digits group together, each
punctuation run is a piece) followed by a closed word-level vocabulary. So every number 0..MAX_NUMBER is a
single token (" 17" and "17"), every word of the task is one token, and `decode(encode(x)) == x` holds
exactly for any text made of known pieces: a graded answer is exactly what the model wrote.

The vocabulary is collected from the texts the toy world can produce (task families + pretraining corpus),
plus all numbers, and sorted, so the same texts always give the same ids.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from .task import MAX_NUMBER

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = [PAD, BOS, EOS, UNK]

_PRE = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


def pieces(text: str) -> list[str]:
    """The pre-tokenized pieces of `text` (byte-level alphabet: a leading space shows as 'Ġ')."""
    return [p for p, _ in _PRE.pre_tokenize_str(text)]


def collect_vocab(texts: Iterable[str]) -> list[str]:
    """Specials, then all numbers (with and without a leading space), then every other piece, sorted."""
    found: set[str] = set()
    for t in texts:
        found.update(pieces(t))
    # every word also in its other spacing ("eggs" after "(" and " eggs" mid-sentence), so texts the
    # sample did not show still round-trip
    for p in list(found):
        w = p[1:] if p.startswith("Ġ") else p
        if w.isalpha():
            found.update({w, "Ġ" + w})
    numbers = [str(v) for v in range(MAX_NUMBER + 1)]
    number_pieces = numbers + ["Ġ" + v for v in numbers]
    rest = sorted(found - set(number_pieces) - set(SPECIALS))
    return SPECIALS + number_pieces + rest


def build_tokenizer(vocab: list[str], model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """A PreTrainedTokenizerFast over a fixed word-level vocabulary."""
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token=UNK))
    tok.pre_tokenizer = _PRE
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, unk_token=UNK, pad_token=PAD,
        model_max_length=model_max_length, clean_up_tokenization_spaces=False, padding_side="left")
    return fast


def unknown_pieces(tokenizer: PreTrainedTokenizerFast, text: str) -> list[str]:
    """Pieces of `text` that are not in the vocabulary (they would become <unk> and break round-trips)."""
    ids = tokenizer.convert_tokens_to_ids(pieces(text))
    return [p for p, i in zip(pieces(text), ids) if i == tokenizer.unk_token_id]


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, out_dir: str | Path) -> None:
    tokenizer.save_pretrained(str(out_dir))
