"""A tiny float evaluator for constant LaTeX (`3\\sqrt{13}`, `\\frac{\\pi}{6}`, `2^{10}-1`), used to say "not equal"
without sympy.

Majority voting compares many different answers, and most different answers are plainly different numbers.
If both answers evaluate to floats that differ, they are not equal, and the (slow) symbolic check is skipped.
Equality is never decided from floats here except by the documented rounding rule in `grading_normalize`.
The grammar is deliberately small; anything outside it (a variable, `i`, `\\log` without a base, `\\sin^2`, a
matrix) returns None and the symbolic check decides. `e` is Euler's number (for "not equal" this is sound even
where e is a physical constant: two formulas that differ at e = 2.718... differ).

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/" | \\cdot | \\times | \\div | implicit) unary)*
    unary  := ("+" | "-") unary | power
    power  := atom ("^" atom)?
    atom   := number | \\pi | e | \\frac{expr}{expr} | \\sqrt[n]{expr} | \\sqrt{expr} | (expr) | {expr}
            | (\\ln | \\exp | \\sin | \\cos | \\tan) power | \\log_atom power
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

_TOKEN = re.compile(r"\s*(\d+\.?\d*|\.\d+|\\[a-zA-Z]+|[a-zA-Z]|[-+*/^_(){}\[\]])")
_FUNCS = {"\\ln": math.log, "\\exp": math.exp, "\\sin": math.sin, "\\cos": math.cos, "\\tan": math.tan}
_STARTS_ATOM = ("\\pi", "\\frac", "\\sqrt", "\\log", "(", "{", "e", *_FUNCS)


class _Unsupported(Exception):
    pass


def _tokens(s: str) -> list[str]:
    pos, out = 0, []
    s = s.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m:
            raise _Unsupported(s[pos:])
        out.append(m.group(1))
        pos = m.end()
        while pos < len(s) and s[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, toks: list[str]) -> None:
        self.t, self.i = toks, 0

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise _Unsupported(f"expected {want}, got {tok}")
        self.i += 1
        return tok

    def expr(self) -> float:
        v = self.term()
        while self.peek() in ("+", "-"):
            v = v + self.term() if self.take() == "+" else v - self.term()
        return v

    def term(self) -> float:
        v = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "\\cdot", "\\times"):
                self.take()
                v *= self.unary()
            elif tok in ("/", "\\div"):
                self.take()
                d = self.unary()
                if d == 0:
                    raise _Unsupported("division by zero")
                v /= d
            elif tok is not None and (tok[0].isdigit() or tok[0] == "." or tok in _STARTS_ATOM):
                v *= self.power()  # implicit product: 3\sqrt{2}, 2\pi, 2(3+1)
            else:
                return v

    def unary(self) -> float:
        if self.peek() in ("+", "-"):
            return self.unary() if self.take() == "+" else -self.unary()
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            exp = self.unary() if self.peek() in ("+", "-") else self.atom()
            if abs(exp) > 1000 or (base < 0 and exp != int(exp)) or (base == 0 and exp < 0):
                raise _Unsupported("power")
            return float(base) ** exp
        return base

    def atom(self) -> float:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return float(tok)
        if tok == "\\pi":
            return math.pi
        if tok == "e":  # Euler's number; any other letter is a variable and unsupported
            return math.e
        if tok in _FUNCS:
            return _FUNCS[tok](self.power())
        if tok == "\\log":  # only with an explicit base: \log_2 7, \log_{10}(x)
            self.take("_")
            base = self.atom()
            x = self.power()
            if base <= 0 or base == 1 or x <= 0:
                raise _Unsupported("log")
            return math.log(x) / math.log(base)
        if tok == "\\frac":
            num, den = self.group(), self.group()
            if den == 0:
                raise _Unsupported("division by zero")
            return num / den
        if tok == "\\sqrt":
            root = 2.0
            if self.peek() == "[":
                self.take("[")
                root = self.expr()
                self.take("]")
            x = self.group()
            if x < 0 or root <= 0:
                raise _Unsupported("sqrt")
            return x ** (1.0 / root)
        if tok == "(":
            v = self.expr()
            self.take(")")
            return v
        if tok == "{":
            v = self.expr()
            self.take("}")
            return v
        raise _Unsupported(tok)

    def group(self) -> float:
        self.take("{")
        v = self.expr()
        self.take("}")
        return v


@lru_cache(maxsize=1 << 18)
def approx_value(latex: str) -> float | None:
    """The float value of a constant LaTeX expression in the small grammar above, else None."""
    if not latex or len(latex) > 300:
        return None
    try:
        p = _Parser(_tokens(latex))
        v = p.expr()
        if p.peek() is not None:
            return None
        return v if math.isfinite(v) else None
    except (_Unsupported, OverflowError, ZeroDivisionError, ValueError, RecursionError):
        return None
