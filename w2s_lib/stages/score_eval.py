"""Notebook 08: SCORE's verify, then refine, on SCORE's dev and test splits.

    answer(ctx)             # score_initial: the small model's greedy solutions (dev and test)
    check(ctx)              # score_checks: the prompted verifiers (the small model itself; the strong verifier)
                            #   check each solution step by step and end with `Verdict: correct|incorrect`
    refine(ctx)             # score_refined: the SCORE refiner's output on every initial solution, and the prompted
                            #   self-refine baseline (the small model, no SFT, applies its own check)
    strong_refine(ctx)      # score_strong_refine: the baseline "strong model as refiner" (the strong verifier applies
                            #   its own check to each test solution), when the preset names a strong verifier
    train_classifier(ctx)   # score_classifier: the self-verifier, a LoRA sequence classifier on the small model
                            #   trained on its own labelled samples (score_samples); P(incorrect) on dev and test
    out = outcomes(ctx)     # per verifier and refiner: accuracy before / after, fixed, broken, sign test,
                            #   precision / recall of "this solution is wrong"; the self-verifier's threshold

Final answer = the initial solution's, unless the verifier flags it; then the refiner's (`method.score`). The
refiner's output is parsed with `method.score.split_refinement`; one without a `Correction:` line leaves the
initial solution in place (# our choice; counted as `unparsed`). A prompted verdict that cannot be read flags
nothing (# our choice; counted as `unreadable`). The self-verifier's threshold is the grid point best on dev
(`method.score.choose_threshold`), then fixed for test. Dev and test gold grade the answers and train nothing.
"""
from __future__ import annotations

from typing import Any

from w2s_lib.method import score as sr
from w2s_lib.method.stats import sign_test_p
from w2s_lib.run.context import STAGE_VERSION, RunContext
from w2s_lib.run.jsonl import write_jsonl
from w2s_lib.run.names import (HINT_01, HINT_07, HINT_08, SCORE_CHECKS, SCORE_CLASSIFIER, SCORE_INITIAL, SCORE_REFINED,
                               SCORE_REFINER, SCORE_SAMPLES, SCORE_STRONG_REFINE)
from w2s_lib.run.runstore import Stage
from w2s_lib.tasks import score_prompts as SP

from .score import (_base_config, answer_prompt, critique_budget, demos, grade_steps, pred_of, refiner_path,
                    require_score, small_model, splits, steps)

SPLITS = ("dev", "test")
VERIFIERS = ("oracle", "self_verifier", "self_prompted", "strong_prompted")
VERIFIER_LABELS = {"oracle": "oracle (gold)", "self_verifier": "self-verifier (LoRA classifier on the small model)",
                   "self_prompted": "small model, prompted", "strong_prompted": "strong verifier, prompted"}
REFINERS = {"score": "SCORE refiner", "self_refine": "prompted self-refine (no SFT)",
            "strong_refine": "strong model as refiner (prompted, its own check)"}


def _records(ctx: RunContext) -> dict[str, dict[str, Any]]:
    sp = splits(ctx)
    return {s: {r.id: r for r in sp[s]} for s in SPLITS}


def _items(ctx: RunContext) -> list[dict]:
    sp = splits(ctx)
    return [{"split": s, "id": r.id, "position": i} for s in SPLITS for i, r in enumerate(sp[s])]


# ---------------------------------------------------------------------------------------------------
# initial solutions
# ---------------------------------------------------------------------------------------------------
def answer(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `score_initial`: the small model's greedy solution to every dev and test question (the same demos as
    its samples). Rows {split, id, position, solution (step format), pred, correct}."""
    config = {**_base_config(ctx), "splits": list(SPLITS), "purpose": "eval",
              "generation": ctx.generation_config("eval")}
    st = ctx.stage(SCORE_INITIAL, config, deps={"data": HINT_01}, verbose=verbose)
    if st.done:
        return st
    recs, shots, model = _records(ctx), demos(ctx), small_model(ctx)

    def run(batch: list[dict]) -> list[dict]:
        rs = [recs[it["split"]][it["id"]] for it in batch]
        texts = ctx.generate(model, [answer_prompt(ctx, r, shots) for r in rs], purpose="eval")
        sols = [steps(t) for (t,) in texts]
        ok = grade_steps(ctx, sols, rs)
        return [{**it, "solution": s, "pred": pred_of(ctx, s, r), "correct": o}
                for it, s, r, o in zip(batch, sols, rs, ok)]

    with ctx.engine(model):
        rows = st.sharded("initial", _items(ctx), ctx.shard_size(), run)
    st.commit({s: {"n": sum(r["split"] == s for r in rows),
                   "accuracy": _mean([r["correct"] for r in rows if r["split"] == s])} for s in SPLITS})
    if verbose:
        print("score_initial: " + ", ".join(f"{s} {st.metrics[s]['accuracy']:.1%} of {st.metrics[s]['n']}"
                                            for s in SPLITS))
    return st


def load_initial(ctx: RunContext) -> list[dict]:
    return ctx.store.require(SCORE_INITIAL, hint=HINT_08).read_shards("initial")


def _mean(xs: list) -> float | None:
    return sum(xs) / len(xs) if xs else None


# ---------------------------------------------------------------------------------------------------
# prompted verifiers
# ---------------------------------------------------------------------------------------------------
def verifier_models(ctx: RunContext) -> dict[str, str]:
    """The prompted verifiers of this preset: the small model itself, and the strong verifier when set."""
    out = {"self_prompted": small_model(ctx)}
    if require_score(ctx).get("strong_verifier"):
        out["strong_prompted"] = ctx.preset.score_model("strong_verifier")
    return out


def check(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `score_checks`: each prompted verifier checks every initial test solution (`verify_prompt`, greedy) and
    ends with a verdict. Rows {split, id, verifier, check (the text), flag (True: "incorrect", False: "correct",
    None: no readable verdict)}. Test only: a prompted verifier has no threshold to choose on dev."""
    models = verifier_models(ctx)
    config = {"version": STAGE_VERSION, "verifiers": models,
              "max_new_tokens": critique_budget(ctx), "generation": ctx.generation_config("eval")}
    st = ctx.stage(SCORE_CHECKS, config, deps={SCORE_INITIAL: HINT_08}, verbose=verbose)
    if st.done:
        return st
    recs, initial = _records(ctx), load_initial(ctx)
    metrics: dict = {}
    for name, model in models.items():
        items = [{k: r[k] for k in ("split", "id", "position", "solution")} for r in initial if r["split"] == "test"]

        def run(batch: list[dict], model: str = model, name: str = name) -> list[dict]:
            prompts = [SP.verify_prompt(recs[it["split"]][it["id"]].question, it["solution"]) for it in batch]
            texts = ctx.generate(model, prompts, max_new_tokens=config["max_new_tokens"], purpose="eval")
            return [{"split": it["split"], "id": it["id"], "verifier": name, "check": t,
                     "flag": SP.read_verdict(t)} for it, (t,) in zip(batch, texts)]

        with ctx.engine(model):
            rows = st.sharded(name, items, ctx.shard_size(), run)
        metrics[name] = {"flagged": sum(r["flag"] is True for r in rows),
                         "unreadable": sum(r["flag"] is None for r in rows), "n": len(rows)}
    st.commit(metrics)
    if verbose:
        for name, m in metrics.items():
            print(f"score_checks: {name}: flags {m['flagged']} of {m['n']} solutions ({m['unreadable']} without a "
                  f"readable verdict)")
    return st


def load_checks(ctx: RunContext, verifier: str) -> list[dict]:
    return ctx.store.require(SCORE_CHECKS, hint=HINT_08).read_shards(verifier)


def check_blocks(check_text: str) -> str:
    """A check's `Step i:` / `Feedback:` blocks, without its verdict line (what self-refine applies)."""
    head = check_text.split(SP.VERDICT, 1)[0]
    return "\n".join(line for line in head.splitlines() if line.strip()).strip()


# ---------------------------------------------------------------------------------------------------
# refiners
# ---------------------------------------------------------------------------------------------------
def apply_own_check(ctx: RunContext, model: str, batch: list[dict], recs: dict, checks: dict, max_new_tokens: int,
                    key: str) -> list[dict]:
    """The prompted refiners (self-refine, the strong model as refiner): `model` applies its own check of each
    solution (`apply_prompt` with the check's blocks, greedy). Rows {split, id, <key>, <key>_correct}."""
    rs = [recs[it["split"]][it["id"]] for it in batch]
    prompts = [SP.apply_prompt(r.question, it["solution"], check_blocks(checks[(it["split"], it["id"])]))
               for it, r in zip(batch, rs)]
    texts = ctx.generate(model, prompts, max_new_tokens=max_new_tokens, purpose="eval")
    sols = [steps(t) for (t,) in texts]
    return [{"split": it["split"], "id": it["id"], key: sol, f"{key}_correct": ok}
            for it, sol, ok in zip(batch, sols, grade_steps(ctx, sols, rs))]


def refine(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `score_refined`: for every initial solution (dev, for the self-verifier's threshold, and test), the SCORE
    refiner's output (`refine_prompt`: feedback on the first wrong step, `Correction:`, a corrected solution); for
    every test solution, prompted self-refine (the small model applies its own check, `apply_prompt`). Rows {split,
    id, refiner_output, parsed, refined, refined_correct, self_refined, self_refined_correct} (the self_ fields None
    on dev); an unparsed refiner output leaves the initial solution."""
    config = {"version": STAGE_VERSION, "max_new_tokens": critique_budget(ctx),
              "generation": ctx.generation_config("eval")}
    st = ctx.stage(SCORE_REFINED, config, deps={SCORE_INITIAL: HINT_08, SCORE_REFINER: HINT_07,
                                                SCORE_CHECKS: HINT_08}, verbose=verbose)
    if st.done:
        return st
    recs, initial = _records(ctx), load_initial(ctx)
    self_check = {(r["split"], r["id"]): r["check"] for r in load_checks(ctx, "self_prompted")}
    items = [{k: r[k] for k in ("split", "id", "position", "solution")} for r in initial]
    refiner, small = refiner_path(ctx), small_model(ctx)

    def run_refiner(batch: list[dict]) -> list[dict]:
        rs = [recs[it["split"]][it["id"]] for it in batch]
        texts = ctx.generate(refiner, [SP.refine_prompt(r.question, it["solution"]) for it, r in zip(batch, rs)],
                             max_new_tokens=config["max_new_tokens"], purpose="eval")
        out = []
        for it, r, (t,) in zip(batch, rs, texts):
            _, corrected = sr.split_refinement(t)
            refined = steps(corrected) if corrected else it["solution"]
            out.append({"split": it["split"], "id": it["id"], "refiner_output": t, "parsed": bool(corrected),
                        "refined": refined, "refined_correct": grade_steps(ctx, [refined], [r])[0]})
        return out

    def run_self(batch: list[dict]) -> list[dict]:
        return apply_own_check(ctx, small, batch, recs, self_check, config["max_new_tokens"], "self_refined")

    with ctx.engine(refiner):
        a = st.sharded("refiner", items, ctx.shard_size(), run_refiner)
    with ctx.engine(small):
        b = st.sharded("self_refine", [it for it in items if it["split"] == "test"], ctx.shard_size(), run_self)
    own = {(r["split"], r["id"]): r for r in b}
    rows = [{**x, **own.get((x["split"], x["id"]), {"self_refined": None, "self_refined_correct": None})} for x in a]
    write_jsonl(st.path / "refined.jsonl", rows)
    st.commit({s: {"unparsed": sum(not r["parsed"] for r in rows if r["split"] == s),
                   "refined_accuracy": _mean([r["refined_correct"] for r in rows if r["split"] == s]),
                   "self_refined_accuracy": _mean([r["self_refined_correct"] for r in rows
                                                   if r["split"] == s and r["self_refined_correct"] is not None])}
               for s in SPLITS})
    if verbose:
        m = st.metrics["test"]
        print(f"score_refined: on test, refining every solution: SCORE refiner {m['refined_accuracy']:.1%} "
              f"({m['unparsed']} outputs without a correction), prompted self-refine {m['self_refined_accuracy']:.1%}")
    return st


def load_refined(ctx: RunContext) -> list[dict]:
    return ctx.store.require(SCORE_REFINED, hint=HINT_08).read_jsonl("refined.jsonl")


def strong_refine(ctx: RunContext, *, verbose: bool = True) -> Stage | None:
    """Stage `score_strong_refine` (the baseline "strong model as refiner"): the strong verifier applies its own check
    (`apply_prompt` with its `score_checks` blocks, greedy) to every initial test solution, as prompted self-refine
    does with the small model. Rows {split, id, strong_refined, strong_refined_correct}. None (no stage) when the
    preset names no strong verifier."""
    models = verifier_models(ctx)
    if "strong_prompted" not in models:
        if verbose:
            print("score_strong_refine: skipped (the preset names no score.strong_verifier)")
        return None
    strong = models["strong_prompted"]
    config = {"version": STAGE_VERSION, "model": strong, "max_new_tokens": critique_budget(ctx),
              "generation": ctx.generation_config("eval")}
    st = ctx.stage(SCORE_STRONG_REFINE, config, deps={SCORE_INITIAL: HINT_08, SCORE_CHECKS: HINT_08}, verbose=verbose)
    if st.done:
        return st
    recs = _records(ctx)
    own_check = {(r["split"], r["id"]): r["check"] for r in load_checks(ctx, "strong_prompted")}
    items = [{k: r[k] for k in ("split", "id", "solution")} for r in load_initial(ctx) if r["split"] == "test"]

    def run(batch: list[dict]) -> list[dict]:
        return apply_own_check(ctx, strong, batch, recs, own_check, config["max_new_tokens"], "strong_refined")

    with ctx.engine(strong):
        rows = st.sharded("strong_refine", items, ctx.shard_size(), run)
    write_jsonl(st.path / "strong_refined.jsonl", rows)
    st.commit({"test": {"strong_refined_accuracy": _mean([r["strong_refined_correct"] for r in rows]),
                        "n": len(rows)}})
    if verbose:
        print(f"score_strong_refine: the strong model refining every test solution: "
              f"{st.metrics['test']['strong_refined_accuracy']:.1%}")
    return st


def load_strong_refined(ctx: RunContext) -> list[dict] | None:
    """The strong refiner's rows, or None when the run has no such stage (no strong verifier, or 08 before it)."""
    if not ctx.store.has(SCORE_STRONG_REFINE):
        return None
    return ctx.store.require(SCORE_STRONG_REFINE, hint=HINT_08).read_jsonl("strong_refined.jsonl")


# ---------------------------------------------------------------------------------------------------
# the self-verifier: a sequence classifier trained on the small model's own samples
# ---------------------------------------------------------------------------------------------------
def classifier_rows(ctx: RunContext) -> list[dict]:
    """The self-verifier's training rows from score_samples: {text: classifier_input(question, sample), label: 1 if
    the sample is wrong}, repeated (text, label) pairs removed."""
    from .score import load_samples
    by_id = {r.id: r for r in splits(ctx)["train"]}
    rows, seen = [], set()
    for r in load_samples(ctx):
        for s, ok in zip(r["samples"], r["correct"]):
            row = (SP.classifier_input(by_id[r["id"]].question, s), int(not ok))
            if row not in seen:
                seen.add(row)
                rows.append({"text": row[0], "label": row[1]})
    return rows


def train_classifier(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Stage `score_classifier`: the LoRA sequence classifier (`train.score_classifier` recipe) on the small model,
    then P(incorrect) for every initial dev and test solution (p_incorrect.jsonl: {split, id, p_incorrect})."""
    from w2s_lib.engines.classifier import score_classifier, train_classifier as train_clf
    config = {"version": STAGE_VERSION, "small_model": small_model(ctx), "train": ctx.train_config("score_classifier")}
    st = ctx.stage(SCORE_CLASSIFIER, config, deps={SCORE_SAMPLES: HINT_07, SCORE_INITIAL: HINT_08},
                   verbose=verbose)
    if st.done:
        return st
    rows = classifier_rows(ctx)
    if len({r["label"] for r in rows}) < 2:
        every = "wrong" if rows and rows[0]["label"] else "right"
        raise ValueError(f"score_classifier: the small model's samples are all {every}; a classifier needs both labels")
    if verbose:
        print(f"score_classifier: LoRA sequence classifier on {small_model(ctx)}: {len(rows)} samples, "
              f"{sum(r['label'] for r in rows)} wrong")
    threads = ctx.threads_setting()
    m = train_clf(small_model(ctx), rows, st.path / "model", ctx.preset.recipe("score_classifier"), seed=ctx.seed,
                  overrides=ctx.preset.overrides("score_classifier"), threads=threads)
    write_jsonl(st.path / "train_log.jsonl", list(m.get("log_history") or []))
    recs, initial = _records(ctx), load_initial(ctx)
    p = score_classifier(st.path / "model",
                         [SP.classifier_input(recs[r["split"]][r["id"]].question, r["solution"]) for r in initial],
                         threads=threads)
    write_jsonl(st.path / "p_incorrect.jsonl",
                [{"split": r["split"], "id": r["id"], "p_incorrect": float(x)} for r, x in zip(initial, p)])
    st.commit({"rows": len(rows), "wrong": sum(r["label"] for r in rows),
               **{k: m.get(k) for k in ("train_loss", "train_runtime", "global_step")}})
    return st


def load_p_incorrect(ctx: RunContext) -> list[dict]:
    return ctx.store.require(SCORE_CLASSIFIER, hint=HINT_08).read_jsonl("p_incorrect.jsonl")


# ---------------------------------------------------------------------------------------------------
# the tables
# ---------------------------------------------------------------------------------------------------
def _by_split(rows: list[dict], split: str, key: str) -> list:
    return [r[key] for r in rows if r["split"] == split]


def flags(ctx: RunContext, split: str, *, threshold: float | None = None) -> dict[str, list[bool] | None]:
    """Each verifier's flags ("this solution is wrong") on `split`'s initial solutions, in order; None for a
    verifier this run does not have (the prompted ones check test only). The self-verifier flags at `threshold` (default: the one chosen on dev)."""
    initial = load_initial(ctx)
    ok = _by_split(initial, split, "correct")
    out: dict[str, list[bool] | None] = {"oracle": [not c for c in ok]}
    if ctx.store.has(SCORE_CLASSIFIER):
        t = threshold if threshold is not None else chosen_threshold(ctx)[0]
        out["self_verifier"] = sr.flags_at(_by_split(load_p_incorrect(ctx), split, "p_incorrect"), t)
    else:
        out["self_verifier"] = None
    for name in ("self_prompted", "strong_prompted"):
        if name in verifier_models(ctx) and ctx.store.has(SCORE_CHECKS) and split == "test":   # checks: test only
            out[name] = [f is True for f in _by_split(load_checks(ctx, name), split, "flag")]
        else:
            out[name] = None
    return out


def chosen_threshold(ctx: RunContext) -> tuple[float, float]:
    """(threshold, dev accuracy): the self-verifier's P(incorrect) threshold with the SCORE refiner, best on dev."""
    lo, hi, step = require_score(ctx)["threshold_grid"]
    grid = sr.threshold_grid(lo, hi, step)
    return sr.choose_threshold(_by_split(load_p_incorrect(ctx), "dev", "p_incorrect"),
                               _by_split(load_initial(ctx), "dev", "correct"),
                               _by_split(load_refined(ctx), "dev", "refined_correct"), grid)


def outcome_row(initial: list[bool], refined: list[bool], flag: list[bool]) -> dict:
    """One line of the table: accuracies, fixed / broken with the sign test, and the verifier's precision / recall."""
    o = sr.verify_then_refine(initial, refined, flag)
    v = sr.verifier_scores(flag, initial)
    return {"n": o.n, "initial": o.initial_accuracy, "final": o.accuracy, "fixed": o.fixed, "broken": o.broken,
            "sign_p": sign_test_p(o.fixed, o.broken), "flagged": o.flagged, "precision": v["precision"],
            "recall": v["recall"]}


def outcomes(ctx: RunContext, split: str = "test") -> dict:
    """{refiner: {verifier: outcome_row}} on `split`, for the verifiers this run has, and the self-verifier's
    threshold. The SCORE refiner gets every verifier; prompted self-refine the oracle and its own check."""
    initial = _by_split(load_initial(ctx), split, "correct")
    refined = load_refined(ctx)
    fl = flags(ctx, split)
    table: dict = {"score": {}, "self_refine": {}}
    for name, f in fl.items():
        if f is not None:
            table["score"][name] = outcome_row(initial, _by_split(refined, split, "refined_correct"), f)
    for name in ("oracle", "self_prompted"):
        if fl.get(name) is not None:
            table["self_refine"][name] = outcome_row(initial, _by_split(refined, split, "self_refined_correct"),
                                                     fl[name])
    strong = load_strong_refined(ctx) if split == "test" else None
    if strong is not None:
        table["strong_refine"] = {}
        for name in ("oracle", "strong_prompted"):
            if fl.get(name) is not None:
                table["strong_refine"][name] = outcome_row(initial, _by_split(strong, split, "strong_refined_correct"),
                                                           fl[name])
    out = {"split": split, "n": len(initial), "initial": _mean(initial), "table": table}
    if fl.get("self_verifier") is not None:
        t, dev_acc = chosen_threshold(ctx)
        out["threshold"] = {"value": t, "dev_accuracy": dev_acc}
    return out


def threshold_curve(ctx: RunContext, split: str = "test") -> list[tuple[float, float]]:
    """(threshold, accuracy after verify-then-refine with the SCORE refiner) over the grid, on `split`: the plot
    of 08. The chosen threshold came from dev; this curve shows where test would have put it."""
    lo, hi, step = require_score(ctx)["threshold_grid"]
    initial = _by_split(load_initial(ctx), split, "correct")
    refined = _by_split(load_refined(ctx), split, "refined_correct")
    p = _by_split(load_p_incorrect(ctx), split, "p_incorrect")
    return [(t, sr.verify_then_refine(initial, refined, sr.flags_at(p, t)).accuracy)
            for t in sr.threshold_grid(lo, hi, step)]


def results(ctx: RunContext) -> dict:
    """The seed's SCORE results for runs/<preset>/results.json (key `score`): test accuracies of the initial
    solutions and after verify-then-refine per verifier, prompted self-refine under the oracle, each verifier's
    precision / recall, and the funnel of 07."""
    from .score import funnel
    o = outcomes(ctx, "test")
    t = o["table"]

    def acc(refiner: str, verifier: str) -> float | None:
        return t[refiner][verifier]["final"] if verifier in t[refiner] else None

    return {"initial": o["initial"], "refined_oracle": acc("score", "oracle"),
            "refined_self_verifier": acc("score", "self_verifier"),
            "refined_strong_verifier": acc("score", "strong_prompted"),
            "refined_self_prompted": acc("score", "self_prompted"),
            "self_refine_oracle": acc("self_refine", "oracle"),
            "strong_refine_oracle": acc("strong_refine", "oracle") if "strong_refine" in t else None,
            "verifiers": {v: {"precision": t["score"][v]["precision"], "recall": t["score"][v]["recall"]}
                          for v in t["score"]},
            "fixed_broken": {f"{r}/{v}": [row["fixed"], row["broken"]] for r in t for v, row in t[r].items()},
            "threshold": o.get("threshold"), "funnel": funnel(ctx), "n_test": o["n"]}
