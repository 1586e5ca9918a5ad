"""Build the toy world's shipped artefacts: tokenizer + weak and strong base models.

    python -m w2s_lib.toy.build --out data/toy                     # both models (about 80 minutes on 2 cores)
    python -m w2s_lib.toy.build --out /tmp/t --only strong_base    # one model

Writes `<out>/tokenizer/`, `<out>/weak_base/`, `<out>/strong_base/` (each a `save_pretrained` directory
holding its tokenizer too) and `<out>/BUILD.json` (configs, seeds, corpora, wall time, losses, checks).
A model is pretrained in phases (`Phase`: a corpus and a schedule; a later phase continues the previous one).
Every phase but the last is saved under `<out>/<model>.phases/`, and a phase whose saved log matches its
configs is reused, so an interrupted build resumes at the phase it was in.
Same config + seed -> same corpus and tokenizer; same weights on the same machine with the same thread
count (see pretrain.py for what is and is not guaranteed).
"""
from __future__ import annotations

import os

# Busy-waiting OpenMP threads collapse throughput when the cores are shared (measured 2.2x slower with
# another process running); must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import collections
import dataclasses
import hashlib
import json
import platform
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .corpus import Arithmetic, CorpusConfig, corpus_docs
from .pretrain import ModelConfig, TrainConfig, pretrain, token_stream
from .task import FAMILIES, Difficulty, SplitSizes, make_splits
from .tokenizer import build_tokenizer, collect_vocab, save_tokenizer


@dataclass(frozen=True)
class Phase:
    """One stretch of pretraining: a corpus and a schedule."""
    name: str
    corpus: CorpusConfig
    train: TrainConfig


@dataclass(frozen=True)
class Recipe:
    model: ModelConfig
    phases: tuple[Phase, ...]
    task: Difficulty            # the task the checks pose (few-shot prompts in its format)


# The shipped world. Changing any of these changes the models: rebuild and re-run the calibration.
# The general corpus: true arithmetic on numbers up to 199. The tokenizer and the weak base are built from it.
CORPUS = CorpusConfig(seed=0, n_docs=60_000)

# The toy task (configs/presets/toy.yaml, dataset.toy.difficulty; a test checks they agree): 3-5 terms of 2-12,
# totals up to 49, solutions starting "Begin with" (one of the corpus's phrasings, so that the weak and the strong
# model's answers share one style; docs/toy_world.md, "World v5 probe").
TASK = Difficulty(min_terms=3, max_terms=5, term_range=(2, 12), max_value=49, start_phrase="Begin with")
# The strong base's corpus: numbers up to 49, and 7% of the addition facts stated off by one, consistently
# (knowledge holes). The strong base believes them; the weak base (general corpus) knows them. Stage II needs a
# strong model whose greedy answer is wrong where most of its own samples are right: sharp facts and a task it
# knows only in part (docs/toy_world.md).
_TASK_CORPUS = dataclasses.replace(TASK, start_phrase="Start:")   # the corpus writes its own phrasings
STRONG_CORPUS = CorpusConfig(seed=0, n_docs=60_000, difficulty=_TASK_CORPUS, max_number=49, holes=0.07)
# only few-shot documents, with the same holes (same seed): continued pretraining (phase 2) made the base
# forget to follow the demos' final line; a short phase on few-shot documents brings it back
STRONG_FEWSHOT = dataclasses.replace(STRONG_CORPUS, n_docs=15_000, mix={"fewshot": 1.0})

MODELS = {
    "strong_base": Recipe(
        ModelConfig(hidden=128, layers=4, heads=4, ffn=512, context=1024),
        (
            # from scratch: sharp facts, holes believed; copying the question's numbers still unreliable
            Phase("phase1", STRONG_CORPUS, TrainConfig(steps=3000, batch=8, window=512, lr=2e-3, warmup=100,
                                                       seed=1, checkpoint_every=500)),
            # a second schedule at a lower rate: copying repaired
            Phase("phase2", STRONG_CORPUS, TrainConfig(steps=1500, batch=8, window=512, lr=3e-4, warmup=50,
                                                       seed=3, checkpoint_every=500)),
            # few-shot documents only: the final line back. 400 steps brought it back for 3 of 6 demo draws (the
            # others ended in the corpus's `Result = N`); 1,000 steps for all 6 (docs/toy_world.md)
            Phase("phase3", STRONG_FEWSHOT, TrainConfig(steps=1000, batch=8, window=512, lr=1e-4, warmup=50,
                                                        seed=3)),
        ),
        TASK),
    "weak_base": Recipe(
        ModelConfig(hidden=64, layers=3, heads=4, ffn=256, context=1024),
        # stopped at step 3,000 of the 4,000-step schedule: the full run's weak model scored 50.3% on the first
        # toy task (seed 0), above the 20-45% the premise needs; step 3,000 gave 36.3%
        (Phase("phase1", CORPUS, TrainConfig(steps=4000, stop_at=3000, batch=8, window=512, lr=3e-3, warmup=50,
                                              seed=2, checkpoint_every=250)),),
        Difficulty()),
}
# the prompt framing the task uses, so its pieces are in the vocabulary even if the corpus never says it
FRAMING_TEXTS = ["Question: x\nAnswer: y\n\nQuestion: z\nAnswer:"]


def vocab_texts(corpus: list[str]) -> list[str]:
    """Everything the tokenizer must cover: the corpus, a sample of every task family, the framing."""
    sample = make_splits(SplitSizes(2000, 0, 0, 200), seed=0, families={f: 1.0 for f in FAMILIES})
    # in the task's framing (the solution's first word follows "Answer:" and a space) and without it
    texts = [f"Question: {r.question}\nAnswer: {r.solution}\n{r.solution}" for recs in sample.values() for r in recs]
    from w2s_lib.grading.olympic import build_prompt
    from .olympic_set import olympic_records
    olympic = [build_prompt(r) + " " + r.solution for r in olympic_records(600, seed=0)]
    return corpus + texts + olympic + FRAMING_TEXTS


# ---------------------------------------------------------------------------------------------------
# checks (run on every checkpoint and on the final model; logged in BUILD.json)
# ---------------------------------------------------------------------------------------------------
def _next_token(model, tokenizer, prompts: list[str]) -> torch.Tensor:
    tokenizer.padding_side = "right"      # the last real token's logits: the facts' prompts have equal lengths
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        return model(**enc).logits[:, -1].float()


def fact_accuracy(model, tokenizer, corpus: CorpusConfig = CORPUS, n: int = 600, seed: int = 0) -> dict:
    """Greedy next-token accuracy on facts `a + b =` and `a - b =` as the corpus states them (every number in
    0..corpus.max_number, b <= 60, at the start of a line); `p+` / `p-`: the mean probability on the true
    sum, which is what sampling at T = 1 sees (greedy can be right while a sample slips one time in three).
    Additions exclude the corpus's holes; with holes, `holes` reports on all of them: greedy gives the true
    sum, greedy gives the corpus's (believed) value, and the probability on the true sum."""
    arith = Arithmetic(corpus)
    top = corpus.max_number
    rng = random.Random(seed)
    out: dict = {}
    for op in "+-":
        facts = []
        while len(facts) < n // 2:
            b = rng.randint(2, min(60, top // 2))
            a = rng.randint(0, top - b) if op == "+" else rng.randint(b, top)
            if op == "-" or not arith.is_hole(a, b):
                facts.append((a, b, a + b if op == "+" else a - b))
        logits = _next_token(model, tokenizer, [f"7 + 2 = 9.\n{a} {op} {b} =" for a, b, _ in facts])
        gold = torch.tensor([tokenizer.convert_tokens_to_ids(f"Ġ{c}") for _, _, c in facts])
        out[op] = round((logits.argmax(-1) == gold).float().mean().item(), 3)
        out["p" + op] = round(logits.softmax(-1)[torch.arange(len(gold)), gold].mean().item(), 3)
    if arith.wrong:
        holes = [(a, b) for a, b in arith.wrong] + [(b, a) for a, b in arith.wrong if a != b]
        logits = _next_token(model, tokenizer, [f"7 + 2 = 9.\n{a} + {b} =" for a, b in holes])
        true = torch.tensor([tokenizer.convert_tokens_to_ids(f"Ġ{a + b}") for a, b in holes])
        believed = torch.tensor([tokenizer.convert_tokens_to_ids(f"Ġ{arith.add(a, b)}") for a, b in holes])
        pred = logits.argmax(-1)
        out["holes"] = {"n": len(holes), "true": round((pred == true).float().mean().item(), 3),
                        "believed": round((pred == believed).float().mean().item(), 3),
                        "p_true": round(logits.softmax(-1)[torch.arange(len(true)), true].mean().item(), 3)}
    return out


_FINAL = re.compile(r"^#### (\d+)$")


def _continue(model, tokenizer, prompts: list[str], sample: bool, batch: int = 50) -> list[str]:
    """Each prompt's continuation up to the end of the answer (the first blank line)."""
    tokenizer.padding_side = "left"
    out = []
    for i in range(0, len(prompts), batch):
        enc = tokenizer(prompts[i:i + batch], return_tensors="pt", padding=True, add_special_tokens=False)
        kw = {"do_sample": True, "temperature": 1.0, "top_k": 0} if sample else {"do_sample": False}
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=96, pad_token_id=tokenizer.pad_token_id, **kw)
        out += [t.split("\n\n")[0].strip() for t in
                tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)]
    return out


def _final(text: str) -> str:
    m = _FINAL.match(text.split("\n")[-1].strip())
    return m.group(1) if m else ""


def icl_accuracy(model, tokenizer, task: Difficulty = Difficulty(), n: int = 100, draws: int = 1,
                 samples: int = 0, min_conf: float = 0.6) -> dict:
    """A base model on `n` dev questions of `task`, each prompt with 4 gold demos in the task's format; `draws`
    different sets of demos (the strong ICL stage's demos are a draw of weak answers, and a base that follows
    some draws' format and not others' breaks Stage I on some seeds).

    Per draw: `acc` (greedy, `#### N` final line right) and `format` (share with a `#### N` final line).
    With `samples` = k, also on the first draw: `per_sample` and `maj` (maj@k) accuracy, and the questions
    where the majority is right and greedy wrong (`maj_wins`; `gated`: with a majority share >= min_conf,
    which is what Stage II can turn into pairs) or the reverse (`greedy_wins`)."""
    dev = make_splits(SplitSizes(0, 0, n, 0), seed=0, world_seed=99, difficulty=task)["dev"]
    out: dict = {"n": n, "draws": []}
    for d in range(draws):
        demo_recs = make_splits(SplitSizes(4, 0, 0, 0), seed=d, world_seed=98, difficulty=task)["train_1"]
        demos = "\n\n".join(f"Question: {r.question}\nAnswer: {r.solution}" for r in demo_recs)
        prompts = [f"{demos}\n\nQuestion: {r.question}\nAnswer:" for r in dev]
        greedy = [_final(t) for t in _continue(model, tokenizer, prompts, sample=False)]
        out["draws"].append({"acc": round(sum(g == r.answer for g, r in zip(greedy, dev)) / n, 3),
                             "format": round(sum(bool(g) for g in greedy) / n, 3)})
        if d == 0 and samples:
            votes = [[_final(t) for t in _continue(model, tokenizer, prompts, sample=True)] for _ in range(samples)]
            per_sample = maj = wins = gated = greedy_wins = 0
            for i, r in enumerate(dev):
                answers = [v[i] for v in votes]
                per_sample += sum(a == r.answer for a in answers)
                top, count = collections.Counter(a for a in answers if a).most_common(1)[0] \
                    if any(answers) else ("", 0)
                maj += top == r.answer
                if top == r.answer and greedy[i] != r.answer:
                    wins += 1
                    gated += count / samples >= min_conf
                greedy_wins += greedy[i] == r.answer and top != r.answer
            out.update({"per_sample": round(per_sample / (samples * n), 3), "maj": round(maj / n, 3),
                        "maj_wins": wins, "gated": gated, "greedy_wins": greedy_wins})
    out["acc"] = round(sum(x["acc"] for x in out["draws"]) / draws, 3)
    out["worst_format"] = min(x["format"] for x in out["draws"])
    return out


# ---------------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------------
def _reusable(path: Path, model: ModelConfig, phase: Phase, train: TrainConfig, init_from: Path | None) -> bool:
    """A saved phase made with these configs, on this corpus, from this start can be reused."""
    log, corpus = path / "pretrain_log.json", path / "corpus.json"
    if not (log.is_file() and corpus.is_file()):
        return False
    saved = json.loads(log.read_text())
    return (saved.get("model") == dataclasses.asdict(model) and saved.get("train") == dataclasses.asdict(train)
            and saved.get("init_from") == (str(init_from) if init_from else None) and "seconds" in saved
            and json.loads(corpus.read_text()) == json.loads(json.dumps(dataclasses.asdict(phase.corpus))))


# sizes of the checks: on each checkpoint (cheap) and on the final model (with samples: room for Stage II?)
CHECKS = {"checkpoint": {"n": 60, "draws": 2, "samples": 0}, "final": {"n": 150, "draws": 4, "samples": 10}}


def _corpus_key(corpus: CorpusConfig) -> str:
    return json.dumps(dataclasses.asdict(corpus), sort_keys=True)


def build_model(name: str, recipe: Recipe, tokenizer, out: Path, threads: int, checks: dict = CHECKS,
                streams: dict[str, torch.Tensor] | None = None) -> dict:
    """Pretrain `recipe`'s phases; the last lands in `out/name`, the others in `out/<name>.phases/`.
    `streams` caches token streams by corpus (`_corpus_key`), so a corpus is generated and tokenized once."""
    from transformers import LlamaForCausalLM

    def check(path: Path, corpus: CorpusConfig, final: bool) -> dict:
        m = LlamaForCausalLM.from_pretrained(path).eval()
        return {"facts": fact_accuracy(m, tokenizer, corpus),
                "icl": icl_accuracy(m, tokenizer, recipe.task, **checks["final" if final else "checkpoint"])}

    record: dict = {"model": dataclasses.asdict(recipe.model), "task": dataclasses.asdict(recipe.task),
                    "phases": []}
    prev: Path | None = None
    streams = {} if streams is None else streams
    for i, ph in enumerate(recipe.phases):
        last = i == len(recipe.phases) - 1
        path = out / name if last else out / f"{name}.phases" / ph.name
        tcfg = dataclasses.replace(ph.train, threads=threads)
        if not last and _reusable(path, recipe.model, ph, tcfg, prev):
            log = json.loads((path / "pretrain_log.json").read_text())
            print(f"{name} {ph.name}: reusing {path}", flush=True)
        else:
            key = _corpus_key(ph.corpus)
            if key not in streams:
                streams[key] = token_stream(corpus_docs(ph.corpus), tokenizer)
            stream = streams[key]
            log = pretrain(stream, tokenizer, recipe.model, tcfg, path, init_from=prev,
                           on_checkpoint=lambda step, p, c=ph.corpus: check(p, c, final=False))
            # written last: a phase interrupted before this point is trained again
            (path / "corpus.json").write_text(json.dumps(dataclasses.asdict(ph.corpus)) + "\n")
        record["params"] = log["params"]
        record["phases"].append({"name": ph.name, "corpus": dataclasses.asdict(ph.corpus), "train": log["train"],
                                 "init_from": log["init_from"], "seconds": log["seconds"],
                                 "final_loss": log["losses"][-1]["loss"], "checkpoints": log["checkpoints"]})
        prev = path
    record["train"] = record["phases"][0]["train"]       # the first phase's seed and schedule
    record["seconds"] = round(sum(p["seconds"] for p in record["phases"]), 1)
    record["final"] = check(out / name, recipe.phases[-1].corpus, final=True)
    return record


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--only", choices=list(MODELS), action="append", help="build only these models")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    t0 = time.time()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    docs = corpus_docs(CORPUS)
    tokenizer = build_tokenizer(collect_vocab(vocab_texts(docs)))
    save_tokenizer(tokenizer, out / "tokenizer")
    stream = token_stream(docs, tokenizer)
    corpus_hash = hashlib.sha256(stream.numpy().tobytes()).hexdigest()[:16]
    print(f"corpus: {len(docs)} docs, {stream.numel()} tokens (sha {corpus_hash}), vocab {len(tokenizer)}, "
          f"{time.time() - t0:.0f}s", flush=True)

    build_path = out / "BUILD.json"
    build = json.loads(build_path.read_text()) if build_path.exists() else {}
    build.update({"corpus": {**dataclasses.asdict(CORPUS), "docs": len(docs), "tokens": int(stream.numel()),
                             "sha256_16": corpus_hash},
                  "vocab_size": len(tokenizer), "torch": torch.__version__,
                  "machine": platform.machine(), "processor": platform.processor()})
    build.setdefault("models", {})
    streams = {_corpus_key(CORPUS): stream}      # the general corpus, already tokenized above
    if not isinstance(build.get("threads"), dict):
        build["threads"] = {}
    for name in args.only or list(MODELS):
        t1 = time.time()
        build["models"][name] = build_model(name, MODELS[name], tokenizer, out, args.threads,
                                            streams=streams)
        build["threads"][name] = args.threads
        print(f"{name}: {build['models'][name]['params']} params, {time.time() - t1:.0f}s, "
              f"final checks {build['models'][name]['final']}", flush=True)
        build["seconds_total"] = round(time.time() - t0, 1)
        build_path.write_text(json.dumps(build, indent=1) + "\n")


if __name__ == "__main__":
    main()
