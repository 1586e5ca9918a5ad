"""World v5 probe (docs/toy_world.md, "World v5 probe"): a strong base with knowledge holes on numbers up to 49.

    .venv/bin/python experiments/world_v5/build_strong.py --out /tmp/v5     # about 40 min on 2 cores

Three phases, each on its own schedule, all with the shipped tokenizer and the shipped strong architecture:
1. from scratch, 3,000 steps at lr 2e-3 on a 60,000-document corpus with `max_number=49`, `holes=0.07`
   (sharp facts, holes believed, the few-shot format followed; copying still unreliable);
2. 1,500 steps at lr 3e-4 on the same corpus (copying repaired; the few-shot final line lost);
3. 400 steps at lr 1e-4 on 15,000 few-shot documents with the same holes (the final line mostly back).
Writes `<out>/phase1`, `<out>/phase2`, `<out>/phase3` (save_pretrained directories) and `<out>/facts.json`.
Not the shipped world: a lab recipe kept so the probe can be rebuilt.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import dataclasses
import json
import random
from pathlib import Path

import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from w2s_lib.paths import DATA_DIR
from w2s_lib.toy.corpus import Arithmetic, CorpusConfig, corpus_docs
from w2s_lib.toy.pretrain import ModelConfig, TrainConfig, pretrain, token_stream
from w2s_lib.toy.task import Difficulty

DIFFICULTY = Difficulty(min_terms=3, max_terms=5, term_range=(2, 12), max_value=49)
CORPUS = CorpusConfig(seed=0, n_docs=60_000, difficulty=DIFFICULTY, max_number=49, holes=0.07)
FEWSHOT = CorpusConfig(seed=0, n_docs=15_000, difficulty=DIFFICULTY, max_number=49, holes=0.07,
                       mix={"fewshot": 1.0})      # seed 0: the same holes as CORPUS
MODEL = ModelConfig(hidden=128, layers=4, heads=4, ffn=512, context=1024)
PHASES = [("phase1", CORPUS, TrainConfig(steps=3000, batch=8, window=512, lr=2e-3, warmup=100, seed=1,
                                         checkpoint_every=500)),
          ("phase2", CORPUS, TrainConfig(steps=1500, batch=8, window=512, lr=3e-4, warmup=50, seed=3,
                                         checkpoint_every=500)),
          ("phase3", FEWSHOT, TrainConfig(steps=400, batch=8, window=512, lr=1e-4, warmup=50, seed=3))]


def fact_check(model, tok, arith: Arithmetic) -> dict:
    """Greedy accuracy and mean probability on the true sum for 200 non-hole task facts and every task hole, and
    how often a hole gets the corpus's wrong value."""
    task = [(a, b) for a in range(50) for b in range(2, 13) if a + b <= 49]
    groups = {"plain": random.Random(0).sample([f for f in task if not arith.is_hole(*f)], 200),
              "holes": [f for f in task if arith.is_hole(*f)]}
    out = {}
    for name, facts in groups.items():
        enc = tok([f"7 + 2 = 9.\n{a} + {b} =" for a, b in facts], return_tensors="pt", padding=True)
        with torch.inference_mode():
            logits = model(**enc).logits[:, -1].float()
        true = torch.tensor([tok.convert_tokens_to_ids(f"Ġ{a + b}") for a, b in facts])
        believed = torch.tensor([tok.convert_tokens_to_ids(f"Ġ{arith.add(a, b)}") for a, b in facts])
        pred = logits.argmax(-1)
        out[name] = {"greedy_true": round((pred == true).float().mean().item(), 3),
                     "p_true": round(logits.softmax(-1)[torch.arange(len(facts)), true].mean().item(), 3),
                     "greedy_believed": round((pred == believed).float().mean().item(), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    tok = PreTrainedTokenizerFast.from_pretrained(DATA_DIR / "toy" / "tokenizer")
    arith = Arithmetic(CORPUS)
    report, prev = {}, None
    for name, corpus, tcfg in PHASES:
        tcfg = dataclasses.replace(tcfg, threads=args.threads)
        stream = token_stream(corpus_docs(corpus), tok)

        def check(step, path):
            return fact_check(LlamaForCausalLM.from_pretrained(path), tok, arith)

        log = pretrain(stream, tok, MODEL, tcfg, args.out / name, on_checkpoint=check, init_from=prev)
        report[name] = {"seconds": log["seconds"], "checkpoints": log["checkpoints"],
                        "final": check(tcfg.steps, args.out / name)}
        print(name, report[name]["final"], flush=True)
        prev = args.out / name
        (args.out / "facts.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
