"""SCORE documents for the toy world: solutions with planted errors, step-by-step critiques, refinements and
verification verdicts, for a continued-pretraining phase (docs/toy_world.md, "SCORE documents").

A toy `count` solution in SCORE's step format is the task's solution with one `Step i:` per line, the final
`#### N` line included (`as_steps` / `from_steps` are the one place that maps between the two):

    Step 1: Begin with makes 2.
    Step 2: 2 + wins 5 = 7.
    Step 3: 7 + has 3 = 10.
    Step 4: 10 - gives 7 = 3.
    Step 5: #### 3

A critique copies each step and gives it a `Feedback:` line that opens "This step is correct." or "This step is
incorrect." and then says what the critic checked: the number the question gives for the step's marker, the
running total so far, the sum, and for a wrong step the line it should have been. The last step's feedback names
the right answer and the hint that holds it ("The answer is 6, not 3, as in the reference solution."), which is what
`method.score.rule_filter` asks of a critique.

Error kinds (`ERROR_KINDS`, the classes of `toy/errors.py`): `arithmetic` (a wrong sum or difference), `copy` (a
number that is not its marker's number in the question), `carry` (a line that does not continue the previous
line's total), `skip` (a term left out of the sum), `final` (the `####` line disagrees with the last total), and
`hole` (a hole fact of the strong corpus written with its believed, wrong value; only where documents state true
hole facts, `holes="true"`). After the planted error the solution goes on as a model would: every later line
starts from the wrong total and is otherwise right, so the final answer is wrong.

Knowledge holes (`ScoreDocsConfig.holes`):
- "avoid" (the small model's phase): no document states an addition fact that is a hole of `hole_corpus`, with
  either value (a draw that would is redrawn). The continuation neither teaches the small model the facts it gets
  wrong nor repeats them: its critiques can only use what it knows, which is SCORE's question.
- "true": documents state every fact with its true value, hole facts included (a verifier that knows them).

Everything is a pure function of the config's seed: `random.Random` only.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace

from ..method import score as sr
from .corpus import Arithmetic, CorpusConfig
from .task import ANSWER_PREFIX, MAX_NUMBER, Difficulty, count_spec

ERROR_KINDS = ("arithmetic", "copy", "carry", "skip", "final", "hole")
DOC_KINDS = ("critique", "apply", "refine", "verify")
HOLE_MODES = ("avoid", "true")

# The framing and prompts are the method's (tasks.score_prompts): the toy documents and every preset's prompts agree.
from ..tasks.score_prompts import (CRITIQUE, FRAMING_TEXTS, OK, QUESTION, REF_NAME, REFERENCE, REVIEW,  # noqa: F401
                                   SOLUTION, VERDICT, VERDICTS, WRONG, apply_prompt, classifier_input,
                                   critique_prompt, read_verdict, refine_prompt, verify_prompt)


# ---------------------------------------------------------------------------------------------------
# the step format
# ---------------------------------------------------------------------------------------------------
def as_steps(solution: str) -> str:
    """A toy solution (one step a line, then `#### N`) in SCORE's format: `Step i:` per line, the final line too."""
    lines = [x.strip() for x in solution.strip().splitlines() if x.strip()]
    if not lines:
        raise ValueError("as_steps: empty solution")
    return sr.join_steps(lines)


def from_steps(text: str) -> str:
    """The inverse of as_steps: the task's format back (what the toy grader reads); "" if not in step format."""
    return "\n".join(sr.split_steps(text))


def final_answer(text: str) -> str:
    """The number of a step-format solution's final `#### N` step; "" when it has none."""
    steps = sr.split_steps(text)
    m = re.fullmatch(re.escape(ANSWER_PREFIX) + r"(\d+)", steps[-1]) if steps else None
    return m.group(1) if m else ""


# ---------------------------------------------------------------------------------------------------
# a question and the lines of a solution, as data
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    text: str
    terms: tuple[tuple[str, int], ...]      # (marker, number) of the sum's terms, in the question's order
    remove: tuple[str, int] | None          # the removal's (marker, number)

    @property
    def values(self) -> dict[str, int]:
        return dict(self.terms) | ({self.remove[0]: self.remove[1]} if self.remove else {})

    @property
    def answer(self) -> int:
        return sum(v for _, v in self.terms) - (self.remove[1] if self.remove else 0)


def draw_question(rng: random.Random, task: Difficulty) -> Question:
    if task.group_prob > 0:
        raise ValueError(f"toy.critique: groups (group_prob={task.group_prob}) are not supported; the method's "
                         f"world has none")
    spec = count_spec(rng, task)
    r = spec["remove"]
    return Question(spec["question"], tuple((t["marker"], t["value"]) for t in spec["terms"]),
                    (r["marker"], r["value"]) if r else None)


@dataclass(frozen=True)
class Line:
    kind: str          # "start", "add", "sub", "final"
    marker: str = ""
    a: int = 0         # add / sub: the running total the line starts from
    b: int = 0         # start / add / sub: the term's number as written
    c: int = 0         # the line's result (start: its number; final: the answer)

    def render(self, start_phrase: str) -> str:
        if self.kind == "start":
            return f"{start_phrase} {self.marker} {self.b}."
        if self.kind == "final":
            return f"{ANSWER_PREFIX}{self.c}"
        op = "+" if self.kind == "add" else "-"
        return f"{self.a} {op} {self.marker} {self.b} = {self.c}."


def render(lines: list[Line], task: Difficulty) -> str:
    """The task's solution text (`render_count_solution`'s format) of `lines`."""
    return "\n".join(x.render(task.start_phrase) for x in lines)


@dataclass(frozen=True)
class Planted:
    kind: str
    line: int          # index of the line where the error is planted (skip: the term's line in the order)
    value: int = 0     # the wrong number written there (skip: unused)


def write(q: Question, order: tuple[str, ...], err: Planted | None = None, believed: Arithmetic | None = None
          ) -> list[Line]:
    """The solution that adds `q`'s terms in `order` (then the removal, then `#### N`), with `err` planted and the
    lines after it continuing from the wrong total as a model would. `believed` is only for the `hole` kind."""
    v = q.values
    seq = [("start", order[0])] + [("add", m) for m in order[1:]]
    if err and err.kind == "skip":
        if not 1 <= err.line < len(seq):
            raise ValueError(f"write: cannot skip line {err.line} of {len(seq)} term lines")
        del seq[err.line]
    seq += ([("sub", q.remove[0])] if q.remove else []) + [("final", "")]
    here = (lambda j, kind: err is not None and err.kind == kind and err.line == j)
    lines: list[Line] = []
    acc = 0
    for j, (kind, m) in enumerate(seq):
        if kind == "start":
            b = err.value if here(j, "copy") else v[m]
            lines.append(Line("start", m, 0, b, b))
            acc = b
        elif kind in ("add", "sub"):
            a = err.value if here(j, "carry") else acc
            b = err.value if here(j, "copy") else v[m]
            c = a + b if kind == "add" else a - b
            if here(j, "arithmetic"):
                c = err.value
            elif here(j, "hole"):
                if believed is None or kind != "add" or not believed.is_hole(a, b):
                    raise ValueError(f"write: line {j} is not a hole fact")
                c = believed.add(a, b)
            lines.append(Line(kind, m, a, b, c))
            acc = c
        else:
            lines.append(Line("final", c=err.value if here(j, "final") else acc))
    return lines


def in_range(lines: list[Line]) -> bool:
    return all(0 <= n <= MAX_NUMBER for x in lines for n in (x.a, x.b, x.c))


# ---------------------------------------------------------------------------------------------------
# the critic
# ---------------------------------------------------------------------------------------------------
def feedback(q: Question, lines: list[Line], *, reference: bool = True, missed: int | None = None) -> list[str]:
    """One feedback per line: checked against the question's numbers and true arithmetic along the solution's own
    order of terms (the critic keeps the right running total and says what each wrong line should have been).

    `reference`: the critic has a correct reference solution (SCORE's hint). Its last feedback then compares the
    solution's answer with the reference's answer (the question's answer) and names it "as in the reference
    solution", whatever the critic's own running total says. Without one (a verification check) the last feedback
    compares the answer with the critic's running total.
    `missed`: index of a line whose error the critic does not see. Its feedback is a bare "This step is correct."
    (no false fact is stated) and the critic carries that line's wrong total on, as a critic that believes the
    wrong fact would; only the reference's answer then shows that the solution is wrong. Needs `reference`.
    """
    if missed is not None and not reference:
        raise ValueError("feedback: a missed error needs a reference (without one the critique would end 'correct' "
                         "on a wrong solution)")
    v = q.values
    term_markers = [m for m, _ in q.terms]
    used: list[str] = []
    out = []
    acc = 0   # the right running total over the terms the solution has taken so far

    def left_out() -> tuple[str, int]:
        """The terms not yet added (named, "" if none) and the total with them; they count as added from here."""
        left = [m for m in term_markers if m not in used]
        used.extend(left)
        return " and ".join(f"{m} {v[m]}" for m in left), acc + sum(v[m] for m in left)

    for j, x in enumerate(lines):
        if x.kind != "final" and x.marker not in v:
            raise ValueError(f"feedback: marker {x.marker!r} is not in the question")
        if x.kind != "final" and x.marker in used:
            raise ValueError(f"feedback: marker {x.marker!r} is used twice")
        if x.kind == "start":
            used.append(x.marker)
            acc = v[x.marker]
            out.append(f"{OK} The question says {x.marker} {acc}." if x.b == acc else
                       f"{WRONG} The question says {x.marker} {acc}, not {x.b}.")
            continue
        notes: list[str] = []
        if x.kind in ("sub", "final"):          # every term must be in the total by now
            named, total = left_out()
            if named:
                notes.append(f"It leaves out {named}." if x.kind == "final" else
                             f"It leaves out {named}, so the total so far is {total}, not {x.a}.")
                acc = total
        if x.kind == "final":
            want = q.answer if reference else acc
            if not notes and x.c == want:
                out.append(f"{OK} The answer is {want}.")
            else:
                tail = f", as in the {REF_NAME}." if reference else "."
                out.append(" ".join([WRONG] + notes + [f"The answer is {want}, not {x.c}{tail}"]))
            continue
        if not notes and x.a != acc:
            notes.append(f"The total so far is {acc}, not {x.a}.")
        want_b = v[x.marker]
        if x.b != want_b:
            notes.append(f"The question says {x.marker} {want_b}, not {x.b}.")
        op = "+" if x.kind == "add" else "-"
        want_c = acc + want_b if x.kind == "add" else acc - want_b
        if not notes and x.c != want_c:
            notes.append(f"{x.a} {op} {x.b} is {want_c}, not {x.c}.")
        if x.kind == "add":
            used.append(x.marker)
        if notes and j == missed:
            out.append(OK)              # the critic does not see this error and goes on from the line's total
            acc = x.c
            continue
        if notes:
            out.append(" ".join([WRONG] + notes + [f"It should be {acc} {op} {x.marker} {want_b} = {want_c}."]))
        else:
            out.append(f"{OK} {x.a} {op} {x.b} is {x.c}.")
        acc = want_c
    return out


def answer_line(reference_answer: int | str, says: bool = False) -> str:
    """The line a critique opens with when `ScoreDocsConfig.answer_first`: the reference solution's answer, read
    before any step is checked (`method.score.parse_critique` skips text before the first step). `says`: the
    wording no other feedback uses ("The reference solution says 13.")."""
    if says:
        return f"The {REF_NAME} says {reference_answer}."
    return f"The answer is {reference_answer}, as in the {REF_NAME}."


def critique_text(solution_steps: str, feedbacks: list[str]) -> str:
    """`Step i: <copied step>` / `Feedback: ...` blocks (what `method.score.parse_critique` reads)."""
    steps = sr.split_steps(solution_steps)
    if len(steps) != len(feedbacks):
        raise ValueError(f"critique_text: {len(steps)} steps, {len(feedbacks)} feedbacks")
    return "\n".join(f"Step {i}: {s}\nFeedback: {f}" for i, (s, f) in enumerate(zip(steps, feedbacks), 1))


# ---------------------------------------------------------------------------------------------------
# documents
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreDocsConfig:
    seed: int = 0
    n_docs: int = 20_000
    mix: dict = field(default_factory=lambda: {"critique": 0.45, "apply": 0.2, "refine": 0.0, "verify": 0.35})
    errors: dict = field(default_factory=lambda: {"arithmetic": 0.3, "copy": 0.25, "carry": 0.1, "skip": 0.2,
                                                  "final": 0.15})
    holes: str = "avoid"                  # HOLE_MODES
    hole_corpus: CorpusConfig = CorpusConfig()   # whose holes "avoid" avoids and "hole" errors plant
    task: Difficulty = Difficulty()
    p_correct: float = 0.5                # share of correct solutions in verification documents
    max_delta: int = 3                    # a planted wrong number is off by 1..max_delta
    p_missed: float = 0.3                 # critique / apply documents whose critic misses an arithmetic error
    answer_first: bool = False            # a critique opens by naming the reference's answer (`answer_line`)
    last_repeats_answer: bool = False     # a critique's last feedback is "This step is incorrect." + the answer line
    says: bool = False                    # the answer line reads "The reference solution says N." (not "The answer
                                          # is N, as in ..."): a phrase no check or step feedback uses

    def __post_init__(self):
        if self.holes not in HOLE_MODES:
            raise ValueError(f"ScoreDocsConfig.holes: {self.holes!r} is not one of {HOLE_MODES}")
        for name, table, known in (("mix", self.mix, DOC_KINDS), ("errors", self.errors, ERROR_KINDS)):
            bad = [k for k in table if k not in known]
            if bad or not table or sum(table.values()) <= 0 or min(table.values()) < 0:
                raise ValueError(f"ScoreDocsConfig.{name}: {table} (kinds must be in {known}, weights >= 0, "
                                 f"sum > 0)")
        if self.errors.get("hole", 0) > 0 and self.holes != "true":
            raise ValueError("ScoreDocsConfig: `hole` errors state a hole fact, which holes='avoid' forbids")
        if not 0.0 <= self.p_missed <= 1.0:
            raise ValueError(f"ScoreDocsConfig.p_missed: {self.p_missed} is not a probability")
        if self.errors.get("hole", 0) > 0 and not Arithmetic(self.hole_corpus).wrong:
            raise ValueError("ScoreDocsConfig: `hole` errors need a hole_corpus with holes > 0")


@dataclass(frozen=True)
class Doc:
    """One document and what it was made from (for tests and analysis)."""
    kind: str
    text: str
    question: str
    gold: str
    solution: str               # step format: the checked / verified solution
    correct: bool
    error: str = ""             # planted error kind ("" for a correct solution)
    first_error: int = -1       # index of the first wrong step
    hint: str = ""              # critique: the reference solution (correct, another order)
    critique: str = ""          # critique / apply / verify: the critique or check text; refine: the refiner target
    correction: str = ""        # the corrected solution, step format
    missed: bool = False        # critique / apply: the critic did not see the error (only the answer shows it)


_ADD_FACT = re.compile(r"(\d+) \+ (?:[a-z]+ )?(\d+) (?:=|is) (\d+)")


def stated_sums(text: str) -> list[tuple[int, int, int]]:
    """Every addition `a + b = c` / `a + marker b = c` / `a + b is c` the text states."""
    return [(int(a), int(b), int(c)) for a, b, c in _ADD_FACT.findall(text)]


class _Redraw(Exception):
    pass


def _delta(rng: random.Random, cfg: ScoreDocsConfig) -> int:
    return rng.choice([d for d in range(-cfg.max_delta, cfg.max_delta + 1) if d])


def plant(q: Question, order: tuple[str, ...], kind: str, rng: random.Random, cfg: ScoreDocsConfig,
          believed: Arithmetic) -> tuple[list[Line], Planted, int]:
    """A wrong solution: (lines, the planted error, index of its first wrong line). Raises _Redraw when this
    order admits no such error in range (the caller draws again)."""
    right = write(q, order)
    arith_lines = [j for j, x in enumerate(right) if x.kind in ("add", "sub")]
    if kind == "arithmetic":
        j = rng.choice(arith_lines)
        err = Planted(kind, j, right[j].c + _delta(rng, cfg))
    elif kind == "copy":
        j = rng.choice([j for j, x in enumerate(right) if x.kind != "final"])
        others = [val for m, val in q.values.items() if m != right[j].marker and val != right[j].b]
        wrong = rng.choice(others) if others and rng.random() < 0.5 else right[j].b + _delta(rng, cfg)
        err = Planted(kind, j, wrong)
    elif kind == "carry":
        j = rng.choice(arith_lines)
        err = Planted(kind, j, right[j].a + _delta(rng, cfg))
    elif kind == "skip":
        j = rng.randrange(1, len(order))
        err = Planted(kind, j)
    elif kind == "final":
        err = Planted(kind, len(right) - 1, right[-1].c + _delta(rng, cfg))
    elif kind == "hole":
        holes = [j for j, x in enumerate(right) if x.kind == "add" and believed.is_hole(x.a, x.b)]
        if not holes:
            raise _Redraw
        err = Planted(kind, rng.choice(holes))
    else:
        raise ValueError(f"plant: unknown error kind {kind!r}")
    lines = write(q, order, err, believed)
    if not in_range(lines) or lines[-1].c == q.answer or lines == right:
        raise _Redraw
    first = (len(order) - 1 if kind == "skip" else err.line)   # skip: the line after the last addition
    return lines, err, first


class Generator:
    """Documents of every kind from one seeded stream (`ScoreDocsConfig`)."""

    def __init__(self, cfg: ScoreDocsConfig):
        self.cfg = cfg
        self.rng = random.Random(f"score-docs-{cfg.seed}")
        self.holes = Arithmetic(cfg.hole_corpus)

    def _order(self, q: Question, not_this: tuple[str, ...] | None = None) -> tuple[str, ...]:
        markers = [m for m, _ in q.terms]
        for _ in range(50):
            order = tuple(self.rng.sample(markers, len(markers)))
            if order != not_this:
                return order
        raise _Redraw

    def _fits(self, text: str) -> bool:
        return self.cfg.holes != "avoid" or not any(self.holes.is_hole(a, b) for a, b, _ in stated_sums(text))

    def _wrong(self, q: Question, kind: str):
        order = self._order(q)
        lines, err, first = plant(q, order, kind, self.rng, self.cfg, self.holes)
        return order, lines, err, first

    def make(self, kind: str, max_tries: int = 500) -> Doc:
        # what the document shows is decided once per document, so that kinds that often need a redraw (a hole
        # fact is rare) keep their share
        cfg = self.cfg
        right = kind == "verify" and self.rng.random() < cfg.p_correct
        missed = kind in ("critique", "apply") and self.rng.random() < cfg.p_missed
        error = "arithmetic" if missed else self.rng.choices(list(cfg.errors), list(cfg.errors.values()))[0]
        for _ in range(max_tries):
            try:
                doc = self._make(kind, None if right else error, missed)
            except _Redraw:
                continue
            if self._fits(doc.text):
                return doc
        raise RuntimeError(f"toy.critique: no {kind} document in {max_tries} draws: the hole set or the task "
                           f"leaves too little room (holes={self.cfg.holes!r})")

    def _make(self, kind: str, error: str | None, missed: bool = False) -> Doc:
        """One document of `kind` about a solution with `error` planted (None: a right solution, verify only)."""
        cfg, task = self.cfg, self.cfg.task
        q = draw_question(self.rng, task)
        gold = str(q.answer)
        if error is None:
            if kind != "verify":
                raise ValueError(f"toy.critique: a {kind} document needs a wrong solution")
            lines = write(q, self._order(q))
            steps = as_steps(render(lines, task))
            check = critique_text(steps, feedback(q, lines, reference=False))
            return Doc(kind, f"{verify_prompt(q.text, steps)}\n{check}\n{VERDICT} {VERDICTS[True]}", q.text, gold,
                       steps, True, critique=check)
        order, lines, err, first = self._wrong(q, error)
        steps = as_steps(render(lines, task))
        if kind == "verify":
            check = critique_text(steps, feedback(q, lines, reference=False))
            return Doc(kind, f"{verify_prompt(q.text, steps)}\n{check}\n{VERDICT} {VERDICTS[False]}", q.text, gold,
                       steps, False, err.kind, first, critique=check)
        fbs = feedback(q, lines, missed=err.line if missed else None)
        if missed:
            # the critic saw no wrong step: the refinement solves the question again in another order
            fixed = self._order(q, not_this=order)
        else:
            # the correction keeps the lines before the first error: a skipped term is added after the others
            fixed = order if err.kind != "skip" else order[:err.line] + order[err.line + 1:] + (order[err.line],)
        correction = as_steps(render(write(q, fixed), task))
        common = dict(question=q.text, gold=gold, solution=steps, correct=False, error=err.kind, first_error=first,
                      correction=correction, missed=missed)
        if kind == "critique":
            hint = as_steps(render(write(q, self._order(q, not_this=order)), task))
            if cfg.last_repeats_answer:
                fbs = fbs[:-1] + [f"{WRONG} {answer_line(q.answer, cfg.says)}"]
            crit = critique_text(steps, fbs)
            if cfg.answer_first:
                crit = f"{answer_line(q.answer, cfg.says)}\n{crit}"
            text = f"{critique_prompt(q.text, hint, steps)}\n{crit}"
            return Doc(kind, text, hint=hint, critique=crit, **common)
        if kind == "apply":
            # the refinement filter's call: the kept critique (last feedback removed by the rule filter, shown as
            # a bare verdict, as refiner_target does) and then the correction
            crit = critique_text(steps, fbs[:-1] + [WRONG])
            text = f"{apply_prompt(q.text, steps, crit)}\n{correction}"
            return Doc(kind, text, critique=crit, **common)
        if kind == "refine":
            kept = sr.rule_filter(steps, critique_text(steps, fbs), gold)
            if not kept.kept:
                raise RuntimeError(f"toy.critique: a generated critique failed the rule filter ({kept.reason})")
            target = sr.refiner_target(kept.critique, correction)
            text = f"{refine_prompt(q.text, steps)}\n{target}"
            return Doc(kind, text, critique=target, **common)
        raise ValueError(f"toy.critique: unknown document kind {kind!r}")


def examples(cfg: ScoreDocsConfig, n: int | None = None) -> list[Doc]:
    """`n` (default cfg.n_docs) documents, kinds drawn by `cfg.mix`."""
    gen = Generator(cfg)
    kinds, weights = list(cfg.mix), list(cfg.mix.values())
    return [gen.make(gen.rng.choices(kinds, weights)[0]) for _ in range(cfg.n_docs if n is None else n)]


def documents(n: int, seed: int, *, holes: str = "avoid", cfg: ScoreDocsConfig | None = None) -> list[str]:
    """The texts of `n` SCORE documents for a corpus phase. `cfg` gives everything else (its seed, n_docs and
    holes are replaced by the arguments); without it, the shipped toy task and the strong corpus's holes."""
    base = cfg or default_config()
    return [d.text for d in examples(replace(base, seed=seed, n_docs=n, holes=holes), n)]


def default_config(**changes) -> ScoreDocsConfig:
    """The shipped toy task (`build.TASK`) and the strong base's hole set (`build.STRONG_CORPUS`)."""
    from .build import STRONG_CORPUS, TASK
    return replace(ScoreDocsConfig(task=TASK, hole_corpus=STRONG_CORPUS), **changes)
