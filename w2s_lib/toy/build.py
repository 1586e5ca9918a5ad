"""Build the toy world's shipped artefacts: tokenizer + weak and strong base models.

    python -m w2s_lib.toy.build --out data/toy            # both models (tens of CPU minutes)
    python -m w2s_lib.toy.build --out /tmp/t --only weak  # one model

Writes `<out>/tokenizer/`, `<out>/weak_base/`, `<out>/strong_base/` (each a `save_pretrained` directory
holding its tokenizer too) and `<out>/BUILD.json` (configs, seeds, corpus size, wall time, losses).
Same config + seed -> same corpus and tokenizer; same weights on the same machine with the same thread
count (see pretrain.py for what is and is not guaranteed).
"""
from __future__ import annotations

import os

# Busy-waiting OpenMP threads collapse throughput when the cores are shared (measured 2.2x slower with
# another process running); must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import dataclasses
import hashlib
import json
import platform
import random
import time
from pathlib import Path

import torch

from .corpus import CorpusConfig, corpus_docs
from .pretrain import ModelConfig, TrainConfig, pretrain, token_stream
from .task import FAMILIES, MAX_NUMBER, SplitSizes, make_splits
from .tokenizer import build_tokenizer, collect_vocab, save_tokenizer

# The shipped world. Changing any of these changes the models: rebuild and re-run the calibration.
CORPUS = CorpusConfig(seed=0, n_docs=60_000)
MODELS = {
    "strong_base": (ModelConfig(hidden=128, layers=4, heads=4, ffn=512, context=1024),
                    TrainConfig(steps=4000, batch=8, window=512, lr=2e-3, warmup=100, seed=1,
                                checkpoint_every=500)),
    "weak_base": (ModelConfig(hidden=64, layers=3, heads=4, ffn=256, context=1024),
                  # stopped at step 3,000 of the 4,000-step schedule: the full run's weak model scored 50.3% on
                  # the toy test (seed 0), above the 20-45% the premise needs; step 3,000 gave 36.3%
                  TrainConfig(steps=4000, stop_at=3000, batch=8, window=512, lr=3e-3, warmup=50, seed=2,
                              checkpoint_every=250)),
}
# the prompt framing the task uses, so its pieces are in the vocabulary even if the corpus never says it
FRAMING_TEXTS = ["Question: x\nAnswer: y\n\nQuestion: z\nAnswer:"]


def vocab_texts(corpus: list[str]) -> list[str]:
    """Everything the tokenizer must cover: the corpus, a sample of every task family, the framing."""
    sample = make_splits(SplitSizes(2000, 0, 0, 200), seed=0, families={f: 1.0 for f in FAMILIES})
    # in the task's framing (the solution's first word follows "Answer:" and a space) and without it
    texts = [f"Question: {r.question}\nAnswer: {r.solution}\n{r.solution}" for recs in sample.values() for r in recs]
    from ..olympic import build_prompt
    from .olympic_set import olympic_records
    olympic = [build_prompt(r) + " " + r.solution for r in olympic_records(600, seed=0)]
    return corpus + texts + olympic + FRAMING_TEXTS


def fact_accuracy(model, tokenizer, n: int = 600, seed: int = 0) -> dict:
    """Greedy next-token accuracy on facts `a + b =` and `a - b =` with b <= 60 (the task's running sums),
    every number in 0..MAX_NUMBER, at the start of a line; `p+` / `p-`: the mean probability on the right
    token, which is what sampling at T = 1 sees (greedy can be right while a sample slips one time in three)."""
    rng = random.Random(seed)
    out = {}
    for op in "+-":
        prompts, golds = [], []
        for _ in range(n // 2):
            b = rng.randint(2, 60)
            if op == "+":
                a = rng.randint(0, MAX_NUMBER - b); c = a + b
            else:
                a = rng.randint(b, MAX_NUMBER); c = a - b
            prompts.append(f"7 + 2 = 9.\n{a} {op} {b} =")
            golds.append(f" {c}")
        enc = tokenizer(prompts, return_tensors="pt", padding=True)
        with torch.inference_mode():
            logits = model(**enc).logits[:, -1].float()
        pred = logits.argmax(-1).tolist()
        gold = [tokenizer.convert_tokens_to_ids("Ġ" + g.strip()) for g in golds]
        out[op] = round(sum(p == g for p, g in zip(pred, gold)) / len(gold), 3)
        out["p" + op] = round(logits.softmax(-1)[torch.arange(len(gold)), torch.tensor(gold)].mean().item(), 3)
    return out


def icl_accuracy(model, tokenizer, n: int = 100) -> float:
    """Greedy accuracy of a base model on `n` dev-style count problems with 4 gold demos in the task's
    format (a cheap check that few-shot format following has emerged)."""
    sp = make_splits(SplitSizes(4, 0, n, 0), seed=0, world_seed=99)
    demos = "\n\n".join(f"Question: {r.question}\nAnswer: {r.solution}" for r in sp["train_1"])
    prompts = [f"{demos}\n\nQuestion: {r.question}\nAnswer:" for r in sp["dev"]]
    tokenizer.padding_side = "left"
    nl = tokenizer.convert_tokens_to_ids("Ċ")
    correct = 0
    for i in range(0, n, 25):
        enc = tokenizer(prompts[i:i + 25], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=80, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        for r, text in zip(sp["dev"][i:i + 25], tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:],
                                                                      skip_special_tokens=True)):
            text = text.split("\n\n")[0]
            correct += f"#### {r.answer}" == text.strip().split("\n")[-1].strip()
    return round(correct / n, 3)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--only", choices=list(MODELS), action="append", help="build only these models")
    ap.add_argument("--steps", type=int, help="override the step count (experiments)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model-override", type=json.loads, default={},
                    help='experiments: JSON overrides of ModelConfig fields, e.g. \'{"layers": 3}\'')
    ap.add_argument("--train-override", type=json.loads, default={},
                    help="experiments: JSON overrides of TrainConfig fields")
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
                  "vocab_size": len(tokenizer), "torch": torch.__version__, "threads": args.threads,
                  "machine": platform.machine(), "processor": platform.processor()})
    build.setdefault("models", {})
    for name in args.only or list(MODELS):
        mcfg, tcfg = MODELS[name]
        mcfg = dataclasses.replace(mcfg, **args.model_override)
        tcfg = dataclasses.replace(tcfg, threads=args.threads, **({"steps": args.steps} if args.steps else {}),
                                   **args.train_override)
        t1 = time.time()

        def on_ckpt(step, path, _mcfg=mcfg):
            from transformers import LlamaForCausalLM
            m = LlamaForCausalLM.from_pretrained(path)
            return {"facts": fact_accuracy(m, tokenizer), "icl": icl_accuracy(m, tokenizer)}

        log = pretrain(stream, tokenizer, mcfg, tcfg, out / name, on_checkpoint=on_ckpt)
        from transformers import LlamaForCausalLM
        facts = fact_accuracy(LlamaForCausalLM.from_pretrained(out / name), tokenizer)
        build["models"][name] = {"model": dataclasses.asdict(mcfg), "train": dataclasses.asdict(tcfg),
                                 "params": log["params"], "seconds": round(time.time() - t1, 1),
                                 "final_loss": log["losses"][-1]["loss"], "facts": facts,
                                 "checkpoints": log["checkpoints"]}
        print(f"{name}: {log['params']} params, {time.time() - t1:.0f}s, facts {facts}", flush=True)
        build["seconds_total"] = round(time.time() - t0, 1)
        build_path.write_text(json.dumps(build, indent=1) + "\n")


if __name__ == "__main__":
    main()
