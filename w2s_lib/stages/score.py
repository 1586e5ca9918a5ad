"""Notebook 07: SCORE's training data and refiner (Zhang et al. 2024, *Small Language Models Need Strong Verifiers
to Self-Correct Reasoning*), as run-store stages on the run's splits.

    ctx = open_run("toy", seed=0)
    sample(ctx)              # score_samples: the small model samples n solutions per SCORE-train question (T = 0.7)
    critique(ctx)            # score_critiques: (incorrect, correct) pairs, critiqued greedily with the correct one as
                             #   the hint; method.score.rule_filter keeps or refuses each (and says why)
    refinement_filter(ctx)   # score_refinements: each kept critique applied; kept when the correction is right.
                             #   The refiner's training rows (refiner_rows.jsonl): method.score.refiner_target
    train_refiner(ctx)       # score_refiner: the small model fine-tuned on those rows (one generation: first wrong
                             #   step's feedback, `Correction:`, a corrected solution)

The splits: SCORE's train and dev are the run's `score.train_split` (train_1, with gold) without / with its last
`score.dev_size` records; test is the run's test set. Gold labels the samples and drives the filters, as in the
paper; no stage here reads train_2 (the weak-to-strong series' gold-free split). The hint of a critique is always
one of the small model's own correct samples, never the gold solution.

Notebook 08's stages (verify, then refine) are in `score_eval.py`.
"""
from __future__ import annotations

import random
from typing import Any

from w2s_lib.method import score as sr
from w2s_lib.run.context import STAGE_VERSION, RunContext, train_summary
from w2s_lib.run.jsonl import write_jsonl
from w2s_lib.run.names import (HINT_01, HINT_07, SCORE_CRITIQUES, SCORE_REFINEMENTS, SCORE_REFINER,
                               SCORE_SAMPLES)
from w2s_lib.run.records import Record, load_split
from w2s_lib.run.runstore import Stage
from w2s_lib.tasks import score_prompts as SP


# ---------------------------------------------------------------------------------------------------
# splits, demos, prompts
# ---------------------------------------------------------------------------------------------------
def require_score(ctx: RunContext) -> dict:
    """The preset's `score` section; a clear error when the preset has no SCORE run."""
    if not ctx.preset.has_score:
        raise ValueError(f"{ctx.preset.path}: preset {ctx.preset.name!r} has no SCORE run (set score.small_model)")
    return ctx.preset.score


def small_model(ctx: RunContext) -> str:
    return ctx.preset.score_model("small_model")


def splits(ctx: RunContext) -> dict[str, list[Record]]:
    """SCORE's splits: {"train", "dev", "test"}. train and dev are `score.train_split` without / with its last
    `score.dev_size` records (in the run's order); the `score.sample_demos` demos are drawn from train (and are not
    in it); `score.train_size` (when > 0) keeps the first that many of train."""
    sc = require_score(ctx)
    pool = load_split(ctx.root, sc["train_split"], hint=HINT_01)
    n_dev = int(sc["dev_size"])
    if n_dev < 1 or n_dev >= len(pool):
        raise ValueError(f"{ctx.preset.path}: score.dev_size must be between 1 and {len(pool) - 1} (the "
                         f"{sc['train_split']} split has {len(pool)} records), got {n_dev}")
    train, dev = pool[:-n_dev], pool[-n_dev:]
    demo_ids = {r.id for r in demos(ctx, train)}
    train = [r for r in train if r.id not in demo_ids]
    if int(sc.get("train_size") or 0):
        train = train[:int(sc["train_size"])]
    return {"train": train, "dev": dev, "test": load_split(ctx.root, "test")}


def demos(ctx: RunContext, train: list[Record] | None = None) -> list[Record]:
    """The gold demos of the small model's answering prompt: `score.sample_demos` records of SCORE's train split,
    drawn with `score.demo_seed` (the same for every seed: a prompt, not data). # our choice: the paper's 8 demos
    are fixed hand-written solutions in its step format."""
    sc = require_score(ctx)
    if train is None:
        pool = load_split(ctx.root, sc["train_split"], hint=HINT_01)
        train = pool[:-int(sc["dev_size"])]
    k = int(sc["sample_demos"])
    with_solution = [r for r in train if r.solution]
    return random.Random(int(sc["demo_seed"])).sample(with_solution, min(k, len(with_solution))) if k else []


def answer_prompt(ctx: RunContext, record: Any, shots: list[Record]) -> str:
    """The small model's prompt for a solution: the demos' gold solutions (the task's few-shot format), then the
    question."""
    if not shots:
        return ctx.prompt(record)
    return ctx.task.few_shot_prompt([(d, ctx.task.gold_target(d)) for d in shots], record)


def steps(response: str) -> str:
    """A response in SCORE's step format (what critiques copy and the refiner reads)."""
    return SP.to_steps(response)


def pred_of(ctx: RunContext, step_text: str, record: Any) -> str:
    """The final answer of a step-format solution, read by the task in its own format."""
    return ctx.pred(SP.from_steps(step_text), record)


def grade_steps(ctx: RunContext, step_texts: list[str], records: list[Any]) -> list[bool]:
    """Correctness of step-format solutions with the task's judge (an empty solution is wrong)."""
    return [bool(t.strip()) and ok for t, ok in
            zip(step_texts, ctx.task.grade([SP.from_steps(t) for t in step_texts], records))]


def critique_budget(ctx: RunContext) -> int:
    return int(require_score(ctx)["critique_max_new_tokens"])


# ---------------------------------------------------------------------------------------------------
# 1. sample and label
# ---------------------------------------------------------------------------------------------------
def _base_config(ctx: RunContext) -> dict:
    sc = require_score(ctx)
    return {"version": STAGE_VERSION, "small_model": small_model(ctx), "split": sc["train_split"],
            "dev_size": int(sc["dev_size"]), "train_size": int(sc.get("train_size") or 0),
            "sample_demos": int(sc["sample_demos"]), "demo_seed": int(sc["demo_seed"]),
            "generation": ctx.generation_config()}


def sample(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `score_samples`: `score.n_samples` solutions per SCORE-train question at `score.temperature` /
    `score.top_p`, each labelled by its final answer against gold. Rows {id, position, samples (step format),
    preds, correct}."""
    sc = require_score(ctx)
    config = {**_base_config(ctx), "n": int(sc["n_samples"]), "temperature": sc["temperature"],
              "top_p": sc["top_p"], "seed": ctx.seed}
    st = ctx.stage(SCORE_SAMPLES, config, deps={"data": HINT_01}, verbose=verbose)
    if st.done:
        return st
    sp = splits(ctx)
    shots, train = demos(ctx), sp["train"]
    by_id = {r.id: r for r in train}
    items = [{"id": r.id, "position": i} for i, r in enumerate(train)]
    model = small_model(ctx)

    def run(batch: list[dict]) -> list[dict]:
        recs = [by_id[it["id"]] for it in batch]
        texts = ctx.generate(model, [answer_prompt(ctx, r, shots) for r in recs], n=config["n"],
                             temperature=float(sc["temperature"]), top_p=float(sc["top_p"]))
        out = []
        for it, r, row in zip(batch, recs, texts):
            solutions = [steps(t) for t in row]
            out.append({**it, "samples": solutions, "preds": [pred_of(ctx, s, r) for s in solutions],
                        "correct": grade_steps(ctx, solutions, [r] * len(solutions))})
        return out

    with ctx.engine(model):
        rows = st.sharded("samples", items, ctx.shard_size(config["n"]), run)
    n = sum(len(r["samples"]) for r in rows)
    right = sum(sum(r["correct"]) for r in rows)
    mixed = sum(1 for r in rows if any(r["correct"]) and not all(r["correct"]))
    st.commit({"questions": len(rows), "samples": n, "sample_accuracy": right / n if n else None,
               "questions_all_right": sum(1 for r in rows if all(r["correct"])),
               "questions_all_wrong": sum(1 for r in rows if not any(r["correct"])),
               "questions_with_a_pair": mixed, "dev": len(sp["dev"]), "test": len(sp["test"]),
               "demos": [d.id for d in shots]})
    if verbose:
        print(f"score_samples: {n} samples of {len(rows)} questions, {right / n:.1%} right; {mixed} questions have "
              f"both a right and a wrong sample")
    return st


def load_samples(ctx: RunContext) -> list[dict]:
    return ctx.store.require(SCORE_SAMPLES, hint=HINT_07).read_shards("samples")


# ---------------------------------------------------------------------------------------------------
# 2. critique, with the rule filter
# ---------------------------------------------------------------------------------------------------
def pairs(rows: list[dict], per_question: int, seed: int) -> list[dict]:
    """(incorrect, correct) pairs of each question's samples: every distinct pair, or `per_question` of them drawn
    with `seed` (0 = all, the paper). Rows {id, position, wrong, hint}."""
    out = []
    for r in rows:
        right = list(dict.fromkeys(s for s, ok in zip(r["samples"], r["correct"]) if ok))
        wrong = list(dict.fromkeys(s for s, ok in zip(r["samples"], r["correct"]) if not ok))
        combos = [(w, h) for w in wrong for h in right]
        if per_question and len(combos) > per_question:
            combos = random.Random(f"{seed}-{r['id']}").sample(combos, per_question)
        out += [{"id": r["id"], "position": r["position"], "wrong": w, "hint": h} for w, h in combos]
    return out


def kept_text(kept: tuple[tuple[str, str], ...]) -> str:
    """A kept critique as the refinement filter shows it: its last feedback (removed by the rule filter, so the
    answer does not leak) as a bare "This step is incorrect."."""
    return "\n".join(f"Step {i}: {s}\nFeedback: {fb or SP.WRONG}" for i, (s, fb) in enumerate(kept, 1))


def critique(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `score_critiques`: the small model critiques each pair's incorrect solution greedily with the correct
    one as the hint; `method.score.rule_filter` keeps it or names the first rule it breaks. Rows {id, position,
    wrong, hint, critique, reason, kept (the kept critique's text, or "")}."""
    sc = require_score(ctx)
    config = {**_base_config(ctx), "pairs_per_question": int(sc["pairs_per_question"]),
              "pair_seed": int(sc["pair_seed"]), "max_new_tokens": critique_budget(ctx)}
    st = ctx.stage(SCORE_CRITIQUES, config, deps={SCORE_SAMPLES: HINT_07}, verbose=verbose)
    if st.done:
        return st
    by_id = {r.id: r for r in splits(ctx)["train"]}
    items = pairs(load_samples(ctx), config["pairs_per_question"], config["pair_seed"])
    model = small_model(ctx)

    def run(batch: list[dict]) -> list[dict]:
        prompts = [SP.critique_prompt(by_id[it["id"]].question, it["hint"], it["wrong"]) for it in batch]
        texts = ctx.generate(model, prompts, max_new_tokens=config["max_new_tokens"])
        out = []
        for it, (text,) in zip(batch, texts):
            v = sr.rule_filter(it["wrong"], text, by_id[it["id"]].answer or "")
            out.append({**it, "critique": text, "reason": v.reason, "kept": kept_text(v.critique) if v.kept else ""})
        return out

    with ctx.engine(model):
        rows = st.sharded("critiques", items, ctx.shard_size(), run)
    reasons: dict[str, int] = {}
    for r in rows:
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    kept = sum(1 for r in rows if r["kept"])
    st.commit({"pairs": len(rows), "kept": kept, "reasons": dict(sorted(reasons.items())),
               "questions": len({r["id"] for r in rows})})
    if verbose:
        print(f"score_critiques: {kept} of {len(rows)} critiques pass the rule filter; refused: "
              + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()) if k != "kept"))
    return st


def load_critiques(ctx: RunContext) -> list[dict]:
    return ctx.store.require(SCORE_CRITIQUES, hint=HINT_07).read_shards("critiques")


# ---------------------------------------------------------------------------------------------------
# 3. refinement filter -> the refiner's training rows
# ---------------------------------------------------------------------------------------------------
def refinement_filter(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `score_refinements`: the small model applies each kept critique to its incorrect solution (greedy);
    the critique is kept when the correction reaches the gold answer, and the correction becomes the target's.
    Writes refiner_rows.jsonl: {prompt: refine_prompt(question, wrong), completion: refiner_target}, duplicates
    removed."""
    config = {**_base_config(ctx), "max_new_tokens": critique_budget(ctx)}
    st = ctx.stage(SCORE_REFINEMENTS, config, deps={SCORE_CRITIQUES: HINT_07}, verbose=verbose)
    if st.done:
        return st
    by_id = {r.id: r for r in splits(ctx)["train"]}
    items = [{k: r[k] for k in ("id", "position", "wrong", "kept")} for r in load_critiques(ctx) if r["kept"]]
    model = small_model(ctx)

    def run(batch: list[dict]) -> list[dict]:
        recs = [by_id[it["id"]] for it in batch]
        prompts = [SP.apply_prompt(r.question, it["wrong"], it["kept"]) for it, r in zip(batch, recs)]
        texts = [t for (t,) in ctx.generate(model, prompts, max_new_tokens=critique_budget(ctx))]
        corrections = [steps(t) for t in texts]
        ok = grade_steps(ctx, corrections, recs)
        return [{**it, "correction": c, "correct": o} for it, c, o in zip(batch, corrections, ok)]

    with ctx.engine(model):
        rows = st.sharded("refinements", items, ctx.shard_size(), run)
    train_rows = []
    for r in rows:
        if not r["correct"]:
            continue
        kept = tuple(sr.parse_critique(r["kept"]))
        train_rows.append({"id": r["id"], "prompt": SP.refine_prompt(by_id[r["id"]].question, r["wrong"]),
                           "completion": "\n" + sr.refiner_target(kept, r["correction"])})
    unique = sr.dedupe(train_rows, ("prompt", "completion"))
    write_jsonl(st.path / "refiner_rows.jsonl", unique)
    st.commit({"kept_critiques": len(rows), "refined_correct": sum(r["correct"] for r in rows),
               "refiner_rows": len(unique), "duplicates_removed": len(train_rows) - len(unique),
               "questions": len({r["id"] for r in unique})})
    if verbose:
        print(f"score_refinements: {sum(r['correct'] for r in rows)} of {len(rows)} kept critiques lead to a right "
              f"correction; {len(unique)} refiner rows after removing {len(train_rows) - len(unique)} duplicates")
    return st


def load_refinements(ctx: RunContext) -> list[dict]:
    return ctx.store.require(SCORE_REFINEMENTS, hint=HINT_07).read_shards("refinements")


def refiner_rows(ctx: RunContext) -> list[dict]:
    return ctx.store.require(SCORE_REFINEMENTS, hint=HINT_07).read_jsonl("refiner_rows.jsonl")


def funnel(ctx: RunContext) -> dict:
    """The critique funnel: pairs -> after the rule filter -> after the refinement filter -> refiner rows."""
    c = ctx.store.require(SCORE_CRITIQUES, hint=HINT_07).metrics
    r = ctx.store.require(SCORE_REFINEMENTS, hint=HINT_07).metrics
    return {"pairs": c["pairs"], "after_rule_filter": c["kept"], "after_refinement_filter": r["refined_correct"],
            "refiner_rows": r["refiner_rows"], "rule_filter_reasons": c["reasons"]}


# ---------------------------------------------------------------------------------------------------
# 4. the refiner
# ---------------------------------------------------------------------------------------------------
def train_refiner(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `score_refiner`: the small model fine-tuned on the refiner rows (`train.score_refiner` recipe)."""
    config = {"version": STAGE_VERSION, "small_model": small_model(ctx), "train": ctx.train_config("score_refiner")}
    st = ctx.stage(SCORE_REFINER, config, deps={SCORE_REFINEMENTS: HINT_07}, verbose=verbose)
    if st.done:
        return st
    rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in refiner_rows(ctx)]
    if not rows:
        # No critique survived the filters: there is no refiner. Recorded as such (the small model, untrained, named
        # as the stage's model, as a preference stage with no pairs does), so that 08 still runs and shows it: a
        # refiner output without `Correction:` leaves the initial solution, so nothing is fixed or broken.
        msg = ("WARNING score_refiner: the filters kept no critique, so there is no refiner to train; 08 asks the "
               "untrained small model (see score_critiques' refusal reasons)")
        print(msg, flush=True)
        st.commit({"rows": 0, "trained": False, "model": small_model(ctx), "note": msg})
        return st
    if verbose:
        print(f"score_refiner: SFT of {small_model(ctx)} on {len(rows)} refiner rows")
    m = ctx.train("sft", "score_refiner", small_model(ctx), rows, st.path / "model")
    st.commit({"rows": len(rows), **train_summary(m)})
    return st


def refiner_path(ctx: RunContext) -> str:
    return ctx.model_of(SCORE_REFINER, hint=HINT_07)

