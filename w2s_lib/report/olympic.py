"""The forward-looking setup's results (notebook 05 on a run whose test split *is* the OlympicArena(-shaped) set:
presets `paper-olympicarena-*` and `toy-olympic`): accuracy overall and by answer type, per model, per seed and as
a mean, and each model against the as-is weak model with a paired sign test. There is no PGR: train_2 has no gold,
so no strong ceiling exists to measure a gap against.

    from w2s_lib.report.olympic import forward_summary
    forward_summary(collected)["models"]["m_plus"]["vs_weak"]   # {"better", "worse", "p", "answer_type": {...}}

What results.json holds under `olympic` for these presets (`forward_summary`).
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from w2s_lib.method.stats import sign_test_p
from w2s_lib.run.names import m_plus_label, stage_key

# the models the paper's OlympicArena table has, in its order (keys of w2s_lib.run.names.stage_key)
MODELS = ("weak", "full_weak_ft", "m_plus", "stage2_dpo", "stage2_orpo")
# which of them are the method's (the weak model is the supervisor; full weak FT the baseline to beat)
METHOD = ("m_plus", "stage2_dpo", "stage2_orpo")
NO_PGR = ("no PGR: train_2 has no gold (OlympicArena's answers are not public; the toy analog removes them), so "
          "there is no strong ceiling to measure the gap against")


def _by_type(rows: list[dict]) -> dict[str, float]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        groups[str(r["meta"].get("answer_type"))].append(bool(r["correct"]))
    return {t: sum(v) / len(v) for t, v in sorted(groups.items())}


def _paired(model: list[dict], weak: list[dict], where: str) -> dict[str, list[int]]:
    """[better, worse] of `model` against `weak` per answer type and overall ("all"), paired by item id."""
    w = {r["id"]: r for r in weak}
    missing = [r["id"] for r in model if r["id"] not in w]
    if missing or len(model) != len(weak):
        raise ValueError(f"{where}: the model and the weak model answered different items "
                         f"({len(model)} vs {len(weak)}; e.g. {missing[:3]}): re-run notebook 05 for this seed")
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in model:
        a, b = bool(r["correct"]), bool(w[r["id"]]["correct"])
        if a != b:
            for k in ("all", str(r["meta"].get("answer_type"))):
                out[k][0 if a else 1] += 1
    return out


def forward_summary(res: Any) -> dict:
    """{"models": {key: {label, accuracy, per_seed, answer_type, per_seed_answer_type, vs_weak}}, "best_method",
    "no_pgr", "seeds"}; {} when no seed has the weak model evaluated."""
    runs = [r for r in res.runs if "weak" in r.stages]
    if not runs:
        return {}
    models: dict[str, dict] = {}
    weak_rows = {r.seed: r.predictions("weak") for r in runs}     # read once per seed, paired with every model
    for key in MODELS:
        have = [r for r in runs if key in r.stages]
        if not have:
            continue
        per_seed, per_type, counts = {}, {}, defaultdict(lambda: [0, 0])
        for r in have:
            rows = r.predictions(key)
            per_seed[str(r.seed)] = sum(bool(x["correct"]) for x in rows) / len(rows)
            per_type[str(r.seed)] = _by_type(rows)
            if key != "weak":
                for k, (b, w) in _paired(rows, weak_rows[r.seed], f"{r.root} ({key})").items():
                    counts[k][0] += b
                    counts[k][1] += w
        types = sorted({t for v in per_type.values() for t in v})
        label = m_plus_label(stage_key(have[0].stages[key])[1]) if key == "m_plus" else res.label(key)
        entry = {"label": label, "stage": have[0].stages[key], "accuracy": statistics.fmean(per_seed.values()),
                 "per_seed": per_seed,
                 "answer_type": {t: statistics.fmean(v[t] for v in per_type.values() if t in v) for t in types},
                 "per_seed_answer_type": per_type}
        if key != "weak":
            vs = {k: {"better": b, "worse": w, "p": sign_test_p(b, w)} for k, (b, w) in counts.items()}
            entry["vs_weak"] = {**vs.pop("all", {"better": 0, "worse": 0, "p": 1.0}),
                                "answer_type": dict(sorted(vs.items())), "pooled_over_seeds": sorted(per_seed)}
        models[key] = entry
    method = [k for k in METHOD if k in models]
    best = max(method, key=lambda k: models[k]["accuracy"]) if method else None
    out = {"seeds": sorted(int(s) for s in models["weak"]["per_seed"]), "models": models, "no_pgr": NO_PGR,
           "best_method": None}
    if best:
        vs = models[best]["vs_weak"]
        out["best_method"] = {"key": best, "label": models[best]["label"], "accuracy": models[best]["accuracy"],
                              "weak": models["weak"]["accuracy"], "better": vs["better"], "worse": vs["worse"],
                              "p": vs["p"], "above_weak": models[best]["accuracy"] > models["weak"]["accuracy"]}
    return out


def forward_rows(s: dict) -> tuple[list[str], list[list]]:
    """The report's table: header and rows (model, mean accuracy, per seed, by answer type, vs weak)."""
    types = sorted({t for m in s["models"].values() for t in m["answer_type"]})
    header = ["model", "accuracy (mean)", "per seed", *types, "vs weak: better / worse (sign p)"]
    rows = []
    for key, m in s["models"].items():
        vs = m.get("vs_weak")
        rows.append([m["label"], m["accuracy"], " / ".join(f"{v:.3f}" for v in m["per_seed"].values()),
                     *[m["answer_type"].get(t) for t in types],
                     f"{vs['better']} / {vs['worse']} (p={vs['p']:.2g})" if vs else "-"])
    return header, rows


def versus_weak(preds: dict[str, list[dict]], weak: list[dict]) -> list[dict]:
    """One seed: per model (label -> its predictions) and answer type ("all" first), better / worse than the weak
    model on the same items, and the two-sided sign test p."""
    out = []
    for label, rows in preds.items():
        counts = _paired(rows, weak, label)
        for k in ["all", *sorted({str(r["meta"].get("answer_type")) for r in rows})]:
            b, w = counts.get(k, [0, 0])
            out.append({"model": label, "answer_type": k, "better": b, "worse": w, "p": sign_test_p(b, w)})
    return out
