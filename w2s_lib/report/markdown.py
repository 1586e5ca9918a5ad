"""report.md and results.json: the tables and the reading of the results, written next to the runs."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from w2s_lib.run.jsonl import write_json
from ..tasks import task_for
from .collect import Collected
from .plots import plot_accuracy, plot_pgr, plot_selection
from .statistics import (BREAKDOWN_KEYS, MATH_LEVEL_GROUPS, breakdown, breakdown_frame, has_train_2_gold,
                         orderings, paper_comparison, reading, self_consistency, test_meta_values)

# ---------------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------------
def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 3) -> str:
    """A GitHub markdown table; floats with `digits` decimals, None as '-'."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c, digits).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results_json(res: Collected, path: str | Path | None = None) -> Path:
    """runs/<preset>/results.json (see `summarize`)."""
    path = Path(path) if path else res.preset_dir / "results.json"
    write_json(path, res.summary)
    return path


def write_report(res: Collected, out_dir: str | Path | None = None, *, selection: bool = True) -> Path:
    """Write results.json, the PNG plots and report.md into `out_dir` (default runs/<preset>/); returns the
    report's path. `selection=False` skips the analysis-only sections (no train_2 gold is opened)."""
    out = Path(out_dir) if out_dir else res.preset_dir
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib.pyplot as plt

    s = res.summary
    write_results_json(res, out / "results.json")
    figs = {"accuracy.png": plot_accuracy(res, out / "accuracy.png"), "pgr.png": plot_pgr(res, out / "pgr.png")}
    if selection:
        figs["selection.png"] = plot_selection(res, out / "selection.png")
    for f in figs.values():
        if f is not None:
            plt.close(f)
    for name, f in figs.items():          # a plot that no longer applies must not linger from an earlier report
        if f is None and (out / name).exists():
            (out / name).unlink()
    p = res.preset
    n_test = sorted({v for v in s["n_test"].values() if v})
    L = [f"# Results: preset `{p.name}`", "",
         " ".join(str(p.description).split()), "",
         f"Seeds: {', '.join(map(str, res.seeds))} (runs under `{res.preset_dir}/seed*/`"
         + (f"; seed dirs {res.skipped_seeds} have no evaluated model yet and are left out" if res.skipped_seeds else "")
         + "). Test set: "
         f"{' / '.join(map(str, n_test)) or '?'} questions ({p.dataset['name']}). M_plus per seed: "
         + ", ".join(f"seed {k}: `{v}`" for k, v in s["m_plus_stage"].items()) + ".", ""]
    cmp = paper_comparison(res)
    if not cmp["matched"]:
        L += [f"> {cmp['note']}", ""]
    # ---- main table
    L += ["## Test accuracy and PGR", ""]
    rows = []
    for k in res.keys():
        acc = res.values(k)
        ps = s["per_seed"]
        rows.append([res.label(k), s[k], s["spread"][k]["std"], " / ".join(f"{acc[sd]:.3f}" for sd in sorted(acc)),
                     res.official(k), s["pgr"].get(k),
                     " / ".join(_fmt(ps[str(sd)]["pgr"].get(k), 2) for sd in sorted(acc)),
                     s["maj@k"].get(k), s["pass@k"].get(k)])
    kk = s.get("k") or "k"
    L += [markdown_table(["model", "accuracy (mean)", "sd", "per seed", "official grader (mean)", "PGR",
                          "PGR per seed", f"maj@{kk}",
                          f"pass@{kk}"], rows), ""]
    L += ["PGR = (acc - weak) / (ceiling - weak), computed from the mean accuracies (seeds with the model, the "
          "weak floor and the ceiling); per-seed PGRs beside it. sd = sample standard deviation over seeds. "
          f"maj@{kk}: the majority answer of {kk} samples at T=1 is correct; pass@{kk}: any sample is correct." +
          (f" **{s['pgr_note']}.**" if s.get("pgr_note") else ""), ""]
    L += ["![accuracy by stage](accuracy.png)", ""]
    if figs.get("pgr.png") is not None:
        L += ["![PGR](pgr.png)", ""]
    # ---- reading
    ords = orderings(res)
    L += ["## Reading the numbers", ""]
    if n_test:
        n = n_test[0]
        se_max = math.sqrt(0.25 / n)                           # the binomial standard error at 50% accuracy
        L += [f"Scale of the noise: with {n} test questions one question is {1 / n:.4f} of accuracy, and the "
              f"binomial standard error of one accuracy is at most {se_max:.3f} (at 50%). Differences smaller "
              "than about twice that are within the noise of a single seed; the sign test below pairs the models "
              "question by question.", ""]
    L += [f"- {line}" for line in reading(res, ords)] or ["- (no pair of models to compare)"]
    L += [""]
    sc = self_consistency(res)
    if sc:
        L += ["## Majority vote against greedy (what Stage II can learn from)", "",
              markdown_table(["model", "seeds", "questions", "majority right, greedy wrong",
                              "greedy right, majority wrong", "sign test p", "majority wins past the gate"],
                             [[r["model"], len(r["seeds"]), r["questions"], r["maj_right_greedy_wrong"],
                               r["greedy_right_maj_wrong"], f"{r['sign_test_p']:.2g}",
                               "-" if r["maj_wins_past_gate"] is None else r["maj_wins_past_gate"]] for r in sc]), "",
              f"Gate: Stage II keeps a question only when its majority answer has at least "
              f"{float(p.stage2.get('min_conf', 0.6)):g} of the "
              "samples; the last column counts the questions where the majority wins and clears it (- when the "
              "evaluation predates the recorded share).", ""]
        L += [f"- {r['reading'][0].upper()}{r['reading'][1:]}." for r in sc] + [""]
    # ---- breakdowns
    for key in BREAKDOWN_KEYS:
        vals = test_meta_values(res, key)
        if len(vals) < 2:
            continue
        groups = MATH_LEVEL_GROUPS if key == "level" else None
        b = breakdown(res, key, groups)
        t = breakdown_frame(b)
        title = {"level": "MATH level (levels 4-5 pooled, as the paper reports)", "answer_type": "answer type",
                 "subject": "subject", "steps": "toy difficulty: arithmetic steps per problem"}[key]
        L += [f"## Accuracy by {title}", "",
              markdown_table(["model", *map(str, t.columns)], [[i, *t.loc[i].tolist()] for i in t.index]), ""]
    # ---- selection and pairs (analysis only)
    if selection:
        L += ["## Selection quality (analysis only: opens train_2 gold)", ""]
        if not has_train_2_gold(res):
            L += ["Not available: OlympicArena's train_2 (the HF test split) has no public gold.", ""]
        elif res.selection:
            L += [markdown_table(["seed", "iteration", "kept", "kept share", "weak acc (all)", "weak acc (kept)",
                                  "ICL acc (all)", "ICL acc (kept)", "weak acc (dropped)"],
                                 [[r["seed"], r["iteration"], f"{r['kept']}/{r['questions']}", r["kept_share"],
                                   r["weak_all"], r["weak_kept"], r["icl_all"], r["icl_kept"], r["weak_dropped"]]
                                  for r in res.selection]), "",
                  "Accuracy of the answers against train_2 gold, read through `records.reference_gold(purpose="
                  "\"analysis\")` (logged in each run's gold_access.jsonl); the method never sees these numbers.", ""]
            if figs.get("selection.png") is not None:
                L += ["![selection quality](selection.png)", ""]
        else:
            L += ["No selection stage found.", ""]
        if res.pairs:
            L += ["### Stage II pairs (analysis only)", "",
                  markdown_table(["seed", "branch", "pairs", "chosen correct", "rejected wrong",
                                  "chosen right and rejected wrong"],
                                 [[r["seed"], r["branch"], r["pairs"], r["chosen_correct"], r["rejected_wrong"],
                                   r["chosen_right_and_rejected_wrong"]] for r in res.pairs]), ""]
    # ---- OlympicArena (05)
    oly = s.get("olympic")
    if oly and "models" in oly:          # the forward-looking setup: 05 on the run's own test split
        from .olympic import forward_rows
        header, rows = forward_rows(oly)
        best = oly.get("best_method")
        L += ["## The forward-looking setup: accuracy by answer type (notebook 05)", "",
              f"Seeds {', '.join(map(str, oly['seeds']))}; each model against the as-is weak model on the same test "
              "items: better = right where the weak model is wrong, worse = the reverse, pooled over seeds, two-sided "
              f"sign test. {oly['no_pgr'][0].upper() + oly['no_pgr'][1:]}.", "",
              markdown_table(header, rows), ""]
        if best:
            L += [f"Best method model: {best['label']}, {_fmt(best['accuracy'])} against the weak model's "
                  f"{_fmt(best['weak'])} ({best['better']} better / {best['worse']} worse, p={best['p']:.2g}).", ""]
        if task_for(p).synthetic:
            L += ["A toy analog (preset toy-olympic): the weak model is the toy weak base continued on toy "
                  "\"instruct\" documents and used as is; nothing here predicts OlympicArena numbers.", ""]
    elif oly:
        types = sorted({t for v in oly.values() for t in v["answer_type"]})
        L += ["## OlympicArena-shaped evaluation (notebook 05)" if task_for(p).synthetic else
              "## OlympicArena val (notebook 05)", "",
              markdown_table(["model", "accuracy (mean)", "per seed", "no answer (share)", *types],
                             [[v["label"], v["accuracy"], " / ".join(f"{a:.3f}" for a in v["per_seed"].values()),
                               v["no_answer"], *[v["answer_type"].get(t) for t in types]] for v in oly.values()]),
              "", "Columns after `no answer`: mean accuracy per answer type.", ""]
        if task_for(p).synthetic:
            L += ["The method fine-tunes the toy models on `count` problems only, in the `Question:/Answer:` "
                  "format; this set wraps toy problems of six families in OlympicArena's prompt and answer types. "
                  "What they answer here measures format and family transfer of tiny models, nothing about "
                  "OlympicArena.", ""]
    # ---- SCORE (07-08)
    sc = s.get("score")
    if sc:
        from .score import score_markdown
        L += score_markdown(sc)
    # ---- paper
    L += ["## The paper's numbers", ""]
    if cmp["matched"]:
        L += [cmp["note"], "",
              "The paper's numbers come from the release's grader: compare them with *ours, official grader*; "
              "*ours, default grader* is this project's math-aware grader on the same answers.", "",
              markdown_table(["stage", "paper (%)", "ours, official grader (%)", "ours, default grader (%)",
                              "source", "verified against paper", "note"],
                             [[r["stage"], r["paper"], r.get("ours_official"), r["ours"],
                               f"{r['source']} ({r['provenance']})",
                               r["verified_against_paper"], r["note"]] for r in cmp["rows"]], digits=2), ""]
        if cmp["missing"]:
            L += ["Reported by the paper but not available from any source we could read: "
                  + ", ".join(f"`{m}`" for m in cmp["missing"]) + ".", ""]
    else:
        L += [cmp["note"], ""]
    L += ["Files: `results.json` (the numbers above, per seed), the PNGs next to this report."]
    path = out / "report.md"
    from w2s_lib.run.jsonl import atomic_write_text
    atomic_write_text(path, "\n".join(L) + "\n")
    return path
