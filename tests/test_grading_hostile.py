"""Hostile input never makes the grader raise, and every call returns a verdict.

Timing is measured in benchmarks/grading_bench.py (`hostile` workload), never asserted here. Each input below
once raised or took seconds to minutes: a 5,000-digit integer raised ValueError (Python's int-string limit),
200,000 digits hung for minutes, power towers and deep nesting sent sympy into 5 s timeouts, unclosed
`\\boxed{` runs made extraction quadratic.
"""
from __future__ import annotations

import pytest

from w2s_lib.grading.answers import (
    answers_match,
    canonical_key,
    cluster_answers,
    equations_match,
    extract_answer,
    grade_batch,
    is_correct,
    majority,
    match_batch,
)
from w2s_lib.grading.cases import hostile_inputs

HOSTILE = hostile_inputs()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_gets_a_verdict(name):
    h = HOSTILE[name]
    assert isinstance(extract_answer(h), str)
    assert isinstance(canonical_key(h), str)
    for response, gold in [(h, "1"), ("1", h), (h, h), ("The answer is $\\boxed{" + h + "}$", "5")]:
        assert isinstance(is_correct(response, gold), bool)
    assert isinstance(answers_match(h, "x+1"), bool)
    assert isinstance(equations_match(h, "x=1"), bool)
    labels = cluster_answers([h, "1", h])
    assert len(labels) == 3
    assert majority([h, "1", h], labels=labels).total == 3


def test_hostile_batch_rows_keep_their_places():
    rows = list(HOSTILE.values())
    got = grade_batch(rows + ["#### 72"], ["1"] * len(rows) + ["72"], progress=False)
    assert len(got) == len(rows) + 1 and all(isinstance(v, bool) for v in got)
    assert got[-1] is True  # the ordinary row after them is still graded right


def test_verdicts_that_are_knowable_stay_right():
    big = "1" * 5000
    assert is_correct(big, big)  # equal to itself (compared as an exact string)
    assert not is_correct(big, big[:-1])
    assert not is_correct("7" * 200_000, "7" * 199_999)
    assert not answers_match("9^{9^{9^{9}}}", "1")  # refused by sympy_safe: the conservative "not equal"
    assert not answers_match("(x+1)^{5000}", "(x+2)^{5000}")  # different values at a point
    assert match_batch([("2^{10}", "1024"), ("1" * 5000, "1" * 5000)]) == [True, True]
