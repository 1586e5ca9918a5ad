"""Find the final answer in a model output (the extraction half of `w2s_lib.grading`).

The outputs we grade come in a few house styles, all seen in the paper's release:

    GSM8K    "...\n#### 72"                                  (the weak model's fine-tuning format)
    MATH     "... $x=\\boxed{6}$. The answer is: 6"           (boxed, then "The answer is:")
    Olympic  "... The final answer is $\\boxed{3}$"
    any      a bare answer, e.g. "72" or "\\frac{1}{2}"

Precedence: every marker (`####`, "answer is", the last `\\boxed{}` / `\\fbox{}`) is located, and the one that
starts *last* in the text wins, because a model states its final answer at the end. When an "answer is" line
itself contains a `\\boxed{}`, the box content is used. Text after a runaway "Question:" (the model starts
inventing the next exercise) is ignored, as the official grader does.
"""
from __future__ import annotations

import re

# A model that keeps generating starts a new "Question:" block; everything from there on is not its answer.
_RUNAWAY = re.compile(r"Question\s*:")
_HASHES = re.compile(r"####[ \t]*([^\n]*)")
# "The answer is: 24", "The final answer is $\boxed{3}$", "the answer is 5."
_ANSWER_IS = re.compile(r"(?:final\s+)?answer\s+is\s*:?[ \t]*", re.IGNORECASE)
_BOX = re.compile(r"\\(?:boxed|fbox)\b")
# Prose words (two letters or more, not a LaTeX command): a bare answer has few of them.
_PROSE_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """The content of the brace group opening at text[start] == '{' and the index after it, or None."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif c == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    return None  # unbalanced: a truncated output


def boxed_spans(text: str) -> list[tuple[int, str]]:
    """(start, content) of every complete `\\boxed{...}` / `\\fbox{...}` (also `\\boxed 5`) in text."""
    spans = []
    for m in _BOX.finditer(text):
        j = m.end()
        while j < len(text) and text[j] == " ":
            j += 1
        if j < len(text) and text[j] == "{":
            got = _braced(text, j)
            if got is not None:
                spans.append((m.start(), got[0]))
        elif m.end() < len(text) and text[m.end()] == " ":
            # "\boxed 5": the argument is the next token
            tok = re.match(r"\s*([^\s$]+)", text[m.end():])
            if tok:
                spans.append((m.start(), tok.group(1)))
    return spans


def last_boxed(text: str) -> str | None:
    """Content of the last complete \\boxed{}/\\fbox{} in text, or None."""
    spans = boxed_spans(text)
    return spans[-1][1] if spans else None


def _clean_tail(ans: str) -> str:
    """Trim what follows an answer on its line: surrounding `$`, a final period, stray spaces."""
    ans = ans.replace("</s>", "").strip()
    box = last_boxed(ans)
    if box is not None:
        return box.strip()
    # "The answer is 3. Then ..." -> "3": a sentence ends at a period followed by a space (not "3.5")
    ans = re.split(r"\.\s", ans, maxsplit=1)[0]
    ans = ans.rstrip(" .")
    # "$\frac{1}{2}$." -> "\frac{1}{2}"; keep inner `\$` (currency) for the normaliser.
    if ans.startswith("$") and ans.endswith("$") and not ans.endswith("\\$") and len(ans) >= 2:
        ans = ans.strip("$").strip()
    return ans.rstrip(" .").strip()


def _is_bare_answer(text: str) -> bool:
    """A string with no answer marker is taken as a bare answer only if it looks like one: one line, little prose."""
    if not text or "\n" in text or len(text) > 200:
        return False
    prose = [w for w in _PROSE_WORD.findall(re.sub(r"\\text\{[^{}]*\}", " ", text))]
    return len(prose) <= 3


def truncate_runaway(response: str) -> str:
    """The response up to a runaway 'Question:' (a model that starts writing the next exercise)."""
    m = _RUNAWAY.search(response)
    return response[: m.start()] if m else response


def extract_answer(response: str) -> str:
    """The final answer of a full model output or of a bare answer; "" when there is none.

    Handles `#### N`, `The answer is: X` / `The answer is X`, `The final answer is $\\boxed{X}$`, the last
    `\\boxed{...}` / `\\fbox{...}` (nested braces), and ignores text after a runaway "Question:". The marker
    that appears last wins. A string without any marker is returned stripped if it looks like a bare answer
    (one line, at most three prose words), else "" (e.g. a run-on output that never concluded).
    """
    if not response:
        return ""
    text = truncate_runaway(response.replace("</s>", ""))
    candidates: list[tuple[int, str]] = []  # (position, answer)
    m = None
    for m in _HASHES.finditer(text):
        pass
    if m is not None:
        candidates.append((m.start(), _clean_tail(m.group(1))))
    m = None
    for m in _ANSWER_IS.finditer(text):  # the last marker, even when two share a line
        pass
    if m is not None:
        eol = text.find("\n", m.end())
        tail = text[m.end() : eol if eol >= 0 else len(text)]
        if not tail.strip():
            # "The answer is:\n$5$": the answer sits on the next non-empty line
            rest = [ln for ln in text[m.end():].split("\n") if ln.strip()]
            tail = rest[0] if rest else ""
        candidates.append((m.start(), _clean_tail(tail)))
    spans = boxed_spans(text)
    if spans:
        candidates.append((spans[-1][0], spans[-1][1].strip()))
    if candidates:
        # The last marker wins; an "answer is" line that contains the last box starts earlier but gives the
        # same content, because _clean_tail prefers the box on that line.
        return max(candidates, key=lambda c: c[0])[1]
    bare = text.strip()
    return _clean_tail(bare) if _is_bare_answer(bare) else ""
