"""What the toy SCORE models can do before any SCORE fine-tuning: the critique funnel and the verifiers (issue 16).

    python benchmarks/score_toy_probe.py --small <dir>/score_small --verifier <dir>/score_verifier \
        [--n 100] [--samples 6] [--out benchmarks/results/score_toy_probe.json]

The models are the continued-pretraining phases of `w2s_lib/toy/score_phase.py` (SMALL: SCORE's small model,
VERIFIER: the strong verifier). On `n` dev questions of the toy task (the build's dev draw, 4 gold demos in the
prompt, as the build's few-shot check):

1. **sample and label**: the small model answers greedily and samples `samples` answers at T = 0.7 (SCORE's
   setting); each answer is labelled by its final line against gold;
2. **critique**: for each question with a wrong and a right sample, the small model critiques the wrong one
   (greedy) with the right one as the hint (`critique.critique_prompt`); `method.score.rule_filter` keeps it or
   says why not;
3. **refinement filter**: the small model applies each kept critique (`critique.apply_prompt`, greedy); kept when
   the corrected solution's final answer is gold: the funnel pairs -> rule filter -> refinement filter;
4. **verifiers**: each model checks the small model's greedy solutions step by step (`verify_prompt`, greedy) and
   ends with a verdict; precision and recall of "this solution is wrong" (the first measurement, recorded in the
   result file's older keys, read the probability of the word after `Verdict:` instead: the documents then had no
   check before the verdict). The oracle is gold.

Nothing here is fine-tuned: it says whether the continued bases have the skills SCORE's stages need.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

def generate(model, tok, prompts: list[str], *, sample: bool, max_new: int, temperature: float = 0.7,
             top_p: float = 0.95, batch: int = 32) -> list[str]:
    """Each prompt's continuation, cut at the first blank line or the next `Question:`."""
    import torch
    tok.padding_side = "left"
    out: list[str] = []
    for i in range(0, len(prompts), batch):
        enc = tok(prompts[i:i + batch], return_tensors="pt", padding=True, add_special_tokens=False)
        kw = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0} if sample \
            else {"do_sample": False}
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=max_new, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id, **kw)
        for t in tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True):
            out.append(t.split("\n\n")[0].split("\nQuestion:")[0].strip())
    return out


def final(text: str) -> str:
    """The `#### N` number of a solution, in the toy's format or in SCORE's `Step i:` format; "" when it has none."""
    from w2s_lib.toy import critique as cq
    if not text.strip():
        return ""
    return cq.final_answer(text if text.lstrip().startswith("Step ") else cq.as_steps(text))


def verdicts(model, tok, prompts: list[str]) -> list[float]:
    """1.0 where the model's check (greedy, after `verify_prompt`) ends `Verdict: incorrect`, else 0.0 (a check
    without a readable verdict flags nothing, as in stages.score_eval)."""
    from w2s_lib.tasks.score_prompts import read_verdict
    return [1.0 if read_verdict(t) else 0.0 for t in generate(model, tok, prompts, sample=False, max_new=400, batch=16)]


def flag_scores(p: list[float], wrong: list[bool], threshold: float = 0.5) -> dict:
    """`method.score.verifier_scores` at P(incorrect) >= threshold, and the AUC of P(incorrect) for wrong answers."""
    from w2s_lib.method.score import flags_at, verifier_scores
    scores = verifier_scores(flags_at(p, threshold), [not w for w in wrong])
    pos = [x for x, w in zip(p, wrong) if w]
    neg = [x for x, w in zip(p, wrong) if not w]
    auc = (sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))) if pos and neg else None
    return {**{k: round(v, 3) if isinstance(v, float) else v for k, v in scores.items()}, "n": len(wrong),
            "auc": round(auc, 3) if auc is not None else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=Path, required=True)
    ap.add_argument("--verifier", type=Path)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--samples", type=int, default=6)
    ap.add_argument("--pairs-per-question", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "score_toy_probe.json")
    args = ap.parse_args(argv)

    import torch
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    from w2s_lib.method import score as sr
    from w2s_lib.toy import critique as cq
    from w2s_lib.toy.build import TASK
    from w2s_lib.toy.task import SplitSizes, make_splits

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    start = time.time()
    dev = make_splits(SplitSizes(0, 0, args.n, 0), seed=0, world_seed=99, difficulty=TASK)["dev"]
    demos = make_splits(SplitSizes(4, 0, 0, 0), seed=0, world_seed=98, difficulty=TASK)["train_1"]
    shots = "\n\n".join(f"Question: {r.question}\nAnswer: {r.solution}" for r in demos)
    prompts = [f"{shots}\n\nQuestion: {r.question}\nAnswer:" for r in dev]
    gold = [str(r.answer) for r in dev]

    def load(path: Path):
        return LlamaForCausalLM.from_pretrained(path).eval(), PreTrainedTokenizerFast.from_pretrained(path)

    small, tok = load(args.small)
    greedy = generate(small, tok, prompts, sample=False, max_new=96)
    samples = [generate(small, tok, prompts, sample=True, max_new=96) for _ in range(args.samples)]
    result: dict = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "small": str(args.small),
                    "verifier": str(args.verifier) if args.verifier else None, "n": args.n,
                    "samples_per_question": args.samples,
                    "greedy_accuracy": round(sum(final(g) == a for g, a in zip(greedy, gold)) / args.n, 3)}
    per_sample = [[final(s[i]) == gold[i] for s in samples] for i in range(args.n)]
    result["sample_accuracy"] = round(sum(map(sum, per_sample)) / (args.n * args.samples), 3)

    # 2. critiques of (wrong, right) pairs of samples, the right one as the hint
    rng = random.Random(args.seed)
    pairs = []
    for i in range(args.n):
        right = [samples[k][i] for k in range(args.samples) if per_sample[i][k]]
        wrong = [samples[k][i] for k in range(args.samples) if not per_sample[i][k] and final(samples[k][i])]
        combos = [(w, r) for w in dict.fromkeys(wrong) for r in dict.fromkeys(right)]
        rng.shuffle(combos)
        pairs += [(i, w, r) for w, r in combos[:args.pairs_per_question]]
    crit_prompts = [cq.critique_prompt(dev[i].question, cq.as_steps(r), cq.as_steps(w)) for i, w, r in pairs]
    critiques = generate(small, tok, crit_prompts, sample=False, max_new=400, batch=16)
    reasons: dict[str, int] = {}
    kept = []
    for (i, w, r), text in zip(pairs, critiques):
        res = sr.rule_filter(cq.as_steps(w), text, gold[i])
        reasons[res.reason] = reasons.get(res.reason, 0) + 1
        if res.kept:
            # the kept critique, its last feedback (which named the answer) replaced by a bare verdict, as the
            # apply documents show it
            feedbacks = [fb for _, fb in res.critique[:-1]] + [cq.WRONG]
            kept.append((i, w, cq.critique_text(cq.as_steps(w), feedbacks)))
    # 3. refinement filter: apply the kept critique, keep when the corrected answer is gold
    apply_prompts = [cq.apply_prompt(dev[i].question, cq.as_steps(w), c) for i, w, c in kept]
    refined = generate(small, tok, apply_prompts, sample=False, max_new=160, batch=16) if kept else []
    refined_ok = sum(final(t) == gold[i] for (i, _, _), t in zip(kept, refined))
    result["funnel"] = {"pairs": len(pairs), "after_rule_filter": len(kept), "after_refinement_filter": refined_ok,
                        "rule_filter_reasons": reasons}
    result["examples"] = [{"prompt_tail": p[-300:], "critique": c[:600]} for p, c in
                          list(zip(crit_prompts, critiques))[:3]]

    # 4. verifiers on the small model's greedy solutions
    ver_prompts = [cq.verify_prompt(dev[i].question, cq.as_steps(greedy[i])) for i in range(args.n)]
    wrong = [final(g) != a for g, a in zip(greedy, gold)]
    result["verifiers"] = {"oracle": flag_scores([float(w) for w in wrong], wrong),
                           "self (small, prompted)": flag_scores(verdicts(small, tok, ver_prompts), wrong)}
    if args.verifier:
        ver, vtok = load(args.verifier)
        result["verifiers"]["strong (verifier phase, prompted)"] = flag_scores(verdicts(ver, vtok, ver_prompts), wrong)
    result["seconds"] = round(time.time() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "examples"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
