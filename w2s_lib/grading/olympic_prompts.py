"""OlympicArena records and prompts: the fields of a record (HF row or Record), its gold list, and the prompt
the release builds for it (`hf_prompt`, `build_prompt`, `prompt_fields`). The judge is in w2s_lib.grading.olympic."""
from __future__ import annotations

import json
import re
from typing import Any

ANSWER_TYPES = ("SC", "MC", "TF", "NV", "SET", "IN", "EX", "EQ", "TUP", "MPV", "MA")
MULTI_TYPES = ("MPV", "MA")

# ---------------------------------------------------------------------------------------------- records


def record_field(record: Any, key: str, default: Any = None) -> Any:
    """A field of a Record-like object or a dict: top level first, then meta."""
    if isinstance(record, dict):
        if record.get(key) is not None:
            return record[key]
        meta = record.get("meta") or {}
    else:
        try:
            value = getattr(record, key)
        except AttributeError:
            value = None
        if value is not None and key != "meta":
            return value
        meta = getattr(record, "meta", None) or {}
    value = meta.get(key) if isinstance(meta, dict) else None
    return default if value is None else value


def gold_list(record: Any) -> list[str]:
    """The gold answers as a list of strings ([] if the record has none)."""
    ans = record_field(record, "answer")
    if ans is None:
        return []
    if isinstance(ans, str):
        if ans.startswith("["):
            try:
                value = json.loads(ans)
            except json.JSONDecodeError:
                return [ans]
            if isinstance(value, list):
                return [str(v) for v in value]
        return [ans]
    return [str(a) for a in ans]


def _as_list(value: Any) -> list[str]:
    """unit / answer_sequence / type_sequence may be None, a list, a JSON list string or a single string."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        if value.startswith("["):
            try:
                parsed = json.loads(value)
                if isinstance(parsed, list):
                    return [str(v) for v in parsed]
            except json.JSONDecodeError:
                pass
        return [value]
    return [str(v) for v in value]


# ---------------------------------------------------------------------------------------------- prompts

TYPE_DESCRIPTION = {
    "SC": "This is a multiple choice question (only one correct answer).",
    "MC": "This is a multiple choice question (more than one correct answer).",
    "TF": "This is a True or False question.",
    "NV": "The answer to this question is a numerical value.",
    "SET": "The answer to this question is a set.",
    "IN": "The answer to this question is a range interval.",  # INFERRED (paper, Table 10)
    "EX": "The answer to this question is an expression.",
    "EQ": "The answer to this question is an equation.",
    "TUP": "The answer to this question is a tuple.",
    "MPV": "This question involves multiple quantities to be determined.",  # INFERRED (paper, Table 10)
    "MA": "This question has more than one correct answer, you need to include them all.",
}
# Names used in "Their answer types are, in order, [...]": only "numerical value" is attested.
TYPE_NAME = {"NV": "numerical value", "EX": "expression", "EQ": "equation", "IN": "range interval",
             "TUP": "tuple", "SET": "set", "TF": "True or False", "SC": "single choice", "MC": "multiple choice"}
_END_ONE = 'Please end your response with: "The final answer is $\\boxed{ANSWER}$", where ANSWER '
_END_MANY = ('Please end your response with: "The final answers are \\boxed{ANSWER}", where ANSWER should be the '
             "sequence of your final answers, separated by commas, for example: 5, 7, 2.5")
_FORMAT = {
    "TF": _END_ONE + 'should be either "True" or "False".',
    "SET": _END_ONE + "is the set of all distinct answers, e.g. ANSWER={3, 4, 5}",
    "IN": _END_ONE + "is an interval, e.g. ANSWER=(1, 2] \\cup [7, +\\infty)",  # INFERRED
    "EX": _END_ONE + "is an expression without equals signs, e.g. ANSWER=\\frac{1}{2} g t^2",
    "EQ": _END_ONE + "is an equation, e.g. ANSWER=\\frac{x^2}{4}+\\frac{y^2}{2}=1",
    "TUP": _END_ONE + "is a tuple, e.g. ANSWER=(3, 5)",
    "MPV": _END_MANY,
    "MA": _END_MANY,
}
_LATEX_LINE = "All mathematical formulas and symbols you output should be represented with LaTeX!"
_CONTEXT_LINE = "Here is some context information for this question, which might assist you in solving it:"
_OPTION = re.compile(r"^([A-Z]): ", re.MULTILINE)


def option_letters(problem: str) -> list[str]:
    """The option letters of a multiple-choice problem: the last run of "A: ...", "B: ..." lines.

    (A problem text may contain earlier "X: " lines, e.g. a list of statements; the options come last.)"""
    found = _OPTION.findall(problem)
    if "A" not in found:
        return found
    start = len(found) - 1 - found[::-1].index("A")
    return found[start:]


def hf_prompt(record: Any) -> str:
    """The HF-style prompt (with "\\n\\nproblem:\\n") for a record: its own `prompt` field when present,
    otherwise rebuilt from subject, answer_type, problem, unit, answer_sequence, type_sequence (+ context)."""
    given = record_field(record, "prompt")
    if given:
        return given
    subject = record_field(record, "subject")
    atype = record_field(record, "answer_type")
    problem = record_field(record, "problem") or record_field(record, "question")
    if not subject or atype not in TYPE_DESCRIPTION or problem is None:
        rid = record_field(record, "id", "?")
        raise ValueError(f"OlympicArena record {rid}: need subject, answer_type (one of {ANSWER_TYPES}) and "
                         f"problem to build a prompt; got subject={subject!r}, answer_type={atype!r}")
    head = (f"You are participating in an international {subject} competition and need to solve the "
            f"following question.\n{TYPE_DESCRIPTION[atype]}")
    context = record_field(record, "context")
    if context:
        head += f"\n{_CONTEXT_LINE}\n{context}"
    units = _as_list(record_field(record, "unit"))
    tail = [] if atype in ("SC", "MC", "TF") else [_LATEX_LINE]
    tail.append("You can solve it step by step.")
    if atype in MULTI_TYPES:
        if atype == "MPV":  # INFERRED wording (paper, Table 10)
            names = ", ".join(_as_list(record_field(record, "answer_sequence")))
            tail.append(f"Your final quantities should be output in the following order: [{names}].")
        if any(units):  # INFERRED wording (paper, Table 10)
            tail.append(f"Their units are, in order, [{', '.join(units)}], but units shouldn't be included "
                        "in your concluded answer.")
        types = [TYPE_NAME.get(t, t) for t in _as_list(record_field(record, "type_sequence"))]
        tail.append(f"Their answer types are, in order, [{', '.join(types)}].")
    elif units and units[0]:
        tail.append(f"Remember, your answer should be calculated in the unit of {units[0]}, but when "
                    "concluding your final answer, do not include the unit.")
    if atype in ("SC", "MC"):
        letters = ", ".join(option_letters(problem))
        which = "one of the options" if atype == "SC" else "two or more of the options"
        tail.append(f"{_END_ONE}should be {which}: [{letters}].")
    elif atype == "NV":
        tail.append(_END_ONE + ("is the numerical value without any units." if units and units[0]
                                else "is the numerical value."))
    else:
        tail.append(_FORMAT[atype])
    return f"{head}\n\nproblem:\n{problem}\n\n" + "\n".join(tail)


def build_prompt(record: Any) -> str:
    """The prompt as the weak-to-strong release fed it to the models (its `content` field)."""
    return hf_prompt(record).replace("\n\nproblem:\n", "\n\nQuestion: ") + "\n\nAnswer:"


_TYPE_OF_DESCRIPTION = {v: k for k, v in TYPE_DESCRIPTION.items()}
_TYPE_OF_NAME = {v: k for k, v in TYPE_NAME.items()}


def prompt_fields(content: str) -> dict:
    """The fields a release prompt (`build_prompt` output) shows: subject, answer_type, problem, context, unit,
    type_sequence (MA/MPV), answer_sequence (MPV). build_prompt(prompt_fields(c)) == c for every prompt of
    the release. Raises ValueError on text that is not such a prompt."""
    try:
        head, rest = content.split("\n\nQuestion: ", 1)
        lines = head.split("\n")
        subject = re.match(r"You are participating in an international (\w+) competition", lines[0]).group(1)
        atype = _TYPE_OF_DESCRIPTION[lines[1]]
        m = re.search(r"\n\n(All mathematical formulas|You can solve it step by step)", rest)
        problem, tail = rest[: m.start()], rest[m.start():]
    except (ValueError, AttributeError, KeyError, IndexError):
        raise ValueError(f"not an OlympicArena release prompt: {content[:120]!r}...") from None
    context = None
    if len(lines) > 2:
        if lines[2] != _CONTEXT_LINE:
            raise ValueError(f"unexpected third header line in prompt: {lines[2][:80]!r}")
        context = "\n".join(lines[3:])
    unit = re.search(r"Remember, your answer should be calculated in the unit of (.*), but when concluding", tail)
    units = re.search(r"Their units are, in order, \[(.*)\], but units", tail)
    types = re.search(r"Their answer types are, in order, \[(.*)\]\.", tail)
    order = re.search(r"Your final quantities should be output in the following order: \[(.*)\]\.", tail)
    return {
        "subject": subject, "answer_type": atype, "problem": problem, "context": context,
        "unit": unit.group(1) if unit else (units.group(1).split(", ") if units else None),
        "type_sequence": [_TYPE_OF_NAME.get(t, t) for t in types.group(1).split(", ")] if types else None,
        "answer_sequence": order.group(1).split(", ") if order else None,
    }
