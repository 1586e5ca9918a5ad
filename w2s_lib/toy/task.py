"""The toy reasoning task: GSM8K-like multi-step word problems, generated from a seed.

The main family, `count`, is what the toy world's method runs on:

    Question: Ava has 14 shells. She buys 3 bags of shells with 6 shells in each bag. She finds 9 more
    shells at the beach. She gives 5 shells to Ben. How many shells does Ava have now?
    Answer: 3 bags hold 3 * 6 = 18 shells.
    9 + 18 = 27.
    27 + 14 = 41.
    41 - 5 = 36.
    #### 36

Why it looks like this (see docs/toy_world.md for the measurements behind each choice):
- every number is one token (0..MAX_NUMBER), so copying an operand is a one-token copy and arithmetic is
  a fact the model knows or not: the strong base knows more facts than the weak base (the latent skill);
- the terms of the sum can be added in any order, and gold solutions use a random order: a model that
  has learned the task samples different orders, each order uses different intermediate facts, so a slip
  on one path is not repeated on the others (what self-consistency, hence Stage II, needs);
- each term has its own marker in the question (a verb, a container), which makes copying learnable.

Other families (`fraction`, `tuple`, `choice`, `truefalse`, `set`) give answer types beyond integers for
grading and for the OlympicArena-shaped toy set (`w2s_lib.toy.olympic_world.toy_olympic_records`).

Everything is a pure function of the seed: `random.Random(seed)` only, no global state.
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

from w2s_lib.run.records import Record

MAX_NUMBER = 199         # every number in every question and solution is in 0..MAX_NUMBER
ANSWER_PREFIX = "#### "  # the final line of every solution, as in the paper's GSM8K release
# Phrasings the solution's first line may use (`Difficulty.start_phrase`); toy/errors.py parses exactly these.
# "Start:" never occurs in the corpus (the format must be followed in context); "Begin with" is a corpus phrasing.
START_PHRASES = ("Start:", "Begin with")

NAMES = [("Ava", "She"), ("Ben", "He"), ("Cal", "He"), ("Dora", "She"), ("Eli", "He"), ("Fay", "She"),
         ("Gus", "He"), ("Hana", "She"), ("Ivan", "He"), ("Jade", "She"), ("Kai", "He"), ("Lena", "She"),
         ("Max", "He"), ("Nina", "She"), ("Omar", "He"), ("Pia", "She"), ("Raj", "He"), ("Sara", "She"),
         ("Tom", "He"), ("Uma", "She"), ("Vic", "He"), ("Wren", "She"), ("Yuri", "He"), ("Zoe", "She")]
ITEMS = ["apples", "pears", "plums", "eggs", "pens", "books", "cards", "stamps", "shells", "marbles",
         "coins", "cups", "beads", "rocks", "toys", "socks", "buttons", "candles", "cookies", "stickers"]
# (singular, plural) containers: each grouped term in a problem gets its own container, its marker
CONTAINERS = [("bag", "bags"), ("box", "boxes"), ("jar", "jars"), ("pack", "packs"), ("crate", "crates"),
              ("basket", "baskets"), ("tin", "tins"), ("tray", "trays")]
PLACES = ["at the beach", "in the park", "at school", "in the garden", "at the market", "at home"]
# Each term of a problem has its own marker word, written in the question right before the term's number
# and repeated in the solution before the number is copied ("+ finds 26"): copying becomes "find the marker,
# take the token after it", which small transformers learn (induction), while the order stays free.
# (marker, clause); {p} pronoun, {n} number, {i} items, {f} friend, {w} place
ADD_CLAUSES = [("finds", "{p} finds {n} more {i} {w}."), ("wins", "{p} wins {n} {i} {w}."),
               ("makes", "{p} makes {n} more {i}."), ("gets", "{p} gets {n} {i} from {f}."),
               ("picks", "{p} picks {n} {i} {w}."), ("earns", "{p} earns {n} {i} {w}.")]
# groups: the marker is the container (plural); {m} containers, {c}/{cs} container singular/plural
GROUP_CLAUSES = ["{p} buys {m} {cs} of {i} with {n} {i} in each {c}.",
                 "{p} fills {m} {cs} with {n} {i} in each {c}."]
REMOVE_CLAUSES = [("gives", "{p} gives {n} {i} to {f}."), ("loses", "{p} loses {n} {i}."),
                  ("sells", "{p} sells {n} {i}."), ("uses", "{p} uses {n} {i}.")]


@dataclass(frozen=True)
class Difficulty:
    """Knobs of the `count` family. A term is a plain number or a group (m containers of n items)."""
    min_terms: int = 3           # terms in the sum (the first is always "X has N items")
    max_terms: int = 5
    term_range: tuple[int, int] = (2, 60)   # plain terms
    group_prob: float = 0.0      # chance that a non-first term is a group (m * n); off in the method's world
    max_groups: int = 2
    remove_prob: float = 0.5     # chance of a final "gives away r" step
    max_value: int = MAX_NUMBER  # bound on the total (hence on every partial sum)
    group_count: tuple[int, int] = (2, 9)   # m
    group_size: tuple[int, int] = (2, 12)   # n
    start_phrase: str = "Start:"  # the solution's first line, "<start_phrase> <marker> <number>." (START_PHRASES)

    def __post_init__(self):
        if not 2 <= self.min_terms <= self.max_terms:
            raise ValueError(f"need 2 <= min_terms <= max_terms, got {self.min_terms}, {self.max_terms}")
        if self.max_value > MAX_NUMBER:
            raise ValueError(f"max_value {self.max_value} exceeds the tokenizer's MAX_NUMBER {MAX_NUMBER}")
        if self.start_phrase not in START_PHRASES:
            raise ValueError(f"start_phrase {self.start_phrase!r} is not one of {START_PHRASES}")


@dataclass
class Problem:
    question: str
    solution: str
    answer: str
    family: str
    answer_type: str                  # "integer", "fraction", "tuple", "choice", "truefalse", "set"
    meta: dict = field(default_factory=dict)

    def to_record(self, rid: str) -> Record:
        meta = {"family": self.family, "answer_type": self.answer_type, **self.meta}
        return Record(id=rid, question=self.question, solution=self.solution, answer=self.answer, meta=meta)


def _person(rng: random.Random) -> tuple[str, str, str, str]:
    """(name, Pronoun, object pronoun, friend)."""
    (name, pron), (friend, _) = rng.sample(NAMES, 2)
    return name, pron, "her" if pron == "She" else "him", friend


def _final(answer: object) -> str:
    return f"{ANSWER_PREFIX}{answer}"


# ---------------------------------------------------------------------------------------------------
# count: the main family
# ---------------------------------------------------------------------------------------------------
def count_spec(rng: random.Random, d: Difficulty = Difficulty()) -> dict:
    """The structure of one `count` problem: question text, terms (each with its marker), removal."""
    name, pron, obj, friend = _person(rng)
    item = rng.choice(ITEMS)
    k = rng.randint(d.min_terms, d.max_terms)
    while True:  # rejection-sample the numbers until the total fits under max_value
        terms: list[dict] = [{"kind": "plain", "marker": "has", "value": rng.randint(*d.term_range)}]
        containers = rng.sample(CONTAINERS, len(CONTAINERS))
        adds = rng.sample(ADD_CLAUSES, len(ADD_CLAUSES))
        groups = 0
        for _ in range(k - 1):
            if groups < d.max_groups and rng.random() < d.group_prob:
                c, cs = containers[groups]
                m, n = rng.randint(*d.group_count), rng.randint(*d.group_size)
                terms.append({"kind": "group", "marker": cs, "m": m, "n": n, "value": m * n, "c": c,
                              "clause": rng.choice(GROUP_CLAUSES)})
                groups += 1
            else:
                marker, clause = adds.pop()
                terms.append({"kind": "plain", "marker": marker, "value": rng.randint(*d.term_range),
                              "clause": clause})
        total = sum(t["value"] for t in terms)
        if total <= d.max_value:
            break
    remove = None
    if rng.random() < d.remove_prob:
        marker, clause = rng.choice(REMOVE_CLAUSES)
        remove = {"marker": marker, "value": rng.randint(1, total - 1), "clause": clause}

    # question: the terms in generated order (the first is always "X has N items")
    places = rng.sample(PLACES, len(PLACES))
    sents = [f"{name} has {terms[0]['value']} {item}."]
    for t in terms[1:]:
        fmt = dict(p=pron, o=obj, i=item, f=friend, w=places.pop())
        if t["kind"] == "group":
            sents.append(t["clause"].format(m=t["m"], n=t["n"], c=t["c"], cs=t["marker"], **fmt))
        else:
            sents.append(t["clause"].format(n=t["value"], **fmt))
    if remove:
        sents.append(remove["clause"].format(n=remove["value"], p=pron, i=item, f=friend))
    sents.append(f"How many {item} does {name} have now?")
    return {"name": name, "pron": pron, "item": item, "terms": terms, "remove": remove,
            "question": " ".join(sents), "total": total - (remove["value"] if remove else 0)}


def count_steps(spec: dict, rng: random.Random) -> list[tuple]:
    """The solution's steps in a random valid order: ("mul", m, n, v, containers) for each group, then
    ("start", marker, v) and ("add", acc, marker, v, acc + v) along a random order of the terms, then
    ("sub", acc, marker, r, acc - r)."""
    steps: list[tuple] = []
    groups = [t for t in spec["terms"] if t["kind"] == "group"]
    for t in rng.sample(groups, len(groups)):
        steps.append(("mul", t["m"], t["n"], t["value"], t["marker"]))
    order = rng.sample(spec["terms"], len(spec["terms"]))
    acc = order[0]["value"]
    steps.append(("start", order[0]["marker"], acc))
    for t in order[1:]:
        steps.append(("add", acc, t["marker"], t["value"], acc + t["value"]))
        acc += t["value"]
    r = spec["remove"]
    if r:
        steps.append(("sub", acc, r["marker"], r["value"], acc - r["value"]))
    return steps


def render_count_solution(spec: dict, steps: list[tuple], start_phrase: str = "Start:") -> str:
    """The task's solution format: one step a line, then `#### N`."""
    lines = []
    for s in steps:
        if s[0] == "mul":
            lines.append(f"{s[1]} {s[4]} hold {s[1]} * {s[2]} = {s[3]} {spec['item']}.")
        elif s[0] == "start":
            lines.append(f"{start_phrase} {s[1]} {s[2]}.")
        elif s[0] == "add":
            lines.append(f"{s[1]} + {s[2]} {s[3]} = {s[4]}.")
        else:
            lines.append(f"{s[1]} - {s[2]} {s[3]} = {s[4]}.")
    lines.append(_final(spec["total"]))
    return "\n".join(lines)


def count_problem(rng: random.Random, d: Difficulty = Difficulty()) -> Problem:
    """A sum of plain and grouped terms, maybe minus a final removal. Solution order is random."""
    spec = count_spec(rng, d)
    steps = count_steps(spec, rng)
    groups = sum(t["kind"] == "group" for t in spec["terms"])
    # steps = arithmetic steps (products, additions, the removal); the "Start:" line is not one
    meta = {"terms": len(spec["terms"]), "groups": groups, "remove": bool(spec["remove"]),
            "steps": len(steps) - 1}
    return Problem(spec["question"], render_count_solution(spec, steps, d.start_phrase), str(spec["total"]), "count",
                   "integer", meta)


# ---------------------------------------------------------------------------------------------------
# other answer types (small families for grading and the OlympicArena-shaped set)
# ---------------------------------------------------------------------------------------------------
def fraction_problem(rng: random.Random) -> Problem:
    """What fraction of a cake is left: answer a reduced fraction a/b (never an integer)."""
    name, _, _, friend = _person(rng)
    d = rng.choice([4, 6, 8, 9, 10, 12, 15, 16, 18, 20, 24])
    a = rng.randint(1, d - 2)
    b = rng.randint(1, d - a - 1)
    left = d - a - b
    g = math.gcd(left, d)
    q = (f"A cake is cut into {d} equal slices. {name} eats {a} slices and {friend} eats {b} slices. "
         f"What fraction of the cake is left?")
    lines = [f"{a} + {b} = {a + b} slices are eaten.", f"{d} - {a + b} = {left} slices are left."]
    if g > 1:
        lines.append(f"{left}/{d} = {left // g}/{d // g}.")
    ans = f"{left // g}/{d // g}"
    lines.append(_final(ans))
    return Problem(q, "\n".join(lines), ans, "fraction", "fraction", {"steps": len(lines) - 1})


def tuple_problem(rng: random.Random) -> Problem:
    """Two counts updated at once: answer an ordered pair (x, y)."""
    name, pron, _, friend = _person(rng)
    i1, i2 = rng.sample(ITEMS, 2)
    a, b = rng.randint(5, 50), rng.randint(10, 50)
    c, e = rng.randint(2, 40), rng.randint(1, b - 1)
    q = (f"{name} has {a} {i1} and {b} {i2}. {pron} gets {c} more {i1} and gives {e} {i2} to {friend}. "
         f"How many {i1} and how many {i2} does {name} have now? Give the answer as ({i1}, {i2}).")
    x, y = a + c, b - e
    sol = "\n".join([f"{a} + {c} = {x} {i1}.", f"{b} - {e} = {y} {i2}.", _final(f"({x}, {y})")])
    return Problem(q, sol, f"({x}, {y})", "tuple", "tuple", {"steps": 2})


def choice_problem(rng: random.Random) -> Problem:
    """Compute a count, then pick the option that holds it: answer a letter A-D."""
    name, pron, _, _ = _person(rng)
    item = rng.choice(ITEMS)
    a, b = rng.randint(5, 50), rng.randint(2, 40)
    s = a + b
    wrong = rng.sample([v for v in range(max(0, s - 12), min(MAX_NUMBER, s + 12) + 1) if v != s], 3)
    opts = wrong + [s]
    rng.shuffle(opts)
    letters = "ABCD"
    right = letters[opts.index(s)]
    q = (f"{name} has {a} {item}. {pron} gets {b} more {item}. How many {item} does {name} have now? "
         + " ".join(f"({letters[j]}) {v}" for j, v in enumerate(opts)))
    sol = "\n".join([f"{a} + {b} = {s}.", f"{s} is option ({right}).", _final(right)])
    return Problem(q, sol, right, "choice", "choice", {"steps": 2, "options": opts})


def truefalse_problem(rng: random.Random) -> Problem:
    """Is the total more than a threshold: answer True or False."""
    name, pron, _, _ = _person(rng)
    item = rng.choice(ITEMS)
    a, b = rng.randint(5, 50), rng.randint(2, 40)
    s = a + b
    t = rng.randint(max(1, s - 10), min(MAX_NUMBER, s + 10))
    while t == s:
        t = rng.randint(max(1, s - 10), min(MAX_NUMBER, s + 10))
    truth = s > t
    q = (f"{name} has {a} {item}. {pron} gets {b} more {item}. "
         f"True or false: {name} now has more than {t} {item}.")
    verdict = "more" if truth else "not more"
    sol = "\n".join([f"{a} + {b} = {s}.", f"{s} is {verdict} than {t}, so the statement is {str(truth).lower()}.",
                     _final(str(truth))])
    return Problem(q, sol, str(truth), "truefalse", "truefalse", {"steps": 2})


def set_problem(rng: random.Random) -> Problem:
    """Which of several counts exceed a threshold: answer an unordered set of numbers."""
    name, _, _, _ = _person(rng)
    item = rng.choice(ITEMS)
    boxes = rng.sample(range(2, 60), rng.randint(4, 5))
    t = rng.randint(10, 45)
    keep = [v for v in boxes if v > t]
    if not keep:           # never an empty set: raise the largest box above the threshold
        boxes[-1] = t + rng.randint(1, 14)
        keep = [boxes[-1]]
    q = (f"{name} has boxes with " + ", ".join(str(v) for v in boxes[:-1]) + f" and {boxes[-1]} {item}. "
         f"Which boxes have more than {t} {item}? Give the set of counts.")
    lines = [f"{v} is {'more' if v > t else 'not more'} than {t}." for v in boxes]
    ans = "{" + ", ".join(str(v) for v in sorted(keep)) + "}"
    lines.append(_final(ans))
    return Problem(q, "\n".join(lines), ans, "set", "set", {"steps": len(boxes)})


FAMILIES: dict[str, Callable[[random.Random], Problem]] = {
    "count": count_problem, "fraction": fraction_problem, "tuple": tuple_problem,
    "choice": choice_problem, "truefalse": truefalse_problem, "set": set_problem,
}


# ---------------------------------------------------------------------------------------------------
# splits
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitSizes:
    train_1: int
    train_2: int
    dev: int
    test: int


def draw_distinct(n: int, draw: Callable[[int], Any], key: Callable[[Any], str], *, max_tries: int,
                  failure: str, seen: Iterable[str] = ()) -> list:
    """`n` items from `draw(k)` (k = how many are kept so far) whose `key` is new; a draw of None is skipped.
    More than `max_tries` draws raise RuntimeError(`failure` with {made} and {n} filled in)."""
    seen = set(seen)
    out: list = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > max_tries:
            raise RuntimeError(failure.format(made=len(out), n=n))
        item = draw(len(out))
        if item is None or key(item) in seen:
            continue
        seen.add(key(item))
        out.append(item)
    return out


def generate_problems(n: int, seed: int, difficulty: Difficulty = Difficulty(),
                      families: dict[str, float] | None = None, exclude: set[str] | None = None
                      ) -> list[Problem]:
    """`n` distinct problems (by question text) from `random.Random(seed)`; `families` maps family name
    to weight (default: count only); questions in `exclude` are skipped (to keep splits disjoint)."""
    rng = random.Random(seed)
    families = families or {"count": 1.0}
    names, weights = list(families), list(families.values())

    def draw(_: int) -> Problem:
        fam = rng.choices(names, weights)[0]
        return count_problem(rng, difficulty) if fam == "count" else FAMILIES[fam](rng)

    return draw_distinct(n, draw, lambda p: p.question, max_tries=50 * n + 1000, seen=exclude or (),
                         failure="could only make {made} distinct problems of {n}: widen the difficulty")


def make_splits(sizes: SplitSizes, seed: int, *, world_seed: int = 0, difficulty: Difficulty = Difficulty(),
                families: dict[str, float] | None = None) -> dict[str, list[Record]]:
    """train_1, train_2, dev and test as Records, disjoint by question text.

    test and dev depend on `world_seed` only (the same for every run seed, like a fixed benchmark);
    train_1 and train_2 depend on `seed`, so seeds differ in their training data but share the test set.
    """
    test = generate_problems(sizes.test, seed=10_000 * world_seed + 1, difficulty=difficulty, families=families)
    dev = generate_problems(sizes.dev, seed=10_000 * world_seed + 2, difficulty=difficulty, families=families,
                            exclude={p.question for p in test})
    held = {p.question for p in test + dev}
    train = generate_problems(sizes.train_1 + sizes.train_2, seed=10_000 * world_seed + 100 + seed,
                              difficulty=difficulty, families=families, exclude=held)
    out = {"train_1": train[:sizes.train_1], "train_2": train[sizes.train_1:], "dev": dev, "test": test}
    return {split: [p.to_record(f"toy-{split}-{i:05d}") for i, p in enumerate(ps)] for split, ps in out.items()}


def difficulty_dict(d: Difficulty) -> dict:
    return asdict(d)


def difficulty_from_dict(d: dict | None) -> Difficulty:
    """A Difficulty from a preset's `dataset.toy.difficulty` mapping (YAML lists become tuples); None: the defaults."""
    return Difficulty(**{k: tuple(v) if isinstance(v, list) else v for k, v in (d or {}).items()})
