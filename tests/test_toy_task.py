"""The toy world's generator, splits, OlympicArena-shaped set and tokenizer (no model needed)."""
import random
import re

import pytest

from w2s_lib.grading.answers import extract_answer, is_correct
from w2s_lib.toy.corpus import CorpusConfig, corpus_docs
from w2s_lib.toy.task import (
    ANSWER_PREFIX, FAMILIES, MAX_NUMBER, Difficulty, SplitSizes, count_problem, generate_problems, make_splits,
)
from w2s_lib.toy.tokenizer import build_tokenizer, collect_vocab, unknown_pieces

SIZES = SplitSizes(train_1=120, train_2=150, dev=40, test=60)
ALL = {f: 1.0 for f in FAMILIES}


def _numbers(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text)]


def test_same_seed_same_records_different_seed_differs():
    a = make_splits(SIZES, seed=0)
    b = make_splits(SIZES, seed=0)
    c = make_splits(SIZES, seed=1)
    assert [r.to_dict() for r in a["train_2"]] == [r.to_dict() for r in b["train_2"]]
    assert [r.question for r in a["train_1"]] != [r.question for r in c["train_1"]]
    # test and dev depend on the world seed only: every run seed is scored on the same test set
    assert [r.question for r in a["test"]] == [r.question for r in c["test"]]
    assert [r.question for r in make_splits(SIZES, seed=0, world_seed=1)["test"]] != [r.question for r in a["test"]]


def test_splits_are_disjoint_and_sized():
    sp = make_splits(SIZES, seed=3)
    assert {k: len(v) for k, v in sp.items()} == {"train_1": 120, "train_2": 150, "dev": 40, "test": 60}
    seen = {}
    for split, recs in sp.items():
        for r in recs:
            assert r.question not in seen, f"{r.question!r} in both {seen.get(r.question)} and {split}"
            seen[r.question] = split
    ids = [r.id for recs in sp.values() for r in recs]
    assert len(ids) == len(set(ids))


def test_count_solution_is_consistent_arithmetic():
    """Every step line is true arithmetic, all numbers are single tokens, the last line is `#### answer`."""
    rng = random.Random(5)
    for _ in range(300):
        p = count_problem(rng, Difficulty(min_terms=2, max_terms=5, max_groups=3))
        lines = p.solution.split("\n")
        assert lines[-1] == ANSWER_PREFIX + p.answer
        for line in lines[:-1]:
            if line.startswith("Start: "):
                continue
            m = re.search(r"(\d+) ([-+*]) (?:[a-z]+ )?(\d+) = (\d+)", line)
            assert m, line
            a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
            assert {"+": a + b, "-": a - b, "*": a * b}[op] == c, line
        assert all(0 <= v <= MAX_NUMBER for v in _numbers(p.question + p.solution))
        assert len(lines) - 2 == p.meta["steps"]   # minus the "Start:" line and the final line


def test_start_phrase_changes_only_the_first_line_and_the_error_classifier_reads_both():
    """`Difficulty.start_phrase` (a format knob): the same problems and steps, another first line; the research
    classifier in toy/errors.py still parses the solutions."""
    from w2s_lib.toy.errors import classify
    a = make_splits(SIZES, seed=0)["test"]
    b = make_splits(SIZES, seed=0, difficulty=Difficulty(start_phrase="Begin with"))["test"]
    assert [r.question for r in a] == [r.question for r in b]
    for ra, rb in zip(a, b):
        la, lb = ra.solution.split("\n"), rb.solution.split("\n")
        assert la[0].startswith("Start: ") and lb[0] == "Begin with " + la[0][len("Start: "):]
        assert la[1:] == lb[1:]
        assert classify(rb.question, rb.solution, rb.answer) == "ok"
        wrong = rb.solution.replace(f"#### {rb.answer}", f"#### {int(rb.answer) + 1}")
        assert classify(rb.question, wrong, rb.answer) == "final"   # every step parsed, only the last line wrong
    with pytest.raises(ValueError, match="start_phrase"):
        Difficulty(start_phrase="Go:")      # the classifier could not parse it


def test_solution_orders_vary_for_the_same_question():
    """The sum's order is random in gold solutions (what self-consistency feeds on)."""
    from w2s_lib.toy.task import count_spec, count_steps, render_count_solution
    spec = count_spec(random.Random(11), Difficulty(min_terms=4, max_terms=4))
    sols = {render_count_solution(spec, count_steps(spec, random.Random(s))) for s in range(20)}
    assert len(sols) > 3
    assert len({s.split("\n")[-1] for s in sols}) == 1


def test_difficulty_knobs_are_respected():
    d = Difficulty(min_terms=3, max_terms=3, remove_prob=0.0, group_prob=0.0, max_value=60)
    ps = generate_problems(100, seed=1, difficulty=d)
    assert all(p.meta["terms"] == 3 and not p.meta["remove"] and p.meta["groups"] == 0 for p in ps)
    assert all(int(p.answer) <= 60 for p in ps)
    with pytest.raises(ValueError):
        Difficulty(min_terms=1)
    with pytest.raises(ValueError):
        Difficulty(max_value=MAX_NUMBER + 1)


def test_answer_type_coverage_and_golds_grade_correct():
    """Every family appears, and the grader marks each gold solution correct against its gold answer."""
    recs = make_splits(SplitSizes(300, 0, 0, 0), seed=0, families=ALL)["train_1"]
    types = {r.meta["answer_type"] for r in recs}
    assert types == {"integer", "fraction", "tuple", "choice", "truefalse", "set"}
    for r in recs:
        assert extract_answer(r.solution) != "", r.solution
        assert is_correct(r.solution, r.answer), (r.meta["family"], r.solution, r.answer)
    # and a wrong answer is not accepted
    r = next(r for r in recs if r.meta["answer_type"] == "tuple")
    x, y = _numbers(r.answer)
    assert not is_correct(f"{ANSWER_PREFIX}({y + 1}, {x})", r.answer)


@pytest.fixture(scope="module")
def tokenizer():
    docs = corpus_docs(CorpusConfig(seed=0, n_docs=400))
    sample = make_splits(SplitSizes(400, 0, 0, 0), seed=0, families=ALL)["train_1"]
    texts = docs + [f"Question: {r.question}\nAnswer: {r.solution}\n{r.solution}" for r in sample]
    return build_tokenizer(collect_vocab(texts))


def test_tokenizer_round_trips_task_text(tokenizer, tmp_path):
    from transformers import PreTrainedTokenizerFast
    tokenizer.save_pretrained(tmp_path)
    tok = PreTrainedTokenizerFast.from_pretrained(tmp_path)
    recs = make_splits(SplitSizes(200, 0, 0, 0), seed=9, families=ALL)["train_1"]
    for r in recs:
        text = f"Question: {r.question}\nAnswer: {r.solution}\n\nQuestion: {r.question}\nAnswer:"
        assert unknown_pieces(tok, text) == [], text
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text
    # numbers are single tokens, with or without a leading space
    for v in (0, 7, 42, MAX_NUMBER):
        assert len(tok(f" {v}", add_special_tokens=False)["input_ids"]) == 1
        assert len(tok(f"{v}", add_special_tokens=False)["input_ids"]) == 1
    # prompt and completion tokenized apart give the same ids as the joined text (SFT masking relies on it)
    r = recs[0]
    p = tok(f"Question: {r.question}\nAnswer:", add_special_tokens=False)["input_ids"]
    c = tok(" " + r.solution, add_special_tokens=False)["input_ids"]
    assert p + c == tok(f"Question: {r.question}\nAnswer: {r.solution}", add_special_tokens=False)["input_ids"]


def test_tokenizer_vocab_is_deterministic():
    docs = corpus_docs(CorpusConfig(seed=0, n_docs=200))
    assert collect_vocab(docs) == collect_vocab(list(docs))
    assert corpus_docs(CorpusConfig(seed=0, n_docs=50)) == corpus_docs(CorpusConfig(seed=0, n_docs=50))
    assert corpus_docs(CorpusConfig(seed=1, n_docs=50)) != corpus_docs(CorpusConfig(seed=0, n_docs=50))


def test_corpus_never_uses_the_task_framing():
    """The base models must learn the task's exact format from demos or SFT, not from pretraining."""
    for doc in corpus_docs(CorpusConfig(seed=0, n_docs=3000)):
        assert "Question:" not in doc, doc
        assert " hold " not in doc, doc   # the task's phrasing of a group step
        assert "Start:" not in doc, doc   # world v4's first line; the shipped task uses the corpus's "Begin with"


def test_olympic_toy_set_is_hf_shaped_and_judged_correct():
    """Every answer type appears; records carry the HF fields; the OlympicArena judge accepts each gold
    solution and rejects a wrong final answer."""
    import json
    from w2s_lib.grading.olympic import build_prompt, judge
    from w2s_lib.toy.olympic_set import TYPES, olympic_records
    recs = olympic_records(120, seed=0)
    assert {r.meta["answer_type"] for r in recs} == set(TYPES)
    assert olympic_records(30, seed=0) == recs[:30] and olympic_records(30, seed=1) != recs[:30]
    for r in recs:
        assert {"answer_type", "unit", "subject", "language", "modality"} <= set(r.meta)
        assert isinstance(json.loads(r.answer), list)
        assert build_prompt(r).endswith("Answer:")
        assert judge(r.solution, r), (r.meta["answer_type"], r.solution, r.answer)
    nv = next(r for r in recs if r.meta["answer_type"] == "NV" and r.answer.strip('[]"').isdigit())
    wrong = int(json.loads(nv.answer)[0]) + 1
    assert not judge(f"The final answer is $\\boxed{{{wrong}}}$", nv)


def test_stop_at_gives_the_same_weights_as_that_checkpoint_of_the_full_schedule(tokenizer, tmp_path):
    """The shipped weak base is step 3,000 of a 4,000-step schedule (`stop_at`): a stopped run must equal the
    full run's checkpoint at that step (same windows, same learning rates), not a shorter schedule."""
    import torch
    from safetensors.torch import load_file

    from w2s_lib.toy.pretrain import ModelConfig, TrainConfig, pretrain, token_stream

    docs = corpus_docs(CorpusConfig(seed=0, n_docs=40))
    stream = token_stream(docs, tokenizer)
    mcfg = ModelConfig(hidden=32, layers=1, heads=2, ffn=64, context=64)
    base = dict(steps=6, batch=2, window=32, lr=1e-2, warmup=2, seed=0, threads=1)
    pretrain(stream, tokenizer, mcfg, TrainConfig(**base, checkpoint_every=4), tmp_path / "full", log_every=2)
    log = pretrain(stream, tokenizer, mcfg, TrainConfig(**base, stop_at=4), tmp_path / "stopped", log_every=2)
    ckpt = load_file(tmp_path / "full" / "checkpoint-4" / "model.safetensors")
    stopped = load_file(tmp_path / "stopped" / "model.safetensors")
    final = load_file(tmp_path / "full" / "model.safetensors")
    assert ckpt.keys() == stopped.keys()
    assert all(torch.equal(ckpt[k], stopped[k]) for k in ckpt)
    assert any(not torch.equal(final[k], stopped[k]) for k in final)
    assert log["train"]["stop_at"] == 4 and log["losses"][-1]["step"] == 4


def test_untied_output_embeddings_are_saved_and_trained_separately(tokenizer, tmp_path):
    """`tie_embeddings=False` gives the model its own output layer (the world-v6 probe in docs/toy_world.md)."""
    import torch
    from safetensors.torch import load_file

    from w2s_lib.toy.pretrain import ModelConfig, TrainConfig, pretrain, token_stream

    stream = token_stream(corpus_docs(CorpusConfig(seed=0, n_docs=40)), tokenizer)
    mcfg = ModelConfig(hidden=32, layers=1, heads=2, ffn=64, context=64, tie_embeddings=False)
    pretrain(stream, tokenizer, mcfg, TrainConfig(steps=3, batch=2, window=32, lr=1e-2, warmup=1, seed=0,
                                                  threads=1, decay_embeddings=False), tmp_path / "m", log_every=1)
    w = load_file(tmp_path / "m" / "model.safetensors")
    assert "lm_head.weight" in w and not torch.equal(w["lm_head.weight"], w["model.embed_tokens.weight"])
    # the same run with decayed embeddings ends elsewhere (runs are deterministic, so an ignored flag would not)
    pretrain(stream, tokenizer, mcfg, TrainConfig(steps=3, batch=2, window=32, lr=1e-2, warmup=1, seed=0,
                                                  threads=1), tmp_path / "d", log_every=1)
    d = load_file(tmp_path / "d" / "model.safetensors")
    assert not torch.equal(w["lm_head.weight"], d["lm_head.weight"])


def test_pretrain_init_from_continues_the_saved_model(tokenizer, tmp_path):
    """A second phase starts from the saved weights, not a fresh init: at lr 0 it saves them unchanged, and at
    a real rate its first loss is the first phase's, not a fresh model's."""
    import torch
    from safetensors.torch import load_file

    from w2s_lib.toy.pretrain import ModelConfig, TrainConfig, pretrain, token_stream

    stream = token_stream(corpus_docs(CorpusConfig(seed=0, n_docs=40)), tokenizer)
    mcfg = ModelConfig(hidden=32, layers=1, heads=2, ffn=64, context=64)
    cfg = TrainConfig(steps=30, batch=2, window=32, lr=1e-2, warmup=1, seed=0, threads=1)
    first = pretrain(stream, tokenizer, mcfg, cfg, tmp_path / "a", log_every=1)
    frozen = pretrain(stream, tokenizer, mcfg, TrainConfig(steps=2, batch=2, window=32, lr=0.0, warmup=1, seed=5,
                                                           threads=1), tmp_path / "b", init_from=tmp_path / "a")
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert frozen["init_from"] == str(tmp_path / "a")
    fresh = pretrain(stream, tokenizer, mcfg, TrainConfig(steps=1, batch=2, window=32, seed=5, threads=1),
                     tmp_path / "c", log_every=1)
    assert frozen["losses"][0]["loss"] < min(fresh["losses"][0]["loss"], first["losses"][0]["loss"]) - 0.5


def test_corpus_holes_state_their_facts_wrongly_and_consistently():
    """With `holes`, every addition the corpus writes follows its arithmetic: right except on the hole facts,
    which are off by one every time; running sums continue from the written value and the final line states
    the sum that follows. Numbers stay under `max_number`. Without holes nothing changes."""
    import re
    from w2s_lib.toy.corpus import Arithmetic
    diff = Difficulty(min_terms=3, max_terms=6, term_range=(2, 25), max_value=99)
    cfg = dict(seed=3, difficulty=diff, max_number=99, holes=0.1, other_families=0.0)
    arith = Arithmetic(CorpusConfig(**cfg))
    pairs = [(a, b) for a in range(100) for b in range(a, 100 - a)]
    assert 0.07 < len(arith.wrong) / len(pairs) < 0.13
    assert all(abs(c - sum(ab)) == 1 and 0 <= c <= 99 for ab, c in arith.wrong.items())
    a, b = next(iter(arith.wrong))
    assert arith.add(b, a) == arith.add(a, b) != a + b          # a + b and b + a are one fact
    add = re.compile(r"(\d+) (?:\+|plus|and) (?:[a-z]+ )?(\d+)(?::| =| is) (\d+)")

    # fact lines and chains: always the corpus's arithmetic
    wrong = right = 0
    for doc in corpus_docs(CorpusConfig(n_docs=600, mix={"facts": 1.0, "chains": 1.0}, **cfg)):
        assert max(map(int, re.findall(r"\d+", doc))) <= 99, doc
        for a, b, c in add.findall(doc):
            a, b, c = int(a), int(b), int(c)
            assert c == arith.add(a, b), (a, b, c, doc)
            wrong, right = wrong + (c != a + b), right + (c == a + b)
    assert wrong > 50 and right > 10 * wrong

    # solved problems: each line starts from the previous line's result, and the final answer is the last one.
    # A problem whose believed sums would leave 0..99 is written with the right sums (rare: counted below).
    finals = re.compile(r"(?:The answer is|Answer:|####|So the result is|Result =|Total:) (\d+)")
    held = kept_right = 0
    for doc in corpus_docs(CorpusConfig(n_docs=1500, mix={"stories": 1.0}, **cfg)):
        assert max(map(int, re.findall(r"\d+", doc))) <= 99, doc
        sums = [tuple(map(int, m)) for m in add.findall(doc)]
        follows = all(c == arith.add(a, b) for a, b, c in sums)
        exact = all(c == a + b for a, b, c in sums)
        assert follows or exact, doc
        held += follows and not exact
        kept_right += exact and not follows
        for (_, _, c), (a, _, _) in zip(sums, sums[1:]):
            assert a == c, doc
        last = re.findall(r"(\d+) (?:-|minus) (?:[a-z]+ )?\d+(?::| =| is) (\d+)", doc)
        end = int(last[-1][1]) if last else sums[-1][2]
        assert int(finals.findall(doc)[-1]) == end, doc
    assert held > 100 and kept_right <= held // 50

    # off: the shipped corpus has no holes and draws the same documents as before the option existed
    assert Arithmetic(CorpusConfig()).wrong == {}
    assert corpus_docs(CorpusConfig(seed=0, n_docs=50, holes=0.0)) == corpus_docs(CorpusConfig(seed=0, n_docs=50))
