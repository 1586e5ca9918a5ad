"""Stage 03: Stage I supervised fine-tuning on the selected data, iterated, and the two baselines.

    ctx = open_run("toy")
    models = train_iteration(ctx, 1)          # stages sft_iter1_{weak,icl,hybrid}: strong base SFT on each set
    iteration_answers(ctx, 1)                 # stages answers_iter1_{weak,icl}: those models answer train_2
    select(ctx, 2, *answer_stages(1))         # (w2s_lib.stages.selection) stage selection_iter2
    train_iteration(ctx, 2)                   # sft_iter2_*, again from the strong *base*
    declare_m_plus(ctx)                       # stage m_plus: M_plus = the last iteration's `stage1.m_plus` model
    m_plus_path(ctx)                          #   (the paper: hybrid), where Stage II starts
    train_full_weak(ctx)                      # baseline: strong base SFT on all of D_weak
    train_ceiling(ctx)                        # REFERENCE: strong base SFT on train_2 gold (opens the door)

Why iterate: the iteration-1 models, trained on data both sides agreed on, answer train_2 better than the
weak model and the few-shot strong base did, so their agreement keeps more (and cleaner) questions. In the
release, the model trained on the weak set answers for the weak side and the model trained on the ICL set
for the ICL side; iteration-2 models are trained from the strong base again, not continued
(docs/paper_settings.md, "Iteration 2").
"""
from __future__ import annotations

from w2s_lib.run.context import STAGE_VERSION, RunContext, train_summary
from w2s_lib.run.presets import sft_name, stage1_subsets
from w2s_lib.tasks import prompts as P
from w2s_lib.run.records import reference_gold
from w2s_lib.run.names import CEILING, FULL_WEAK, HINT_03, M_PLUS, answers_stage
from w2s_lib.run.runstore import Stage
from .selection import HINT_02, SUBSETS, load_sets, selection_stage
from .weak import D_WEAK, HINT_01, answer_metrics, answer_train_2, load_d_weak, sft_rows



def sft_stage(iteration: int, subset: str) -> str:
    return sft_name(iteration, subset)


def answer_stages(iteration: int) -> tuple[str, str]:
    """The (weak side, ICL side) answer stages that iteration + 1 selects from."""
    return answers_stage(iteration, "weak"), answers_stage(iteration, "icl")


def subsets(ctx: RunContext, iteration: int) -> list[str]:
    """The sets trained in `iteration`: the preset's, plus weak and icl whenever a later iteration needs them."""
    return stage1_subsets(ctx.preset, iteration)


def train_sft(ctx: RunContext, name: str, rows: list[dict], deps: dict, describe: str, *,
              verbose: bool = True) -> Stage:
    """Stage `name`: the strong base fine-tuned on `rows` ({prompt, response}); the model is in `model/`."""
    config = {"version": STAGE_VERSION, "base": ctx.model("strong_base"), "train": ctx.train_config("strong_sft")}
    st = ctx.stage(name, config, deps=deps, verbose=verbose)
    if st.done:
        return st
    if verbose:
        print(f"{name}: SFT of the strong base on {len(rows)} rows ({describe})")
    train_rows = [{"prompt": r["prompt"], "completion": P.completion(r["response"])} for r in rows]
    m = ctx.train("sft", "strong_sft", ctx.model("strong_base"), train_rows, st.path / "model")
    st.commit({"rows": len(rows), **train_summary(m)})
    return st


def train_iteration(ctx: RunContext, iteration: int, *, verbose: bool = True) -> dict[str, Stage]:
    """Stages sft_iter<k>_<subset>: the strong base fine-tuned on each selected set of iteration k."""
    sel = selection_stage(iteration)
    hint = HINT_02 if iteration == 1 else HINT_03
    ctx.store.require(sel, hint=hint)
    sets = load_sets(ctx, iteration)
    if not sets["weak"]:
        m = ctx.store.require(sel).metrics
        raise ValueError(f"{sel} kept 0 of {m['questions']} questions (dropped: {m['dropped']}): the weak and the "
                         "ICL answers never agree, so Stage I has nothing to train on. At this size the models are "
                         "too weak or train_2 too small: use more train_2 questions, a better-trained weak model, "
                         "or a longer generation budget (generation.max_new_tokens) if answers are cut off.")
    return {s: train_sft(ctx, sft_stage(iteration, s), sets[s], {"data": HINT_01, sel: hint},
                         f"iteration {iteration}, {s} set", verbose=verbose) for s in subsets(ctx, iteration)}


def iteration_answers(ctx: RunContext, iteration: int, *, verbose: bool = True) -> dict[str, Stage]:
    """Stages answers_iter<k>_{weak,icl}: the iteration-k models trained on the weak and the ICL sets answer
    every train_2 question greedily (zero-shot), as the next iteration's weak and ICL sides."""
    out = {}
    for side in ("weak", "icl"):
        model_stage = sft_stage(iteration, side)
        name = answers_stage(iteration, side)
        config = {"version": STAGE_VERSION, "generation": ctx.generation_config()}
        st = ctx.store.stage(name, config, deps={"data": HINT_01, model_stage: HINT_03})
        if not st.done:
            rows = answer_train_2(ctx, st, ctx.model_of(model_stage, hint=HINT_03))
            st.commit(answer_metrics(rows))
        elif verbose:
            print(f"{name}: done ({st.dir})")
        out[side] = st
    return out


def m_plus_stage(ctx: RunContext) -> str:
    """The stage holding M_plus: the last iteration's model on the `stage1.m_plus` set (the paper: hybrid)."""
    return sft_stage(int(ctx.preset.stage1["iterations"]), ctx.preset.stage1["m_plus"])


def declare_m_plus(ctx: RunContext) -> Stage:
    """Stage `m_plus`: which Stage I model is M_plus (Stage II starts from it). A stage of its own so that
    04 finds M_plus whatever `iterations` 03 was run with."""
    name = m_plus_stage(ctx)
    st = ctx.store.stage(M_PLUS, {"version": STAGE_VERSION, "stage": name}, deps={name: HINT_03})
    if not st.done:
        st.commit({"stage": name, "model": ctx.model_of(name, hint=HINT_03)})
    return st


def m_plus_path(ctx: RunContext) -> str:
    """The M_plus model declared by 03."""
    return ctx.model_of(M_PLUS, hint=HINT_03)


def train_full_weak(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Baseline: the strong base fine-tuned on all of D_weak (every weak response, right or wrong)."""
    rows = load_d_weak(ctx)
    return train_sft(ctx, FULL_WEAK, rows, {"data": HINT_01, D_WEAK: HINT_01}, "all of D_weak", verbose=verbose)


def has_ceiling(ctx: RunContext) -> bool:
    """The ceiling needs train_2 gold; OlympicArena's train_2 (HF test) has none."""
    return ctx.task.has_train_2_gold


def train_ceiling(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """REFERENCE RUN, not part of the method: the strong base fine-tuned on train_2 *gold* solutions, the
    upper bound PGR is measured against. Opens the sealed gold with purpose='strong_ceiling' (logged)."""
    if not has_ceiling(ctx):
        raise ValueError("no strong ceiling for OlympicArena: its train_2 (the HF test split) has no public gold")
    config = {"version": STAGE_VERSION, "base": ctx.model("strong_base"), "train": ctx.train_config("strong_sft")}
    st = ctx.stage(CEILING, config, deps={"data": HINT_01}, verbose=verbose)
    if st.done:
        return st
    gold = reference_gold(ctx.root, purpose="strong_ceiling", note="strong ceiling: SFT on train_2 gold")
    rows = [{"prompt": p["prompt"], "response": p["completion"]}
            for p in sft_rows(ctx, gold, [ctx.task.gold_target(r) for r in gold])]
    return train_sft(ctx, CEILING, rows, {"data": HINT_01}, "train_2 GOLD: reference only", verbose=verbose)

