"""Prompt formats of the paper's release (zero-shot and few-shot) and the stop strings that go with them.

The release's training files hold prompts `Question: {question}\\nAnswer:` and responses after them; every model
in the pipeline (weak SFT, strong ICL, Stage I/II) reads exactly these strings, so they live in one place:

    zero_shot("What is 2+3?")          -> "Question: What is 2+3?\\nAnswer:"
    completion("2+3 = 5. #### 5")       -> " 2+3 = 5. #### 5"        (the response follows a space)
    few_shot([(q1, a1), (q2, a2)], q)  -> "Question: q1\\nAnswer: a1\\n\\nQuestion: q2\\nAnswer: a2\\n\\nQuestion: q\\nAnswer:"

Demos are joined by a blank line, so a model that keeps going after its answer starts a new block with "\\n\\n";
`STOP` cuts the completion there. Responses themselves may span several lines (GSM8K solutions do) but never
contain a blank line.
"""
from __future__ import annotations

from typing import Iterable, Sequence

QUESTION_PREFIX = "Question: "
ANSWER_PREFIX = "Answer:"
DEMO_SEPARATOR = "\n\n"

# Generation stops at the first of these (in the completion text only; the text returned ends before it).
# "\n\n" ends a few-shot block; "\nQuestion:" catches a model that starts a new question after one newline.
STOP: tuple[str, ...] = ("\n\n", "\nQuestion:")


def zero_shot(question: str) -> str:
    """`Question: {question}\\nAnswer:` (no trailing space: the response starts with one)."""
    return f"{QUESTION_PREFIX}{question}\n{ANSWER_PREFIX}"


def completion(response: str) -> str:
    """The training target that follows a prompt: the response after a single space."""
    return " " + response.lstrip(" ")


def demo(question: str, response: str) -> str:
    """One solved example: `Question: ...\\nAnswer: ...`."""
    return zero_shot(question) + completion(response)


def few_shot(demos: Iterable[tuple[str, str]], question: str) -> str:
    """Solved demos (question, response), each `Question: ...\\nAnswer: ...`, blank-line separated, then the target."""
    blocks = [demo(q, r) for q, r in demos]
    blocks.append(zero_shot(question))
    return DEMO_SEPARATOR.join(blocks)


def truncate_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """Cut `text` at the earliest occurrence of any stop string. Returns (text, whether a stop string was found)."""
    if not stop:
        return text, False
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


CLEANUPS = ("strip", "release")


def clean_response(text: str, cleanup: str = "strip") -> str:
    """A generated completion as a response: the leading space of the format and trailing whitespace removed;
    `cleanup="release"` also strips dots at both ends, as the paper's release did (`.strip().strip(".")`)."""
    if cleanup not in CLEANUPS:
        raise ValueError(f"generation.cleanup must be one of {CLEANUPS}, got {cleanup!r}")
    return text.strip().strip(".") if cleanup == "release" else text.strip()
