"""Stage 02 (and the selection step of every Stage I iteration): where weak and strong answers agree.

    ctx = open_run("toy")
    icl = generate_d_icl(ctx)               # stage d_icl: 4 weak demos -> strong base few-shot on train_2
    sel = select(ctx, 1)                    # stage selection_iter1: agreeing questions -> weak/icl/hybrid sets
    sets = load_sets(ctx, 1)                # {"weak": rows, "icl": rows, "hybrid": rows}; rows {id, position,
                                            #  prompt, response, source}
    kept_accuracy(ctx, 1)                   # ANALYSIS ONLY: opens train_2 gold through the logged door

The rules, from the paper's release (docs/paper_settings.md section 4):
- Demos (`icl.demos`): `released` (the paper presets) prepends the release's own demo string, byte for byte
  (data/release/demos, with provenance; OlympicArena's repeats one question 4 times, as released). `sampled`
  (toy, smoke, single-gpu, new datasets): one fixed set of `icl.n_demos` (4) weak outputs for every question;
  `random.Random(demo_seed)` shuffles D_weak and the first rows *that have a final answer* are the demos, right or
  wrong (the release's Llama2-7b GSM8K demos have 1 correct answer of 4). Nothing checks them against gold.
- D_icl: the strong *base* model answers every train_2 question greedily after those demos.
- A question is kept when the weak and the ICL final answers agree, under `stage1.comparator`:
  `official` (the paper presets): the release's rule (`Task.official_agree`, w2s_lib.tasks): the normalised
  prediction strings are equal, two empty ones included, as in the released data; OlympicArena: the ICL
  response judged by OlympicArena's judge against the weak answer. `math` (our improvement; toy, smoke,
  single-gpu): our grader's equality (`grading.answers.cluster_batch` over [weak, icl]: `0.5` and `\\frac12` agree) and
  an empty answer never agrees; OlympicArena uses the per-answer-type `olympic.answers_agree`.
- Three training sets come out, in train_2 order: `weak` (the weak responses of the kept questions), `icl`
  (the ICL responses) and `hybrid` (both, interleaved per question: weak_i, icl_i, weak_j, icl_j, ...). The
  prompt is the zero-shot prompt, as in the release files: the demos are not part of the training data.
- Iteration k > 1 repeats the rule with the answers of iteration k-1's models: the model trained on the
  weak set plays the weak side, the model trained on the ICL set the ICL side (w2s_lib.stages.stage1).
"""
from __future__ import annotations

from typing import Any, Sequence

from w2s_lib.run.context import STAGE_VERSION, RunContext
from .export import dataset_info, sft_to_llama_factory
from w2s_lib.run.jsonl import write_json, write_jsonl
from w2s_lib.method.agreement import DISAGREE, ICL_NO_ANSWER, WEAK_NO_ANSWER, keep_reason
from w2s_lib.method.demos import choose_demos
from w2s_lib.method.sets import build_sets
from w2s_lib.run.names import D_ICL, HINT_02, STAGE1_SUBSETS, hint_iteration, selection_stage
from w2s_lib.run.records import load_split, reference_gold
from w2s_lib.run.runstore import Stage, sha256_of
from .weak import D_WEAK, HINT_01, answer_metrics, load_answers, load_d_weak

SUBSETS = STAGE1_SUBSETS



# ---------------------------------------------------------------------------------------------------
# demos and D_icl
# ---------------------------------------------------------------------------------------------------
def few_shot_prompt(ctx: RunContext, demos: Sequence[dict] | str, record: Any, questions: dict) -> str:
    """The few-shot prompt: the demos (question + weak response) then the target question. `demos` as a string
    is the release's demo text, which the release put right before the zero-shot prompt."""
    if isinstance(demos, str):
        return demos + ctx.prompt(record)
    return ctx.task.few_shot_prompt([(questions[d["id"]], d["response"]) for d in demos], record)


def generate_d_icl(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `d_icl`: demos.json (the fixed demos) and the strong base's few-shot answers on train_2."""
    from w2s_lib.grading.official import demos_mode, released_demos, released_demos_path
    icl = ctx.preset.icl
    mode = demos_mode(ctx.preset)
    config = {"version": STAGE_VERSION, "strong_base": ctx.model("strong_base"), "n_demos": icl["n_demos"],
              "demo_seed": icl["demo_seed"], "generation": ctx.generation_config()}
    if mode == "released":
        text = released_demos(ctx.preset)
        config.update(demos="released", demos_sha256=sha256_of(text))
    st = ctx.stage(D_ICL, config, deps={"data": HINT_01, D_WEAK: HINT_01}, verbose=verbose)
    if st.done:
        return st
    demos: list[dict] | str
    if mode == "released":
        demos = text
        write_json(st.path / "demos.json", [{"released": str(released_demos_path(ctx.preset).name), "text": text}])
    else:
        demos = choose_demos(load_d_weak(ctx), int(icl["n_demos"]), int(icl["demo_seed"]))
        write_json(st.path / "demos.json", [{"id": d["id"], "position": d["position"], "response": d["response"]}
                                            for d in demos])
    questions = load_split(ctx.root, "train_2")
    by_id = {q.id: q for q in questions}
    items = [{"id": q.id, "position": i} for i, q in enumerate(questions)]

    def run(batch: list[dict]) -> list[dict]:
        prompts = [few_shot_prompt(ctx, demos, by_id[it["id"]], by_id) for it in batch]
        texts = ctx.generate(ctx.model("strong_base"), prompts)
        return [{**it, "response": t[0], "pred": ctx.pred(t[0], by_id[it["id"]])} for it, t in zip(batch, texts)]

    with ctx.engine(ctx.model("strong_base")):    # one engine for every shard of this step
        rows = st.sharded("answers", items, ctx.shard_size(), run)
    st.commit({**answer_metrics(rows), "demos": mode,
               "demo_ids": [d["id"] for d in demos] if mode == "sampled" else []})
    return st


def load_demos(ctx: RunContext) -> list[dict] | str:
    """The demos of the committed d_icl stage: [{id, position, response}, ...] (sampled), or the release's demo
    text (released)."""
    rows = ctx.store.require(D_ICL, hint=HINT_02).read_json("demos.json")
    return rows[0]["text"] if rows and "released" in rows[0] else rows


# ---------------------------------------------------------------------------------------------------
# agreement and the three sets
# ---------------------------------------------------------------------------------------------------
def comparator_verdicts(ctx: RunContext, weak_rows: Sequence[dict], icl_rows: Sequence[dict],
                        questions: Sequence[Any]) -> tuple[list[bool], bool]:
    """Per question, whether the weak and ICL final answers are the same under the preset's comparator, and
    whether two empty answers count as agreeing (True only for the release's `official` comparator)."""
    from w2s_lib.grading.official import comparator_of
    task = ctx.task
    if comparator_of(ctx.preset) == "official":      # the release's rule: equal normalised strings, '' == ''
        return [task.official_agree(w["response"], i["response"]) for w, i in zip(weak_rows, icl_rows)], True
    return task.same_answers(weak_rows, icl_rows, questions), False


def agree_reasons(ctx: RunContext, weak_rows: Sequence[dict], icl_rows: Sequence[dict],
                  questions: Sequence[Any]) -> list[str | None]:
    """Per question, None when kept, else why not (WEAK_NO_ANSWER, ICL_NO_ANSWER, DISAGREE)."""
    for k, (w, i, q) in enumerate(zip(weak_rows, icl_rows, questions)):
        if not (w["id"] == i["id"] == q.id):
            raise ValueError(f"row {k}: ids differ (weak {w['id']!r}, icl {i['id']!r}, train_2 {q.id!r}); "
                             "both sides must answer train_2 in the same order")
    if not (len(weak_rows) == len(icl_rows) == len(questions)):
        raise ValueError(f"{len(weak_rows)} weak rows, {len(icl_rows)} ICL rows, {len(questions)} questions")
    same, empty_agrees = comparator_verdicts(ctx, weak_rows, icl_rows, questions)
    return [keep_reason(w["pred"], i["pred"], ok, empty_agrees=empty_agrees)
            for w, i, ok in zip(weak_rows, icl_rows, same)]


def select(ctx: RunContext, iteration: int = 1, weak_stage: str = D_WEAK, icl_stage: str = D_ICL, *,
           verbose: bool = True) -> Stage:
    """Stage `selection_iter<k>`: keep the questions where `weak_stage` and `icl_stage` answers agree; write
    the three sets as JSONL (`weak.jsonl`, `icl.jsonl`, `hybrid.jsonl`), their LLaMA-Factory versions
    (`llama_factory/`), and `decisions.jsonl` (one row per train_2 question: both answers, kept or why not)."""
    name = selection_stage(iteration)
    hint = hint_iteration(iteration)
    config = {"version": STAGE_VERSION, "iteration": iteration, "weak_side": weak_stage, "icl_side": icl_stage,
              **ctx.comparison_config()}
    st = ctx.stage(name, config, deps={"data": HINT_01, weak_stage: hint, icl_stage: hint}, verbose=verbose)
    if st.done:
        return st
    questions = load_split(ctx.root, "train_2")
    weak_rows = load_answers(ctx, weak_stage, hint)
    icl_rows = load_answers(ctx, icl_stage, hint)
    reasons = agree_reasons(ctx, weak_rows, icl_rows, questions)
    keep = [r is None for r in reasons]
    sets = build_sets(weak_rows, icl_rows, keep, [ctx.prompt(q) for q in questions])
    write_jsonl(st.path / "decisions.jsonl", (
        {"id": w["id"], "position": w["position"], "weak_pred": w["pred"], "icl_pred": i["pred"],
         "kept": r is None, "reason": r} for w, i, r in zip(weak_rows, icl_rows, reasons)))
    dataset = ctx.task.name
    files = {}
    for subset, rows in sets.items():
        write_jsonl(st.path / f"{subset}.jsonl", rows)
        fname = f"train_{dataset}_iter{iteration}_{subset}.json"
        write_json(st.path / "llama_factory" / fname, sft_to_llama_factory(rows, ids=ctx.task.llama_factory_ids))
        files[f"{dataset}_iter{iteration}_{subset}"] = fname
    write_json(st.path / "llama_factory" / "dataset_info.json", dataset_info(sft=files))
    dropped = {r: reasons.count(r) for r in (WEAK_NO_ANSWER, ICL_NO_ANSWER, DISAGREE)}
    metrics = {"questions": len(questions), "kept": sum(keep), "dropped": dropped,
               "kept_share": sum(keep) / len(questions) if questions else 0.0,
               "rows": {s: len(r) for s, r in sets.items()}}
    st.commit(metrics)
    if verbose:
        print(f"{name}: kept {sum(keep)} of {len(questions)} questions; dropped {dropped}")
    return st


def load_sets(ctx: RunContext, iteration: int) -> dict[str, list[dict]]:
    """The weak, icl and hybrid sets of a committed selection."""
    st = ctx.store.require(selection_stage(iteration), hint=HINT_02)
    return {s: st.read_jsonl(f"{s}.jsonl") for s in SUBSETS}


def load_decisions(ctx: RunContext, iteration: int) -> list[dict]:
    return ctx.store.require(selection_stage(iteration), hint=HINT_02).read_jsonl("decisions.jsonl")


# ---------------------------------------------------------------------------------------------------
# analysis only (opens train_2 gold through the logged door)
# ---------------------------------------------------------------------------------------------------
def kept_accuracy(ctx: RunContext, iteration: int = 1) -> dict:
    """ANALYSIS ONLY. Accuracy against train_2 gold of: every weak-side answer, every ICL-side answer, and the
    weak and ICL answers of the kept questions of `iteration`. Opens the sealed gold with purpose='analysis'
    (logged); the method never uses these numbers."""
    cfg = ctx.store.require(selection_stage(iteration), hint=HINT_02).config
    weak_stage, icl_stage = cfg["weak_side"], cfg["icl_side"]
    gold = {r.id: r for r in reference_gold(ctx.root, purpose="analysis",
                                            note=f"selection_iter{iteration}: accuracy of the kept data")}
    weak_rows = load_answers(ctx, weak_stage, HINT_02)
    icl_rows = load_answers(ctx, icl_stage, HINT_02)
    kept = {d["id"] for d in load_decisions(ctx, iteration) if d["kept"]}
    if any(gold[r["id"]].answer is None for r in weak_rows):
        raise ValueError("train_2 has no public gold answers for this dataset (OlympicArena's HF test split)")
    wc = ctx.task.grade([r["response"] for r in weak_rows], [gold[r["id"]] for r in weak_rows])
    ic = ctx.task.grade([r["response"] for r in icl_rows], [gold[r["id"]] for r in icl_rows])
    k = [r["id"] in kept for r in weak_rows]

    def acc(flags: list[bool]) -> float | None:
        return sum(flags) / len(flags) if flags else None

    return {"weak_all": acc(wc), "icl_all": acc(ic), "n_all": len(wc),
            "weak_kept": acc([c for c, kk in zip(wc, k) if kk]), "icl_kept": acc([c for c, kk in zip(ic, k) if kk]),
            "n_kept": sum(k), "weak_dropped": acc([c for c, kk in zip(wc, k) if not kk])}
