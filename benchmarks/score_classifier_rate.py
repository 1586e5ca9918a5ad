"""The toy self-verifier's learning rate (docs/score.md, "The self-verifier"): held-out AUC of the LoRA sequence
classifier (`w2s_lib.engines.classifier`) on toy verification documents, on a tuning split no test reports.

    python benchmarks/score_classifier_rate.py --lr 1e-3 [--rows 2000] [--held-out 400] [--batch 32] \
        [--epochs 3] [--errors skip] [--control] [--out benchmarks/results/score_classifier_rate.jsonl]

Training rows: `toy.critique` verification documents of seed 100 (default error mix, or one kind with
`--errors`), text `classifier_input(question, solution)`, label 1 when the solution is incorrect; held-out rows:
seed 101. Base: the shipped `data/toy/strong_base`; recipe `score_classifier_toy` with the learning rate, batch
and epochs given. `--control` trains on labels drawn at random within each class (half of each class gets
label 1), which say nothing about correctness. Prints and appends one JSON line per run: AUC, accuracy at 0.5,
AUC per error kind (its incorrect rows against all correct ones), loss, steps, seconds.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from w2s_lib.engines.classifier import score_classifier, train_classifier
from w2s_lib.run.paths import REPO_ROOT
from w2s_lib.toy import critique


def auc(p: list[float], y: list[int]) -> float:
    pos = [a for a, b in zip(p, y) if b]
    neg = [a for a, b in zip(p, y) if not b]
    return sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))


def docs(seed: int, n: int, errors: str | None) -> list:
    cfg = critique.default_config(seed=seed, mix={"verify": 1.0}, **({"errors": {errors: 1.0}} if errors else {}))
    return critique.examples(cfg, n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--held-out", type=int, default=400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--errors", default=None, help="one error kind only (default: the documents' mix)")
    ap.add_argument("--control", action="store_true", help="labels drawn at random within each class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "score_classifier_rate.jsonl"))
    args = ap.parse_args(argv)

    train = [{"text": critique.classifier_input(d.question, d.solution), "label": int(not d.correct)}
             for d in docs(100, args.rows, args.errors)]
    if args.control:
        out = []
        for label in (0, 1):
            group = [r for r in train if r["label"] == label]
            flips = [i % 2 for i in range(len(group))]
            random.Random(label).shuffle(flips)
            out += [{**r, "label": f} for r, f in zip(group, flips)]
        train = out
    held = docs(101, args.held_out, args.errors)
    y = [int(not d.correct) for d in held]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        m = train_classifier(REPO_ROOT / "data" / "toy" / "strong_base", train, Path(tmp) / "model",
                             "score_classifier_toy", seed=args.seed,
                             overrides={"learning_rate": args.lr, "num_train_epochs": args.epochs,
                                        "per_device_train_batch_size": args.batch})
        t1 = time.time()
        p = score_classifier(Path(tmp) / "model", [critique.classifier_input(d.question, d.solution) for d in held])
        t2 = time.time()
    by_kind = {}
    for kind in sorted({d.error for d in held} - {""}):
        idx = [i for i, d in enumerate(held) if d.error in (kind, "")]
        by_kind[kind] = round(auc([p[i] for i in idx], [y[i] for i in idx]), 3)
    result = {"lr": args.lr, "rows": args.rows, "held_out": args.held_out, "held_out_incorrect": sum(y),
              "batch": args.batch, "epochs": args.epochs, "errors": args.errors or "mix", "control": args.control,
              "seed": args.seed, "auc": round(auc(p, y), 3),
              "accuracy": round(sum((a >= 0.5) == bool(b) for a, b in zip(p, y)) / len(y), 4), "auc_by_kind": by_kind,
              "train_loss": m["train_loss"], "global_step": m["global_step"], "train_runtime_s": round(m["train_runtime"], 1),
              "train_call_s": round(t1 - t0, 1), "score_s": round(t2 - t1, 1)}
    print(json.dumps(result))
    with open(args.out, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
