"""Research harness: the whole weak-to-strong method on the toy world, one seed, with timings per stage.

    .venv/bin/python benchmarks/toy_method_probe.py --models data/toy --work /tmp/probe --seed 0

It runs exactly the paper's method (see /work/helpers/common.md and docs/toy_world.md):
  weak SFT on train_1 gold -> D_weak (greedy on train_2) -> strong base + 4 weak demos on train_2 (D_icl)
  -> Stage I iteration 1 (agreement; SFT strong base on weak / icl / hybrid) -> iteration 2 (answers of the
  iteration-1 weak- and icl-trained models; SFT again) -> M_plus = iteration-2 hybrid -> Stage II (10 samples
  at T=1 on train_2, confidence, pairs) -> DPO and ORPO from M_plus; baselines full weak FT and the ceiling.
and prints greedy / maj@10 / pass@10 for the models that matter. Hyperparameters are chosen on the DEV
split (`--eval-split dev`); the test split is used only for the final numbers.

Self-contained on purpose (TRL trainers + `model.generate`), so it can run before the pipeline's engines
exist; every stage caches its result under --work, so a later stage can be re-run alone (`--redo`).
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import random
import re
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from transformers import AutoTokenizer, LlamaForCausalLM, StoppingCriteria, StoppingCriteriaList  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from w2s_lib.toy.task import SplitSizes, make_splits  # noqa: E402

hf_logging.set_verbosity_error()
ANSWER_RE = re.compile(r"####\s*([^\s]+)")


# ---------------------------------------------------------------------------------------------------
# prompts, answers
# ---------------------------------------------------------------------------------------------------
def prompt(q: str) -> str:
    return f"Question: {q}\nAnswer:"


def fewshot_prompt(demos: list[tuple[str, str]], q: str) -> str:
    return "\n\n".join(f"Question: {dq}\nAnswer: {ds}" for dq, ds in demos) + "\n\n" + prompt(q)


def extract(resp: str) -> str:
    m = ANSWER_RE.search(resp)
    return m.group(1).rstrip(".") if m else ""


# ---------------------------------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------------------------------
class StopOnBlankLine(StoppingCriteria):
    """Stop a row when it emits two newline tokens in a row (the few-shot separator)."""

    def __init__(self, nl_id: int, prompt_len: int):
        self.nl, self.plen = nl_id, prompt_len

    def __call__(self, input_ids, scores, **kw):
        if input_ids.shape[1] - self.plen < 2:
            return torch.zeros(input_ids.shape[0], dtype=torch.bool)
        return (input_ids[:, -1] == self.nl) & (input_ids[:, -2] == self.nl)


def load(path):
    m = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32)
    m.eval()
    return m


def generate_own(model, tok, prompts: list[str], n: int = 1, temperature: float = 0.0, max_new_tokens: int = 96,
             batch_tokens: int = 24_000, seed: int = 0) -> list[list[str]]:
    """Batched generation, length-sorted, left padding; stops at EOS or a blank line."""
    if isinstance(model, (str, Path)):
        model = load(model)
    tok.padding_side = "left"
    nl = tok.convert_tokens_to_ids("Ċ")
    enc = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(enc[i]))
    out: list[list[str]] = [[] for _ in prompts]
    torch.manual_seed(seed)
    i = 0
    while i < len(order):
        plen = len(enc[order[i]])
        bs = max(1, batch_tokens // ((plen + max_new_tokens) * n))
        idx = order[i:i + bs]
        i += bs
        batch = tok.pad({"input_ids": [enc[j] for j in idx]}, return_tensors="pt")
        L = batch["input_ids"].shape[1]
        kw = dict(do_sample=True, temperature=temperature, top_p=1.0, top_k=0) if temperature > 0 else \
            dict(do_sample=False)
        with torch.inference_mode():
            gen = model.generate(**batch, max_new_tokens=max_new_tokens, num_return_sequences=n,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                                 stopping_criteria=StoppingCriteriaList([StopOnBlankLine(nl, L)]), **kw)
        texts = tok.batch_decode(gen[:, L:], skip_special_tokens=True)
        for k, j in enumerate(idx):
            out[j] = [t.split("\n\n")[0].strip() for t in texts[k * n:(k + 1) * n]]
    return out


def accuracy(responses: list[str], golds: list[str]) -> float:
    return sum(extract(r) == g for r, g in zip(responses, golds)) / max(1, len(golds))


def vote(samples: list[str]) -> tuple[str, float]:
    """The paper's vote: majority pred over the samples in order ('' is a candidate; ties go to the pred
    seen first) and its share."""
    answers = [extract(x) for x in samples]
    counts = collections.Counter(answers)          # insertion order = first seen, so ties go to it
    top, c = counts.most_common(1)[0]
    return top, c / len(samples)


def pick_demos(d_weak: list[dict], seed: int) -> list[tuple[str, str]]:
    """One fixed set of 4 demos for every question (as the paper's release): random train_2 questions with
    the weak model's responses, no correctness filter, only required to have a final answer."""
    rng = random.Random(seed)
    with_answer = [d for d in d_weak if extract(d["resp"])]
    if len(with_answer) < 4:          # a degenerate weak model (smoke tests): take any responses
        with_answer = d_weak
    return [(d["q"], d["resp"]) for d in rng.sample(with_answer, 4)]


# ---------------------------------------------------------------------------------------------------
# training: plain torch loops with TRL's semantics. TRL 1.15's SFTTrainer and DPOTrainer route every forward
# through a Triton kernel (trl/kernels/chunked_logprob.py) that cannot import on the CPU build of torch, so
# they crash here; these loops do the same maths: completion-only token-mean NLL (SFT), summed sequence
# log-probs against a frozen reference (DPO), NLL + length-normalised odds ratio (ORPO); AdamW
# (0.9, 0.999), linear warm-up then cosine decay to 0, gradient clipping at 1.0, as HF Trainer does.
# ---------------------------------------------------------------------------------------------------
def _encode(tok, prompt_text: str, completion: str) -> tuple[list[int], list[int]]:
    p = tok(prompt_text, add_special_tokens=False)["input_ids"]
    c = tok(completion, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return p, c


def _batch(seqs: list[tuple[list[int], list[int]]], pad: int):
    """Right-padded input ids, attention mask, and labels (-100 on prompt and padding)."""
    L = max(len(p) + len(c) for p, c in seqs)
    ids = torch.full((len(seqs), L), pad, dtype=torch.long)
    lab = torch.full((len(seqs), L), -100, dtype=torch.long)
    att = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, (p, c) in enumerate(seqs):
        n = len(p) + len(c)
        ids[i, :n] = torch.tensor(p + c)
        lab[i, len(p):n] = torch.tensor(c)
        att[i, :n] = 1
    return ids, att, lab


def _token_logps(model, ids, att, lab):
    """Per-sequence sum and count of completion-token log-probs."""
    logits = model(input_ids=ids, attention_mask=att).logits[:, :-1]
    tgt = lab[:, 1:]
    mask = tgt != -100
    lp = torch.log_softmax(logits.float(), -1).gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (lp * mask).sum(-1), mask.sum(-1)


def _schedule(opt, total: int, lr: float, warmup: float):
    w = int(warmup) if warmup >= 1 else math.ceil(total * warmup)

    def f(step):
        if step < w:
            return (step + 1) / max(1, w)
        return 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))
    return torch.optim.lr_scheduler.LambdaLR(opt, f)


def _batches(n: int, batch: int, epochs: float, seed: int) -> list[list[int]]:
    g = random.Random(seed)
    out = []
    full = int(math.ceil(epochs))
    for e in range(full):
        idx = list(range(n))
        g.shuffle(idx)
        out += [idx[i:i + batch] for i in range(0, n, batch)]
    return out[:int(round(len(out) * epochs / full))]


def sft_own(base, rows: list[dict], out: Path, *, lr: float, epochs: float, batch: int = 32, seed: int = 0,
        tok=None, warmup: float = 0.05) -> dict:
    t0 = time.time()
    torch.manual_seed(seed)
    model = load(base)
    model.train()
    enc = [_encode(tok, r["prompt"], r["completion"]) for r in rows]
    plan = _batches(len(enc), batch, epochs, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = _schedule(opt, len(plan), lr, warmup)
    losses = []
    for b in plan:
        ids, att, lab = _batch([enc[i] for i in b], tok.pad_token_id)
        s, n = _token_logps(model, ids, att, lab)
        loss = -s.sum() / n.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return {"loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4), "rows": len(rows),
            "steps": len(plan), "seconds": round(time.time() - t0, 1)}


def pref_own(kind: str, base, rows: list[dict], out: Path, *, lr: float, epochs: float, beta: float,
         batch: int = 16, seed: int = 0, tok=None, warmup: float = 0.1) -> dict:
    """DPO (sigmoid loss, frozen reference = the starting model) or ORPO (lambda = beta)."""
    t0 = time.time()
    torch.manual_seed(seed)
    model = load(base)
    ch = [_encode(tok, r["prompt"], r["chosen"]) for r in rows]
    rj = [_encode(tok, r["prompt"], r["rejected"]) for r in rows]
    ref_c = ref_r = None
    if kind == "dpo":   # the reference is frozen: its log-probs are computed once
        with torch.inference_mode():
            ref_c = torch.cat([_token_logps(model, *_batch(ch[i:i + 64], tok.pad_token_id))[0]
                               for i in range(0, len(ch), 64)])
            ref_r = torch.cat([_token_logps(model, *_batch(rj[i:i + 64], tok.pad_token_id))[0]
                               for i in range(0, len(rj), 64)])
    model.train()
    plan = _batches(len(rows), batch, epochs, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = _schedule(opt, len(plan), lr, warmup)
    stats = collections.defaultdict(list)
    for b in plan:
        ids, att, lab = _batch([ch[i] for i in b] + [rj[i] for i in b], tok.pad_token_id)
        s, n = _token_logps(model, ids, att, lab)
        sc, sr, nc, nr = s[:len(b)], s[len(b):], n[:len(b)], n[len(b):]
        if kind == "dpo":
            margin = beta * ((sc - ref_c[b]) - (sr - ref_r[b]))
            loss = -torch.nn.functional.logsigmoid(margin).mean()
            stats["reward_acc"].append((margin > 0).float().mean().item())
            stats["chosen_shift"].append((sc - ref_c[b]).mean().item())
            stats["rejected_shift"].append((sr - ref_r[b]).mean().item())
        else:
            mc, mr = sc / nc, sr / nr               # length-normalised log-probs
            log_odds = (mc - mr) - (torch.log1p(-torch.exp(mc).clamp(max=1 - 1e-6))
                                    - torch.log1p(-torch.exp(mr).clamp(max=1 - 1e-6)))
            nll = -sc.sum() / nc.sum()
            loss = nll - beta * torch.nn.functional.logsigmoid(log_odds).mean()
            stats["nll"].append(nll.item())
            stats["odds_acc"].append((log_odds > 0).float().mean().item())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        stats["loss"].append(loss.item())
    model.eval()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    tail = {k: round(sum(v[-10:]) / len(v[-10:]), 4) for k, v in stats.items()}
    return {**tail, "rows": len(rows), "steps": len(plan), "seconds": round(time.time() - t0, 1)}


# ---------------------------------------------------------------------------------------------------
# engine dispatch: the pipeline's engines (w2s_lib.generation / w2s_lib.training) by default, so the numbers
# and timings transfer; --engine own uses the loops above (for comparison)
# ---------------------------------------------------------------------------------------------------
ENGINE = {"name": "pipeline"}
MAX_NEW_TOKENS = 100


def generate(model, tok, prompts, n=1, temperature=0.0, seed=0):
    if ENGINE["name"] == "own":
        return generate_own(model, tok, prompts, n=n, temperature=temperature, seed=seed,
                            max_new_tokens=MAX_NEW_TOKENS)
    from w2s_lib.generation import generate as g
    from w2s_lib.prompts import STOP
    out = g(str(model), prompts, n=n, temperature=temperature, max_new_tokens=MAX_NEW_TOKENS, stop=STOP,
            seed=seed, progress=False)
    return [[x.strip() for x in o] for o in out]


def sft(base, rows, out: Path, *, lr, epochs, batch=32, seed=0, tok=None):
    if ENGINE["name"] == "own":
        return sft_own(base, rows, out, lr=lr, epochs=epochs, batch=batch, seed=seed, tok=tok)
    from w2s_lib.training import train
    m = train("sft", str(base), rows, out, "sft_full", seed=seed,
              overrides={"learning_rate": lr, "num_train_epochs": epochs, "per_device_train_batch_size": batch})
    return {"loss": round(m["train_loss"], 4), "rows": len(rows), "steps": m["global_step"],
            "seconds": round(m["train_runtime"], 1)}


def pref(kind, base, rows, out: Path, *, lr, epochs, beta, batch=16, seed=0, tok=None):
    if ENGINE["name"] == "own":
        return pref_own(kind, base, rows, out, lr=lr, epochs=epochs, beta=beta, batch=batch, seed=seed, tok=tok)
    from w2s_lib.training import train
    m = train(kind, str(base), rows, out, f"{kind}_full", seed=seed,
              overrides={"learning_rate": lr, "num_train_epochs": epochs, "beta": beta,
                         "per_device_train_batch_size": batch})
    logs = [h for h in m["log_history"] if "loss" in h]
    last = logs[-1] if logs else {}
    keep = {k: round(v, 4) for k, v in last.items() if isinstance(v, float) and
            any(w in k for w in ("reward", "logps", "nll", "log_odds", "loss"))}
    return {"loss": round(m["train_loss"], 4), **keep, "rows": len(rows), "steps": m["global_step"],
            "seconds": round(m["train_runtime"], 1)}


# ---------------------------------------------------------------------------------------------------
# the method
# ---------------------------------------------------------------------------------------------------
class Probe:
    def __init__(self, args):
        self.a = args
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.tok = AutoTokenizer.from_pretrained(Path(args.models) / "tokenizer")
        sizes = SplitSizes(args.n_train_1, args.n_train_2, args.n_dev, args.n_test)
        self.splits = make_splits(sizes, seed=args.seed, world_seed=args.world_seed)
        self.evals = self.splits[args.eval_split]
        self.results: dict = {}
        self.res_path = self.work / "results.json"
        if self.res_path.exists():
            self.results = json.loads(self.res_path.read_text())
        self.strong = args.strong_base or str(Path(args.models) / "strong_base")
        self.weak = args.weak_base or str(Path(args.models) / "weak_base")
        self.timing = self.results.setdefault("timing", {})

    def save(self):
        self.res_path.write_text(json.dumps(self.results, indent=1) + "\n")

    def cached(self, name: str, fn, redo=False):
        if name in self.results and name not in self.a.redo and not redo:
            return self.results[name]
        t0 = time.time()
        val = fn()
        self.timing[name] = round(time.time() - t0, 1)
        self.results[name] = val
        self.save()
        print(f"[{name}] {time.time() - t0:.0f}s {summary(val)}", flush=True)
        return val

    def jsonl(self, name, rows=None):
        p = self.work / f"{name}.jsonl"
        if rows is None:
            return [json.loads(x) for x in p.read_text().splitlines()]
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def evaluate(self, model_dir, name, fewshot_from=None, samples=0):
        """Greedy accuracy on the eval split (and maj@k / pass@k with `samples` draws at T=1)."""
        recs = self.evals
        golds = [r.answer for r in recs]
        if fewshot_from is not None:
            prompts = [fewshot_prompt(fewshot_from, r.question) for r in recs]
        else:
            prompts = [prompt(r.question) for r in recs]
        model = str(model_dir)
        g = [o[0] for o in generate(model, self.tok, prompts)]
        out = {"greedy": round(accuracy(g, golds), 4)}
        by_steps = collections.defaultdict(list)
        for r, resp in zip(recs, g):
            by_steps[r.meta["steps"]].append(extract(resp) == r.answer)
        out["by_steps"] = {k: round(sum(v) / len(v), 3) for k, v in sorted(by_steps.items())}
        if samples:
            s = generate(model, self.tok, prompts, n=samples, temperature=1.0, seed=self.a.seed)
            per = [sum(extract(x) == gd for x in ss) / len(ss) for ss, gd in zip(s, golds)]
            out["per_sample"] = round(sum(per) / len(per), 4)
            out[f"maj@{samples}"] = round(sum(vote(ss)[0] == gd for ss, gd in zip(s, golds)) / len(golds), 4)
            out[f"pass@{samples}"] = round(sum(any(extract(x) == gd for x in ss) for ss, gd in zip(s, golds))
                                           / len(golds), 4)
        self.jsonl(f"eval_{name}", [{"id": r.id, "resp": x, "gold": r.answer} for r, x in zip(recs, g)])
        return out

    def train_sft(self, name, base, rows, **kw):
        out = self.work / name
        if (out / "model.safetensors").exists() and name not in self.a.redo:
            return str(out)
        kw.setdefault("lr", self.a.sft_lr)
        kw.setdefault("epochs", self.a.sft_epochs)
        self.cached(f"train_{name}", lambda: sft(base, rows, out, seed=self.a.seed, tok=self.tok, **kw), redo=True)
        return str(out)

    # --- stages -----------------------------------------------------------------------------------
    def setup(self):
        sp = self.splits
        self.t1, self.t2 = sp["train_1"], sp["train_2"]
        self.q2 = [r.question for r in self.t2]   # the strong side sees train_2 questions only
        self.gold2 = [r.answer for r in self.t2]  # analysis only: quality of the data each stage builds

    @staticmethod
    def rows(qs, sols):
        return [{"prompt": prompt(q), "completion": " " + s} for q, s in zip(qs, sols)]

    def gen_file(self, name, model, prompts, **kw):
        if not (self.work / f"{name}.jsonl").exists() or name in self.a.redo:
            t0 = time.time()
            g = generate(model, self.tok, prompts, **kw)
            self.jsonl(name, [{"q": q, "resp": o[0], "all": o} if len(o) > 1 else {"q": q, "resp": o[0]}
                              for q, o in zip(self.q2, g)])
            self.timing[name] = round(time.time() - t0, 1)
            self.save()
        return self.jsonl(name)

    def stage_weak(self):
        """Weak model (weak base + SFT on train_1 gold), weak floor, D_weak."""
        a, t1 = self.a, self.t1
        weak = self.train_sft("weak", self.weak, self.rows([r.question for r in t1], [r.solution for r in t1]),
                              lr=a.weak_lr, epochs=a.weak_epochs)
        self.cached("eval_weak", lambda: self.evaluate(weak, "weak"))
        d_weak = self.gen_file("d_weak", weak, [prompt(q) for q in self.q2])
        self.cached("d_weak_acc", lambda: accuracy([d["resp"] for d in d_weak], self.gold2))
        return d_weak

    def stage_icl(self, d_weak):
        """Strong base + one fixed set of 4 weak demos: the ICL number, and D_icl on train_2."""
        demos = pick_demos(d_weak, self.a.seed)
        self.results["demos"] = demos
        self.results["demos_correct"] = sum(extract(r) == self.gold2[self.q2.index(q)] for q, r in demos)
        self.cached("eval_icl", lambda: self.evaluate(self.strong, "icl", fewshot_from=demos))
        d_icl = self.gen_file("d_icl", self.strong, [fewshot_prompt(demos, q) for q in self.q2])
        self.cached("d_icl_acc", lambda: accuracy([d["resp"] for d in d_icl], self.gold2))
        return d_icl

    def stage_ceiling(self):
        """Reference only: strong base + SFT on train_2 gold."""
        ceil = self.train_sft("ceiling", self.strong, self.rows(self.q2, [r.solution for r in self.t2]))
        return self.cached("eval_ceiling", lambda: self.evaluate(ceil, "ceiling"))

    def stage_full_weak(self, d_weak):
        full = self.train_sft("full_weak", self.strong, self.rows(self.q2, [d["resp"] for d in d_weak]))
        return self.cached("eval_full_weak", lambda: self.evaluate(full, "full_weak"))

    def stage1(self, d_weak, d_icl):
        """Two iterations of agreement selection + SFT of the strong base; returns M_plus (iter-2 hybrid)."""
        q2, t2, gold2 = self.q2, self.t2, self.gold2
        side_a, side_b = d_weak, d_icl
        for it in (1, 2):
            keep = [i for i in range(len(q2)) if extract(side_a[i]["resp"]) and
                    extract(side_a[i]["resp"]) == extract(side_b[i]["resp"])]
            sets = {"weak": self.rows([q2[i] for i in keep], [side_a[i]["resp"] for i in keep]),
                    "icl": self.rows([q2[i] for i in keep], [side_b[i]["resp"] for i in keep])}
            sets["hybrid"] = [r for pair in zip(sets["weak"], sets["icl"]) for r in pair]  # interleaved
            self.cached(f"select_iter{it}", lambda: {
                "kept": len(keep), "of": len(q2),
                "kept_answer_correct": round(sum(extract(side_b[i]["resp"]) == gold2[i] for i in keep)
                                             / max(1, len(keep)), 4),
                "weak_side_exact_gold_solution": round(sum(side_a[i]["resp"].strip() == t2[i].solution.strip()
                                                           for i in keep) / max(1, len(keep)), 4),
                "kept_by_steps": dict(sorted(collections.Counter(t2[i].meta["steps"] for i in keep).items()))})
            models = {}
            for kind in ("weak", "icl", "hybrid"):
                models[kind] = self.train_sft(f"iter{it}_{kind}", self.strong, sets[kind])
                self.cached(f"eval_iter{it}_{kind}", lambda m=models[kind], n=f"iter{it}_{kind}": self.evaluate(m, n))
            if it == 1:
                side_a = self.gen_file("d_iter1_weak", models["weak"], [prompt(q) for q in q2])
                side_b = self.gen_file("d_iter1_icl", models["icl"], [prompt(q) for q in q2])
        return str(self.work / "iter2_hybrid")

    def stage2(self, d_weak, m_plus):
        a, q2, gold2 = self.a, self.q2, self.gold2
        self.cached("eval_m_plus", lambda: self.evaluate(m_plus, "m_plus", samples=10))
        samples = self.gen_file("samples", m_plus, [prompt(q) for q in q2], n=10, temperature=1.0, seed=a.seed)
        samples = [{"samples": s["all"]} for s in samples]
        pairs, stats = build_pairs(q2, d_weak, samples, gold2, seed=42)
        self.results["pairs"] = stats
        self.cached("train2_self_consistency", lambda: {
            "per_sample": round(sum(sum(extract(x) == g for x in s["samples"]) / 10
                                    for s, g in zip(samples, gold2)) / len(gold2), 4),
            "maj@10": round(sum(vote(s["samples"])[0] == g for s, g in zip(samples, gold2)) / len(gold2), 4),
            "pass@10": round(sum(any(extract(x) == g for x in s["samples"]) for s, g in zip(samples, gold2))
                             / len(gold2), 4)})
        for kind in a.pref_kinds:
            name = a.pref_tag + kind
            out = self.work / name
            if not (out / "model.safetensors").exists() or name in a.redo:
                lr = a.dpo_lr if kind == "dpo" else a.orpo_lr
                beta = a.dpo_beta if kind == "dpo" else a.orpo_beta
                self.cached(f"train_{name}", lambda: pref(kind, m_plus, pairs, out, lr=lr, epochs=a.pref_epochs,
                                                          beta=beta, seed=a.seed, tok=self.tok), redo=True)
            self.cached(f"eval_{name}", lambda: self.evaluate(str(out), name), redo=name in a.redo)

    def run(self):
        self.setup()
        d_weak = self.stage_weak()
        d_icl = self.stage_icl(d_weak)
        if self.a.stop_after == "icl":
            return report(self.results)
        self.stage_ceiling()
        self.stage_full_weak(d_weak)
        m_plus = self.stage1(d_weak, d_icl)
        if self.a.stop_after == "stage1":
            return report(self.results)
        self.stage2(d_weak, m_plus)
        self.save()
        report(self.results)


def build_pairs(q2, d_weak, samples, gold2, seed):
    """The paper's Stage II rule (one pair per question, GSM8K)."""
    rng = random.Random(seed)
    pairs, c = [], collections.Counter()
    for i, q in enumerate(q2):
        ss = samples[i]["samples"]
        top, conf = vote(ss)
        weak_resp = d_weak[i]["resp"]
        if conf < 0.6 or top == "":
            c["skip_low_conf"] += 1
            continue
        if extract(weak_resp) == top:
            minority = [x for x in ss if extract(x) != top]
            if not minority:
                c["skip_agree_no_minority"] += 1
                continue
            ch, rj = weak_resp, rng.choice(minority)
            c["weak_chosen"] += 1
        else:
            if conf < 0.8:
                c["skip_disagree_low_conf"] += 1
                continue
            ch, rj = rng.choice([x for x in ss if extract(x) == top]), weak_resp
            c["weak_rejected"] += 1
        c["chosen_correct"] += extract(ch) == gold2[i]
        c["rejected_correct"] += extract(rj) == gold2[i]
        pairs.append({"prompt": prompt(q), "chosen": " " + ch, "rejected": " " + rj})
    stats = dict(c)
    stats["pairs"] = len(pairs)
    return pairs, stats


def summary(v):
    if isinstance(v, dict):
        return {k: x for k, x in v.items() if k != "by_steps"}
    return v


def report(r):
    keys = ["eval_weak", "eval_icl", "eval_full_weak", "eval_iter1_weak", "eval_iter1_icl", "eval_iter1_hybrid",
            "eval_iter2_weak", "eval_iter2_icl", "eval_iter2_hybrid", "eval_m_plus", "eval_dpo", "eval_orpo",
            "eval_ceiling"]
    for k in keys:
        if k in r:
            print(f"{k:22s} {summary(r[k])}  by_steps={r[k].get('by_steps')}")
    for k in ("d_weak_acc", "d_icl_acc", "select_iter1", "select_iter2", "train2_self_consistency", "pairs"):
        if k in r:
            print(f"{k:22s} {r[k]}")
    w, c = r.get("eval_weak", {}).get("greedy"), r.get("eval_ceiling", {}).get("greedy")
    if w is not None and c is not None and c > w:
        for k in ("eval_full_weak", "eval_iter2_hybrid", "eval_dpo", "eval_orpo"):
            if k in r:
                print(f"PGR {k}: {(r[k]['greedy'] - w) / (c - w):.3f}")
    print("timing", r.get("timing"))


def parse_args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weak-base", default=None, help="override <models>/weak_base (experiments)")
    ap.add_argument("--strong-base", default=None, help="override <models>/strong_base (experiments)")
    ap.add_argument("--world-seed", type=int, default=0)
    ap.add_argument("--eval-split", default="dev", choices=["dev", "test"])
    ap.add_argument("--n-train-1", type=int, default=2000)
    ap.add_argument("--n-train-2", type=int, default=2000)
    ap.add_argument("--n-dev", type=int, default=500)
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--weak-lr", type=float, default=1e-3)
    ap.add_argument("--weak-epochs", type=float, default=5)
    ap.add_argument("--sft-lr", type=float, default=5e-4)
    ap.add_argument("--sft-epochs", type=float, default=2)
    ap.add_argument("--dpo-lr", type=float, default=1e-5)
    ap.add_argument("--dpo-beta", type=float, default=0.1)
    ap.add_argument("--orpo-lr", type=float, default=1e-4)
    ap.add_argument("--orpo-beta", type=float, default=0.1)
    ap.add_argument("--pref-epochs", type=float, default=1)
    ap.add_argument("--pref-kinds", nargs="*", default=["dpo", "orpo"])
    ap.add_argument("--pref-tag", default="", help="prefix for the Stage II model names (sweeps)")
    ap.add_argument("--stop-after", default=None)
    ap.add_argument("--redo", nargs="*", default=[])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--engine", choices=["pipeline", "own"], default="pipeline")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("W2S_TORCH_THREADS", str(args.threads))
    ENGINE["name"] = args.engine
    return args


def main():
    Probe(parse_args()).run()


if __name__ == "__main__":
    main()
