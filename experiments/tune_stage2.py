"""Tune Stage II's training recipe on the dev split of a run that has pairs (lab script, not a pipeline stage).

    .venv/bin/python experiments/tune_stage2.py --preset toy --seed 0 --out /tmp/tune \\
        --variant dpo '{}' --variant dpo '{"learning_rate": 3.0e-5, "num_train_epochs": 2}'

Each variant is a method (dpo, orpo) and overrides of its recipe on top of the preset's. It is trained from the
run's M_plus on the run's pairs, exactly as notebook 04 trains it, into `<out>/<method>-<n>/`, and evaluated
greedily on the run's dev split (never on test: the test split is for reporting). Prints, for M_plus and every
variant, dev accuracy and the questions gained and lost against M_plus, and writes `<out>/results.json`.
A variant already in results.json with the same overrides is not trained again.
"""
import argparse
import json
from pathlib import Path

from w2s_lib.run.context import open_run
from w2s_lib.stages.evaluate import grade
from w2s_lib.stages.prepare import toy_splits
from w2s_lib.stages.stage1 import m_plus_path
from w2s_lib.stages.stage2 import load_pairs, preference_rows


def dev_split(ctx) -> list:
    """The toy world's dev split, drawn as 01's data stage draws the other splits (the run store keeps train_1,
    train_2 and test only), with the preset's sizes. Disjoint from them by question text."""
    if ctx.preset.dataset["name"] != "toy":
        raise SystemExit(f"{ctx.preset.path}: a dev split exists only in the toy world "
                         f"(dataset.name is {ctx.preset.dataset['name']!r})")
    return toy_splits(ctx, ctx.preset.dataset["sizes"])["dev"]


def dev_correct(ctx, model: str, dev) -> list[bool]:
    texts = ctx.generate(model, [ctx.prompt(r) for r in dev], purpose="eval")
    return grade(ctx, [t[0] for t in texts], dev)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="toy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run-dir", default="", help="default runs/<preset>/seed<seed>")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variant", nargs=2, action="append", metavar=("METHOD", "JSON"), default=[])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--branch", choices=("weak_chosen", "weak_rejected"),
                    help="analysis: train on one branch's pairs only (notebook 04 uses both)")
    args = ap.parse_args()
    ctx = open_run(args.preset, args.seed, args.run_dir, overrides={"compute": {"threads": args.threads}})
    args.out.mkdir(parents=True, exist_ok=True)
    res_path = args.out / "results.json"
    results = json.loads(res_path.read_text()) if res_path.exists() else {}
    dev = dev_split(ctx)
    m_plus = m_plus_path(ctx)
    if "m_plus" not in results:
        results["m_plus"] = {"model": str(m_plus), "correct": dev_correct(ctx, str(m_plus), dev)}
    base = results["m_plus"]["correct"]
    rows = preference_rows([p for p in load_pairs(ctx) if not args.branch or p["branch"] == args.branch])
    for i, (method, js) in enumerate(args.variant):
        over = json.loads(js)
        key = f"{method} {json.dumps(over, sort_keys=True)}" + (f" {args.branch} only" if args.branch else "")
        if key not in results:
            recipe_over = ctx.preset.train.setdefault("overrides", {})
            saved = dict(recipe_over.get(method) or {})
            recipe_over[method] = {**saved, **over}
            out_dir = args.out / f"{method}-{len(results)}"
            m = ctx.train(method, method, str(m_plus), rows, out_dir)
            recipe_over[method] = saved
            results[key] = {"model": str(out_dir), "pairs": len(rows), "train_loss": m.get("train_loss"),
                            "steps": m.get("global_step"), "correct": dev_correct(ctx, str(out_dir), dev)}
            res_path.write_text(json.dumps(results) + "\n")
    res_path.write_text(json.dumps(results) + "\n")
    print(f"dev n = {len(dev)}")
    for key, r in results.items():
        c = r["correct"]
        gained = sum(x and not b for x, b in zip(c, base))
        lost = sum(b and not x for x, b in zip(c, base))
        print(f"{key:60s} {sum(c) / len(c):.4f}  gained {gained:3d}  lost {lost:3d}  steps {r.get('steps', '-')}  "
              f"pairs {r.get('pairs', '-')}")


if __name__ == "__main__":
    main()
