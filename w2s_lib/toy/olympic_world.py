"""The toy forward-looking world (preset `toy-olympic`, issue #19): OlympicArena-shaped toy problems of several
answer types, a compact OlympicArena prompt the toy models can hold, and the "instruct" documents that make the toy
weak base a model that answers such prompts as it is (the analog of Llama3-8b-instruct).

    rec = toy_olympic_records(1, seed=0, max_number=49)[0]    # the one generator of OlympicArena-shaped toy items
    toy_prompt(rec)
    # 'The answer to this question is a tuple.\\nQuestion: Ava has 12 pens and 30 cups. ...\\nAnswer:'

Why a compact prompt: OlympicArena's prompt (`grading.olympic.build_prompt`) is ~100-150 toy tokens of
instructions before the question; four demos and the question in that form are ~850 tokens, beyond the 512-token
window the toy bases were pretrained on. The compact prompt keeps what the release's prompt tells a model about
the answer (its answer-type sentence, `olympic_prompts.TYPE_DESCRIPTION`) and the release's required ending
(`The final answer is $\\boxed{...}$`, in every solution), and drops the rest. Options of choice questions stay on
their own lines (`A: 12`).
"""
from __future__ import annotations

import json
import random
import re
from typing import Any, Sequence

from w2s_lib.grading.olympic_prompts import TYPE_DESCRIPTION, hf_prompt, record_field
from w2s_lib.run.records import Record

from . import task as toy_task

# a block is a prompt and its response; blocks are joined by a blank line (responses hold none), as the toy task's
STOP = ("\n\n", "\nQuestion:")
TYPE_LINE = TYPE_DESCRIPTION


def toy_prompt(record: Any) -> str:
    """`<answer-type sentence>\\nQuestion: <problem, blank lines closed up>\\nAnswer:`."""
    atype = record_field(record, "answer_type")
    if atype not in TYPE_LINE:
        raise ValueError(f"record {record_field(record, 'id') or getattr(record, 'id', '?')!r}: answer type "
                         f"{atype!r} has no OlympicArena type sentence ({sorted(TYPE_LINE)})")
    problem = record.question if hasattr(record, "question") else record_field(record, "problem")
    problem = "\n".join(line for line in problem.split("\n") if line.strip())
    return f"{TYPE_LINE[atype]}\nQuestion: {problem}\nAnswer:"


# The toy set: (toy family, OlympicArena answer type) kinds, in equal shares. `set` appears twice: once as a
# set-valued answer (SET), once rewritten as a multiple-choice question over the boxes (MC).
TOY_KINDS: tuple[tuple[str, str], ...] = (
    ("count", "NV"), ("fraction", "NV"), ("tuple", "TUP"), ("choice", "SC"), ("set", "MC"),
    ("truefalse", "TF"), ("set", "SET"),
)
LETTERS = "ABCDEFGH"
# the toy set's text version: 2 (2026-12-05) writes SET answers as LaTeX sets and MC items with at most 4 boxes
TOY_FORMAT = 2


# ---------------------------------------------------------------------------------------------------
# the OlympicArena-shaped toy set
# ---------------------------------------------------------------------------------------------------
def _boxed_solution(solution: str, final: str) -> str:
    """A toy solution with its `#### X` line replaced by OlympicArena's requested ending."""
    lines = solution.split("\n")
    if not lines[-1].startswith(toy_task.ANSWER_PREFIX):
        raise ValueError(f"toy solution does not end with '{toy_task.ANSWER_PREFIX}...': {solution[-60:]!r}")
    return "\n".join(lines[:-1] + [f"The final answer is $\\boxed{{{final}}}$"])


def _options(values: Sequence[Any]) -> str:
    return "\n".join(f"{LETTERS[i]}: {v}" for i, v in enumerate(values))


_SET_Q = re.compile(r"^(?P<head>.* has boxes with (?P<vals>[\d, ]+) and (?P<last>\d+) (?P<item>\w+)\.) "
                    r"Which boxes have more than (?P<t>\d+) \w+\? Give the set of counts\.$")


def _set_fields(p: toy_task.Problem) -> tuple[str, list[int], int, str]:
    m = _SET_Q.match(p.question)
    if not m:
        raise ValueError(f"unexpected `set` question layout: {p.question!r}")
    boxes = [int(v) for v in m["vals"].split(", ")] + [int(m["last"])]
    return m["head"], boxes, int(m["t"]), m["item"]


def _convert(p: toy_task.Problem, atype: str) -> tuple[str, list[str], str, str | None] | None:
    """(problem, gold list, solution, unit) of a toy problem as an OlympicArena item of `atype`, or None when
    this draw does not fit (an MC item needs two or more correct options)."""
    if p.family == "count":
        unit = re.search(r"How many (\w+) does", p.question)
        return p.question, [p.answer], _boxed_solution(p.solution, p.answer), unit.group(1) if unit else None
    if p.family in ("fraction", "tuple", "truefalse"):
        return p.question, [p.answer], _boxed_solution(p.solution, p.answer), None
    if p.family == "choice":
        stem = p.question.split(" (A) ")[0]
        problem = f"{stem}\n\n{_options(p.meta['options'])}"
        return problem, [p.answer], _boxed_solution(p.solution, p.answer), None
    if p.family == "set" and atype == "SET":
        gold = [v.strip() for v in p.answer.strip("{}").split(",")]
        # a LaTeX set (`\{40, 52\}`), as OlympicArena writes one; `{{40}}` would be a piece outside the toy vocabulary
        return p.question, gold, _boxed_solution(p.solution, "\\{" + ", ".join(gold) + "\\}"), None
    if p.family == "set" and atype == "MC":
        head, boxes, t, item = _set_fields(p)
        right = [LETTERS[i] for i, v in enumerate(boxes) if v > t]
        # two or more right options, and at most four (A-D: "E" is outside the toy vocabulary)
        if len(right) < 2 or len(boxes) > 4:
            return None
        problem = f"{head} Which boxes have more than {t} {item}?\n\n{_options(boxes)}"
        steps = p.solution.split("\n")[:-1]
        return problem, right, "\n".join(steps + [f"The final answer is $\\boxed{{{', '.join(right)}}}$"]), None
    raise ValueError(f"no OlympicArena conversion for toy family {p.family!r} as {atype}")


_NUMBER = re.compile(r"\d+")


def numbers_within(texts: Sequence[str], top: int) -> bool:
    """True when every integer written in `texts` is at most `top`."""
    return all(int(v) <= top for t in texts for v in _NUMBER.findall(t))


def toy_olympic_records(n: int, seed: int = 3, difficulty: toy_task.Difficulty = toy_task.Difficulty(),
                        kinds: Sequence[tuple[str, str]] = TOY_KINDS, max_number: int | None = None,
                        exclude: set[str] | frozenset[str] = frozenset(), id_prefix: str = "toy-olympic"
                        ) -> list[Record]:
    """`n` OlympicArena-shaped toy records, the kinds in equal shares (round robin, then shuffled), distinct
    question texts, a pure function of the arguments. Each record has the HF row schema in `meta`:
    answer_type, subject ("Math": they are arithmetic word problems), unit (the item word of a `count`
    question, as OlympicArena's NV units), language, modality, prompt (the HF-style prompt); `answer` is the
    JSON list of gold answers, as `data.olympic_record` stores it; meta `family` says which toy family.
    `max_number`: draws whose question or solution writes a number above it are redrawn (the toy-olympic world
    keeps every number where its strong base knows the arithmetic); None keeps the families' own ranges.
    `exclude`: question texts never drawn (a split disjoint from another). Ids: `<id_prefix>-00000`, ..."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = random.Random(seed)

    def draw(k: int) -> Record | None:
        family, atype = kinds[k % len(kinds)]
        p = (toy_task.count_problem(rng, difficulty) if family == "count" else toy_task.FAMILIES[family](rng))
        conv = _convert(p, atype)
        if conv is None:
            return None
        problem, gold, solution, unit = conv
        if max_number is not None and not numbers_within((problem, solution), max_number):
            return None
        meta = {"answer_type": atype, "subject": "Math", "unit": unit, "answer_sequence": None,
                "type_sequence": None, "language": "EN", "modality": "text-only", "family": family}
        meta["prompt"] = hf_prompt({**meta, "problem": problem, "id": f"toy-olympic-{k:05d}"})
        return Record(f"toy-olympic-{k:05d}", problem, solution, json.dumps(gold), meta)

    out = toy_task.draw_distinct(n, draw, lambda r: r.question, max_tries=100 * n + 1000, seen=exclude,
                                 failure="could only make {made} distinct OlympicArena-shaped toy items of {n}")
    order = list(range(len(out)))
    rng.shuffle(order)
    # ids follow the final order, so the file reads toy-olympic-00000, 00001, ...
    return [Record(f"{id_prefix}-{i:05d}", out[j].question, out[j].solution, out[j].answer, out[j].meta)
            for i, j in enumerate(order)]

