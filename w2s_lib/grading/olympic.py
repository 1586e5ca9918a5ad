"""OlympicArena: the prompt for each answer type, and a judge for every answer type in the English text-only data.

    build_prompt(record) -> str        the prompt the paper's release fed the models (see below)
    judge(response, record) -> bool    is the response's final answer correct for this record?
    judge_batch(responses, records)    the same over many rows (progress bar)
    final_answer(response, type)       the answer string the judge reads

A record is a `w2s_lib.run.records.Record` (id, question, solution, answer, meta), or any object with `.answer`
and `.meta`, or a dict in the HF row schema (answer, answer_type, unit, answer_sequence, type_sequence,
subject, problem, prompt). The gold `answer` is a list of strings (HF), a JSON string of that list (Record),
or a single string.

Prompts. HF rows carry a ready `prompt`; the weak-to-strong release rewrote it as
`prompt.replace('\\n\\nproblem:\\n', '\\n\\nQuestion: ') + '\\n\\nAnswer:'`, and `build_prompt` does exactly that
when the record has it. Without it, the prompt is rebuilt from the fields with the templates below, which
reproduce all 1,629 distinct prompts of the release (tests/test_olympic_real.py) for SC, MC, TF, NV (with and
without a unit), SET, EX, EQ, TUP and MA. IN and MPV, and units on non-NV types, never occur in that data:
their wording follows the OlympicArena paper's Table 10 in the same style and is marked INFERRED below.

Judging: what the official code does (GAIR-NLP/OlympicArena, code/judge.py, `Judger.auto_judge` as called by
code/evaluation.py), and what we do instead:
- Answer: official takes the FIRST `\\boxed{}`; models box intermediate results, so we take the LAST one (for
  multi-answer types, all boxes on that last line, joined by commas), else "The final answer is X".
- Numbers (NV and every numeric element of SET/TUP/MPV/MA): official accepts |pred - gold| <= 1e-5 * 1.01,
  an ABSOLUTE tolerance, so 1e-7 and 2e-7 are "equal" and 6.63e-34 matches 1e-34. We use the same value as a
  RELATIVE tolerance, NV_REL_TOL = 1.01e-5, except that an integer gold needs the exact value. The paper's estimation rule
  is kept: when either side is written in scientific notation, both are rounded to 3 significant figures
  (official `f"{x:.2e}"`) and equal exponents with mantissas within 0.1 * 1.01 are accepted.
  Exact/symbolic equality (w2s_lib.grading.answers.answers_match) is tried first, so `\\sqrt{5/\\pi}` =
  `\\sqrt{\\frac{5}{\\pi}}`.
- SC/MC: official needs the bare letter (SC) or comma-separated letters (MC); `AC`, `(A)`, `\\text{A}`, `A, C`
  all fail there in some way. We read the option letters out of any of those spellings (MC order-free).
- TF: official needs exactly "True"/"False"; we compare case-insensitively.
- SET: official splits the prediction on commas without removing the braces, so `{3, 4, 5}` never matches;
  and a one-element gold list (passed as a string) crashes its set judge. We strip `\\{ \\}` / `{ }` and
  compare as sets (duplicates in the prediction are merged).
- TUP: ordered, element-wise numeric/symbolic. IN: unions in any order, brackets must match exactly,
  endpoints compared symbolically (`+\\infty` = `\\infty`). EX: a leading `name =` is dropped when the gold has
  no `=` (as official); expressions compared with sympy (math-verify), with the numeric tolerance when both
  are constants. EQ: both must be equations; `k(lhs - rhs)` is the same equation (math-verify's rule).
- MPV vs MA order: the paper says MPV answers are judged "strictly in the order specified in the prompt"
  (answer_sequence) and MA answers may come in any order. The official code, however, tries its ordered MPV
  check AND its unordered MA check for every row with a type_sequence, so in practice it never enforces order.
  We follow the paper: MPV is ordered (element i against gold i, judged by type_sequence[i]); MA is an
  unordered one-to-one matching (each gold i, judged by type_sequence[i], needs its own prediction).
- Missing answer_type: like official auto_judge, try every single-answer type (or MPV then MA when the record
  has a type_sequence).
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence

from w2s_lib.grading.answers import DEFAULT_TIMEOUT, answers_match, equations_match
from w2s_lib.grading.extract import boxed_spans, extract_answer
from w2s_lib.grading.normalize import clean_latex, normalize, parse_number
from w2s_lib.grading.numeric import approx_value
# records and prompts live in olympic_prompts; imported here too, where notebook 05 and the tests find them
from w2s_lib.grading.olympic_prompts import (ANSWER_TYPES, MULTI_TYPES, TYPE_DESCRIPTION, _as_list,  # noqa: F401
                                             build_prompt, gold_list, hf_prompt, option_letters, prompt_fields,
                                             record_field)


__all__ = [
    "ANSWER_TYPES",
    "NV_REL_TOL",
    "build_prompt",
    "hf_prompt",
    "prompt_fields",
    "judge",
    "judge_batch",
    "answers_agree",
    "final_answer",
    "gold_list",
    "record_field",
]


# The official judge's 1e-5 (with its 1.01 slack), applied relatively (see module docstring).
NV_REL_TOL = 1.01e-5
# Official scientific-notation rule: equal exponents, mantissas (3 significant figures) within 0.1 * 1.01.
SCI_MANTISSA_TOL = 0.1 * 1.01


# ---------------------------------------------------------------------------------------------- extraction

# A model continuing past its answer into a new exercise (few-shot prompts show whole exercises).
_RUNAWAY = re.compile(r"\n\s*(?:Question:|You are participating in an international)")


def final_answer(response: str, answer_type: str | None = None) -> str:
    """The answer the judge reads: the last \\boxed{} (all boxes on that line, comma-joined, for multi-answer
    types and MC), else "The final answer is X" / "The final answers are X" / a bare answer; "" if none."""
    if not response:
        return ""
    m = _RUNAWAY.search(response)
    text = response[: m.start()] if m else response
    spans = boxed_spans(text)
    if spans:
        last_pos, last = spans[-1]
        if answer_type in ("MPV", "MA", "MC", "SET"):
            line_start = text.rfind("\n", 0, last_pos) + 1
            same_line = [c for p, c in spans if p >= line_start]
            if len(same_line) > 1:
                return ", ".join(c.strip() for c in same_line)
        return last.strip()
    m = None
    for m in re.finditer(r"final answers? (?:is|are)\s*:?\s*", text, re.IGNORECASE):
        pass
    if m is not None:
        line = text[m.end():].split("\n", 1)[0].strip().rstrip(".").strip()
        return line.strip("$").strip()
    return extract_answer(text)


# ---------------------------------------------------------------------------------------------- pieces

def _split_top(s: str) -> list[str]:
    """Split on commas (and semicolons) outside (), [], {}."""
    parts, depth, cur = [], 0, []
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c in ",;" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return [p.strip().strip("$").strip() for p in parts if p.strip()]


def _strip_outer(s: str, pairs: Iterable[tuple[str, str]]) -> str:
    s = s.strip()
    for left, right in pairs:
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            return s[len(left): len(s) - len(right)].strip()
    return s


def _plain(s: str) -> str:
    """Remove LaTeX text wrappers and math delimiters, for letters and True/False."""
    s = re.sub(r"\\(?:text|textbf|mathrm|mathbf|textit)\s*\{([^{}]*)\}", r"\1", s)
    return s.replace("$", "").replace("\\", "").strip()


def _letters(s: str) -> list[str]:
    """Option letters in an answer: "A", "(A)", "\\text{A}", "A: text", "AC", "A, C", "A and C", "(A)(C)"."""
    t = _plain(s)
    m = re.match(r"^\(?([A-Z])\)?\s*[:.)]\s+\S", t)  # "A: The frequency ..." / "C. 34"
    if m:
        return [m.group(1)]
    t = re.sub(r"\band\b|[\s,;()\[\]{}]", "", t)
    return list(t) if re.fullmatch(r"[A-Z]+", t) else []


_SCI_WRITTEN = re.compile(r"(?:\\times|\\cdot|\*|×)\s*10\s*\^|\d[eE][-+]?\d")
_UNIT_TAIL = re.compile(r"^(?:\s|~|\\,|\\;|\\!|\\ |/|\\cdot|\\circ|%|\^\{?-?\d+\}?|[A-Za-zÅ°μΩ]|"
                        r"\\(?:mathrm|text|mathbf|operatorname)\s*\{[^{}]*\}|\\(?:AA|mu|Omega|ohm|degree))*$")
_LEADING_NUMBER = re.compile(
    r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:\s*(?:\\times|\\cdot|\*|×)\s*10\s*\^\s*\{?\s*[-+]?\d+\s*\}?|[eE][-+]?\d+)?)")


def _number(s: str, unit: str | None = None) -> float | None:
    """The value of a numeric answer, tolerating a unit after it (`5 \\mathrm{~m}`, `3.2 \\times 10^{3} J`)."""
    if not s:
        return None
    for text in (s, _drop_unit(s, unit)):
        latex = normalize(text)
        num = parse_number(latex)
        if num is not None:
            return float(num[0])
        v = approx_value(latex)
        if v is not None:
            return v
    m = _LEADING_NUMBER.match(s)
    if m and _UNIT_TAIL.match(s[m.end():]):
        num = parse_number(normalize(m.group(1)))
        if num is not None:
            return float(num[0])
    return None


def _drop_unit(s: str, unit: str | None) -> str:
    if not unit:
        return s
    for u in {unit, unit.strip("$"), clean_latex(unit)}:
        if u and s.rstrip().endswith(u.strip()):
            return s.rstrip()[: -len(u.strip())].rstrip()
    return s


def _is_integer_literal(s: str) -> bool:
    return bool(re.fullmatch(r"[-+]?\d+", normalize(s).replace(",", "")))


def _sci(x: float) -> tuple[float, int]:
    mant, exp = f"{x:.2e}".split("e")
    return float(mant), int(exp)


def _numbers_close(p: float, g: float, pred: str, gold: str) -> bool:
    """Relative tolerance NV_REL_TOL, except that an integer gold needs the exact value (2017.01 != 2017, and
    100001 != 100000); plus the paper's 3-significant-figure rule when either side is in scientific notation."""
    if p == g:
        return True
    sci = bool(_SCI_WRITTEN.search(pred) or _SCI_WRITTEN.search(gold))
    if not _is_integer_literal(gold) and (abs(p - g) <= NV_REL_TOL * abs(g) or (g == 0 and abs(p) <= NV_REL_TOL)):
        return True
    if sci:
        (mp, ep), (mg, eg) = _sci(p), _sci(g)
        return ep == eg and abs(mp - mg) <= SCI_MANTISSA_TOL
    return False


def _rhs(s: str) -> str:
    """The text after the last "=" (official: "v = \\sqrt{2gh}" is read as "\\sqrt{2gh}"); inequalities kept."""
    if "=" in s and not re.search(r"\\(?:le|ge|leq|geq|neq|ne)(?![a-zA-Z])|[<>]", s):
        return s.split("=")[-1].strip()
    return s


def _nv(pred: str, gold: str, unit: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> bool:
    if not pred.strip():
        return False
    pred, gold = _rhs(pred), _rhs(gold)
    p, g = _number(pred, unit), _number(gold, unit)
    if p is not None and g is not None:
        if _numbers_close(p, g, pred, gold):
            return True
        if math.isfinite(p) and math.isfinite(g) and not math.isclose(p, g, rel_tol=1e-6, abs_tol=1e-12):
            return False  # clearly different numbers: no sympy needed
    return answers_match(_drop_unit(pred, unit), gold, timeout=timeout)


def _ex(pred: str, gold: str, unit: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> bool:
    pred, gold = _rhs(_drop_unit(pred, unit)), _rhs(gold)
    if answers_match(pred, gold, timeout=timeout):
        return True
    p, g = approx_value(normalize(pred)), approx_value(normalize(gold))
    return p is not None and g is not None and _numbers_close(p, g, pred, gold)


def _eq(pred: str, gold: str, unit: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> bool:
    return equations_match(pred, gold, timeout=timeout)


_INF = [(r"\+\s*\\infty", r"\\infty"), ("∞", r"\\infty"), (r"\+\s*\\inf\b", r"\\infty"), ("∪", r"\\cup")]


def _intervals(s: str) -> list[tuple[str, str, str, str]] | None:
    """[(open, low, high, close)] of an interval or a union of intervals, None if it is not one."""
    s = clean_latex(s)
    for a, b in _INF:
        s = re.sub(a, b, s)
    s = re.sub(r"^\s*[A-Za-z]\s*\\in\s*", "", s)
    out = []
    for part in re.split(r"\\cup|\bU\b", s):
        part = part.strip()
        if len(part) < 5 or part[0] not in "([" or part[-1] not in ")]":
            return None
        ends = _split_top(part[1:-1])
        if len(ends) != 2:
            return None
        out.append((part[0], ends[0], ends[1], part[-1]))
    return out or None


def _in(pred: str, gold: str, unit: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> bool:
    p, g = _intervals(pred), _intervals(gold)
    if p is None or g is None or len(p) != len(g):
        return False

    def same(x, y) -> bool:
        return (x[0], x[3]) == (y[0], y[3]) and all(_endpoint(a, b, timeout) for a, b in ((x[1], y[1]), (x[2], y[2])))

    return _one_to_one([lambda q, gi=gi: same(q, gi) for gi in g], p)


def _endpoint(a: str, b: str, timeout: float) -> bool:
    if "\\infty" in a or "\\infty" in b:
        return a.replace(" ", "") == b.replace(" ", "")
    return _nv(a, b, timeout=timeout)


def _elements(s: str) -> list[str]:
    s = _strip_outer(s, [("\\{", "\\}"), ("{", "}")])
    return _split_top(s)


def _set(pred: str, gold_items: Sequence[str], unit: str | None, timeout: float) -> bool:
    golds = list(gold_items)
    if len(golds) == 1 and len(_elements(golds[0])) > 1:
        golds = _elements(golds[0])
    golds = [_strip_outer(g, [("\\{", "\\}"), ("{", "}")]) for g in golds]
    preds: list[str] = []
    for item in _elements(pred):  # a set: merge duplicates ("{3, 3, 4}" is {3, 4})
        if not any(_nv(item, q, unit, timeout) for q in preds):
            preds.append(item)
    if len(preds) != len(golds):
        return False
    return _one_to_one([lambda q, g=g: _nv(q, g, unit, timeout) for g in golds], preds)


def _tup(pred: str, gold_items: Sequence[str], unit: str | None, timeout: float) -> bool:
    gold = gold_items[0] if len(gold_items) == 1 else "(" + ", ".join(gold_items) + ")"
    p = _split_top(_strip_outer(pred, [("(", ")"), ("\\langle", "\\rangle")]))
    g = _split_top(_strip_outer(gold, [("(", ")"), ("\\langle", "\\rangle")]))
    return len(p) == len(g) > 0 and all(_nv(a, b, unit, timeout) for a, b in zip(p, g))


def _one_to_one(gold_tests: Sequence, preds: Sequence) -> bool:
    """True if every gold test can be given its own prediction (bipartite matching, Kuhn's algorithm)."""
    if len(gold_tests) != len(preds):
        return False
    ok = [[bool(t(p)) for p in preds] for t in gold_tests]
    owner = [-1] * len(preds)

    def assign(i: int, seen: set[int]) -> bool:
        for j in range(len(preds)):
            if ok[i][j] and j not in seen:
                seen.add(j)
                if owner[j] < 0 or assign(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return all(assign(i, set()) for i in range(len(gold_tests)))


# ---------------------------------------------------------------------------------------------- judge

def _single(atype: str, pred: str, golds: Sequence[str], unit: str | None, timeout: float) -> bool:
    """One answer of one type against its gold (a list for SET/MC/TUP, one string otherwise)."""
    if not pred or not golds:
        return False
    gold = golds[0]
    if atype == "SC":
        return _letters(pred) == _letters(gold) != []
    if atype == "MC":
        want = sorted({c for g in golds for c in _letters(g)})
        got = _letters(pred) if len(_split_top(pred)) <= 1 else [c for x in _split_top(pred) for c in _letters(x)]
        return bool(want) and len(got) == len(set(got)) and sorted(got) == want
    if atype == "TF":
        return _plain(pred).strip(". ").lower() == _plain(gold).lower() and _plain(gold).lower() in ("true", "false")
    if atype == "SET":
        return _set(pred, golds, unit, timeout)
    if atype == "TUP":
        return _tup(pred, golds, unit, timeout)
    if len(golds) != 1:
        return False
    fn = {"NV": _nv, "EX": _ex, "EQ": _eq, "IN": _in}.get(atype)
    if fn is None:
        raise ValueError(f"unknown OlympicArena answer type {atype!r} (known: {ANSWER_TYPES})")
    return fn(pred, gold, unit, timeout)


def _multi(atype: str, pred: str, golds: Sequence[str], types: Sequence[str], units: Sequence[str],
           timeout: float) -> bool:
    preds = _split_top(pred)
    if len(preds) != len(golds) or not golds:
        return False
    types = list(types) + ["NV"] * (len(golds) - len(types))
    units = list(units) + [""] * (len(golds) - len(units))
    if atype == "MPV":  # ordered, as the paper says (answer_sequence order)
        return all(_single(t, p, [g], u or None, timeout) for t, p, g, u in zip(types, preds, golds, units))
    tests = [lambda p, t=t, g=g, u=u: _single(t, p, [g], u or None, timeout)
             for t, g, u in zip(types, golds, units)]
    return _one_to_one(tests, preds)


def judge(response: str, record: Any, *, answer_type: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """True if the response's final answer is correct for this OlympicArena record (see module docstring)."""
    golds = gold_list(record)
    if not golds:
        rid = record_field(record, "id", "?")
        raise ValueError(f"OlympicArena record {rid}: no gold answer (HF test rows have none)")
    atype = answer_type or record_field(record, "answer_type")
    types = _as_list(record_field(record, "type_sequence"))
    units = _as_list(record_field(record, "unit"))
    if atype is None:  # like official auto_judge: any type that accepts it
        candidates = ["MPV", "MA"] if types else ["SC", "MC", "TF", "NV", "SET", "IN", "EX", "EQ", "TUP"]
        return any(judge(response, record, answer_type=t, timeout=timeout) for t in candidates)
    if atype not in ANSWER_TYPES:
        raise ValueError(f"unknown OlympicArena answer type {atype!r} (known: {ANSWER_TYPES})")
    pred = final_answer(response, atype)
    if not pred:
        return False
    if atype in MULTI_TYPES:
        return _multi(atype, pred, golds, types, units, timeout)
    if atype not in ("MC", "SET", "TUP", "IN") and len(_split_top(pred)) > 1 and len(golds) == 1 \
            and len(_split_top(golds[0])) == 1 and parse_number(normalize(pred)) is None:
        return False  # several answers where one is asked (official rule; "2,017" is one number)
    return _single(atype, pred, golds, units[0] if units else None, timeout)


def answers_agree(response_a: str, response_b: str, record: Any, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Do two responses give the same final answer for this record's answer type? (Stage I agreement between
    the weak and the ICL answer, Stage II majority voting.) The record's gold is never read: response_a's
    answer plays the gold. If neither answer is an option letter on a SC/MC question, they are compared as
    plain answers (both models answered "8.2" to a multiple-choice question: they agree, both are wrong)."""
    atype = record_field(record, "answer_type")
    a = final_answer(response_a, atype)
    if not a:
        return False
    golds = _split_top(a) if atype in ("MC", "MA", "MPV", "SET") and not a.strip().startswith("\\{") else [a]
    fake = {"answer": golds, "answer_type": atype, "unit": record_field(record, "unit"),
            "type_sequence": record_field(record, "type_sequence")}
    if judge(response_b, fake, timeout=timeout):
        return True
    if atype in ("SC", "MC", "TF") and not _letters(a) and _plain(a).lower() not in ("true", "false"):
        return answers_match(a, final_answer(response_b, atype), timeout=timeout)
    return False


def judge_batch(responses: Sequence[str], records: Sequence[Any], *, timeout: float = DEFAULT_TIMEOUT,
                progress: bool = True) -> list[bool]:
    """judge() for every (response, record) pair, with a progress bar."""
    if len(responses) != len(records):
        raise ValueError(f"judge_batch: {len(responses)} responses but {len(records)} records")
    pairs: Iterable = zip(responses, records)
    if progress:
        from tqdm.auto import tqdm

        pairs = tqdm(pairs, total=len(responses), desc="judging", unit="ans")
    return [judge(r, rec, timeout=timeout) for r, rec in pairs]
