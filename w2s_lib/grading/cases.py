"""Labelled answer pairs for judging a grader, and math-verify as the reference to beat.

A case file is JSONL, one object a line:

    {"id": "ff001", "category": "relations", "source": "...", "response": "...", "gold": "...", "expected": true}

`response` is a model output (or a bare answer), `gold` a reference answer, `expected` whether the response's
final answer equals the gold, `source` where the case comes from (a public grader's test suite it was adapted
from, or "own"). `tests/fixtures/grading/free_form_pairs.jsonl` is the set the default grader is measured on
(tests/test_grading_free_form.py, benchmarks/grading_bench.py).

`math_verify_verdict(response, gold, wrapped=...)` is math-verify 0.9's own answer for a case, as a new user
would call it: `verify(parse(gold), parse(response))`, plain, or with both inputs wrapped in `$...$`.
It runs math-verify in this process with its default (signal-based) timeouts, so call it from the main thread.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

FIELDS = ("id", "category", "source", "response", "gold", "expected")


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    source: str
    response: str
    gold: str
    expected: bool


def load_cases(path: str | Path) -> list[Case]:
    """Read a case file; a malformed line raises ValueError naming the file and line."""
    path = Path(path)
    out, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e})") from None
            missing = [k for k in FIELDS if k not in row]
            if missing:
                raise ValueError(f"{path}:{n}: missing field(s) {missing}")
            if not isinstance(row["expected"], bool):
                raise ValueError(f"{path}:{n}: 'expected' must be true or false, got {row['expected']!r}")
            for k in FIELDS[:-1]:
                if not isinstance(row[k], str):
                    raise ValueError(f"{path}:{n}: {k!r} must be a string")
            if not row["source"].strip() or not row["category"].strip():
                raise ValueError(f"{path}:{n}: empty 'source' or 'category'")
            if row["id"] in seen:
                raise ValueError(f"{path}:{n}: duplicate id {row['id']!r}")
            seen.add(row["id"])
            out.append(Case(*(row[k] for k in FIELDS)))
    return out


def math_verify_verdict(response: str, gold: str, *, wrapped: bool) -> bool:
    """math-verify's verdict for one case (plain, or with both inputs wrapped in `$`). Errors count as False."""
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    logging.getLogger("latex2sympy2_extended").setLevel(logging.CRITICAL)
    wrap = (lambda s: "$" + s + "$") if wrapped else (lambda s: s)
    try:
        return bool(verify(parse(wrap(gold)), parse(wrap(response))))
    except Exception:  # math-verify raising (or its own timeout) is a failed verdict
        return False


def score(cases: list[Case], verdicts: list[bool]) -> dict:
    """Accuracy, false positives (unequal judged equal) and false negatives, overall and per category."""
    def tally(idx: list[int]) -> dict:
        right = sum(verdicts[i] == cases[i].expected for i in idx)
        fp = sum(verdicts[i] and not cases[i].expected for i in idx)
        fn = sum(cases[i].expected and not verdicts[i] for i in idx)
        return {"cases": len(idx), "right": right, "accuracy": round(right / len(idx), 4) if idx else 0.0,
                "false_positives": fp, "false_negatives": fn}

    cats: dict[str, list[int]] = {}
    for i, c in enumerate(cases):
        cats.setdefault(c.category, []).append(i)
    return {**tally(list(range(len(cases)))), "unequal_cases": sum(not c.expected for c in cases),
            "by_category": {k: tally(v) for k, v in sorted(cats.items())}}


def hostile_inputs() -> dict[str, str]:
    """Inputs that once made the grader raise or take seconds to minutes (tests/test_grading_hostile.py asserts
    verdicts on them; benchmarks/grading_bench.py times them)."""
    return {
        "int_5000_digits": "1" * 5000,
        "int_200k_digits": "7" * 200_000,
        "decimal_5000_digits": "0." + "3" * 5000,
        "fraction_of_big_ints": "\\frac{" + "9" * 4400 + "}{" + "7" * 4400 + "}",
        "power_of_big_base": ("9" * 900) + "^{5000}",
        "power_tower": "9^{9^{9^{9}}}",
        "power_tower_2": "2^{2^{2^{30}}}",
        "huge_exponent": "10^{10^{10}}",
        "sci_notation_huge": "1e999999999",
        "factorial": "100000000!",
        "nested_parens": "(" * 2000 + "1" + ")" * 2000,
        "nested_braces": "{" * 2000 + "1" + "}" * 2000,
        "nested_frac": "\\frac{1}{" * 300 + "2" + "}" * 300,
        "unclosed_boxes": "\\boxed{" * 50_000,
        "many_boxes": "\\boxed{1} and " * 20_000,
        "dollars": "$" * 100_000,
        "open_parens_math": "\\(" * 100_000,
        "answer_then_spaces": "The answer is" + " " * 100_000 + "5",
        "answer_word_spaces": "answer" + " " * 100_000,
        "long_prose": "So the value is 5. " * 20_000,
        "unit_texts": "5" + " \\text{ cm}" * 20_000,
        "spaces_and": "1" + " " * 50_000 + "and 2",
        "expansion": "(x+1)^{5000}",
        "big_matrix": "\\begin{pmatrix}" + "\\\\".join(["&".join(["x"] * 30)] * 30) + "\\end{pmatrix}",
        "control_chars": "\u2212\u00bd\u221a2 \x00\x01\ud7ff",
        "hash_lines": "####\n" * 50_000,
        "question_markers": "Question:" * 30_000,
        "ratio_chain": ":".join(["1"] * 5000),
        "equation_chain": "x" + "=1" * 5000,
        "relation_chain": "<".join(["x"] * 3000),
        "lone_surrogates": "\ud800" * 30_000,
        "nul_bytes": "\x00" * 30_000,
    }
