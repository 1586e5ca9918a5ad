"""Stage 04: Stage II, preference optimisation on pairs the strong model builds from its own confidence.

    ctx = open_run("toy")
    sample(ctx)                      # stage samples: M_plus answers each train_2 question n times at T=1.0
    make_pairs(ctx)                  # stage pairs: majority vote, confidence, pairs (w2s_lib.method.pairs.build_pairs)
    load_votes(ctx), load_pairs(ctx) # per question {confidence, majority_pred, weak_pred, weak_agrees, reason}
    train_preference(ctx, "dpo")     # stage dpo (or orpo): M_plus trained on the pairs
    pair_analysis(ctx)               # ANALYSIS ONLY: how often chosen is right / rejected wrong (opens the door)

The rules (docs/paper_settings.md section 5; implemented and tested in w2s_lib.method.pairs):
- confidence = share of the most common final answer among the n samples (ties: the first seen);
- skip a question under `stage2.min_conf` (0.6), or when the most common "answer" is no answer;
- weak answer == majority: chosen = the weak response, rejected = a minority sample (skip if none);
- weak answer != majority, only at confidence >= `stage2.flip_conf` (0.8): chosen = a majority sample,
  rejected = the weak response; `max_pairs_per_question` (1 on GSM8K, 3 on MATH/OlympicArena) pairs at most.
The weak response is always one side of a pair; the strong model decides which side. No gold is read.
"""
from __future__ import annotations

from w2s_lib.tasks import prompts as P
from w2s_lib.run.context import STAGE_VERSION, RunContext, train_summary
from .export import dataset_info, pairs_to_llama_factory
from w2s_lib.run.jsonl import write_json, write_jsonl
from w2s_lib.method.pairs import build_pairs
from w2s_lib.run.presets import STAGE2_METHODS
from w2s_lib.run.records import load_split, reference_gold
from w2s_lib.run.names import HINT_04, PAIRS, SAMPLES
from w2s_lib.run.runstore import Stage
from .stage1 import HINT_03, M_PLUS, m_plus_path
from .weak import D_WEAK, HINT_01, load_answers, load_d_weak

METHODS = STAGE2_METHODS


def sample(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `samples`: M_plus answers every train_2 question `stage2.n_samples` times at
    `stage2.temperature` (zero-shot prompt), in resumable shards. Rows {id, position, samples, preds}."""
    s2 = ctx.preset.stage2
    mp = ctx.store.require(M_PLUS, hint=HINT_03).config["stage"]
    config = {"version": STAGE_VERSION, "m_plus": mp, "n": int(s2["n_samples"]), "temperature": s2["temperature"],
              "top_p": s2["top_p"], "generation": ctx.generation_config(), "seed": ctx.seed}
    st = ctx.stage(SAMPLES, config, deps={"data": HINT_01, M_PLUS: HINT_03}, verbose=verbose)
    if st.done:
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


def pair_gates(ctx: RunContext) -> dict:
    """The preset's Stage II gates, as build_pairs takes them."""
    s2 = ctx.preset.stage2
    return {"min_conf": float(s2["min_conf"]), "flip_conf": float(s2["flip_conf"]),
            "max_pairs": int(s2["max_pairs_per_question"]), "seed": int(s2["pair_seed"])}


def pair_inputs(ctx: RunContext) -> tuple[list[dict], list[list[str]]]:
    """What the pair rules read, per train_2 question in order: {id, position, prompt, weak_response, weak_pred,
    samples, preds}, and the answer keys [weak key, sample keys...] under the preset's comparator (equal keys =
    the same answer; '' = no answer). No gold is read."""
    train_2 = load_split(ctx.root, "train_2")
    weak = {r["id"]: r for r in load_d_weak(ctx)}
    samples = load_samples(ctx)
    questions = [{"id": s["id"], "position": s["position"], "prompt": ctx.prompt(q),
                  "weak_response": weak[s["id"]]["response"], "weak_pred": weak[s["id"]]["pred"],
                  "samples": s["samples"], "preds": s["preds"]} for s, q in zip(samples, train_2)]
    task = ctx.task
    if ctx.comparison_config().get("comparator") == "official":      # the release's normalised prediction strings
        keys = task.official_vote_keys(questions)
    else:                             # the task's notion of equal answers (grader clusters, per answer type)
        keys = task.vote_keys(questions, train_2)
    return questions, keys


def make_pairs(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `pairs`: votes.jsonl (one row per question), pairs.jsonl, llama_factory/ (the release's layout)."""
    gates = pair_gates(ctx)
    config = {"version": STAGE_VERSION, **gates, **ctx.comparison_config()}
    st = ctx.stage(PAIRS, config, deps={"data": HINT_01, D_WEAK: HINT_01, SAMPLES: HINT_04}, verbose=verbose)
    if st.done:
        return st
    questions, keys = pair_inputs(ctx)
    pairs, vote_log, stats = build_pairs(questions, keys, **gates)
    # One row per question: the vote and what happened to it.
    votes = []
    for q, k, log in zip(questions, keys, vote_log):
        v = log["vote"]
        top = q["preds"][k[1:].index(v.top)] if v.top else ""
        votes.append({"id": q["id"], "position": q["position"], "confidence": v.confidence, "majority_pred": top,
                      "weak_pred": q["weak_pred"], "weak_agrees": bool(k[0]) and k[0] == v.top,
                      "reason": log["reason"], "pairs": log["pairs"], "branch": log["branch"]})
    position = {q["id"]: q["position"] for q in questions}
    for p in pairs:
        p["position"] = position[p["id"]]
    write_jsonl(st.path / "votes.jsonl", votes)
    write_jsonl(st.path / "pairs.jsonl", pairs)
    task = ctx.task
    dataset = task.name
    fname = f"train_{dataset}_m_plus_paired.json"
    write_json(st.path / "llama_factory" / fname, pairs_to_llama_factory(pairs, ids=task.llama_factory_ids))
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
    st = ctx.stage(method, config, deps={PAIRS: HINT_04, M_PLUS: HINT_03}, verbose=verbose)
    if st.done:
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
