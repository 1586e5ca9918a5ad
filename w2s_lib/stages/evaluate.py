"""Test-set evaluation of any model of the run, each as its own run-store stage `eval_<name>`.

    st = evaluate(ctx, "sft_iter2_hybrid")            # the model in that stage's model/ directory
    st = evaluate(ctx, "weak_model", model=path)      # or an explicit model (the given weak supervisor)
    st = evaluate(ctx, "strong_icl", model=strong_base, demos=demos, deps=["d_icl"])   # few-shot baseline
    st.metrics["accuracy"], st.metrics["n"]            # and maj@k, pass@k, breakdown, no_answer
    rows = load_predictions(ctx, "sft_iter2_hybrid")  # {id, response, pred, correct, meta..., samples?}
    table = results_table(ctx)                         # every evaluated model of the run, in method order

Greedy zero-shot answers on the test set, graded with the preset's judge (`grading.answers.is_correct` through
`grade_batch`, or `grading.olympic.judge` for OlympicArena), and also with the paper release's grader
(`grade_official`: `grading.official` / `grading.official_olympic`): every prediction row holds `correct` and
`correct_official`, the metrics `accuracy` and `accuracy_official`. With `eval.sample_k` = k > 0, k answers per question are
also sampled at T=1 (for the models in `eval.sample_stages`, or all): pass@k is the share of questions with any
correct sample (the paper's `passk.py`), maj@k the share whose majority answer (Stage II's vote: grader
clusters, ties to the first seen) is correct. The test set carries gold and evaluation reads it directly: that
is not the strong side reading train_2 gold.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from w2s_lib.run.context import STAGE_VERSION, RunContext
from w2s_lib.run.names import EVAL_PREFIX, HINT_01, eval_stage, m_plus_label, sft_name
from w2s_lib.run.names import label as model_label
from w2s_lib.run.presets import STAGE2_METHODS, evaluated_models
from w2s_lib.run.jsonl import write_jsonl
from w2s_lib.method.stats import pgr
from w2s_lib.method.vote import vote
from w2s_lib.run.records import Record, load_split
from w2s_lib.run.runstore import Stage

PREFIX = EVAL_PREFIX


def grade(ctx: RunContext, responses: Sequence[str], records: Sequence[Record]) -> list[bool]:
    """Correctness of each response against its test record's gold, with the task's judge."""
    return ctx.task.grade(responses, records)


def grade_official(ctx: RunContext, responses: Sequence[str], records: Sequence[Record]) -> list[bool]:
    """Correctness under the paper release's grader (GSM8K/MATH/toy: its `test_answer`; OlympicArena: its
    judge.py `auto_judge`)."""
    return ctx.task.grade_official(responses, records)


def _breakdown(rows: list[dict], keys: Sequence[str]) -> dict:
    out: dict = {}
    for key in keys:
        groups: dict = defaultdict(list)
        for r in rows:
            groups[str(r["meta"].get(key))].append(r["correct"])
        out[key] = {v: {"accuracy": sum(c) / len(c), "n": len(c)} for v, c in sorted(groups.items())}
    return out


def _majority(ctx: RunContext, preds: list[list[str]], correct: list[list[bool]]) -> tuple[list[bool], list[float]]:
    """Per question: is the majority answer of its samples correct, and its share of the samples (count / k,
    samples without an answer in the denominator). The vote is `method.vote.vote` with `empty_wins=False`: an
    empty answer never wins here (see that function for how this relates to Stage II's confidence)."""
    right, shares = [], []
    for cs, keys in zip(correct, ctx.task.sample_keys(preds)):
        v = vote(keys, empty_wins=False)
        right.append(bool(v.count) and bool(cs[keys.index(v.top)]))
        shares.append(v.confidence)
    return right, shares


def evaluate(ctx: RunContext, name: str, *, model: str | None = None, demos: Sequence[dict] | str | None = None,
             deps: Sequence[str] = (), verbose: bool = True) -> Stage:
    """Stage `eval_<name>`: evaluate the model of stage `name` (its `model/` dir), or `model` when given.

    `demos` ({id, response} rows of train_2, as in d_icl/demos.json, or the release's demo text:
    `selection.load_demos`) turn the prompts into the few-shot prompt of the strong ICL baseline. `deps` are further stages the result depends on."""
    store = ctx.store
    dep_hints: dict[str, str | None] = {"data": HINT_01}
    if model is None:
        dep_hints[name] = f"train the model of stage '{name}' first"
        model = ctx.model_of(name, hint=dep_hints[name])
        model_ref: Any = {"stage": name}
    else:
        model_ref = model
    dep_hints.update({d: None for d in deps})
    k = int(ctx.preset.eval.get("sample_k") or 0)
    only = ctx.preset.eval.get("sample_stages")
    if only is not None and name not in only:
        k = 0                       # sampling k answers costs k greedy evaluations: the preset picks the models
    config = {"version": STAGE_VERSION, "model": model_ref, "judge": ctx.judge,
              "generation": ctx.generation_config("eval"), "sample_k": k,
              "breakdown": list(ctx.preset.eval.get("breakdown") or []),
              "demos": (demos if isinstance(demos, str) else
                        [{"id": d["id"], "response": d["response"]} for d in demos] if demos else None),
              "graders": ["default", "official"]}
    st = store.stage(eval_stage(name), config, deps=dep_hints)
    if st.done:
        if verbose:
            print(f"{eval_stage(name)}: done, accuracy {st.metrics['accuracy']:.3f} (n={st.metrics['n']})")
        return st
    test = load_split(ctx.root, "test")
    by_id = {r.id: r for r in test}
    if demos:
        from .selection import few_shot_prompt
        train_2 = {q.id: q for q in load_split(ctx.root, "train_2")}
        prompts = {r.id: few_shot_prompt(ctx, demos, r, train_2) for r in test}
    else:
        prompts = {r.id: ctx.prompt(r) for r in test}
    items = [{"id": r.id} for r in test]

    def greedy(batch: list[dict]) -> list[dict]:
        texts = ctx.generate(model, [prompts[it["id"]] for it in batch], purpose="eval")
        return [{"id": it["id"], "response": t[0]} for it, t in zip(batch, texts)]

    def sampled(batch: list[dict]) -> list[dict]:
        texts = ctx.generate(model, [prompts[it["id"]] for it in batch], n=k, temperature=1.0, purpose="eval")
        return [{"id": it["id"], "samples": t} for it, t in zip(batch, texts)]

    with ctx.engine(model):                    # one engine for the greedy and the sampled shards
        rows = st.sharded("greedy", items, ctx.shard_size(), greedy)
        srows = st.sharded("samples", items, ctx.shard_size(k), sampled) if k else []
    correct = grade(ctx, [r["response"] for r in rows], [by_id[r["id"]] for r in rows])
    official = grade_official(ctx, [r["response"] for r in rows], [by_id[r["id"]] for r in rows])
    out = [{"id": r["id"], "response": r["response"], "pred": ctx.pred(r["response"], by_id[r["id"]]),
            "correct": c, "correct_official": o, "meta": by_id[r["id"]].meta}
           for r, c, o in zip(rows, correct, official)]
    n = len(out)
    metrics: dict[str, Any] = {"accuracy": sum(correct) / n if n else 0.0, "n": n, "n_correct": sum(correct),
                               "accuracy_official": sum(official) / n if n else 0.0,
                               "n_correct_official": sum(official),
                               "no_answer": sum(not r["pred"] for r in out), "judge": ctx.judge,
                               "model": model, "few_shot": bool(demos)}
    if k:
        flat = [s for r in srows for s in r["samples"]]
        flat_recs = [by_id[r["id"]] for r in srows for _ in r["samples"]]
        flat_ok = grade(ctx, flat, flat_recs)
        s_ok = [flat_ok[i * k:(i + 1) * k] for i in range(len(srows))]
        s_pred = [[ctx.pred(s, by_id[r["id"]]) for s in r["samples"]] for r in srows]
        maj, share = _majority(ctx, s_pred, s_ok)
        for o, r, ok, mj, sh in zip(out, srows, s_ok, maj, share):
            o.update(samples=r["samples"], samples_correct=ok, maj_correct=mj, maj_share=sh)
        metrics.update({"k": k, f"maj@{k}": sum(maj) / n, f"pass@{k}": sum(any(c) for c in s_ok) / n,
                        "sample_accuracy": sum(flat_ok) / len(flat_ok), "maj@k": sum(maj) / n,
                        "pass@k": sum(any(c) for c in s_ok) / n})
    if config["breakdown"]:
        metrics["breakdown"] = _breakdown(out, config["breakdown"])
    write_jsonl(st.path / "predictions.jsonl", out)
    st.commit(metrics)
    if verbose:
        extra = f", maj@{k} {metrics['maj@k']:.3f}, pass@{k} {metrics['pass@k']:.3f}" if k else ""
        print(f"{eval_stage(name)}: accuracy {metrics['accuracy']:.3f} (official grader "
              f"{metrics['accuracy_official']:.3f}, n={n}){extra}")
    return st


def load_predictions(ctx: RunContext, name: str) -> list[dict]:
    return ctx.store.require(eval_stage(name)).read_jsonl("predictions.jsonl")


# The run's models in method order: (stage name, label). Stage I subsets are added per iteration.
def method_order(ctx: RunContext) -> list[tuple[str, str]]:
    """(stage name, report label) of every model a run may have evaluated, in report order."""
    last = max([int(ctx.preset.stage1.get("iterations", 2))] +
               [int(p.name.split("_")[1][4:]) for p in ctx.root.glob("sft_iter*_*") if p.name.split("_")[1][4:].isdigit()])
    # Stage II: the preset's methods, then any other method this run store holds a model or an eval of
    methods = list(ctx.preset.stage2["methods"])
    methods += [m for m in STAGE2_METHODS if m not in methods
                and ((ctx.root / m).exists() or (ctx.root / eval_stage(m)).exists())]
    m_plus = sft_name(int(ctx.preset.stage1.get("iterations", 2)), str(ctx.preset.stage1.get("m_plus") or "hybrid"))

    def name_of(stage: str) -> str:                # one name per model: the one 03, 04 and 06 use
        return m_plus_label(model_label(stage)) if stage == m_plus else model_label(stage)
    return [(name, name_of(name)) for name in evaluated_models(ctx.preset, iterations=last, methods=methods)]


def results_table(ctx: RunContext) -> list[dict]:
    """One row per evaluated model of the run: label, accuracy, n, maj@k/pass@k when sampled, and
    PGR = (acc - weak) / (ceiling - weak) once the weak floor and the ceiling are both evaluated."""
    rows = []
    for name, label in method_order(ctx):
        if not ctx.store.has(eval_stage(name)):
            continue
        m = ctx.store.require(eval_stage(name)).metrics
        rows.append({"model": label, "stage": name, "accuracy": m["accuracy"],
                     "accuracy_official": m.get("accuracy_official"), "n": m["n"],
                     "maj@k": m.get("maj@k"), "pass@k": m.get("pass@k")})
    acc = {r["stage"]: r["accuracy"] for r in rows}
    weak, ceil = acc.get("weak_model"), acc.get("sft_ceiling")
    for r in rows:
        r["PGR"] = pgr(r["accuracy"], weak, ceil)
    return rows
