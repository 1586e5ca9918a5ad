"""Stage 04: Stage II, preference optimisation on pairs the strong model builds from its own confidence.

    ctx = open_run("toy")
    sample(ctx)                      # stage samples: M_plus answers each train_2 question n times at T=1.0
    make_pairs(ctx)                  # stage pairs: majority vote, confidence, pairs (w2s_lib.pairs.build_pairs)
    load_votes(ctx), load_pairs(ctx) # per question {confidence, majority_pred, weak_pred, weak_agrees, reason}
    train_preference(ctx, "dpo")     # stage dpo (or orpo): M_plus trained on the pairs
    pair_analysis(ctx)               # ANALYSIS ONLY: how often chosen is right / rejected wrong (opens the door)

The rules (docs/paper_settings.md section 5; implemented and tested in w2s_lib.pairs):
- confidence = share of the most common final answer among the n samples (ties: the first seen);
- skip a question under `stage2.min_conf` (0.6), or when the most common "answer" is no answer;
- weak answer == majority: chosen = the weak response, rejected = a minority sample (skip if none);
- weak answer != majority, only at confidence >= `stage2.flip_conf` (0.8): chosen = a majority sample,
  rejected = the weak response; `max_pairs_per_question` (1 on GSM8K, 3 on MATH/OlympicArena) pairs at most.
The weak response is always one side of a pair; the strong model decides which side. No gold is read.
"""
from __future__ import annotations

import random
from typing import Any

from . import prompts as P
from .context import STAGE_VERSION, RunContext, train_summary
from .export import dataset_info, pairs_to_llama_factory
from .jsonl import write_json, write_jsonl
from .pairs import PairStats, build_pairs, pairs_for_question, vote
from .presets import STAGE2_METHODS
from .records import load_split, reference_gold
from .runstore import Stage
from .stage1 import HINT_03, M_PLUS, m_plus_path
from .weak import D_WEAK, HINT_01, load_answers, load_d_weak

SAMPLES = "samples"
PAIRS = "pairs"
METHODS = STAGE2_METHODS
HINT_04 = "run notebooks/04_stage2_preference.ipynb first"


def sample(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `samples`: M_plus answers every train_2 question `stage2.n_samples` times at
    `stage2.temperature` (zero-shot prompt), in resumable shards. Rows {id, position, samples, preds}."""
    s2 = ctx.preset.stage2
    mp = ctx.store.require(M_PLUS, hint=HINT_03).config["stage"]
    config = {"version": STAGE_VERSION, "m_plus": mp, "n": int(s2["n_samples"]), "temperature": s2["temperature"],
              "top_p": s2["top_p"], "generation": ctx.generation_config(), "seed": ctx.seed}
    st = ctx.store.stage(SAMPLES, config, deps={"data": HINT_01, M_PLUS: HINT_03})
    if st.done:
        if verbose:
            print(f"samples: done ({st.dir})")
        return st
    questions = load_split(ctx.root, "train_2")
    by_id = {q.id: q for q in questions}
    items = [{"id": q.id, "position": i} for i, q in enumerate(questions)]
    model = m_plus_path(ctx)

    def run(batch: list[dict]) -> list[dict]:
        texts = ctx.generate(model, [ctx.prompt(by_id[it["id"]]) for it in batch], n=config["n"],
                             temperature=float(s2["temperature"]), top_p=float(s2["top_p"]))
        return [{**it, "samples": t, "preds": [ctx.pred(x, by_id[it["id"]]) for x in t]} for it, t in zip(batch, texts)]

    with ctx.engine(model):                    # one engine for every shard of this step
        rows = st.sharded("samples", items, ctx.shard_size(config["n"]), run)
    n_samples = sum(len(r["samples"]) for r in rows)
    st.commit({"questions": len(rows), "samples": n_samples,
               "samples_without_answer": sum(not p for r in rows for p in r["preds"])})
    return st


def load_samples(ctx: RunContext) -> list[dict]:
    """M_plus's samples: [{id, position, samples, preds}, ...] in train_2 order."""
    return load_answers(ctx, SAMPLES, HINT_04, job="samples")


def _olympic_keys(questions: list[dict], records: dict) -> list[list[str]]:
    """Per question, answer keys for [weak, samples...] under OlympicArena's per-answer-type agreement: each
    answer joins the cluster of the first earlier answer it agrees with."""
    from .olympic import answers_agree
    out = []
    for q in questions:
        texts = [q["weak_response"]] + list(q["samples"])
        preds = [q["weak_pred"]] + list(q["preds"])
        reps: list[str] = []
        keys = []
        for t, p in zip(texts, preds):
            if not p:
                keys.append("")
                continue
            hit = next((c for c, r in enumerate(reps) if answers_agree(r, t, records[q["id"]])), None)
            if hit is None:
                reps.append(t)
                hit = len(reps) - 1
            keys.append(f"c{hit}")
        out.append(keys)
    return out


def _build_with_keys(questions: list[dict], all_keys: list[list[str]], **gates: Any) -> tuple[list[dict], PairStats]:
    """build_pairs' loop over precomputed keys (OlympicArena: agreement depends on the question's answer type,
    which a key(response) function cannot see)."""
    rng = random.Random(gates.pop("seed"))
    stats, out = PairStats(), []
    for q, keys in zip(questions, all_keys):
        stats.questions += 1
        pairs, reason, v = pairs_for_question(q["weak_response"], keys[0], q["samples"], keys[1:], rng=rng, **gates)
        if reason is not None:
            stats.skipped[reason] += 1
            continue
        stats.questions_with_pairs += 1
        for p in pairs:
            stats.pairs += 1
            stats.weak_chosen += p["branch"] == "weak_chosen"
            stats.weak_rejected += p["branch"] == "weak_rejected"
            out.append({"id": q["id"], "prompt": q["prompt"], **p, "confidence": v.confidence,
                        "majority_key": v.top, "weak_key": keys[0]})
    return out, stats


def make_pairs(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `pairs`: votes.jsonl (one row per question), pairs.jsonl, llama_factory/ (the release's layout)."""
    s2 = ctx.preset.stage2
    gates = {"min_conf": float(s2["min_conf"]), "flip_conf": float(s2["flip_conf"]),
             "max_pairs": int(s2["max_pairs_per_question"]), "seed": int(s2["pair_seed"])}
    from .grading_official import comparator_of
    comparator = comparator_of(ctx.preset)
    config = {"version": STAGE_VERSION, **gates, "judge": ctx.judge}
    if comparator != "math":
        config["comparator"] = comparator
    st = ctx.store.stage(PAIRS, config, deps={"data": HINT_01, D_WEAK: HINT_01, SAMPLES: HINT_04})
    if st.done:
        if verbose:
            print(f"pairs: done ({st.dir})")
        return st
    train_2 = load_split(ctx.root, "train_2")
    weak = {r["id"]: r for r in load_d_weak(ctx)}
    samples = load_samples(ctx)
    questions = [{"id": s["id"], "position": s["position"], "prompt": ctx.prompt(q),
                  "weak_response": weak[s["id"]]["response"], "weak_pred": weak[s["id"]]["pred"],
                  "samples": s["samples"], "preds": s["preds"]} for s, q in zip(samples, train_2)]
    if comparator == "official":
        from .pairs import official_keys
        keys = official_keys(questions, ctx.preset.dataset["name"])
        pairs, stats = _build_with_keys(questions, keys, **dict(gates))
    elif ctx.judge == "olympic":
        keys = _olympic_keys(questions, {q.id: q for q in train_2})
        pairs, stats = _build_with_keys(questions, keys, **dict(gates))
    else:
        from .pairs import answer_keys
        keys = answer_keys(questions)     # the same clusters build_pairs computes (cached: cheap the 2nd time)
        pairs, stats = build_pairs(questions, seed=gates["seed"], min_conf=gates["min_conf"],
                                   flip_conf=gates["flip_conf"], max_pairs=gates["max_pairs"])
    # One row per question: the vote and what happened (the same rules, run once more for the reasons).
    votes = []
    for q, k in zip(questions, keys):
        ps, reason, v = pairs_for_question(q["weak_response"], k[0], q["samples"], k[1:], rng=random.Random(0),
                                           min_conf=gates["min_conf"], flip_conf=gates["flip_conf"],
                                           max_pairs=gates["max_pairs"])
        top = q["preds"][k[1:].index(v.top)] if v.top else ""
        votes.append({"id": q["id"], "position": q["position"], "confidence": v.confidence, "majority_pred": top,
                      "weak_pred": q["weak_pred"], "weak_agrees": bool(k[0]) and k[0] == v.top,
                      "reason": reason, "pairs": len(ps), "branch": ps[0]["branch"] if ps else None})
    position = {q["id"]: q["position"] for q in questions}
    for p in pairs:
        p["position"] = position[p["id"]]
    write_jsonl(st.path / "votes.jsonl", votes)
    write_jsonl(st.path / "pairs.jsonl", pairs)
    dataset = ctx.preset.dataset["name"]
    fname = f"train_{dataset}_m_plus_paired.json"
    write_json(st.path / "llama_factory" / fname,
               pairs_to_llama_factory(pairs, ids="record" if ctx.judge == "olympic" else "position"))
    write_json(st.path / "llama_factory" / "dataset_info.json", dataset_info(pairs={f"{dataset}_m_plus_paired": fname}))
    st.commit(stats.to_dict())
    if verbose:
        print(f"pairs: {stats.pairs} pairs from {stats.questions_with_pairs} of {stats.questions} questions "
              f"(weak chosen {stats.weak_chosen}, weak rejected {stats.weak_rejected}); skipped {stats.skipped}")
    return st


def load_votes(ctx: RunContext) -> list[dict]:
    return ctx.store.require(PAIRS, hint=HINT_04).read_jsonl("votes.jsonl")


def load_pairs(ctx: RunContext) -> list[dict]:
    return ctx.store.require(PAIRS, hint=HINT_04).read_jsonl("pairs.jsonl")


def preference_rows(pairs: list[dict]) -> list[dict]:
    """Pairs as the trainers read them: the prompt, and each side as a completion of it."""
    return [{"prompt": p["prompt"], "chosen": P.completion(p["chosen"]), "rejected": P.completion(p["rejected"])}
            for p in pairs]


def train_preference(ctx: RunContext, method: str, *, verbose: bool = True) -> Stage:
    """Stage `dpo` or `orpo`: M_plus trained on the pairs with the preset's recipe for that method."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    mp = ctx.store.require(M_PLUS, hint=HINT_03).config["stage"]
    config = {"version": STAGE_VERSION, "m_plus": mp, "train": ctx.train_config(method)}
    st = ctx.store.stage(method, config, deps={PAIRS: HINT_04, M_PLUS: HINT_03})
    if st.done:
        if verbose:
            print(f"{method}: done ({st.dir})")
        return st
    rows = preference_rows(load_pairs(ctx))
    if verbose:
        print(f"{method}: {method.upper()} from M_plus ({mp}) on {len(rows)} pairs")
    m = ctx.train(method, method, m_plus_path(ctx), rows, st.path / "model")
    st.commit({"pairs": len(rows), **train_summary(m)})
    return st


def pair_analysis(ctx: RunContext) -> dict:
    """ANALYSIS ONLY (opens train_2 gold, purpose='analysis', logged): per branch, how often the chosen side
    is correct and the rejected side wrong; and how often the majority answer itself is correct."""
    gold = {r.id: r for r in reference_gold(ctx.root, purpose="analysis", note="Stage II pair quality")}
    pairs, votes = load_pairs(ctx), load_votes(ctx)
    if pairs and gold[pairs[0]["id"]].answer is None:
        raise ValueError("train_2 has no public gold answers for this dataset (OlympicArena's HF test split)")
    from .evaluate import grade
    chosen_ok = grade(ctx, [p["chosen"] for p in pairs], [gold[p["id"]] for p in pairs])
    rejected_ok = grade(ctx, [p["rejected"] for p in pairs], [gold[p["id"]] for p in pairs])
    out: dict = {}
    for branch in ("weak_chosen", "weak_rejected", "all"):
        idx = [i for i, p in enumerate(pairs) if branch == "all" or p["branch"] == branch]
        n = len(idx)
        out[branch] = {"pairs": n,
                       "chosen_correct": sum(chosen_ok[i] for i in idx) / n if n else None,
                       "rejected_wrong": sum(not rejected_ok[i] for i in idx) / n if n else None,
                       "chosen_right_and_rejected_wrong": (sum(chosen_ok[i] and not rejected_ok[i] for i in idx) / n
                                                           if n else None)}
    return out
