"""Stage 01: the weak supervisor and its data D_weak.

    ctx = open_run("toy")
    weak = train_weak(ctx)            # stage weak_model: weak base + SFT on train_1 gold (or the given model)
    path = weak_model_path(ctx)       # the model directory (or hub id) to generate with
    d_weak = generate_d_weak(ctx)     # stage d_weak: greedy zero-shot answers on every train_2 question
    rows = load_d_weak(ctx)           # [{id, position, prompt, response, pred}, ...] in train_2 order

In the paper the weak model is a small model fine-tuned on train_1 gold (Llama2-7b on 7,000 GSM8K
solutions); for OlympicArena it is Llama3-8b-instruct used as is (preset `models.weak_model`), since there is
no train_1. D_weak is what the strong side learns from: the weak model's own answers on train_2, right or
wrong, never train_2 gold.
"""
from __future__ import annotations

from w2s_lib.tasks import prompts as P
from w2s_lib.run.context import STAGE_VERSION, RunContext, train_summary
from w2s_lib.run.names import D_WEAK, HINT_01, WEAK_MODEL
from w2s_lib.run.records import load_split
from w2s_lib.run.runstore import Stage



def sft_rows(ctx: RunContext, records: list, responses: list[str]) -> list[dict]:
    """Training rows {prompt, completion} in the release's format (zero-shot prompt, response after a space)."""
    return [{"prompt": ctx.prompt(r), "completion": P.completion(t)} for r, t in zip(records, responses)]


def train_weak(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `weak_model`: the weak base fine-tuned on train_1 gold, or the given weak model (no training)."""
    store = ctx.store
    if ctx.weak_given:
        st = store.stage(WEAK_MODEL, {"version": STAGE_VERSION, "given": ctx.model("weak_model")},
                         deps={"data": HINT_01})
        if not st.done:
            st.commit({"model": ctx.model("weak_model"), "trained": False, "given": True})
        return st
    config = {"version": STAGE_VERSION, "base": ctx.model("weak_base"), "train": ctx.train_config("weak_sft")}
    st = ctx.stage(WEAK_MODEL, config, deps={"data": HINT_01}, verbose=verbose)
    if st.done:
        return st
    train_1 = load_split(ctx.root, "train_1")
    rows = sft_rows(ctx, train_1, [ctx.task.gold_target(r) for r in train_1])
    if verbose:
        print(f"weak_model: SFT of {ctx.model('weak_base')} on {len(rows)} train_1 gold solutions")
    m = ctx.train("sft", "weak_sft", ctx.model("weak_base"), rows, st.path / "model")
    st.commit({"rows": len(rows), **train_summary(m)})
    return st


def weak_model_path(ctx: RunContext) -> str:
    """Where the weak model is: the trained model in the `weak_model` stage, or the given model."""
    return ctx.model_of(WEAK_MODEL, hint=HINT_01)


def answer_train_2(ctx: RunContext, st: Stage, model: str, *, job: str = "answers") -> list[dict]:
    """Greedy zero-shot answers of `model` on every train_2 question, sharded inside stage `st` (resumable).
    Rows: {id, position, prompt, response, pred}, in train_2 order."""
    questions = load_split(ctx.root, "train_2")
    items = [{"id": q.id, "position": i, "prompt": ctx.prompt(q)} for i, q in enumerate(questions)]
    by_id = {q.id: q for q in questions}

    def run(batch: list[dict]) -> list[dict]:
        texts = ctx.generate(model, [it["prompt"] for it in batch])
        return [{**it, "response": t[0], "pred": ctx.pred(t[0], by_id[it["id"]])} for it, t in zip(batch, texts)]

    with ctx.engine(model):                    # one engine for every shard of this step
        return st.sharded(job, items, ctx.shard_size(), run)


def generate_d_weak(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `d_weak`: the weak model answers every train_2 question greedily (zero-shot prompt)."""
    config = {"version": STAGE_VERSION, "generation": ctx.generation_config()}
    st = ctx.stage(D_WEAK, config, deps={"data": HINT_01, WEAK_MODEL: HINT_01}, verbose=verbose)
    if st.done:
        return st
    rows = answer_train_2(ctx, st, weak_model_path(ctx))
    st.commit(answer_metrics(rows))
    return st


def answer_metrics(rows: list[dict]) -> dict:
    """Counts that need no gold: how many responses, how many have no final answer."""
    no_answer = sum(not r["pred"] for r in rows)
    return {"n": len(rows), "no_answer": no_answer, "with_answer": len(rows) - no_answer}


def load_answers(ctx: RunContext, stage: str, hint: str = HINT_01, job: str = "answers") -> list[dict]:
    """The rows of a committed answering stage (d_weak, answers_iter*), in train_2 order."""
    return ctx.store.require(stage, hint=hint).read_shards(job)


def load_d_weak(ctx: RunContext) -> list[dict]:
    """D_weak: [{id, position, prompt, response, pred}, ...] in train_2 order."""
    return load_answers(ctx, D_WEAK)
