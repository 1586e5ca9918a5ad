"""OlympicArena-shaped toy texts that the shipped tokenizer's vocabulary was collected from (`build.vocab_texts`).

Not the toy OlympicArena set: notebook 05's toy set and the `toy-olympic` preset's splits come from ONE generator,
`w2s_lib.toy.olympic_world.toy_olympic_records`. This module stays as it is because a rebuild of the toy world
(`make toy-models`) must collect the same pieces as the shipped tokenizer; changing its output would change the
vocabulary (and the ids) of a rebuilt world.

Each record looks like a row of GAIR/OlympicArena after `w2s_lib.run.data.olympic_record`: question = the
problem, answer = a JSON string of the gold list, meta = answer_type (NV, SC, MC, TF, SET, TUP), unit,
answer_sequence, type_sequence, subject, language, modality, prompt (None: `w2s_lib.grading.olympic.build_prompt`
rebuilds it from the fields). Solutions end the way the release's models do:
`The final answer is $\\boxed{...}$`. Problems come from the toy task's families, so a toy model has seen
their wording; options of choice questions are on their own lines (`A: 12`), as in OlympicArena.
"""
from __future__ import annotations

import json
import math
import random

from w2s_lib.run.records import Record
from .task import ITEMS, Difficulty, count_problem, _person

TYPES = ("NV", "SC", "MC", "TF", "SET", "TUP")
LETTERS = "ABCD"


def _boxed(ans: str) -> str:
    return f"The final answer is $\\boxed{{{ans}}}$"


def _steps(solution: str) -> str:
    """A toy solution's step lines (its `#### N` line dropped)."""
    return solution.rsplit("\n", 1)[0]


def _nv(rng: random.Random) -> tuple[str, str, list[str], str | None]:
    if rng.random() < 0.7:   # an integer count
        p = count_problem(rng, Difficulty(min_terms=2, max_terms=3, remove_prob=0.3))
        return p.question, _steps(p.solution) + "\n" + _boxed(p.answer), [p.answer], p.question.split()[3]
    name, _, _, friend = _person(rng)
    d = rng.choice([6, 8, 9, 10, 12, 15, 16, 20])
    a = rng.randint(1, d - 2)
    b = rng.randint(1, d - a - 1)
    left = d - a - b
    g = math.gcd(left, d)
    frac = f"\\frac{{{left // g}}}{{{d // g}}}"
    q = (f"A cake is cut into {d} equal slices. {name} eats {a} slices and {friend} eats {b} slices. "
         f"What fraction of the cake is left?")
    sol = f"{a} + {b} = {a + b} slices are eaten.\n{d} - {a + b} = {left} slices are left.\n" + _boxed(frac)
    return q, sol, [frac], None


def _options(rng: random.Random, right: list[int], span: int = 12) -> list[int]:
    pool = [v for v in range(max(0, min(right) - span), max(right) + span + 1) if v not in right]
    opts = right + rng.sample(pool, 4 - len(right))
    rng.shuffle(opts)
    return opts


def _sc(rng: random.Random):
    name, pron, _, _ = _person(rng)
    item = rng.choice(ITEMS)
    a, b = rng.randint(5, 90), rng.randint(2, 60)
    opts = _options(rng, [a + b])
    letter = LETTERS[opts.index(a + b)]
    q = (f"{name} has {a} {item}. {pron} gets {b} more {item}. How many {item} does {name} have now?\n"
         + "\n".join(f"{LETTERS[i]}: {v}" for i, v in enumerate(opts)))
    return q, f"{a} + {b} = {a + b}, which is option {letter}.\n" + _boxed(letter), [letter], None


def _mc(rng: random.Random):
    name, _, _, _ = _person(rng)
    item = rng.choice(ITEMS)
    t = rng.randint(20, 80)
    counts = rng.sample(range(2, 120), 4)
    if not any(v > t for v in counts) or all(v > t for v in counts):
        counts[0], counts[1] = t + rng.randint(1, 30), max(0, t - rng.randint(1, 15))
    right = [LETTERS[i] for i, v in enumerate(counts) if v > t]
    q = (f"{name} has four boxes of {item}. Which boxes hold more than {t} {item}?\n"
         + "\n".join(f"{LETTERS[i]}: a box with {v} {item}" for i, v in enumerate(counts)))
    sol = "\n".join(f"{LETTERS[i]}: {v} is {'more' if v > t else 'not more'} than {t}." for i, v in enumerate(counts))
    return q, sol + "\n" + _boxed(", ".join(right)), right, None


def _tf(rng: random.Random):
    name, pron, _, _ = _person(rng)
    item = rng.choice(ITEMS)
    a, b = rng.randint(5, 90), rng.randint(2, 60)
    s = a + b
    t = rng.choice([v for v in range(max(1, s - 10), s + 11) if v != s])
    truth = str(s > t)
    q = f"{name} has {a} {item}. {pron} gets {b} more {item}. True or false: {name} now has more than {t} {item}."
    sol = f"{a} + {b} = {s}, and {s} is {'more' if s > t else 'not more'} than {t}.\n" + _boxed(truth)
    return q, sol, [truth], None


def _set(rng: random.Random):
    name, _, _, _ = _person(rng)
    item = rng.choice(ITEMS)
    boxes = rng.sample(range(2, 120), rng.randint(4, 5))
    t = rng.randint(10, 90)
    if not any(v > t for v in boxes):       # never an empty answer: lift the last box above the threshold
        boxes[-1] = t + rng.randint(1, 20)
    keep = sorted(v for v in boxes if v > t)
    q = (f"{name} has boxes with " + ", ".join(str(v) for v in boxes[:-1]) + f" and {boxes[-1]} {item}. "
         f"Which counts are more than {t}?")
    sol = "\n".join(f"{v} is {'more' if v > t else 'not more'} than {t}." for v in boxes)
    return q, sol + "\n" + _boxed("\\{" + ", ".join(map(str, keep)) + "\\}"), [str(v) for v in keep], None


def _tup(rng: random.Random):
    name, pron, _, friend = _person(rng)
    i1, i2 = rng.sample(ITEMS, 2)
    a, b = rng.randint(5, 90), rng.randint(10, 90)
    c, e = rng.randint(2, 60), rng.randint(1, b - 1)
    q = (f"{name} has {a} {i1} and {b} {i2}. {pron} gets {c} more {i1} and gives {e} {i2} to {friend}. "
         f"How many {i1} and how many {i2} does {name} have now? Give the answer as ({i1}, {i2}).")
    x, y = a + c, b - e
    return q, f"{a} + {c} = {x} {i1}.\n{b} - {e} = {y} {i2}.\n" + _boxed(f"({x}, {y})"), [f"({x}, {y})"], None


MAKERS = {"NV": _nv, "SC": _sc, "MC": _mc, "TF": _tf, "SET": _set, "TUP": _tup}


def olympic_records(n: int, seed: int, *, weights: dict[str, float] | None = None,
                    split: str = "val") -> list[Record]:
    """`n` OlympicArena-shaped toy records (distinct problems) from `random.Random(seed)`."""
    weights = weights or {"NV": 3, "SC": 3, "MC": 1, "TF": 1, "SET": 1, "TUP": 1}
    rng = random.Random(seed)
    types, w = list(weights), list(weights.values())
    out, seen = [], set()
    while len(out) < n:
        atype = rng.choices(types, w)[0]
        q, sol, gold, unit = MAKERS[atype](rng)
        if q in seen:
            continue
        seen.add(q)
        meta = {"answer_type": atype, "unit": unit, "answer_sequence": None, "type_sequence": None,
                "subject": "Math", "language": "EN", "modality": "text-only", "prompt": None,
                "family": "olympic_toy"}
        out.append(Record(f"ToyMath_{split}_{len(out):05d}", q, sol, json.dumps(gold), meta))
    return out
