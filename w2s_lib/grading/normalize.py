"""Normalise an extracted answer and read its shape (the cheap, string-and-number half of `w2s_lib.grading.answers`).

`analyze(answer)` turns an answer string into a `Parsed` value:

    kind "number"  plain numbers in any spelling: 1,000 / .25 / \\frac14 / 1/4 / 1\\frac{4}{5} / 1.5e3 / 50\\% / $5
    kind "choice"  a single letter, e.g. multiple choice "(C)" or "\\text{(C)}" (compared case-insensitively)
    kind "text"    words only, e.g. "\\text{Evelyn}" (compared case-insensitively)
    kind "seq"     tuples / intervals "(1,-2)", "(3,4]" (ordered) and sets "\\{3,4,5\\}", "3, 5, 7" (unordered)
    kind "ratio"   clock times and ratios "12:00", "3:45 p.m.", "3 : 4 : 5" (compared part by part, never scaled)
    kind "expr"    anything else (\\sqrt, \\pi, polynomials, matrices, equations): needs the symbolic check

and gives it a canonical `key`. What the normaliser removes, and why it is safe to remove:
- math delimiters, `\\left`/`\\right`, thin spaces, `\\!`, `\\dfrac`/`\\tfrac` spelling: layout only;
- currency (`\\$`), degrees (`^\\circ`), percent (`\\%`) and trailing unit words (`\\text{ cm}^2`, "16 pounds"):
  the question fixes the unit, so `50\\%` and `50` are the same answer. (Consequence: `50\\%` is NOT `0.5`.)
- `x = 3` -> `3` when the left side names one quantity (a variable `v_0`, `\\theta`, `\\mathbf{M}`, a function
  value `f(3)`, `P(A)`, or a tuple of variables `(x, y)`), also through a chain `x = 5+6 = 11` and `x \\approx 11`,
  and `2+3 = 5` -> `5` when both sides are pure arithmetic. An equation with a real left side (`x+y=3`) stays an
  equation and never equals `3`.
- spellings of one thing: `\\ge`/`>=` -> `\\geq`, `!=` -> `\\neq`, `\\lt` -> `<`, `\\varnothing` -> `\\emptyset`,
  `...`/`\\dots` -> `\\ldots`, `\\langle a, b \\rangle` -> `(a, b)`, `\\mathrm{e}` -> `e`, "1, 2, and 3" -> "1, 2, 3",
  a `{...}` group around the whole answer.

Every regular expression here runs in linear time on its input; the callers bound the input's length.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache

from w2s_lib.grading.extract import last_boxed
from w2s_lib.grading.numeric import approx_value

# ---------------------------------------------------------------------------------------------- cleaning

_SPACING = re.compile(r"(?<!\\)\\(?:displaystyle|!|,|;|:|quad|qquad|\s)(?![a-zA-Z])")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])")
_TEXT_CMDS = re.compile(r"\\(?:mbox|textrm|textnormal|textit|textbf|mathrm|mathbf|operatorname)(?![a-zA-Z])")
_TEXT_SUBSCRIPT = re.compile(r"_\s*\{\s*\\text\s*\{([^{}]*)\}\s*\}|_\s*\\text\s*\{([^{}]*)\}")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ\b|°|\\degree(?![a-zA-Z])")
# A trailing unit in \text{...} (after mbox/mathrm were renamed to \text), possibly squared: "864 \text{ inches}^2"
_TRAIL_TEXT = re.compile(r"(\s*)\\text\{([^{}]*)\}(\^\{?\d\}?)?\s*$")
# "16 pounds", "5.5 hours per day": a plain number followed by words
_NUM_WORDS = re.compile(r"^([-+]?(?:\d[\d,]*)?\.?\d+(?:/\d+)?)\s+(?!and\b|or\b)[A-Za-z]{2,}[A-Za-z\s.,/'-]*$")
_GREEK = (r"alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda|mu|nu|xi|rho|"
          r"sigma|tau|upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Sigma|Phi|Psi|Omega")
# A single quantity on the left: x, v_{0}, R_H, \theta, \Delta E, T', then "=" (or "\in") and one right side
_NAME = (rf"(?:\\Delta\s*)?(?:[A-Za-z]|\\(?:{_GREEK})(?![a-zA-Z])|\\(?:text|vec|overrightarrow|hat|bar)\{{[A-Za-z]{{1,3}}\}})"
         r"(?:_\{(?:[^{}]|\{[^{}]*\})*\}|_[A-Za-z0-9])?(?:'|\^\{?\\prime\}?|\^\{?(?:-1|T)\}?)*")
# One quantity on the left: x, v_{0}, R_H, \theta, \Delta E, T', \text{M}, f(3), P(A), (x, y); then "=" or "\in"
_ASSIGN = re.compile(
    rf"^\s*(?:{_NAME}(?:\s*\([^()=]{{0,40}}\))?|\(\s*{_NAME}(?:\s*,\s*{_NAME})+\s*\))"
    r"\s*(?:=|\\in(?![a-zA-Z])|\\approx(?![a-zA-Z]))\s*([^=]+)$"
)
# x = 5+5+1 = 7 = 11 (a chain of steps; the last side is the answer)
_CHAIN = re.compile(rf"^\s*{_NAME}\s*=\s*[^=]+(?:=[^=]+)+$")
_ARITH_ONLY = re.compile(r"^[\d\s.,+\-*/()\[\]{}^]*$")


def _strip_text_wrappers(s: str) -> str:
    """`\\text{Evelyn}` -> `Evelyn` when the whole answer is one \\text{...}."""
    m = re.fullmatch(r"\s*\\text\{([^{}]*)\}\s*", s)
    return m.group(1).strip() if m else s


def _strip_trailing_units(s: str) -> str:
    """Drop unit text at the end of an answer: `5.4 \\text{ cents}`, `15\\text{ cm}^2`, `5\\mathrm{~m}`.

    A single letter glued to the value (`4\\mathrm{i}`) is kept: it is more likely a symbol than a unit.
    """
    while True:
        m = _TRAIL_TEXT.search(s)
        if not m or m.start() == 0 or not s[: m.start()].strip():
            return s
        content = m.group(2)
        if not re.fullmatch(r"[A-Za-z\s.~/]*", content):
            return s
        word = content.strip(" ~.")
        if not (m.group(1) or content[:1] in " ~" or len(word) >= 2 or not word):
            return s
        s = s[: m.start()].rstrip()


def _brace_shorthand(s: str) -> str:
    """TeX shorthand to braces: \\frac14 -> \\frac{1}{4}, \\frac{270}7 -> \\frac{270}{7}, \\sqrt2 -> \\sqrt{2}."""
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*(\d)\s*\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\frac\s*\{([^{}]*)\}\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt\s*(\d)", r"\\sqrt{\1}", s)
    return s


def _unwrap_equation(s: str) -> str:
    """`x = 3` -> `3`, `k \\in [1,2]` -> `[1,2]`, `x = 2+3 = 5` -> `5`, `2+3 = 5` -> `5`, `n = 1, 2` -> `1, 2`;
    other equations are left alone."""
    if any(op in s for op in ("\\le", "\\ge", "\\ne", "<", ">")):
        return s
    if _CHAIN.match(s):
        s = s.split("=", 1)[0] + "=" + s.rsplit("=", 1)[-1]
    m = _ASSIGN.match(s)
    if m:
        rhs = m.group(1).strip()
        if "=" not in rhs:  # not "x = 1, y = 2"
            return rhs
    if "=" in s:
        parts = s.split("=")
        # "30 x 6.67 = 200": an x between numbers is a times sign
        arith = [re.sub(r"(?<=\d)\s*[x×]\s*(?=\d)", "*", re.sub(r"\\(?:times|cdot|div|frac)", "", p)) for p in parts]
        if all(_ARITH_ONLY.match(p) for p in arith):
            return parts[-1].strip()
    return s


@lru_cache(maxsize=1 << 18)
def normalize(answer: str) -> str:
    """A cleaned LaTeX answer, still readable by a LaTeX parser (spaces kept). "" for an empty answer.

    `x = 3` becomes `3` here (see `clean_latex` for the same cleaning with equations kept)."""
    return _tidy(_unwrap_equation(clean_latex(answer)))


def _tidy(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().rstrip(".").strip()


@lru_cache(maxsize=1 << 18)
def clean_latex(answer: str) -> str:
    """`normalize` without the equation unwrapping: for answers that must stay equations (OlympicArena EQ)."""
    s = (answer or "").replace("</s>", "").replace("\u2212", "-").strip()
    if len(s) > MAX_ANSWER_CHARS:
        return s  # not cleaned (see MAX_ANSWER_CHARS); the symbolic pool refuses it too
    if "\\boxed" in s or "\\fbox" in s:
        box = last_boxed(s)
        if box is not None:
            s = box
    s = s.replace("\\$", " ").replace("$", " ")
    s = re.sub(r"^\s*\\[(\[]|\\[)\]]\s*$", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = _RELATION_SPELLING.sub(lambda m: _RELATION_WORDS[m.group(0)], s)
    s = _ELLIPSIS.sub(r"\\ldots", s).replace("\\varnothing", "\\emptyset").replace("\\{\\}", "\\emptyset")
    s = s.replace("\\langle", "(").replace("\\rangle", ")")
    s = _TEXT_CMDS.sub(r"\\text", s)
    # a subscript written as text is a name: V_{\text{in}} = V_{in}, R_{\mathrm{H}} = R_{H}
    s = _TEXT_SUBSCRIPT.sub(lambda m: "_{" + (m.group(1) or m.group(2) or "").strip() + "}", s)
    s = _LEFT_RIGHT.sub("", s)
    s = _SPACING.sub(" ", s).replace("~", " ")
    s = s.replace("{,}", ",")
    s = _DEGREES.sub("", s)
    s = s.replace("\\%", "").replace("%", "")
    s = re.sub(r"\\text\{\s*(?:percent|degrees?)\s*\}", "", s)
    s = s.strip().rstrip(".").strip()
    s = _strip_trailing_units(s)
    s = _strip_text_wrappers(s)
    s = re.sub(r"\s*\\text\{\s*(?:and|or)\s*\}\s*", ", ", s)
    s = re.sub(r"\\text\{\s*([A-Za-z])\s*\}", r"\1", s)  # \mathrm{e} -> e: one letter is a symbol
    s = re.sub(r"(?:\s*,)?\s+and\s+(?=[-+\d\\(\[])", ", ", s)  # "19, 46, and 82"
    s = re.sub(r",(?:\s*,)+", ",", s)
    s = _strip_group(s)
    m = _NUM_WORDS.match(s)
    if m:
        s = m.group(1)
    return _tidy(_brace_shorthand(s))


_RELATION_WORDS = {">=": "\\geq ", "<=": "\\leq ", "!=": "\\neq ", "\\ge": "\\geq", "\\le": "\\leq",
                   "\\ne": "\\neq", "\\lt": "<", "\\gt": ">", "\\geqslant": "\\geq", "\\leqslant": "\\leq"}
_RELATION_SPELLING = re.compile(r">=|<=|!=|\\(?:geqslant|leqslant|ge|le|ne|lt|gt)(?![a-zA-Z])")
_ELLIPSIS = re.compile(r"\.\.\.+|\\(?:dots|cdots|ldots|dotsc|dotsb)(?![a-zA-Z])|…")


def _strip_group(s: str) -> str:
    """`{-2021, 2021}` -> `-2021, 2021`: a plain TeX group around the whole answer is only grouping."""
    while s.startswith("{") and s.endswith("}"):
        depth = 0
        for i, c in enumerate(s):
            depth += c == "{"
            depth -= c == "}"
            if depth == 0 and i < len(s) - 1:
                return s
        s = s[1:-1].strip()
    return s


def squash(s: str) -> str:
    """Remove spaces that carry no meaning (keep one after a command that a letter follows: `\\cot x`)."""
    s = re.sub(r"(\\[a-zA-Z]+)\s+(?=[a-zA-Z])", "\\1\x00", s)
    return re.sub(r"\s+", "", s).replace("\x00", " ")


# ---------------------------------------------------------------------------------------------- numbers

_DEC = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+"
_RE_DEC = re.compile(rf"([+-]?)({_DEC})")
_RE_SCI_E = re.compile(r"([+-]?)(\d+\.?\d*|\.\d+)[eE]([+-]?\d+)")
_RE_SCI_TIMES = re.compile(r"([+-]?)(\d+\.?\d*|\.\d+)(?:\\times|\\cdot|\*|×)10\^\{?([+-]?\d+)\}?")
_RE_POW = re.compile(r"([+-]?)(\d+)\^\{?([+-]?\d+)\}?")
_RE_FRAC = re.compile(rf"([+-]?)\\frac\{{([+-]?)({_DEC})\}}\{{([+-]?)({_DEC})\}}")
_RE_SLASH = re.compile(rf"([+-]?)({_DEC})/([+-]?)({_DEC})")
_RE_MIXED = re.compile(r"([+-]?)(\d+)\s*(?:\\frac\{(\d+)\}\{(\d+)\}|\s(\d+)/(\d+))")


def _dec(text: str) -> Fraction:
    return Fraction(text.replace(",", "").rstrip(".") or "0")


def _sign(s: str) -> int:
    return -1 if s == "-" else 1


def parse_number(answer: str) -> tuple[Fraction, int | None] | None:
    """(value, decimal places) of a plain number written any common way, or None.

    Decimal places are given for decimal literals ("6.67" -> 2, "72" -> 0) and None for exact forms
    (fractions, mixed numbers, powers), which `numbers_match` uses for its rounding rule.
    """
    s = answer.strip()
    m = _RE_MIXED.fullmatch(s)
    if m:
        whole = int(m.group(2))
        num, den = (m.group(3), m.group(4)) if m.group(3) else (m.group(5), m.group(6))
        if int(den) == 0 or int(num) >= int(den):
            return None
        return _sign(m.group(1)) * (whole + Fraction(int(num), int(den))), None
    s = re.sub(r"\s+", "", s)
    if m := _RE_DEC.fullmatch(s):
        body = m.group(2)
        places = len(body.split(".", 1)[1]) if "." in body else 0
        return _sign(m.group(1)) * _dec(body), places
    if m := _RE_SCI_E.fullmatch(s) or _RE_SCI_TIMES.fullmatch(s):
        exp = int(m.group(3))
        if abs(exp) > 400 or len(m.group(2)) > 400:
            return None
        return _sign(m.group(1)) * _dec(m.group(2)) * Fraction(10) ** exp, None
    if m := _RE_POW.fullmatch(s):
        exp = int(m.group(3))
        # the exact value must stay a few thousand digits (Python's int <-> str limit is 4,300)
        if abs(exp) * len(m.group(2).lstrip("0") or "0") > 3000 or (int(m.group(2)) == 0 and exp < 0):
            return None
        return _sign(m.group(1)) * Fraction(int(m.group(2))) ** exp, None
    if m := _RE_FRAC.fullmatch(s) or _RE_SLASH.fullmatch(s):
        g = m.groups()
        if len(g) == 5:  # \frac{±a}{±b}
            num, den = _sign(g[1]) * _dec(g[2]), _sign(g[3]) * _dec(g[4])
        else:  # ±a/±b
            num, den = _dec(g[1]), _sign(g[2]) * _dec(g[3])
        if den == 0:
            return None
        return _sign(g[0]) * num / den, None
    return None


def _terminates(x: Fraction) -> bool:
    """True if x has a finite decimal expansion (denominator 2^a 5^b)."""
    d = x.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def numbers_match(a: tuple[Fraction, int | None], b: tuple[Fraction, int | None]) -> bool:
    """Exact equality, plus one rounding rule: a decimal with >= 3 places equals an exact value whose decimal
    expansion does not terminate when it is that value correctly rounded (`0.333` == `1/3`, `6.67` != `20/3`,
    `6.666` != `6.667`). Two decimal literals are compared exactly."""
    (x, dx), (y, dy) = a, b
    if x == y:
        return True
    for (lit, places), (other, oplaces) in ((a, b), (b, a)):
        if places is not None and places >= 3 and oplaces is None and not _terminates(other):
            if round(other, places) == lit:
                return True
    return False


def number_key(x: Fraction) -> str:
    return str(x)


# ---------------------------------------------------------------------------------------------- shape


@dataclass(frozen=True)
class Parsed:
    """An analysed answer: its kind, cleaned LaTeX, canonical key, and (for numbers / sequences) its parts."""

    kind: str  # "empty" | "number" | "choice" | "text" | "seq" | "expr"
    latex: str  # cleaned LaTeX (spaces kept) for the symbolic check
    key: str
    number: tuple[Fraction, int | None] | None = None
    items: tuple["Parsed", ...] = ()
    brackets: str = ""  # "()", "(]", "{}" ...; "{}" = unordered set (also bare "a, b, c")
    equation: str = ""  # the answer before `y = 2x+3` -> `2x+3` unwrapping, when that happened
    suffix: str = ""  # "a" / "p" for a clock time written with a.m. / p.m.

    @property
    def ordered(self) -> bool:
        return self.brackets != "{}"

    @property
    def all_numbers(self) -> bool:
        return self.kind == "seq" and all(i.kind == "number" for i in self.items)


def _split_top(s: str) -> list[str]:
    """Split on commas outside any (), [], {} nesting."""
    parts, depth, cur = [], 0, []
    i = 0
    while i < len(s):
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _outer(s: str) -> tuple[str, str, str] | None:
    """(open, inner, close) when s is wrapped in one matching bracket pair: (..), [..], (..], \\{..\\}."""
    if s.startswith("\\{") and s.endswith("\\}"):
        opener, inner, closer = "{", s[2:-2], "}"
    elif s[:1] in "([" and s[-1:] in ")]":
        opener, inner, closer = s[0], s[1:-1], s[-1]
    else:
        return None
    depth = 0
    for c in inner:  # the first bracket must close at the very end, not earlier: "(1,2)\cup(3,4)"
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return None
    return (opener, inner, closer) if depth == 0 else None


_RATIO = re.compile(r"(-?[\d.]+(?:\s*:\s*-?[\d.]+)+)\s*(?:([apAP])\.?\s?[mM]\.?)?")
_CHOICE = re.compile(r"^\(?([A-Za-z])\)$|^([A-Za-z])$")
_WORDS = re.compile(r"^[A-Za-z][A-Za-z\s'-]*[A-Za-z]$")


# An extracted answer longer than this is not normalised: it is compared as an exact (space-free) string, so
# a 200,000-digit "answer" costs a string comparison and nothing else.
MAX_ANSWER_CHARS = 1000


@lru_cache(maxsize=1 << 18)
def analyze(answer: str) -> Parsed:
    """Normalise an extracted answer and classify it (cached: majority voting asks for the same strings often).

    An answer over MAX_ANSWER_CHARS is kind "long": equal only to the same string (spaces aside)."""
    if len(answer) > MAX_ANSWER_CHARS:
        return Parsed("long", "", "long:" + re.sub(r"\s+", "", answer))
    latex = normalize(answer)
    if not latex:
        return Parsed("empty", "", "")
    eq = clean_latex(answer)
    if eq != latex and "=" in eq:
        return replace(analyze(latex), equation=eq)
    m = _RATIO.fullmatch(latex)
    if m:
        items = tuple(analyze(p) for p in m.group(1).split(":"))
        if all(i.kind == "number" for i in items):
            suffix = (m.group(2) or "").lower()
            return Parsed("ratio", latex, ":".join(i.key for i in items) + suffix, items=items, suffix=suffix)
    num = parse_number(latex)
    if num is not None:
        return Parsed("number", latex, number_key(num[0]), number=num)
    m = _CHOICE.match(latex)
    if m:
        letter = (m.group(1) or m.group(2)).lower()
        return Parsed("choice", latex, letter)
    if _WORDS.match(latex):
        return Parsed("text", latex, re.sub(r"\s+", " ", latex.lower()))
    outer = _outer(latex)
    body, brackets = (outer[1], outer[0] + outer[2]) if outer else (latex, "{}")
    parts = _split_top(body)
    if len(parts) >= 2 and all(parts):
        items = tuple(analyze(p) for p in parts)
        keys = [i.key for i in items]
        if brackets == "{}":
            keys = sorted(keys)
        return Parsed("seq", latex, brackets[0] + ",".join(keys) + brackets[1], items=items, brackets=brackets)
    return Parsed("expr", latex, squash(latex))
