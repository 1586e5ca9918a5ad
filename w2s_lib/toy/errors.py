"""Classify what went wrong in a `count` solution (research instrument for docs/toy_world.md).

A response is checked line by line against the question's terms (marker -> number):
- format:     no `#### N` final line, or a line that is not a step
- arithmetic: a step `a op b = c` with c != a op b
- copy:       a marker followed by a number that is not that marker's number in the question
              (for a group marker, its product), or a product line with wrong factors
- structure:  a term missing from the sum, used twice, or an unknown marker
- carry:      the running total does not continue from the previous line
The first error found (in line order) is the response's error type; "ok" when the answer is right.
"""
from __future__ import annotations

import re
from collections import Counter

from .task import START_PHRASES

STEP = re.compile(r"^(\d+) ([-+]) ([a-z]+) (\d+) = (\d+)\.$")
START = re.compile(r"^(?:" + "|".join(map(re.escape, START_PHRASES)) + r") ([a-z]+) (\d+)\.$")
MUL = re.compile(r"^(\d+) ([a-z]+) hold (\d+) \* (\d+) = (\d+) [a-z]+\.$")


def question_terms(question: str) -> dict:
    """marker -> value for the question's terms, groups as marker -> (m, n), and the removal marker."""
    terms: dict = {}
    m = re.match(r"[A-Z][a-z]+ has (\d+) ", question)
    if m:
        terms["has"] = int(m.group(1))
    for verb, n in re.findall(r"(?:He|She) (finds|wins|makes|gets|picks|earns|gives|loses|sells|uses) (\d+) ",
                              question):
        terms[verb] = int(n)
    for m_, cs, n in re.findall(r"(?:buys|fills) (\d+) ([a-z]+) (?:of [a-z]+ )?with (\d+) ", question):
        terms[cs] = (int(m_), int(n))
    return terms


def classify(question: str, response: str, gold: str) -> str:
    lines = [x.strip() for x in response.strip().split("\n") if x.strip()]
    if not lines or not lines[-1].startswith("#### "):
        return "format"
    if lines[-1] == f"#### {gold}":
        return "ok"
    terms = question_terms(question)
    used: Counter = Counter()
    acc = None
    for line in lines[:-1]:
        if (m := MUL.match(line)):
            mm, cs, a, b, c = int(m[1]), m[2], int(m[3]), int(m[4]), int(m[5])
            if a * b != c:
                return "arithmetic"
            if cs not in terms or terms[cs] != (a, b) or mm != a:
                return "copy"
            continue
        if (m := START.match(line)):
            mk, v = m[1], int(m[2])
            if mk not in terms:
                return "structure"
            want = terms[mk] if not isinstance(terms[mk], tuple) else terms[mk][0] * terms[mk][1]
            if v != want:
                return "copy"
            used[mk] += 1
            acc = v
            continue
        if (m := STEP.match(line)):
            a, op, mk, b, c = int(m[1]), m[2], m[3], int(m[4]), int(m[5])
            if acc is not None and a != acc:
                return "carry"
            if mk not in terms:
                return "structure"
            want = terms[mk] if not isinstance(terms[mk], tuple) else terms[mk][0] * terms[mk][1]
            if b != want:
                return "copy"
            if (a + b if op == "+" else a - b) != c:
                return "arithmetic"
            used[mk] += 1
            acc = c
            continue
        return "format"
    if any(v > 1 for v in used.values()) or set(used) != set(terms):
        return "structure"
    return "final"          # every step right but the final line disagrees with the running total
