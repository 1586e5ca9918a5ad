"""A tiny float evaluator for constant LaTeX (`3\\sqrt{13}`, `\\frac{\\pi}{6}`, `2^{10}-1`), used to say "not equal"
without sympy.

Majority voting compares many different answers, and most different answers are plainly different numbers.
If both answers evaluate to floats that differ, they are not equal, and the (slow) symbolic check is skipped.
Equality is never decided from floats here except by the documented rounding rule in `normalize.py`.
The grammar is deliberately small; anything outside it (`i`, `\\log` without a base, a matrix, a function it
does not know) returns None and the symbolic check decides. With `point=0` a variable is outside it too; with
`point=1` or `2` every variable (a letter other than e, or a Greek letter) takes a fixed value in [0.3, 1.3]
for that point, so two formulas can be compared at the same points ("values differ -> not equal"). `e` is Euler's number (for "not equal" this is sound even
where e is a physical constant: two formulas that differ at e = 2.718... differ).

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/" | \\cdot | \\times | \\div | implicit) unary)*
    unary  := ("+" | "-") unary | power
    power  := atom ("^" atom)?
    atom   := number | \\pi | e | \\frac{expr}{expr} | \\sqrt[n]{expr} | \\sqrt{expr} | (expr) | {expr}
            | variable (point > 0) | function ("^" atom)? power | \\log_atom power
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

_TOKEN = re.compile(r"\s*(\d+\.?\d*|\.\d+|\\[a-zA-Z]+|[a-zA-Z]|[-+*/^_(){}\[\]])")
_FUNCS = {"\\ln": math.log, "\\exp": math.exp, "\\sin": math.sin, "\\cos": math.cos, "\\tan": math.tan,
          "\\sec": lambda x: 1 / math.cos(x), "\\csc": lambda x: 1 / math.sin(x), "\\cot": lambda x: 1 / math.tan(x),
          "\\arcsin": math.asin, "\\arccos": math.acos, "\\arctan": math.atan, "\\sinh": math.sinh,
          "\\cosh": math.cosh, "\\tanh": math.tanh}
_STARTS_ATOM = ("\\pi", "\\frac", "\\sqrt", "\\log", "(", "{", "e", *_FUNCS)
_GREEK = {"\\alpha", "\\beta", "\\gamma", "\\delta", "\\theta", "\\phi", "\\varphi", "\\psi", "\\omega", "\\lambda",
          "\\mu", "\\sigma", "\\tau", "\\rho", "\\nu", "\\epsilon", "\\varepsilon", "\\xi", "\\eta", "\\zeta", "\\kappa"}


def _variable_value(name: str, point: int) -> float:
    """The value a variable takes at a point: fixed, irrational-looking, in [0.3, 1.3], different per name."""
    h = sum((i + 1) * ord(c) for i, c in enumerate(name))
    return 0.3 + ((h * 0.6180339887498949 + point * 0.4142135623730951) % 1.0)


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
    def __init__(self, toks: list[str], point: int = 0) -> None:
        self.t, self.i, self.point, self.depth = toks, 0, point, 0

    def is_var(self, tok: str | None) -> bool:
        return self.point > 0 and tok is not None and (
            (len(tok) == 1 and tok.isalpha() and tok not in "ei") or tok in _GREEK)

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
            elif tok is not None and (tok[0].isdigit() or tok[0] == "." or tok in _STARTS_ATOM or self.is_var(tok)):
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
        self.depth += 1
        if self.depth > 200:  # deeply nested input: give up rather than recurse
            raise _Unsupported("depth")
        try:
            return self._atom()
        finally:
            self.depth -= 1

    def _atom(self) -> float:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return float(tok)
        if self.is_var(tok):
            return _variable_value(tok, self.point)
        if tok == "\\pi":
            return math.pi
        if tok == "e":  # Euler's number; any other letter is a variable and unsupported
            return math.e
        if tok in _FUNCS:
            exp = 1.0
            if self.peek() == "^":  # \sin^2 x = (\sin x)^2
                self.take()
                exp = self.atom()
                if abs(exp) > 100:
                    raise _Unsupported("power")
            bracketed = self.peek() in ("(", "{")
            arg = self.atom() if bracketed else self.power()  # \sin(x)^2 = (\sin x)^2, \sin x^2 = \sin(x^2)
            nxt = self.peek()
            if not bracketed and nxt is not None and (nxt[0].isdigit() or nxt in ("(", "\\pi") or self.is_var(nxt)):
                raise _Unsupported("ambiguous argument")  # `\sin 2x` is sin(2x), `\sin 2 x`?: leave it to sympy
            return _FUNCS[tok](arg) ** exp
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
def approx_value(latex: str, point: int = 0) -> float | None:
    """The float value of a LaTeX expression in the small grammar above (constant for point=0; variables take
    their values at `point` otherwise), else None."""
    if not latex or len(latex) > 300:
        return None
    try:
        p = _Parser(_tokens(latex), point)
        v = p.expr()
        if p.peek() is not None:
            return None
        return v if math.isfinite(v) else None
    except (_Unsupported, OverflowError, ZeroDivisionError, ValueError, RecursionError, TypeError):
        return None
