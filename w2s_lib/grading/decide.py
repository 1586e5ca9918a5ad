"""Decide equality of two analysed answers by cheap checks (the middle step of `w2s_lib.grading.answers`).

`decide(a, b)` returns True / False when keys, exact numbers, shapes or float values settle the question, and
None when only the symbolic check (math-verify in the worker pool) can. Every "False" here is sound: it is
returned only when the answers differ in kind (a tuple is never a set, a ratio never a number), in exact value,
or in float value at the same point. Floats never make two answers equal, except by the rounding rule of
`normalize.numbers_match`.

Relations against intervals: a one-variable inequality (`x \\geq 2`, `-2 < x \\leq 3`) is compared with an
interval (`[2, \\infty)`) by rewriting it as that interval.
"""
from __future__ import annotations

import math
import re

from w2s_lib.grading.normalize import _GREEK, Parsed, analyze, numbers_match
from w2s_lib.grading.numeric import approx_value

def symbolic_form(p: Parsed, other: Parsed) -> str:
    """The LaTeX to hand to sympy against `other`: an unwrapped assignment goes back to being an equation when
    the other side is an equation (`y = 2x+3` vs `2x - y + 3 = 0`)."""
    return p.equation if p.equation and shape(other) == "relation" else p.latex


def decide(a: Parsed, b: Parsed) -> bool | None:
    """Equality of two analysed answers when cheap checks settle it; None when the symbolic check must decide."""
    if a.kind == "empty" or b.kind == "empty":
        return False
    if a.key == b.key:
        return True
    if a.kind == "long" or b.kind == "long":
        return False  # over MAX_ANSWER_CHARS: only the same string is equal
    if a.kind == "ratio" or b.kind == "ratio":  # 12:00, 3:2, 3:45 p.m.: part by part, never scaled
        if a.kind != b.kind or len(a.items) != len(b.items) or (a.suffix and b.suffix and a.suffix != b.suffix):
            return False
        return all(numbers_match(x.number, y.number) for x, y in zip(a.items, b.items))
    if a.kind == "number" and b.kind == "number":
        return numbers_match(a.number, b.number)
    simple = ("number", "choice", "text")
    if a.kind in simple and b.kind in simple:
        return False  # different letters / words, or a word against a number
    if a.kind == "seq" and b.kind == "seq" and (a.brackets != b.brackets or len(a.items) != len(b.items)):
        return False  # a tuple is never a set, (1,2] never [1,2], and lengths differ
    if a.kind == "seq" and b.kind == "seq" and a.all_numbers and b.all_numbers:
        xs, ys = list(a.items), list(b.items)
        if not a.ordered:
            xs.sort(key=lambda p: p.number[0])
            ys.sort(key=lambda p: p.number[0])
        return all(numbers_match(x.number, y.number) for x, y in zip(xs, ys))
    if (a.kind == "seq") != (b.kind == "seq") and (a.kind in simple or b.kind in simple):
        return False  # a list/tuple never equals a single number, letter or word
    if a.kind in ("choice", "text") or b.kind in ("choice", "text"):
        return False  # a letter or word never equals a formula, list or matrix
    sa, sb = shape(a), shape(b)
    for rel, other in ((a, b), (b, a)):
        if shape(rel) == "relation" and other.kind == "seq" and len(other.items) == 2 and other.brackets != "{}":
            interval = relation_interval(rel.latex)
            if interval is not None:
                return decide(analyze(interval), other)
    fa, fb = symbolic_form(a, b), symbolic_form(b, a)
    if _RELATION.search(fa) and _RELATION.search(fb) and _variables(fa) != _variables(fb):
        return False  # equations/inequalities in different variables (`r = 0` vs `\\sec\\theta = \\cos 2\\theta`)
    if {sa, sb} == {"scalar", "relation"} and (a.equation or b.equation):
        return None  # `y = 2x+3` (kept as an assignment) against another equation: sympy decides
    if sa != sb and "scalar" in (sa, sb) and {sa, sb} <= _SHAPES:
        return False  # e.g. a number against a matrix, an interval union, an inequality or "1 \\pm \\sqrt{19}"
    if sa == sb == "matrix" and _matrix_dims(a.latex) != _matrix_dims(b.latex):
        return False
    if a.kind in ("number", "expr") and b.kind in ("number", "expr") and sa == sb == "scalar":
        if _has_variables(a.latex) or _has_variables(b.latex):
            return _decide_by_points(a.latex, b.latex)
        return _decide_by_value(a, b)
    return None


_INEQ = re.compile(r"\\(?:leq|geq)|<|>")
_FLIP = {"<": ">", ">": "<", "\\leq": "\\geq", "\\geq": "\\leq"}


def relation_interval(latex: str) -> str | None:
    """`x \\geq 2` -> `[2, \\infty)`, `-2 < x \\leq 3` -> `(-2, 3]`, `5 > x` -> `(-\\infty, 5)`; None for anything
    else (two variables, `\\neq`, a bound that is not constant)."""
    parts = _INEQ.split(latex)
    ops = _INEQ.findall(latex)
    parts = [p.strip() for p in parts]
    if len(parts) not in (2, 3) or any(not p for p in parts) or "=" in latex:
        return None
    var = [i for i, p in enumerate(parts) if re.fullmatch(r"[a-zA-Z]|\\[a-zA-Z]+", p) and p != "\\infty"]
    if len(var) != 1:
        return None
    v = var[0]
    bounds = [p for i, p in enumerate(parts) if i != v]
    if any(approx_value(p) is None and p not in ("\\infty", "-\\infty") for p in bounds):
        return None
    lo, hi, lo_closed, hi_closed = "-\\infty", "\\infty", False, False
    # read every comparison as "left op right" with the variable on one side
    for i, op in enumerate(ops):
        left, right = parts[i], parts[i + 1]
        if i + 1 == v:  # bound op var  ->  var flipped-op bound
            op, left, right = _FLIP[op], right, left
        elif i != v:
            return None
        if op in ("<", "\\leq"):
            hi, hi_closed = right, op == "\\leq"
        else:
            lo, lo_closed = right, op == "\\geq"
    if len(ops) == 2 and (lo == "-\\infty" or hi == "\\infty"):
        return None  # `1 < x < 2` must bound from both sides
    return ("[" if lo_closed else "(") + lo + ", " + hi + ("]" if hi_closed else ")")


_SHAPES = {"scalar", "matrix", "set", "relation", "pm"}
_LETTER_FREE = re.compile(r"\\(?:begin|end|text|operatorname)\{[^{}]*\}|\\[a-zA-Z]+")


def shape(p: Parsed) -> str:
    """Coarse shape of an answer: scalar, matrix, set (interval unions), relation, pm (a ± b), or seq."""
    if p.kind == "seq":
        return "seq"
    if p.kind != "expr":
        return "scalar"
    s = p.latex
    if re.search(r"\\begin\{[a-zA-Z]*matrix\}", s):
        return "matrix"
    if re.search(r"\\(?:cup|cap|emptyset|varnothing)(?![a-zA-Z])", s):
        return "set"
    if re.search(r"=|<|>|\\(?:le|ge|leq|geq|ne|neq|lt|gt)(?![a-zA-Z])", s):
        return "relation"
    if re.search(r"\\(?:pm|mp)(?![a-zA-Z])", s):
        return "pm"
    return "scalar"


def _matrix_dims(s: str) -> tuple[int, int]:
    body = re.sub(r"\\(?:begin|end)\{[a-zA-Z]*matrix\}", "", s).strip()
    rows = [r for r in body.split("\\\\") if r.strip()]
    return len(rows), (rows[0].count("&") + 1 if rows else 0)


_RELATION = re.compile(r"=|<|>|\\(?:le|ge|leq|geq|ne|neq|lt|gt)(?![a-zA-Z])")


def _variables(s: str) -> frozenset[str]:
    """Letters outside LaTeX commands (but e and i), plus Greek letters: the unknowns of an equation."""
    greek = re.findall(rf"\\({_GREEK})(?![a-zA-Z])", s)
    letters = re.findall(r"[a-df-hj-zA-Z]", _LETTER_FREE.sub(" ", s))
    return frozenset(greek) | frozenset(letters)


def _decide_by_points(x: str, y: str) -> bool | None:
    """Formulas in variables: False when their values differ at one of two fixed points, else None (sympy
    decides). `\\sin^2 x + \\cos^2 x` vs `1` agree at every point and go on to sympy."""
    for point in (1, 2):
        vx, vy = approx_value(x, point), approx_value(y, point)
        if vx is None or vy is None:
            return None
        if not math.isclose(vx, vy, rel_tol=1e-7, abs_tol=1e-9):
            return False
    return None


def _has_variables(s: str) -> bool:
    """A letter outside LaTeX commands other than e and i (constants), e.g. x in `2x + 3`."""
    return bool(re.search(r"[a-df-hj-zA-Z]", _LETTER_FREE.sub(" ", s)))


def _value(p: Parsed) -> float | None:
    if p.kind == "number":
        return float(p.number[0])
    return approx_value(p.latex)


def _decide_by_value(a: Parsed, b: Parsed) -> bool | None:
    """Constant expressions (at least one not a plain number): settle by float value where that is safe.

    - A decimal literal with >= 3 places against an exact expression: equal iff it is the expression's value
      correctly rounded (the same rule as `numbers_match`, now for irrationals too: `1.414` = `\\sqrt{2}`).
    - Values that differ: not equal (no sympy needed; the common case in majority voting).
    - Values that agree: undecided; sympy confirms exact equality.
    """
    va, vb = _value(a), _value(b)
    if va is None or vb is None:
        return None
    for lit, other, vo in ((a, b, vb), (b, a, va)):
        places = lit.number[1] if lit.kind == "number" else None
        if places is not None and places >= 3 and other.kind == "expr":
            return abs(float(lit.number[0]) - vo) <= max(0.5 * 10.0**-places, 1e-12 * max(1.0, abs(vo)))
    if not math.isclose(va, vb, rel_tol=1e-9, abs_tol=1e-12):
        return False
    return None
