"""SCORE's rules as plain functions over plain text and records: no I/O, no model, no run store.

*Small Language Models Need Strong Verifiers to Self-Correct Reasoning* (Zhang et al., Findings of ACL 2024):

1. the small model samples solutions written as `Step i:` lines, the last one ending in `\\boxed{answer}`; gold
   labels each sample correct or not;
2. for each (incorrect, correct) pair of samples of one question, the same model critiques the incorrect one step
   by step (`Feedback:` lines), with its *own* correct sample as the hint (never the gold solution);
3. `rule_filter` keeps a critique only if it is well formed and names the correct answer at the last step, then
   drops that last feedback so the answer does not leak. A refinement filter (a model call, outside this module)
   keeps it only if refining with it reaches the correct answer; that refinement becomes the correction;
4. the refiner is trained on `refiner_target`: feedback on the *first* wrong step, `Correction:`, a corrected
   solution: one model, one generation;
5. at test time a verifier flags initial solutions; only flagged ones are replaced by the refiner's answer
   (`verify_then_refine`), with the flag threshold chosen on dev (`choose_threshold`).

Where this module fixes a detail that the description of the official code (yunx-z/SCORE, issue #16) leaves open,
the line says `# our choice`. The official code is not in this repository.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

STEP = re.compile(r"^\s*Step (\d+)\s*:\s?(.*)$")
FEEDBACK = re.compile(r"^\s*Feedback\s*:\s?(.*)$")
CORRECTION = "Correction:"
# A feedback that opens with one of these says the step is right.  # our choice (the critique demos' wording)
CORRECT_OPENINGS = ("this step is correct", "correct", "the step is correct")


def split_steps(solution: str) -> list[str]:
    """The steps of a `Step i:` solution, in order, without their `Step i:` prefix.

    A line that does not open a step continues the step before it. Text before `Step 1:` is dropped. Steps must be
    numbered 1, 2, 3, ... without gaps; otherwise the solution is not in the format and the result is [].
    """
    steps: list[str] = []
    for line in solution.splitlines():
        m = STEP.match(line)
        if m:
            if int(m.group(1)) != len(steps) + 1:
                return []
            steps.append(m.group(2).strip())
        elif steps and line.strip():
            steps[-1] = f"{steps[-1]}\n{line.strip()}"
    return steps


def join_steps(steps: Sequence[str]) -> str:
    """The inverse of split_steps: `Step 1: ...` lines."""
    return "\n".join(f"Step {i}: {s}" for i, s in enumerate(steps, 1))


def parse_critique(text: str) -> list[tuple[str, str]]:
    """(copied step, feedback) for each `Step i:` ... `Feedback:` block of a critique, in order.

    A step with no `Feedback:` line gets feedback ""; lines after a `Feedback:` line continue that feedback.
    """
    blocks: list[list[str]] = []  # [step, feedback] per block
    in_feedback = False
    for line in text.splitlines():
        s, f = STEP.match(line), FEEDBACK.match(line)
        if s:
            blocks.append([s.group(2).strip(), ""])
            in_feedback = False
        elif f and blocks:
            blocks[-1][1] = f.group(1).strip()
            in_feedback = True
        elif blocks and line.strip():
            i = 1 if in_feedback else 0
            blocks[-1][i] = f"{blocks[-1][i]}\n{line.strip()}".strip()
    return [(a, b) for a, b in blocks]


def mentions(text: str, answer: str) -> bool:
    """Whether `answer` appears in `text` as a whole token (`12` is in "gives 12." but not in "120").

    Numbers compare by value (`12.0` mentions 12).  # our choice: the official filter's test is a string search
    """
    answer = answer.strip()
    if not answer:
        return False
    if re.search(rf"(?<![\w.]){re.escape(answer)}(?![\w]|\.\d)", text):
        return True
    try:
        target = float(answer.replace(",", ""))
    except ValueError:
        return False
    for tok in re.findall(r"-?\d[\d,]*(?:\.\d+)?", text):
        try:
            if float(tok.replace(",", "")) == target:
                return True
        except ValueError:
            continue
    return False


@dataclass(frozen=True)
class RuleVerdict:
    kept: bool
    reason: str                                  # "kept" or the first rule that failed
    critique: tuple[tuple[str, str], ...] = ()   # when kept: the pairs, the last feedback removed


def rule_filter(wrong_solution: str, critique_text: str, gold: str, *,
                holds_answer: Callable[[str, str], bool] = mentions) -> RuleVerdict:
    """SCORE's rule filter on one critique of one incorrect solution.

    Kept when: the critique has one feedback per step of the solution; each step is copied exactly; the wrong
    solution's final step does not already hold the gold answer; the last step's feedback holds it. The kept
    critique has its last feedback removed (set to ""), so the correct answer does not leak into training.
    """
    steps = split_steps(wrong_solution)
    pairs = parse_critique(critique_text)
    if not steps:
        return RuleVerdict(False, "solution_not_in_steps")
    if len(pairs) != len(steps) or any(not fb for _, fb in pairs):
        return RuleVerdict(False, "step_feedback_count")
    if any(copied != step for (copied, _), step in zip(pairs, steps)):
        return RuleVerdict(False, "step_not_copied")
    if holds_answer(steps[-1], gold):
        return RuleVerdict(False, "wrong_step_holds_gold")
    if not holds_answer(pairs[-1][1], gold):
        return RuleVerdict(False, "last_feedback_lacks_gold")
    kept = tuple(pairs[:-1]) + ((pairs[-1][0], ""),)
    return RuleVerdict(True, "kept", kept)


def says_correct(feedback: str) -> bool:
    """Whether a feedback line says its step is right."""
    return feedback.strip().lower().startswith(CORRECT_OPENINGS)


def first_error(critique: Sequence[tuple[str, str]], is_ok: Callable[[str], bool] = says_correct) -> int:
    """Index of the first step whose feedback does not say it is right.

    A removed last feedback ("") counts as an error: the rule filter only keeps critiques whose last step is wrong.
    """
    for i, (_, fb) in enumerate(critique):
        if not fb or not is_ok(fb):
            return i
    return len(critique) - 1


def refiner_target(critique: Sequence[tuple[str, str]], correction: str) -> str:
    """The refiner's training target: feedback on the first wrong step only, then `Correction:` and the corrected
    solution. When the first wrong step is the last one, its feedback was removed by the rule filter, and the
    target says only that the step is wrong.  # our choice
    """
    i = first_error(critique)
    step, fb = critique[i]
    fb = fb or "This step is incorrect."
    return f"Step {i + 1}: {step}\nFeedback: {fb}\n{CORRECTION}\n{correction.strip()}"


def split_refinement(text: str) -> tuple[str, str]:
    """(feedback part, corrected solution) of a refiner output; ("", "") without a `Correction:` line."""
    head, sep, tail = text.partition(CORRECTION)
    return (head.strip(), tail.strip()) if sep else ("", "")


def dedupe(examples: Sequence[dict], keys: Sequence[str] = ("prompt", "target")) -> list[dict]:
    """Examples with a repeated (prompt, target) removed, first one kept, order unchanged."""
    seen: set[tuple] = set()
    out = []
    for ex in examples:
        k = tuple(ex[key] for key in keys)
        if k not in seen:
            seen.add(k)
            out.append(ex)
    return out


# ---------------------------------------------------------------------------------------------------
# verify, then refine
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    n: int
    initial: int      # initial solutions correct
    final: int        # correct after refining the flagged ones
    fixed: int        # wrong -> right
    broken: int       # right -> wrong
    flagged: int

    @property
    def accuracy(self) -> float:
        return self.final / self.n if self.n else 0.0

    @property
    def initial_accuracy(self) -> float:
        return self.initial / self.n if self.n else 0.0


def verify_then_refine(initial_correct: Sequence[bool], refined_correct: Sequence[bool],
                       flags: Sequence[bool]) -> Outcome:
    """Final answer = the refiner's where the verifier flagged the initial solution, else the initial one."""
    if not len(initial_correct) == len(refined_correct) == len(flags):
        raise ValueError(f"verify_then_refine: {len(initial_correct)} initial, {len(refined_correct)} refined, "
                         f"{len(flags)} flags: one of each per question")
    final = [r if f else i for i, r, f in zip(initial_correct, refined_correct, flags)]
    return Outcome(
        n=len(flags), initial=sum(initial_correct), final=sum(final),
        fixed=sum(1 for i, f in zip(initial_correct, final) if not i and f),
        broken=sum(1 for i, f in zip(initial_correct, final) if i and not f),
        flagged=sum(flags))


def verifier_scores(flags: Sequence[bool], initial_correct: Sequence[bool]) -> dict:
    """Precision and recall of "this solution is wrong" (None where undefined: nothing flagged / nothing wrong)."""
    tp = sum(1 for f, c in zip(flags, initial_correct) if f and not c)
    flagged, wrong = sum(flags), sum(1 for c in initial_correct if not c)
    return {"precision": tp / flagged if flagged else None, "recall": tp / wrong if wrong else None,
            "flagged": flagged, "wrong": wrong}


def threshold_grid(lo: float = 0.50, hi: float = 1.00, step: float = 0.01) -> list[float]:
    """The paper's grid of P(incorrect) thresholds: 0.50, 0.51, ..., 1.00 (rounded, so 0.6 is 0.6)."""
    return [round(lo + k * step, 10) for k in range(int(round((hi - lo) / step)) + 1)]


def flags_at(p_incorrect: Sequence[float], threshold: float) -> list[bool]:
    """Refine when P(incorrect) >= threshold."""
    return [p >= threshold - 1e-12 for p in p_incorrect]


def choose_threshold(p_incorrect: Sequence[float], initial_correct: Sequence[bool], refined_correct: Sequence[bool],
                     grid: Sequence[float] | None = None) -> tuple[float, float]:
    """(threshold, dev accuracy) maximising accuracy after verify-then-refine on dev; ties go to the lowest
    threshold of the grid.  # our choice (the first best in grid order)
    """
    best: tuple[float, float] | None = None
    for t in grid if grid is not None else threshold_grid():
        acc = verify_then_refine(initial_correct, refined_correct, flags_at(p_incorrect, t)).accuracy
        if best is None or acc > best[1] + 1e-12:
            best = (t, acc)
    if best is None:
        raise ValueError("choose_threshold: empty grid")
    return best
