"""OlympicArena's own judge (GAIR-NLP/OlympicArena, `code/judge.py`, `Judger.auto_judge` as `code/evaluation.py`
calls it), re-implemented rule for rule: the `official` grader for OlympicArena. Our default judge, with the
differences listed, is `w2s_lib.grading.olympic`.

    official_olympic_pred(response)         FIRST \\boxed{} content, normalised ('' when there is none)
    judge_official(response, record)        auto_judge(response, gold, type_sequence)

The rules (evaluation.py passes the gold list, or its only element when it has one, and `type_sequence`):
- The prediction is the content of the FIRST `\\boxed{`, brace-matched, normalised (`\\left`/`\\right` and `$`
  removed, `\\approx`/`\\sim` -> `=`, `^\\circ` and `%` removed, `\\mathrm{}`/`\\mathbf{}`/`\\text{}`/`\\textbf{}`
  unwrapped, `\\fracab` / `\\sqrta` expanded). Without a box the whole response is normalised and judged.
- With a type_sequence: the ordered multi-part check (MPV) and then the unordered one (MA); either may pass.
- Without one: SC, MC, TF, NV, SET, IN, EX, EQ, TUP are tried in turn and the first that says yes wins, each
  under a 5-second alarm; an exception in a check is "no".
- NV: equal strings; else |float(p) - float(g)| <= 1e-5 * 1.01 (absolute); else the same on sympy values of
  `parse_latex`, and the scientific-notation rule (equal exponents, mantissas within 0.1 * 1.01 at 3 significant
  figures).
- SET: split on top-level commas (braces are not removed), equal length, each gold element matched by a
  distinct prediction under NV. TUP: `()` stripped, element-wise NV. MC: letters, order-free, equal count.
- IN: split on `\\cup`, open/closed ends from the brackets, endpoints under EX. EX: right side of `=`, sympy
  equality, else numeric (NV) for constants, else simplify(p - g) ~ 0. EQ: both sides parsed, simplify(lhs -
  rhs) compared, or an integer multiple of each other.

A timeout (SIGALRM, main thread only; elsewhere no limit) is a "no", as in the original.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from .official import _alarm

__all__ = ["normalize_answer", "extract_boxed", "official_olympic_pred", "auto_judge", "judge_official",
           "JUDGE_TIMEOUT"]

JUDGE_TIMEOUT = 5.0
_LETTERS = [chr(i) for i in range(65, 91)]
_SIGNALS = (("\\left", ""), ("\\right", ""), ("∶", ":"), ("，", ","), ("$", ""), ("\\approx", "="),
            ("\\simeq", "="), ("\\sim", "="), ("^\\prime", "'"), ("^{\\prime}", "'"), ("^\\circ", ""), ("%", ""))


def normalize_answer(s: str) -> str:
    for a, b in _SIGNALS:
        s = s.replace(a, b)
    s = re.sub(r"\\(?:mathrm|mathbf)\{~?([^}]*)\}", "\\1", s)
    s = re.sub(r"(\\text\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", s)
    s = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", s)
    return s.strip().strip("$").strip()


def extract_boxed(text: str) -> str:
    """Content of the first `\\boxed{`, normalised; the text itself when there is no (closed, non-empty) box."""
    m = re.search(r"\\boxed{", text)
    if m:
        i = end = m.end()
        depth = 1
        while depth > 0 and end < len(text):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        if depth == 0:
            content = text[i:end - 1]
            return normalize_answer(content) if content else text
    return text


def official_olympic_pred(response: str) -> str:
    """The normalised first-box answer ('' when the response has no `\\boxed{}`): the string the official
    comparator compares on OlympicArena."""
    if "\\boxed{" not in (response or ""):
        return ""
    return normalize_answer(extract_boxed(response))


def split_by_comma(expr: str) -> list[str]:
    depth, out, start = 0, [], 0
    for i, ch in enumerate(expr):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(expr[start:i].strip())
            start = i + 1
    if start < len(expr):
        out.append(expr[start:].strip())
    return [x.strip("$").strip() for x in out]


def _parse(s: Any):
    from sympy.parsing.latex import parse_latex
    return parse_latex(s)


def _sc(pred: str, gold: str) -> bool:
    if pred == gold:
        return True
    if pred.startswith("[") and pred.endswith("]"):
        pred = pred.strip("[]")
    return pred[0] == gold if pred[0] in _LETTERS and len(pred) > 1 and pred[1] == ":" else False


def _mc(pred: str, gold: Sequence[str]) -> bool:
    if pred.startswith("[") and pred.endswith("]"):
        pred = pred.strip("[]")
    items = split_by_comma(pred)
    if len(items) != len(gold):
        return False
    if all(x in _LETTERS for x in items):
        return set(items) == set(gold)
    found = [next((c for c in x if c in _LETTERS), None) for x in items]
    return {c for c in found if c} == set(gold)


def _tf(pred: str, gold: str) -> bool:
    assert gold in ("True", "False")
    return pred in ("True", "False") and pred == gold


def _is_sci(e) -> bool:
    from sympy import Mul, Pow
    return isinstance(e, Mul) and isinstance(e.args[1], Pow) and e.args[1].args[0] == 10


def _sci_latex(x: float) -> str:
    base, exp = f"{x:.2e}".split("e")
    return f"{base}\\times 10^{{{int(exp)}}}"


def _nv(pred: Any, gold: Any) -> bool:
    from sympy import N
    if pred == gold:
        return True
    try:
        if abs(float(pred) - float(gold)) <= 1e-5 * 1.01:
            return True
    except Exception:
        pass
    try:
        ep, eg = _parse(pred), _parse(gold)
        if abs(N(ep) - N(eg)) <= 1e-5 * 1.01:
            return True
        if _is_sci(ep) != _is_sci(eg):
            if _is_sci(ep):
                eg = _parse(_sci_latex(float(gold)))
            else:
                ep = _parse(_sci_latex(float(pred)))
        if _is_sci(ep) and _is_sci(eg):
            bp, xp = N(ep.args[0]), N(ep.args[1].args[1])
            bg, xg = N(eg.args[0]), N(eg.args[1].args[1])
            if xp == xg and abs(bp - bg) <= 0.1 * 1.01:
                return True
        elif N(ep) == N(eg):
            return True
    except Exception:
        pass
    return False


def _set(pred: str, gold: Sequence[str]) -> bool:
    items = split_by_comma(pred)
    assert isinstance(gold, list)
    if len(items) != len(gold):
        return False
    for g in gold:
        hit = next((p for p in items if _nv(p, g)), None)
        if hit is None:
            return False
        items.remove(hit)
    return True


def _intervals(s: str) -> list[tuple[tuple[str, ...], str]]:
    out = []
    for part in s.split("\\cup"):
        b = part.strip()
        kind = ("open_left" if b.startswith("(") else "closed_left") + \
               ("_open_right" if b.endswith(")") else "_closed_right")
        out.append((tuple(b.strip("()[]").split(",")), kind))
    return out


def _in(pred: str, gold: str) -> bool:
    a, b = _intervals(pred), _intervals(gold)
    if len(a) != len(b):
        return False
    for nums1, kind1 in a:
        hit = None
        for item in b:
            nums2, kind2 = item
            if kind1 == kind2 and _ex(nums1[0], nums2[0]) and _ex(nums1[1], nums2[1]):
                hit = item
                break
        if hit is None:
            return False
        b.remove(hit)
    return True


def _ex(pred: str, gold: str) -> bool:
    import sympy as sp

    def rhs(e: str) -> str:
        return (e.split("=")[1] if "=" in e else e).strip()

    e1, e2 = sp.sympify(_parse(rhs(pred))), sp.sympify(_parse(rhs(gold)))
    if e1 == e2:
        return True
    h1, h2 = e1.has(sp.Symbol), e2.has(sp.Symbol)
    if h1 != h2:
        return False
    if not h1:
        try:
            return _nv(e1, e2)
        except Exception:
            return False
    try:
        flag = abs(sp.simplify(e1 - e2).evalf()) < 1e-5
        assert type(flag) is bool
        return flag
    except Exception:
        return False


def _eq(pred: str, gold: str) -> bool:
    import sympy as sp

    def reduced(latex_eq: str):
        lhs, rhs = latex_eq.split("=")
        eq = sp.Eq(_parse(lhs), _parse(rhs))
        return sp.simplify(eq.lhs - eq.rhs)
    try:
        a, b = reduced(pred), reduced(gold)
        if sp.simplify(a - b) == 0:
            return True
        r1, r2 = sp.simplify(a / b), sp.simplify(b / a)
        return bool((r1.is_Integer and r1 != 0) or (r2.is_Integer and r2 != 0))
    except Exception:
        return False


def _tup(pred: str, gold: str) -> bool:
    p, g = split_by_comma(pred.strip("()")), split_by_comma(gold.strip("()"))
    return len(p) == len(g) and all(_nv(x, y) for x, y in zip(p, g))


_METHODS = {"SC": _sc, "MC": _mc, "TF": _tf, "NV": _nv, "SET": _set, "IN": _in, "EX": _ex, "EQ": _eq,
            "TUP": _tup}


def _mpv(pred: str, gold: Sequence[str], types: Sequence[str]) -> bool:
    p = [normalize_answer(x) for x in split_by_comma(pred)]
    g = [normalize_answer(x) for x in gold]
    return len(p) == len(g) and all(_METHODS[types[i]](p[i], g[i]) for i in range(len(p)))


def _ma(pred: str, gold: Sequence[str], types: Sequence[str]) -> bool:
    p = [normalize_answer(x) for x in split_by_comma(pred)]
    g = [normalize_answer(x) for x in gold]
    if len(p) != len(g):
        return False
    used = [False] * len(p)
    for i, gi in enumerate(g):
        for j, pj in enumerate(p):
            if used[j]:
                continue
            try:
                ok = _METHODS[types[i]](pj, gi)
            except Exception:
                ok = False
            if ok:
                used[j] = True
                break
        else:
            return False
    return True


def _timed(fn, *args, timeout: float) -> bool:
    try:
        with _alarm(timeout):
            return bool(fn(*args))
    except Exception:       # TimeoutError, and every error a check raises: the original's bare except
        return False


def auto_judge(response: str, gold: str | list[str], type_sequence: Sequence[str] | None = None, *,
               timeout: float = JUDGE_TIMEOUT) -> bool:
    """OlympicArena's `Judger.auto_judge(pred, gold, type_sequence)`."""
    pred = normalize_answer(extract_boxed(response or ""))
    if isinstance(gold, str):
        gold = normalize_answer(gold)
    if not pred:
        return False
    if type_sequence:
        return _timed(_mpv, pred, gold, type_sequence, timeout=timeout) or \
            _timed(_ma, pred, gold, type_sequence, timeout=timeout)
    return any(_timed(_METHODS[t], pred, gold, timeout=timeout)
               for t in ("SC", "MC", "TF", "NV", "SET", "IN", "EX", "EQ", "TUP"))


def judge_official(response: str, record: Any, *, timeout: float = JUDGE_TIMEOUT) -> bool:
    """The official verdict for an OlympicArena record (Record, HF row dict, or anything with .answer/.meta):
    the gold list (its only element when it has one) and the record's type_sequence, as evaluation.py does."""
    from .olympic import _as_list, gold_list, record_field
    gold: str | list[str] = gold_list(record)
    if len(gold) == 1:
        gold = gold[0]
    types = _as_list(record_field(record, "type_sequence"))
    return auto_judge(response, gold, types or None, timeout=timeout)
