"""Is there room for Stage II in a base? Greedy against 10 samples at T = 1, with 4 gold demos.

    .venv/bin/python experiments/world_v5/check_base.py /tmp/v5/phase3 --n 150

On `n` dev questions of the world-v5 task: greedy accuracy, per-sample accuracy, maj@10, and the questions where
the majority is right and greedy wrong (how many with a majority share of at least 0.6, Stage II's gate), and
the reverse. `--any-final` also reads corpus final lines (`Result = 27`); the pipeline's grader needs `#### 27`.
"""
import argparse
import collections
import re

import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from w2s_lib.paths import DATA_DIR
from w2s_lib.toy.task import SplitSizes, make_splits

from build_strong import DIFFICULTY

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("model")
ap.add_argument("--n", type=int, default=150)
ap.add_argument("--any-final", action="store_true")
args = ap.parse_args()
torch.set_num_threads(2)
final = re.compile(r"(?:####|Result =|Answer:|Total:|The answer is|So the result is) (\d+)" if args.any_final
                   else r"#### (\d+)")
tok = PreTrainedTokenizerFast.from_pretrained(DATA_DIR / "toy" / "tokenizer")
tok.padding_side = "left"
model = LlamaForCausalLM.from_pretrained(args.model).eval()
split = make_splits(SplitSizes(4, 0, args.n, 0), seed=0, world_seed=0, difficulty=DIFFICULTY)
demos = "\n\n".join(f"Question: {r.question}\nAnswer: {r.solution}" for r in split["train_1"])
recs = split["dev"]
prompts = [f"{demos}\n\nQuestion: {r.question}\nAnswer:" for r in recs]


def answers(sample: bool) -> list[str]:
    out = []
    for i in range(0, len(prompts), 50):
        enc = tok(prompts[i:i + 50], return_tensors="pt", padding=True, add_special_tokens=False)
        kw = {"do_sample": True, "temperature": 1.0, "top_k": 0} if sample else {"do_sample": False}
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=96, pad_token_id=tok.pad_token_id, **kw)
        for text in tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True):
            m = final.search(text.split("\n\n")[0])
            out.append(m.group(1) if m else "")
    return out


torch.manual_seed(0)
greedy = answers(False)
samples = [answers(True) for _ in range(10)]
n = len(recs)
per_sample = sum(s[i] == r.answer for s in samples for i, r in enumerate(recs)) / (10 * n)
maj_right = maj_wins = gated = greedy_wins = 0
for i, r in enumerate(recs):
    votes = collections.Counter(s[i] for s in samples if s[i])
    top, count = votes.most_common(1)[0] if votes else ("", 0)
    maj_right += top == r.answer
    if top == r.answer and greedy[i] != r.answer:
        maj_wins += 1
        gated += count / 10 >= 0.6
    greedy_wins += greedy[i] == r.answer and top != r.answer
print(f"greedy {sum(g == r.answer for g, r in zip(greedy, recs)) / n:.3f}  per-sample {per_sample:.3f}  "
      f"maj@10 {maj_right / n:.3f}  majority right, greedy wrong {maj_wins} (past 0.6: {gated})  "
      f"greedy right, majority wrong {greedy_wins}  of {n}")
