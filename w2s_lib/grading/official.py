"""The paper release's own grader, re-implemented rule for rule (the `official` grader and comparator).

The release (GAIR-NLP/weak-to-strong-reasoning at 596a0b6) grades GSM8K and MATH with `src/eval/evaluation.py`
(`test_answer`) and `src/eval/math_normalization.py` (`normalize_final_answer`, `check_sympy_equivalence`), and
builds its Stage I / Stage II data (`src/construct_training_data.py`) by comparing the *normalised prediction
strings* those functions return. This module reproduces that behaviour, so that a paper preset can select, vote
and grade exactly as the paper's runs did. Our default grader (`w2s_lib.grading.answers`) is the math-aware one.

    official_pred(response, answer_key)        the release's normalised prediction ('' if none)
    test_answer(response, gold, answer_key)    (correct, pred, gold) as the release computes them
    is_correct_official(response, gold, answer_key=None)
    preds_agree(a, b)                          the release's agreement: exact equality of two official preds

The rules, in order (`test_answer`):
1. Everything from the first "Question" on is cut away, then the text is stripped.
2. The prediction is the rest of the LAST line, if that line holds `{answer_key} ` (GSM8K "####", MATH
   "The answer is:"); the search is `re.findall(key + " (.*)$")` without MULTILINE, so only an answer on the
   final line counts. Otherwise "The answer is X" on the last line gives the first number of X (commas
   removed, a trailing "." dropped); otherwise the prediction is "".
3. A prediction containing "</s>" loses its last 4 characters.
4. Both prediction and gold go through `normalize_final_answer`: the part after the last "=", fixed
   substitutions and unit words removed (SUBSTITUTIONS / REMOVED_EXPRESSIONS below, applied as plain
   `str.replace`, so "a " and "an " vanish inside words too), `$...$`, `\\text{}`, `\\textbf{}`,
   `\\overline{}`, `\\boxed{}` unwrapped, `\\fracab` -> `\\frac{a}{b}`, `\\sqrta` -> `\\sqrt{a}`, "$" removed,
   "100,000" -> "100000", "3.0"/"3.00" -> "3", "50%" -> "50", a single letter a-g lower-cased.
5. Equality (`check_sympy_equivalence`). The code reads: when sympy's `parse_latex` fails on either side,
   compare the two strings exactly; otherwise `simplify(gold - pred) == 0` (an error there is "not equal").
   **What the release's runs actually did is the exact string comparison, always**: on the 7,000 released
   Llama2-7b GSM8K weak outputs, `result` equals `pred == gold` on every row, including 13 rows such as
   pred "0.50" against gold "0.5" that `simplify` would call equal. Its `parse_latex` must have failed on every
   input (it raises when the ANTLR runtime is missing, and a bare `except` turns that into the string
   comparison). So `sympy=False` (string equality) is the default here and reproduces the released verdicts;
   `sympy=True` runs the code as written (plain decimals compared as exact fractions without sympy, which is
   what `simplify` of two parsed numbers gives; the sympy step under a SIGALRM limit of `SYMPY_TIMEOUT`
   seconds on the main thread, a timeout counting as "not equal"). An empty prediction is correct only
   against an empty gold under both.

The OlympicArena judge of the release (OlympicArena's `code/judge.py`) is in `w2s_lib.grading.official_olympic`.
"""
from __future__ import annotations

import contextlib
import re
import signal
import threading
from fractions import Fraction
from typing import Iterator

__all__ = [
    "ANSWER_KEYS",
    "SYMPY_TIMEOUT",
    "answer_key_for",
    "normalize_final_answer",
    "official_pred",
    "sympy_equivalent",
    "test_answer",
    "is_correct_official",
    "official_gold",
    "preds_agree",
]

# The answer key each dataset's responses end with (run_gsm8k.sh / run_math.sh `--answer_key`).
ANSWER_KEYS = {"gsm8k": "####", "math": "The answer is:", "toy": "####"}
SYMPY_TIMEOUT = 5.0

# math_normalization.py: (before, after) replacements, then expressions deleted, both as plain str.replace.
SUBSTITUTIONS = (
    ("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), ("\\ ", ""), ("\\%", "%"),
    (" ", ""), ("mbox", "text"), (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}"),
)
REMOVED_EXPRESSIONS = (
    "square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units", "\\ldots", "sue",
    "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds", "meters", "meals", "edges",
    "students", "childrentickets", "multiples", "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2",
    "\\text{}^3", "\\text{\n}", "\\text{}", "\\mathrm{th}", "^\\circ", "^{\\circ}", "\\;", ",\\!", "{,}", '"',
    "\\dots",
)
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def answer_key_for(dataset: str) -> str:
    """The release's answer key for a dataset name (gsm8k, math, toy)."""
    try:
        return ANSWER_KEYS[dataset]
    except KeyError:
        raise ValueError(f"the official grader knows the answer keys of {sorted(ANSWER_KEYS)}, not {dataset!r}; "
                         "OlympicArena uses w2s_lib.grading.official_olympic") from None


def normalize_final_answer(final_answer: str) -> str:
    """The release's `normalize_final_answer` (see the module docstring, rule 4)."""
    s = str(final_answer).split("=")[-1]
    for before, after in SUBSTITUTIONS:
        s = s.replace(before, after)
    for expr in REMOVED_EXPRESSIONS:
        s = s.replace(expr, "")
    s = re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", s)
    s = re.sub(r"(\\text\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", s)
    s = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", s)
    s = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", s)
    s = s.replace("$", "")
    if s.replace(",", "").isdigit():
        s = s.replace(",", "")
    if s.endswith(".0") and s[:-2].isdigit():
        s = s[:-2]
    if s.endswith(".00") and s[:-3].isdigit():
        s = s[:-3]
    if s.endswith("%") and s[:-1].isdigit():
        s = s[:-1]
    if s.lower() in ("a", "b", "c", "d", "e", "f", "g"):
        s = s.lower()
    return s


def _answer_cleansing(text: str) -> str:
    """The release's fallback: first number after the last-line "The answer is"."""
    found = re.findall("The answer is (.*)$", text)
    pred = found[-1] if found else ""
    numbers = re.findall(r"-?\d+\.?\d*", pred.replace(",", ""))
    pred = numbers[0] if numbers else ""
    if pred.endswith("."):
        pred = pred[:-1]
    return pred


def _raw_pred(response: str, answer_key: str) -> str:
    text = response or ""
    if "Question" in text:
        text = text.split("Question")[0]
    text = text.strip()
    found = re.findall(f"{answer_key} (.*)$", text)
    pred = found[-1] if found else ""
    if pred == "":
        pred = _answer_cleansing(text)
    if "</s>" in pred:
        pred = pred[:-4]
    return pred


def official_pred(response: str, answer_key: str = "####") -> str:
    """The release's normalised prediction of a response: what its data construction compares."""
    return normalize_final_answer(_raw_pred(response, answer_key))


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise TimeoutError after `seconds` (SIGALRM; only on the main thread of a Unix process, else no limit)."""
    usable = seconds > 0 and hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def _raise(signum, frame):
        raise TimeoutError(f"sympy took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def sympy_equivalent(gold: str, pred: str, *, timeout: float = SYMPY_TIMEOUT) -> bool:
    """The release's `check_sympy_equivalence(gold, pred)` as its code reads, with a working `parse_latex`."""
    if _PLAIN_NUMBER.fullmatch(gold) and _PLAIN_NUMBER.fullmatch(pred):
        return Fraction(gold) == Fraction(pred)
    try:
        with _alarm(timeout):
            from sympy import simplify
            from sympy.parsing.latex import parse_latex
            try:
                g, p = parse_latex(gold), parse_latex(pred)
            except Exception:
                return gold == pred
            try:
                return bool(simplify(g - p) == 0)
            except Exception:
                return False
    except TimeoutError:
        return False


def test_answer(response: str, gold: str, answer_key: str = "####", *, sympy: bool = False,
                timeout: float = SYMPY_TIMEOUT) -> tuple[bool, str, str]:
    """(correct, normalised prediction, normalised gold), as the release's `test_answer`. `gold` is the bare
    final answer (GSM8K's number after "####", MATH's `answer` field). `sympy`: see rule 5."""
    pred = official_pred(response, answer_key)
    g = normalize_final_answer(gold)
    ok = sympy_equivalent(g, pred, timeout=timeout) if sympy else g == pred
    return ok, pred, g


test_answer.__test__ = False  # not a pytest test, despite the release's name


def is_correct_official(response: str, gold: str, answer_key: str | None = None, *, sympy: bool = False,
                        timeout: float = SYMPY_TIMEOUT) -> bool:
    """The release's verdict. `gold` may be a bare answer or a worked solution (its final answer is taken as the
    default grader does). Without `answer_key`, "####" when the response has it, else "The answer is:"."""
    if answer_key is None:
        answer_key = "####" if "####" in (response or "") else ANSWER_KEYS["math"]
    return test_answer(response, official_gold(gold), answer_key, sympy=sympy, timeout=timeout)[0]


def official_gold(gold: str) -> str:
    """The bare gold answer: the release's `data/process.py` takes `#### (.*)$` of a GSM8K solution; a bare
    answer (GSM8K test `answer`, MATH `answer`) is used as it is."""
    gold = gold or ""
    if "####" in gold:
        found = re.findall("#### (.*)$", gold)
        if found:
            return found[-1]
    return gold


def preds_agree(a: str, b: str) -> bool:
    """The release's Stage I agreement and Stage II vote identity: the two official predictions are the same
    string. Two empty predictions are the same string too (see docs/paper_settings.md: the released data keeps
    questions whose weak and ICL predictions are both empty)."""
    return a == b


# ---------------------------------------------------------------------------------------------------
# the `official` comparator of a run (stage1.comparator), and the release's demo strings (icl.demos)
# ---------------------------------------------------------------------------------------------------
COMPARATORS = ("math", "official")
DEMO_MODES = ("sampled", "released")


def comparator_of(preset) -> str:
    """stage1.comparator of a preset: 'math' (our grader's equality) or 'official' (the release's strings)."""
    c = (preset.stage1.get("comparator") or "math")
    if c not in COMPARATORS:
        raise ValueError(f"{preset.path}: stage1.comparator must be one of {COMPARATORS}, got {c!r}")
    return c


def demos_mode(preset) -> str:
    m = preset.icl.get("demos") or "sampled"
    if m not in DEMO_MODES:
        raise ValueError(f"{preset.path}: icl.demos must be one of {DEMO_MODES}, got {m!r}")
    return m


def released_demos_path(preset):
    """data/release/demos/<icl.demos_file or dataset_weakmodel>.txt (see its PROVENANCE.md)."""
    from w2s_lib.run.paths import REPO_ROOT
    d = REPO_ROOT / "data" / "release" / "demos"
    name = preset.icl.get("demos_file")
    if not name:
        paper = getattr(preset, "paper", None) or {}
        if not paper.get("weak_model"):
            raise ValueError(f"{preset.path}: icl.demos is 'released' but the preset names no paper.weak_model "
                             "and no icl.demos_file")
        name = f"{preset.dataset['name']}_{paper['weak_model']}"
    path = d / (name if name.endswith(".txt") else f"{name}.txt")
    if not path.is_file():
        have = sorted(p.stem for p in d.glob("*.txt"))
        raise FileNotFoundError(f"{preset.path}: no released demos {path} (shipped: {have})")
    return path


def released_demos(preset) -> str:
    """The release's demo string for this preset, verbatim (prepended to the zero-shot prompt)."""
    return released_demos_path(preset).read_bytes().decode("utf-8")
