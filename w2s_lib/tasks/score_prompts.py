"""SCORE's prompts: the framing of every call of the method (sample, critique, apply, refine, verify), as text.

One place for the words, so that the toy world's SCORE documents (`w2s_lib.toy.critique`), the stages
(`w2s_lib.stages.score`) and the notebooks agree. A document or a training row is one of these prompts followed by
its completion:

    critique_prompt(question, hint, solution)   -> `Step i:` / `Feedback:` blocks (SCORE's critique, with a hint)
    apply_prompt(question, solution, critique)  -> the corrected solution (the refinement filter's call)
    refine_prompt(question, solution)           -> feedback on the first wrong step, `Correction:`, a solution
    verify_prompt(question, solution)           -> a step-by-step check, then `Verdict: correct|incorrect`
    classifier_input(question, solution)        -> what the sequence-classifier verifier reads

Solutions are in SCORE's step format (`Step 1: ...`): `to_steps` puts a response in it (one step a line).
"""
from __future__ import annotations

import re

from w2s_lib.method import score as sr

# The framing: the toy vocabulary (toy.score_vocab collects these texts) and every prompt below use these words.
QUESTION = "Question: "
REFERENCE = "Reference solution:"     # SCORE's hint: another, correct solution of the same question
REF_NAME = "reference solution"       # how a critique's last feedback names it (its answer is the right one)
SOLUTION = "Solution:"
CRITIQUE = "Critique:"
REVIEW = "Find the first wrong step and correct the solution."   # the refiner's instruction
VERDICT = "Verdict:"
VERDICTS = {True: "correct", False: "incorrect"}
OK, WRONG = "This step is correct.", "This step is incorrect."
FRAMING_TEXTS = [f"{QUESTION}x\n{REFERENCE}\n{SOLUTION}\n{CRITIQUE}\n{sr.CORRECTION}\n{REVIEW}\n"
                 f"{VERDICT} {VERDICTS[True]}\n{VERDICT} {VERDICTS[False]}\nStep 1: x\nFeedback: {OK} {WRONG}"]


def to_steps(response: str) -> str:
    """A response in SCORE's step format: kept when it already is (`Step 1:` first), else one `Step i:` per
    non-empty line. "" for an empty response."""
    lines = [x.strip() for x in (response or "").strip().splitlines() if x.strip()]
    if not lines:
        return ""
    if sr.split_steps("\n".join(lines)) and sr.STEP.match(lines[0]):
        return "\n".join(lines)
    return sr.join_steps(lines)


def from_steps(text: str) -> str:
    """A step-format text back in the task's format (one step a line), what the task's answer extraction reads."""
    steps = sr.split_steps(text)
    return "\n".join(steps) if steps else (text or "").strip()


def critique_prompt(question: str, hint: str, solution: str) -> str:
    """SCORE's critique call: the question, a correct solution as the hint, the solution to check; the critique
    (`Step i:` / `Feedback:` blocks) follows on the next line."""
    return f"{QUESTION}{question}\n{REFERENCE}\n{hint}\n{SOLUTION}\n{solution}\n{CRITIQUE}"


def apply_prompt(question: str, solution: str, critique: str) -> str:
    """The refinement filter's call: a critique is given; the corrected solution follows on the next line."""
    return f"{QUESTION}{question}\n{SOLUTION}\n{solution}\n{CRITIQUE}\n{critique}\n{sr.CORRECTION}"


def refine_prompt(question: str, solution: str) -> str:
    """The SCORE refiner's input: `refiner_target`'s text (first wrong step, Correction:, solution) follows."""
    return f"{QUESTION}{question}\n{SOLUTION}\n{solution}\n{REVIEW}"


def verify_prompt(question: str, solution: str) -> str:
    """A prompted verifier's call: it checks the solution step by step (`Step i:` / `Feedback:` blocks, as a
    critique without a reference), then writes `Verdict: correct` or `Verdict: incorrect` (`read_verdict`)."""
    return f"{classifier_input(question, solution)}\n{CRITIQUE}"


def classifier_input(question: str, solution: str) -> str:
    """The question and the solution: what the sequence-classifier verifier reads."""
    return f"{QUESTION}{question}\n{SOLUTION}\n{solution}"


_VERDICT_RE = re.compile(rf"^\s*{re.escape(VERDICT)}\s*({VERDICTS[True]}|{VERDICTS[False]})\b", re.M)


def read_verdict(text: str) -> bool | None:
    """A prompted verifier's output: True for `Verdict: incorrect` (it flags the solution), False for `Verdict:
    correct`, None when there is no verdict line (the caller decides what an unreadable verdict means)."""
    m = _VERDICT_RE.search(text)
    return None if m is None else m.group(1) == VERDICTS[False]
