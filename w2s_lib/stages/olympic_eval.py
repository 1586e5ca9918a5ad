"""Notebook 05: evaluate a run's models on OlympicArena (the paper's forward-looking setup), per answer type.

    ctx = open_run("toy", seed=0)
    oset = prepare_set(ctx)                    # the set the models are scored on (see below)
    for name, label in targets(ctx):           # weak model, full weak FT, M_plus, DPO, ORPO (those that exist)
        evaluate_model(ctx, name)              # greedy answers, judged with w2s_lib.grading.olympic's per-type judge
    rows = load_predictions(ctx, name)         # {id, response, pred, correct, meta: answer_type, subject, ...}
    breakdown(rows, "answer_type")             # {value: {"accuracy", "n"}}
    summary(ctx)                               # one row per evaluated model

Which set, by the preset's dataset (one code path; only the source of the records differs):
- `olympicarena` (preset paper-olympicarena-*): 01-04 ran on OlympicArena itself and their test split *is*
  OlympicArena val (313 rows after the paper's filters). 05 scores the models there through
  `w2s_lib.stages.evaluate` (stages `eval_<name>`, which 01-04 already computed and are reused, not recomputed).
- `toy-olympic` (the forward-looking setup in the toy world): as for `olympicarena`, 01-04 ran on the set itself
  (train_2 without gold, the test split from `toy_olympic_records` with every number <= `dataset.toy.max_number`),
  and 05 reuses the `eval_<name>` stages. `w2s_lib.report.olympic` compares each model with the weak one.
- `toy`: an OlympicArena-shaped toy set (`toy_olympic_records`): the toy task families in OlympicArena's record
  schema (gold answer as a list, meta answer_type / subject / unit, the prompt built by `olympic.build_prompt`),
  so the same cells run on a CPU. Stage `olympic_data` holds it; stages `olympic_eval_<name>` the results.
- `gsm8k` / `math`: the real OlympicArena val split (`data.load_olympicarena`, GAIR/OlympicArena or a local
  copy), with the paper's filters; a transfer test of models trained on another dataset.

What the toy set can show: the method fine-tunes the toy models on `count` word problems only, in the
`Question: ...\\nAnswer:` format; the other families appear only in the base models' pretraining corpus (about a
tenth of its stories, in other formats). The OlympicArena prompt wraps the question in instructions many of whose
words are outside the toy tokenizer's vocabulary (they become <unk>), and six of the seven kinds come from
families the models were never fine-tuned on. Which kinds they answer at all is a measurement, not a promise.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from w2s_lib.run.context import STAGE_VERSION, RunContext
from w2s_lib.run.jsonl import write_jsonl
from w2s_lib.run.names import HINT_01, HINT_05, HINT_MODELS, OLYMPIC_DATA, OLYMPIC_PREFIX
from w2s_lib.grading.olympic import build_prompt, final_answer, judge_batch, record_field
from w2s_lib.run.records import Record, load_split
from w2s_lib.run.runstore import Stage
from w2s_lib.toy import task as toy_task
# the OlympicArena-shaped toy set's generator lives with the toy world (the toy-olympic build phase uses it too)
from w2s_lib.toy.olympic_world import TOY_FORMAT, TOY_KINDS, toy_olympic_records

PREFIX = OLYMPIC_PREFIX
SHARD = 256
OLYMPIC_VAL_SIZE = 313            # OlympicArena val after the paper's filters (docs/paper_settings.md)

# The paper's OlympicArena filters (release `load_data`): six subjects, English, no CODE/OT; no modality filter.
PAPER_FILTERS = {"text_only": False}



def _toy_difficulty(ctx: RunContext) -> toy_task.Difficulty:
    """The preset's toy difficulty (as 01's data stage uses it), so `count` items match the training world."""
    d = (ctx.preset.dataset.get("toy") or {}).get("difficulty") or {}
    return toy_task.difficulty_from_dict(d)


# ---------------------------------------------------------------------------------------------------
# the set
# ---------------------------------------------------------------------------------------------------
def uses_run_test_set(ctx: RunContext) -> bool:
    """True when the run's own test split is OlympicArena val (the paper's OlympicArena setup)."""
    return ctx.task.olympic_set == "run test set"


def set_kind(ctx: RunContext) -> str:
    """'run test set' (dataset olympicarena), 'toy' (OlympicArena-shaped toy set) or 'OlympicArena val': the
    task's `olympic_set`."""
    return {"val": "OlympicArena val"}.get(ctx.task.olympic_set, ctx.task.olympic_set)


def default_size(ctx: RunContext) -> int:
    """Toy: the preset's test size, at most 313 (OlympicArena val); otherwise 0 (= every row)."""
    if ctx.task.olympic_set != "toy":
        return 0
    test = (ctx.preset.dataset.get("sizes") or {}).get("test") or OLYMPIC_VAL_SIZE
    return min(int(test), OLYMPIC_VAL_SIZE)


def prepare_set(ctx: RunContext, n: int = 0, source: str = "", *, verbose: bool = True) -> Stage:
    """The OlympicArena(-shaped) set of this run. For dataset olympicarena: the run's `data` stage (its test
    split). Otherwise stage `olympic_data` (`records.jsonl`): the toy set (n items, default `default_size`,
    seeded by the toy world seed so every run seed scores the same set), or OlympicArena val from `source`
    (default GAIR/OlympicArena; n > 0 keeps the first n rows). Overlaps with the run's own questions are
    counted in the metrics, not removed."""
    if uses_run_test_set(ctx):
        return ctx.store.require("data", hint=HINT_01)
    n = int(n) or default_size(ctx)
    if ctx.task.olympic_set == "toy":
        world = int((ctx.preset.dataset.get("toy") or {}).get("world_seed", 0))
        diff = _toy_difficulty(ctx)
        # test uses 10_000*world + 1, dev + 2, train + 100 + seed (w2s_lib.toy.task.make_splits): + 3 is free
        config = {"version": STAGE_VERSION, "kind": "toy", "format": TOY_FORMAT, "n": n, "seed": 10_000 * world + 3,
                  "difficulty": toy_task.difficulty_dict(diff), "kinds": [list(k) for k in TOY_KINDS]}
    else:
        from w2s_lib.run.data import OLYMPIC_HUB
        filters = dict(ctx.preset.dataset.get("olympic") or PAPER_FILTERS)
        config = {"version": STAGE_VERSION, "kind": "olympicarena_val", "source": source or OLYMPIC_HUB,
                  "filters": filters, "n": n}
    st = ctx.store.stage(OLYMPIC_DATA, config, deps={"data": HINT_MODELS})
    if st.done:
        if verbose:
            print(f"{OLYMPIC_DATA}: done, {st.metrics['n']} items ({st.dir})")
        return st
    dropped: dict = {}
    if config["kind"] == "toy":
        records = toy_olympic_records(n, config["seed"], diff)
    else:
        from w2s_lib.run.data import load_olympicarena
        f = dict(config["filters"])
        if "subjects" in f:
            f["subjects"] = tuple(f["subjects"])
        records, dropped = load_olympicarena(config["source"], "val", **f)
        if n and n < len(records):
            dropped[f"beyond the first {n} rows (n)"] = len(records) - n
            records = records[:n]
    own = {_norm(r.question) for split in ("train_1", "test") for r in load_split(ctx.root, split)}
    own |= {_norm(q.question) for q in load_split(ctx.root, "train_2")}
    write_jsonl(st.path / "records.jsonl", (r.to_dict() for r in records))
    counts: dict = defaultdict(int)
    for r in records:
        counts[str(record_field(r, "answer_type"))] += 1
    st.commit({"n": len(records), "kind": config["kind"], "answer_types": dict(sorted(counts.items())),
               "dropped": dropped, "overlap_with_run_questions": sum(_norm(r.question) in own for r in records)})
    if verbose:
        print(f"{OLYMPIC_DATA}: {len(records)} items ({config['kind']}), answer types {dict(counts)}")
    return st


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def load_records(ctx: RunContext) -> list[Record]:
    """The records of the set `prepare_set` wrote (or the run's test split for dataset olympicarena)."""
    if uses_run_test_set(ctx):
        return load_split(ctx.root, "test")
    st = ctx.store.require(OLYMPIC_DATA, hint=HINT_05)
    return [Record.from_dict(o, st.dir / "records.jsonl", n) for n, o in st.iter_jsonl("records.jsonl")]


# ---------------------------------------------------------------------------------------------------
# which models, and their evaluation
# ---------------------------------------------------------------------------------------------------
def targets(ctx: RunContext, *, verbose: bool = True) -> list[tuple[str, str]]:
    """(stage, label) of the models 05 evaluates: weak model, full weak FT, M_plus, Stage II DPO and ORPO,
    those the run has. The missing ones are printed with the notebook that makes them."""
    want = [("weak_model", "weak model", "01"), ("sft_full_weak", "full weak fine-tuning", "03")]
    if ctx.store.has("m_plus"):
        mp = ctx.store.require("m_plus").metrics["stage"]
        want.append((mp, f"M_plus ({mp})", "03"))
    else:
        want.append(("m_plus", "M_plus", "03"))
    want += [("dpo", "Stage II DPO", "04"), ("orpo", "Stage II ORPO", "04")]
    out = []
    for name, label, nb in want:
        if ctx.store.has(name):
            out.append((name, label))
        elif verbose:
            print(f"skipped: {label} (stage '{name}' is missing; notebook {nb} makes it)")
    return out


def eval_stage(ctx: RunContext, name: str) -> str:
    return f"eval_{name}" if uses_run_test_set(ctx) else PREFIX + name


def evaluate_model(ctx: RunContext, name: str, *, verbose: bool = True) -> Stage:
    """Greedy answers of the model of stage `name` on the set, judged per answer type. Dataset olympicarena:
    `w2s_lib.stages.evaluate.evaluate` (stage eval_<name>, usually done by 01-04). Otherwise stage
    `olympic_eval_<name>` with `predictions.jsonl` and metrics (accuracy, n, no_answer, breakdown)."""
    if uses_run_test_set(ctx):
        from .evaluate import evaluate
        return evaluate(ctx, name, verbose=verbose)
    model = ctx.model_of(name, hint=HINT_MODELS)
    config = {"version": STAGE_VERSION, "model": {"stage": name}, "judge": "olympic",
              "graders": ["default", "official"], "generation": ctx.generation_config("eval")}
    st = ctx.store.stage(PREFIX + name, config, deps={OLYMPIC_DATA: HINT_05, name: HINT_MODELS})
    if st.done:
        if verbose:
            print(f"{st.name}: done, accuracy {st.metrics['accuracy']:.3f} (n={st.metrics['n']})")
        return st
    records = load_records(ctx)
    by_id = {r.id: r for r in records}
    prompts = {r.id: build_prompt(r) for r in records}

    def greedy(batch: list[dict]) -> list[dict]:
        texts = ctx.generate(model, [prompts[it["id"]] for it in batch], purpose="eval")
        return [{"id": it["id"], "response": t[0]} for it, t in zip(batch, texts)]

    with ctx.engine(model):
        rows = st.sharded("greedy", [{"id": r.id} for r in records], SHARD, greedy)
    recs = [by_id[r["id"]] for r in rows]
    correct = judge_batch([r["response"] for r in rows], recs, progress=False)
    from w2s_lib.grading.official_olympic import judge_official          # OlympicArena's own judge.py, recorded beside
    official = [judge_official(r["response"], rec) for r, rec in zip(rows, recs)]
    out = [{"id": r["id"], "response": r["response"],
            "pred": final_answer(r["response"], record_field(rec, "answer_type")), "correct": c,
            "correct_official": o, "meta": {k: v for k, v in rec.meta.items() if k != "prompt"}}
           for r, rec, c, o in zip(rows, recs, correct, official)]
    n = len(out)
    metrics = {"accuracy": sum(correct) / n if n else 0.0, "n": n, "n_correct": sum(correct),
               "accuracy_official": sum(official) / n if n else 0.0,
               "no_answer": sum(not o["pred"] for o in out), "judge": "olympic", "model": model,
               "breakdown": {k: breakdown(out, k) for k in ("answer_type", "subject", "family")
                             if any(k in o["meta"] for o in out)}}
    write_jsonl(st.path / "predictions.jsonl", out)
    st.commit(metrics)
    if verbose:
        print(f"{st.name}: accuracy {metrics['accuracy']:.3f} (n={n}, {metrics['no_answer']} without an answer)")
    return st


def load_predictions(ctx: RunContext, name: str) -> list[dict]:
    """{id, response, pred, correct, meta} per item of the set, for the model of stage `name`."""
    return ctx.store.require(eval_stage(ctx, name), hint=HINT_05).read_jsonl("predictions.jsonl")


def breakdown(rows: Sequence[dict], key: str) -> dict[str, dict]:
    """Accuracy per value of meta[key]: {value: {"accuracy", "n", "no_answer"}} (values sorted)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[str(r["meta"].get(key))].append(r)
    return {v: {"accuracy": sum(bool(r["correct"]) for r in g) / len(g), "n": len(g),
                "no_answer": sum(not r.get("pred") for r in g)} for v, g in sorted(groups.items())}


def summary(ctx: RunContext, keys: Sequence[str] = ("answer_type",)) -> list[dict]:
    """One row per evaluated target model: model, stage, accuracy, n, no_answer, and the accuracy per value
    of each meta key in `keys` (columns `answer_type=NV`, ...)."""
    out = []
    for name, label in targets(ctx, verbose=False):
        if not ctx.store.has(eval_stage(ctx, name)):
            continue
        rows = load_predictions(ctx, name)
        row: dict[str, Any] = {"model": label, "stage": name, "accuracy": sum(r["correct"] for r in rows) / len(rows),
                               "n": len(rows), "no_answer": sum(not r["pred"] for r in rows)}
        for k in keys:
            for v, b in breakdown(rows, k).items():
                row[f"{k}={v}"] = b["accuracy"]
        out.append(row)
    return out
