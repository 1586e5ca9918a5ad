"""The synthetic pretraining corpus both toy base models learn from.

It teaches the latent skills (arithmetic facts over 0..MAX_NUMBER, chaining a running total, reading the
terms of a word problem) and in-context format following (documents that hold several solved problems in
one of several formats), WITHOUT the task's exact format: no document frames a problem as
`Question: ...\\nAnswer:` and the solutions use other phrasings for their steps.

Document kinds (weights in `CorpusConfig.mix`):
- facts:    lines of arithmetic facts, `23 + 45 = 68.` (also words: `23 plus 45 is 68.`)
- chains:   a running total over several lines, `12 + 30 = 42.` / `42 + 7 = 49.`
- stories:  a word problem followed by its worked solution in a corpus style, no framing
- fewshot:  3-6 solved problems in one framing (Q:/A:, Problem:/Solution:, ...), separated by blank lines

Knowledge holes (`CorpusConfig.holes`, off in the shipped world): a fixed share of the addition facts is stated
wrongly, off by one, every time the corpus uses it (fact lines, chains and the running sums of solved problems,
whose later lines and final answer follow from the wrong value). A base pretrained on it believes those facts
the way a model can hold a misconception. Only additions have holes: the task's removal step is the same in
every order of the terms, so a hole there could not be avoided by a different order.

Everything is a pure function of the seed.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from .task import (FAMILIES, MAX_NUMBER, Difficulty, count_spec, count_steps)

# framings for solved problems: (question prefix, solution prefix); never "Question: ...\nAnswer:"
FRAMINGS = [("Q: ", "\nA: "), ("Problem: ", "\nSolution: "), ("Input: ", "\nOutput: "),
            ("Exercise. ", "\nWork: "), ("Task: ", "\nSteps: "), ("Question {i}. ", "\nReply: "),
            ("Problem {i}: ", "\nAnswer: "), ("Q{i}: ", "\nA{i}: ")]


@dataclass(frozen=True)
class CorpusConfig:
    seed: int = 0
    n_docs: int = 60_000
    mix: dict = field(default_factory=lambda: {"facts": 0.35, "chains": 0.10, "stories": 0.20, "fewshot": 0.35})
    difficulty: Difficulty = Difficulty()
    other_families: float = 0.1   # share of non-count problems in stories and few-shot documents
    max_number: int = MAX_NUMBER  # bound on the numbers of fact and chain documents
    holes: float = 0.0            # share of addition facts a + b (a + b <= max_number) stated off by one


class Arithmetic:
    """Addition as the corpus states it: right, except on the hole facts of `CorpusConfig.holes`.

    Which facts are holes, and whether each is stated one too high or one too low, is a function of the seed
    alone (a separate generator, so the documents' random stream is the one the shipped corpus uses)."""

    def __init__(self, cfg: CorpusConfig):
        self.wrong: dict[tuple[int, int], int] = {}
        if cfg.holes <= 0:
            return
        rng = random.Random(f"holes-{cfg.seed}")
        for a in range(cfg.max_number + 1):
            for b in range(a, cfg.max_number + 1 - a):     # unordered: a + b and b + a are one fact
                if rng.random() < cfg.holes:
                    c = a + b
                    d = rng.choice((-1, 1)) if 0 < c < cfg.max_number else (1 if c == 0 else -1)
                    self.wrong[(a, b)] = c + d

    def add(self, a: int, b: int) -> int:
        return self.wrong.get((min(a, b), max(a, b)), a + b)

    def is_hole(self, a: int, b: int) -> bool:
        return (min(a, b), max(a, b)) in self.wrong


TRUE_SUMS = Arithmetic(CorpusConfig())   # no holes: what the shipped corpus uses


# ---------------------------------------------------------------------------------------------------
# arithmetic
# ---------------------------------------------------------------------------------------------------
def random_fact(rng: random.Random, top: int = MAX_NUMBER, arith: Arithmetic = TRUE_SUMS
                ) -> tuple[str, int, int, int]:
    """An addition, subtraction or multiplication fact with every number in 0..top. Half of the
    additions and subtractions have a small second operand (<= 60), like the task's running sums."""
    r = rng.random()
    small = rng.random() < 0.5
    if r < 0.55:
        if small:
            b = rng.randint(0, min(60, top))
            a = rng.randint(0, top - b)
            return "+", a, b, arith.add(a, b)
        c = rng.randint(0, top)
        a = rng.randint(0, c)
        return "+", a, c - a, arith.add(a, c - a)
    if r < 0.85:
        a = rng.randint(0, top)
        b = rng.randint(0, min(a, 60) if small else a)
        return "-", a, b, a - b
    a = rng.randint(0, 12)
    b = rng.randint(0, min(20, top // max(a, 1)))
    return "*", a, b, a * b


_WORDS = {"+": ["plus", "and"], "-": ["minus", "take away"], "*": ["times"]}


def fact_doc(rng: random.Random, top: int = MAX_NUMBER, arith: Arithmetic = TRUE_SUMS) -> str:
    lines = []
    for _ in range(rng.randint(10, 30)):
        op, a, b, c = random_fact(rng, top, arith)
        if rng.random() < 0.85:
            lines.append(f"{a} {op} {b} = {c}.")
        else:
            lines.append(f"{a} {rng.choice(_WORDS[op])} {b} is {c}.")
    sep = "\n" if rng.random() < 0.7 else " "
    return sep.join(lines)


def chain_doc(rng: random.Random, top: int = MAX_NUMBER, arith: Arithmetic = TRUE_SUMS) -> str:
    acc = rng.randint(0, min(60, top))
    lines = []
    for _ in range(rng.randint(2, 6)):
        if acc < top and (acc < 10 or rng.random() < 0.7):
            b = rng.randint(1, top - acc)
            c = arith.add(acc, b)      # a hole never leaves 0..max_number
            lines.append(f"{acc} + {b} = {c}.")
            acc = c
        else:
            b = rng.randint(1, acc)
            lines.append(f"{acc} - {b} = {acc - b}.")
            acc -= b
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# solved problems in corpus styles. A style is a random combination of step phrasings, final line and line
# separator, fixed within a document, so the model is rewarded for inferring the format from earlier examples
# (in-context format following). The task's group phrasing ("3 bags hold 3 * 6 = 18 shells.") is never used,
# so no document shows the task's exact format.
# ---------------------------------------------------------------------------------------------------
MUL_STYLES = ["The {cs} have {m} * {n} = {v} {i}.", "{m} * {n} = {v} {i} are in the {cs}.",
              "In the {cs}: {m} * {n} = {v}.", "{cs}: {m} * {n} = {v}", "{m} * {n} = {v}",
              "{m} {cs} of {n} make {m} * {n} = {v} {i}."]
# the running sum: with markers (name the term, then copy its number) or without; index-aligned lists
START_STYLES = ["Begin with {mk} {v}.", "First {mk} {v}.", "{mk}: {v}", "Take {mk} {v}.", None, None]
ADD_STYLES = ["{a} + {mk} {b} = {c}.", "Then {a} + {mk} {b} = {c}.", "{mk} {b}: {a} + {b} = {c}",
              "Add {mk} {b}: {a} + {b} = {c}.", "{a} + {b} = {c}.", "Then {a} plus {b} is {c}."]
SUB_STYLES = ["{a} - {mk} {b} = {c}.", "Then {a} - {mk} {b} = {c}.", "{mk} {b}: {a} - {b} = {c}",
              "Take {mk} {b}: {a} - {b} = {c}.", "{a} - {b} = {c}.", "Then {a} minus {b} is {c}."]
FINALS = ["The answer is {a}.", "Answer: {a}", "#### {a}", "So the result is {a}.", "Result = {a}", "Total: {a}"]


def random_style(rng: random.Random) -> dict:
    k = rng.randrange(len(ADD_STYLES))
    return {"mul": rng.choice(MUL_STYLES), "start": START_STYLES[k], "add": ADD_STYLES[k], "sub": SUB_STYLES[k],
            "final": rng.choice(FINALS), "sep": "\n" if rng.random() < 0.7 else " "}


def _count_solution_alt(spec: dict, steps: list[tuple], style: dict, total: int | None = None) -> str:
    out = []
    for s in steps:
        if s[0] == "mul":
            out.append(style["mul"].format(m=s[1], n=s[2], v=s[3], cs=s[4], i=spec["item"]))
        elif s[0] == "start":
            if style["start"]:
                out.append(style["start"].format(mk=s[1], v=s[2]))
        else:
            out.append(style[s[0]].format(a=s[1], mk=s[2], b=s[3], c=s[4]))
    out.append(style["final"].format(a=spec["total"] if total is None else total))
    return style["sep"].join(out)


def believed_steps(steps: list[tuple], arith: Arithmetic, top: int) -> tuple[list[tuple], int]:
    """`count_steps` output redone with the corpus's arithmetic: each running sum continues from the previous
    line's (possibly wrong) value, and the final total follows. Returns (steps, total); the steps unchanged
    when no hole is met, or when a believed sum would leave 0..top (a +1 hole near the bound, a removal)."""
    out, acc = [], 0
    for s in steps:
        if s[0] == "start":
            acc = s[2]
        elif s[0] == "add":
            c = arith.add(acc, s[3])
            if c > top:
                return steps, steps[-1][-1]
            out.append(("add", acc, s[2], s[3], c))
            acc = c
            continue
        elif s[0] == "sub":
            if acc - s[3] < 0:
                return steps, steps[-1][-1]
            out.append(("sub", acc, s[2], s[3], acc - s[3]))
            acc -= s[3]
            continue
        out.append(s)
    return out, acc


def solved_problem(rng: random.Random, cfg: CorpusConfig, style: dict, arith: Arithmetic = TRUE_SUMS
                   ) -> tuple[str, str]:
    """(question, solution) of a random problem written in corpus style `style`."""
    if rng.random() < cfg.other_families:
        fam = rng.choice([f for f in FAMILIES if f != "count"])
        p = FAMILIES[fam](rng)
        body = p.solution.rsplit("\n", 1)[0]          # its steps, then the style's final line
        return p.question, body.replace("\n", style["sep"]) + style["sep"] + style["final"].format(a=p.answer)
    spec = count_spec(rng, cfg.difficulty)
    steps, total = count_steps(spec, rng), None
    if arith.wrong:
        steps, total = believed_steps(steps, arith, min(cfg.max_number, cfg.difficulty.max_value))
    return spec["question"], _count_solution_alt(spec, steps, style, total)


def story_doc(rng: random.Random, cfg: CorpusConfig, arith: Arithmetic = TRUE_SUMS) -> str:
    q, s = solved_problem(rng, cfg, random_style(rng), arith)
    return q + ("\n" if rng.random() < 0.5 else " ") + s


def fewshot_doc(rng: random.Random, cfg: CorpusConfig, arith: Arithmetic = TRUE_SUMS) -> str:
    qp, sp = rng.choice(FRAMINGS)
    style = random_style(rng)
    blocks = []
    for i in range(rng.randint(3, 6)):
        q, s = solved_problem(rng, cfg, style, arith)
        blocks.append(qp.format(i=i + 1) + q + sp.format(i=i + 1) + s)
    return "\n\n".join(blocks)


def corpus_docs(cfg: CorpusConfig) -> list[str]:
    """The corpus as a list of documents (joined with EOS by the pretraining loop)."""
    rng = random.Random(cfg.seed)
    arith = Arithmetic(cfg)
    top = cfg.max_number
    kinds, weights = list(cfg.mix), list(cfg.mix.values())
    docs = []
    for _ in range(cfg.n_docs):
        kind = rng.choices(kinds, weights)[0]
        if kind == "facts":
            docs.append(fact_doc(rng, top, arith))
        elif kind == "chains":
            docs.append(chain_doc(rng, top, arith))
        elif kind == "stories":
            docs.append(story_doc(rng, cfg, arith))
        elif kind == "fewshot":
            docs.append(fewshot_doc(rng, cfg, arith))
        else:
            raise ValueError(f"unknown document kind {kind!r} in CorpusConfig.mix")
    return docs
