"""Unit tests for w2s_lib.grading.answers: extraction, equivalence (positive AND negative), keys, batches, the pool.

Fixture files in tests/fixtures/grading/ are copied from the paper's release (GSM8K / MATH, MIT) so these
tests run in a fresh clone; tests/test_grading_real.py runs the same checks on the full files.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from w2s_lib.grading.answers import (
    answers_match,
    canonical_key,
    cluster_answers,
    cluster_batch,
    extract_answer,
    gold_answer,
    grade_batch,
    grading_stats,
    is_correct,
    majority,
    match_batch,
)
from w2s_lib.grading.extract import last_boxed
from w2s_lib.grading.pool import STATS, SymbolicPool

FIX = Path(__file__).parent / "fixtures" / "grading"


# ---------------------------------------------------------------------------------------------- extraction

@pytest.mark.parametrize(
    "response, expected",
    [
        ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72"),
        ("So he makes 125,000-20,000=$105,000 in profit\n#### 105000", "105000"),
        ("#### $1,000.", "$1,000"),
        # MATH style: a box, then "The answer is:" (the paper's weak outputs)
        ("Thus $x=\\boxed{6}$. The answer is: 6", "6"),
        ("We get $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("nested $\\boxed{\\frac{\\sqrt{3}}{2}}$ done", "\\frac{\\sqrt{3}}{2}"),
        ("first \\boxed{1} then \\boxed{2}", "2"),
        ("an \\fbox{7} answer", "7"),
        ("space form \\boxed 5 ok", "5"),
        # OlympicArena style
        ("So we conclude.\nThe final answer is $\\boxed{3}$", "3"),
        ("The answer is 5.", "5"),
        ("The answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("The answer is:\n$12$", "12"),
        # two markers on one line: the last one wins
        ("The closest answer is $\\boxed{C. 34}$ dollars. The answer is: C", "C"),
        # a box after "The answer is" on a later line wins
        ("The answer is 4 maybe.\nActually $\\boxed{5}$", "5"),
        # runaway generation: ignore everything after a new "Question:"
        ("He has 5 apples.\n#### 5\n\nQuestion: How many pears?\nAnswer: 3 pears.\n#### 3", "5"),
        ("The answer is 7\nQuestion: next one\nThe answer is 9", "7"),
        # truncated box is ignored (unbalanced braces)
        ("The answer is 3. Then \\boxed{\\frac{1}{2", "3"),
        ("</s>#### 8</s>", "8"),
        # bare answers
        ("72", "72"),
        ("\\frac{1}{2}", "\\frac{1}{2}"),
        ("$\\frac{1}{2}$", "\\frac{1}{2}"),
        ("(1, -2)", "(1, -2)"),
        ("16 pounds", "16 pounds"),
        # free-form styles (more in tests/fixtures/grading/free_form_pairs.jsonl)
        ("We add them.\n\nAnswer: $\\frac{3}{4}$", "\\frac{3}{4}"),
        ("Answer \\[ 9 \\]", "9"),
        ("Final Answer: The largest $n$ is 34.", "34"),
        ("Final Answer: The final answer is $28\\%$. I hope it is correct.", "28\\%"),
        ("The integers are \\boxed{-2} and \\boxed{1}.", "-2, 1"),
        ("First $\\boxed{4}$, which fails. Rechecking, the answer is $\\boxed{5}$.", "5"),
        ("Step one.\nTherefore $x \\geq 5$ is the solution.", "x \\geq 5"),
        ("Step one.\nIn conclusion, the number of students is 35.", "35"),
        ("So $1/2$ is it. <|im_start|>user\nNext question, the answer is 7", "1/2"),
        # a mention of "the answer" mid-text is not a marker, and an unfinished output has no answer
        ("Line one.\nWe check that the answer $x$ satisfies the equation and then we", ""),
        # no answer at all
        ("", ""),
        ("He feeds them 1 cup in the morning\nHe feeds them 1 cup in the morning and 1", ""),
        ("She will use 5 minutes per question because 60 / 12 = 5 and then she", ""),
    ],
)
def test_extract_answer(response, expected):
    assert extract_answer(response) == expected


def test_gold_answer_accepts_bare_and_worked_golds():
    assert gold_answer("72") == "72"
    assert gold_answer("Step one.\n#### 1,000") == "1,000"
    assert gold_answer("so $\\boxed{\\frac{1}{4}}$.") == "\\frac{1}{4}"
    assert gold_answer("\\left( 3, \\frac{\\pi}{2} \\right)") == "\\left( 3, \\frac{\\pi}{2} \\right)"


# ---------------------------------------------------------------------------------------------- equivalence

EQUAL = [
    # integers and thousands separators
    ("1,000", "1000"), ("1{,}000", "1000"), ("10,\\!080", "10080"), ("-615,000", "-615000"), ("007", "7"),
    ("11,\\! 111,\\! 111,\\! 100", "11111111100"),
    # decimals vs fractions
    ("0.25", "\\frac14"), (".25", "1/4"), ("\\frac{1}{4}", "0.25"), ("\\dfrac{1}{4}", "\\tfrac14"), ("0.50", "0.5"),
    ("3.0", "3"), ("72.", "72"), ("\\frac{-3}{4}", "-0.75"), ("-\\frac{3}{4}", "\\frac{3}{-4}"), ("0.333", "\\frac{1}{3}"),
    # mixed numbers
    ("1\\frac{4}{5}", "9/5"), ("1 \\frac{4}{5}", "1.8"), ("2 1/2", "2.5"), ("137 \\frac{1}{2}", "275/2"),
    # percent, currency, units, \text{}
    ("50\\%", "50"), ("50%", "50"), ("\\$5", "5"), ("5 dollars", "5"), ("\\$1,000.50", "1000.5"), ("\\$32,\\!348", "32348"),
    ("5.4 \\text{ cents}", "5.4"), ("864 \\mbox{ inches}^2", "864"), ("15\\text{ cm}^2", "15"), ("16 pounds", "16"),
    ("\\text{Evelyn}", "Evelyn"), ("\\text{east}", "East"),
    # degrees
    ("90^\\circ", "90"), ("90^{\\circ}", "90"), ("90°", "90"), ("\\frac{270}7\\text{ degrees}", "\\frac{270}{7}"),
    # sqrt, pi, symbolic
    ("\\sqrt{8}", "2\\sqrt{2}"), ("\\sqrt2/2", "\\frac{1}{\\sqrt{2}}"), ("2\\pi", "\\pi \\cdot 2"), ("\\frac{\\pi}{2}", "\\pi/2"),
    ("x^2+2x+1", "(x+1)^2"), ("e^{-2}", "\\frac{1}{e^2}"), ("-2^{1011}", "-2^{1011}"), ("6 - 5i", "6-5i"),
    ("11\\sqrt2", "11 \\sqrt{2}"), ("\\frac{\\pi}{2}", "1.5707963267948966"),
    # tuples, intervals, sets
    ("(1,-2)", "(1, -2)"), ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi/2)"), ("(0.5, 1)", "(\\frac12, 1)"),
    ("(3,4]", "(3, 4]"), ("[-2,7]", "x \\in [-2,7]"), ("(-\\infty, 0]", "(-\\infty,0]"),
    ("\\{3, 4, 5\\}", "\\{5,4,3\\}"), ("3, 5, 7", "7,5,3"), ("1,-2", "-2, 1"), ("1 \\pm \\sqrt{19}", "1+\\sqrt{19}, 1-\\sqrt{19}"),
    # matrices
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
    ("\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}", "\\begin{pmatrix} -\\frac13 \\\\ \\frac23 \\end{pmatrix}"),
    # equations and inequalities
    ("x=3", "3"), ("3", "x = 3"), ("y = 2x + 3", "2x+3"), ("5x - 7y + 11z + 4 = 0", "-5x+7y-11z-4=0"),
    ("x<3", "3>x"), ("x \\le 3", "3 \\geq x"), ("2+3=5", "5"), ("30 x 6.67 = 200", "200"),
    ("y = 2x + 3", "2x - y + 3 = 0"), ("x+y=1", "2x+2y=2"),
    # multiple-choice letters
    ("(C)", "C"), ("\\text{(C)}", "C"), ("C", "c"), ("\\textbf{(B)}", "B"),
    # scientific notation
    ("1.5e3", "1500"), ("1.5\\times10^{3}", "1500"), ("1.5 \\cdot 10^3", "1500"), ("3\\times 10^{-2}", "0.03"), ("2^{10}", "1024"),
]

NOT_EQUAL = [
    ("x+y=3", "3"), ("3", "x+y=3"), ("x + y + z = 0", "2x-y+2z-8=0"), ("x=3", "x=4"), ("x<3", "x\\le 3"),
    ("y = 2x + 3", "2x - y + 4 = 0"), ("x = 3", "x + y = 3"),
    ("(1,-2)", "(1,-3)"), ("(1,-2)", "(-2,1)"), ("(3,4]", "(3,4)"), ("(1,2)", "\\{1,2\\}"), ("1,2", "1,2,3"),
    ("50", "0.5"), ("50\\%", "0.5"), ("10", "100"), ("12", "1.2"), ("1/4", "4"), ("-3", "3"), ("1,000", "1"),
    ("1000001", "1000000"), ("1e-8", "2e-8"), ("0.1234561", "0.1234564"), ("\\frac{1}{2}", "\\frac{1}{3}"),
    ("0.33", "1/3"), ("6.67", "20/3"), ("6.666", "6.667"), ("\\sqrt{2}", "1.41"), ("\\pi", "3.14"),
    ("A", "B"), ("(A)", "(B)"), ("\\text{Evelyn}", "Navin"), ("5", "five"), ("(1,2)", "1"), ("3", "(3,4)"),
    ("2x+3", "2x+4"), ("x^2+2x+1", "(x-1)^2"), ("2k+2", "2k"), ("6 - 5i", "6+5i"), ("\\infty", "-\\infty"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}"), ("90^\\circ", "\\frac{\\pi}{2}"),
    ("52_8", "42"), ("", "0"), ("0", ""), ("", ""),
]


def test_equal_pairs_match_both_ways():
    pairs = EQUAL + [(b, a) for a, b in EQUAL]
    got = match_batch(pairs)
    wrong = [p for p, ok in zip(pairs, got) if not ok]
    assert wrong == []


def test_unequal_pairs_do_not_match_either_way():
    pairs = NOT_EQUAL + [(b, a) for a, b in NOT_EQUAL]
    got = match_batch(pairs)
    wrong = [p for p, ok in zip(pairs, got) if ok]
    assert wrong == []


def test_single_call_api_agrees_with_batch():
    assert answers_match("\\sqrt{8}", "2\\sqrt{2}")
    assert not answers_match("x+y=3", "3")
    assert answers_match("0.25", "\\frac14")
    assert not answers_match("(1,-2)", "(1,-3)")


@pytest.mark.parametrize(
    "response, gold, ok",
    [
        ("Natalia sold 72 clips.\n#### 72", "72", True),
        ("#### 1,000", "1000", True),
        ("#### $4.20", "4.2", True),
        ("#### 30", "35", False),
        ("The answer is: \\frac{1}{2}", "0.5", True),
        ("so $x = \\boxed{3}$. The answer is: 3", "x=3", True),
        ("The final answer is $\\boxed{(1,-2)}$", "(1,-3)", False),
        ("", "0", False),
        ("   ", "0", False),
        ("He kept going and going", "0", False),
    ],
)
def test_is_correct(response, gold, ok):
    assert is_correct(response, gold) is ok


# ---------------------------------------------------------------------------------------------- keys

@pytest.mark.parametrize(
    "variants",
    [
        ["1000", "1,000", "1{,}000", "\\$1,000", "1000.0", "1000 dollars", "$1000$"],
        ["0.25", ".25", "\\frac14", "\\frac{1}{4}", "1/4", "\\dfrac{1}{4}", "0.250"],
        ["1.8", "1\\frac{4}{5}", "9/5", "\\frac{9}{5}", "1 4/5"],
        ["90", "90^\\circ", "90^{\\circ}", "90 \\text{ degrees}", "x = 90"],
        ["(1,-2)", "(1, -2)", "\\left(1,-2\\right)", "(1.0, -2)"],
        ["\\{3,4,5\\}", "\\{5, 4, 3\\}", "3, 4, 5", "5,3,4"],
        ["C", "(C)", "\\text{(C)}", "c"],
        ["\\frac{\\sqrt{3}}{2}", "\\dfrac{\\sqrt3}{2}", "\\frac{\\sqrt{3}}{2} ", "$\\frac{\\sqrt{3}}{2}$"],
    ],
)
def test_canonical_key_groups_equivalent_spellings(variants):
    keys = {canonical_key(v) for v in variants}
    assert len(keys) == 1, keys


def test_canonical_key_separates_different_answers_and_is_consistent_with_match():
    answers = ["1000", "100", "0.5", "50", "(1,-2)", "(1,-3)", "(-2,1)", "\\{1,-2\\}", "C", "D", "x+y=3", "3",
               "\\sqrt{2}", "2\\sqrt{2}", "(3,4]", "(3,4)"]
    keys = [canonical_key(a) for a in answers]
    assert len(set(keys)) == len(answers)
    # equal keys => match; for these answers different keys also mean "not equal"
    verdicts = match_batch([(a, b) for i, a in enumerate(answers) for b in answers[i + 1:]])
    assert not any(verdicts)
    assert canonical_key("") == "" and canonical_key("   ") == ""


def test_key_is_finer_than_match_where_documented():
    # equal by sympy or rounding, different keys: cluster_answers merges them
    for a, b in [("\\sqrt{8}", "2\\sqrt{2}"), ("0.333", "\\frac{1}{3}"), ("(x+1)^2", "x^2+2x+1")]:
        assert canonical_key(a) != canonical_key(b)
        assert answers_match(a, b)


# ---------------------------------------------------------------------------------------------- batches

def test_grade_batch_on_fixture_rows_matches_official_except_listed():
    rows = [json.loads(line) for line in open(FIX / "gsm8k_weak_sample.jsonl")]
    listed = {json.loads(line)["id"] for line in open(FIX / "gsm8k_weak_disagreements.jsonl")}
    ours = grade_batch([r["response"] for r in rows], [r["gold"] for r in rows], progress=False)
    differ = {r["id"] for r, o in zip(rows, ours) if o != r["result"]}
    assert differ == listed & {r["id"] for r in rows}
    assert differ  # the sample includes some listed disagreements (trailing zeros)


def test_grade_batch_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3 responses but 2 golds"):
        grade_batch(["1", "2", "3"], ["1", "2"], progress=False)


def test_math500_fixture_gold_equals_its_boxed_solution():
    rows = [json.loads(line) for line in open(FIX / "math500_sample.jsonl")]
    assert len(rows) >= 40
    pairs = [(r["answer"], last_boxed(r["solution"])) for r in rows]
    assert all(b is not None for _, b in pairs)
    assert all(match_batch(pairs))
    # and a full solution graded against its own answer is correct
    assert all(grade_batch([r["solution"] for r in rows], [r["answer"] for r in rows], progress=False))
    # and each gold differs from the next row's gold (no two neighbours in the file share a value)
    shifted = [(rows[i]["answer"], rows[i + 1]["answer"]) for i in range(len(rows) - 1)]
    assert not any(match_batch(shifted))


def test_cluster_and_majority():
    samples = ["\\frac12", "0.5", "1/2", "3", "x = 3", "", "\\sqrt{8}", "2\\sqrt{2}", "7", "0.50"]
    labels = cluster_answers(samples)
    assert labels == [0, 0, 0, 1, 1, -1, 2, 2, 3, 0]
    m = majority(samples, labels=labels)
    assert (m.answer, m.count, m.total) == ("\\frac12", 4, 10)
    assert m.confidence == pytest.approx(0.4)
    assert majority(["", ""]).count == 0
    # batch form: weak-vs-ICL agreement is "both answers in one cluster"
    groups = [["72", "72.0"], ["x+y=3", "3"], ["", ""]]
    assert cluster_batch(groups) == [[0, 0], [0, 1], [-1, -1]]


# ---------------------------------------------------------------------------------------------- the pool

def test_pool_kills_a_hung_comparison_and_keeps_going(caplog):
    pool = SymbolicPool(1)
    try:
        before = STATS["timeouts"]
        # sympy works on this for minutes (measured: over 15 s); the pool gives it 1 s, kills the worker and
        # moves on (its replacement starts in the background and takes the next task)
        got = pool.run([("(a+b+c+d)^{60}", "(a+b+c+e)^{60}"), ("x^2", "x \\cdot x")], timeout=1.0)
        assert got == [False, True]
        assert STATS["timeouts"] == before + 1
        assert "timed out" in caplog.text
    finally:
        pool.close()


def test_pool_refuses_what_sympy_could_not_finish():
    from w2s_lib.grading.pool import sympy_safe

    hostile = ["9^{9^{9^{9}}}", "2^{2^{2^{30}}}", "10^{10^{10}}", "(x+1)^{5000}", "\\sin(x)^{999}", "100000!",
               "(" * 30 + "1" + ")" * 30, "7" * 400, "x+" * 300 + "1"]
    assert not any(sympy_safe(h) for h in hostile)
    assert all(sympy_safe(s) for s in ["e^{x^2}", "2^{1011}", "(x+1)^{2}", "\\frac{\\sqrt{3}}{2}", "x^{10}"])
    pool = SymbolicPool(1)
    try:
        before = dict(STATS)
        assert pool.run([(h, "1") for h in hostile] + [("x^2", "x \\cdot x")], timeout=30.0) == [False] * 9 + [True]
        assert STATS["refused"] == before["refused"] + 9 and STATS["timeouts"] == before["timeouts"]
    finally:
        pool.close()


def test_pool_replaces_a_dead_worker():
    pool = SymbolicPool(1)
    try:
        pool.run([("x", "x")])
        before = STATS["crashes"]
        pool._workers[0].proc.kill()
        pool._workers[0].proc.wait()
        assert pool.run([("x^2", "x \\cdot x")]) == [True]
        assert STATS["crashes"] == before + 1
    finally:
        pool.close()


def test_single_calls_are_safe_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda p: answers_match(*p), [("\\sqrt{4}", "2"), ("\\sqrt{9}", "4")] * 4))
    assert got == [True, False] * 4
    assert "timeouts" in grading_stats()


# ---------------------------------------------------------------------------------------------- cheap checks

def test_float_evaluator_reads_constant_latex_only():
    from w2s_lib.grading.numeric import approx_value

    assert approx_value("3\\sqrt{13}") == pytest.approx(3 * 13 ** 0.5)
    assert approx_value("\\frac{\\pi}{6}") == pytest.approx(3.141592653589793 / 6)
    assert approx_value("2^{10}-1") == 1023
    assert approx_value("\\sqrt[3]{8}") == pytest.approx(2)
    assert approx_value("2(3+1)") == 8
    assert approx_value("-\\frac{3}{4}") == -0.75
    assert approx_value("e^{-2}") == pytest.approx(0.1353352832366127)
    assert approx_value("\\ln9-\\frac{3}{2}") == pytest.approx(0.6972245773362196)
    assert approx_value("\\log_2 8") == pytest.approx(3)
    for s in ["x+1", "6-5i", "\\infty", "\\log 10", "\\sin^2 x", "2^{2^{2^{30}}}", "\\frac{1}{0}", "\\sqrt{-1}", "1,2"]:
        assert approx_value(s) is None, s


@pytest.mark.parametrize(
    "a, b, verdict",
    [
        ("5", "\\sqrt{24}", False),  # different values: no sympy needed
        ("\\sqrt{51}", "3\\sqrt{13}", False),
        ("1.414", "\\sqrt{2}", True),  # the rounding rule, >= 3 places
        ("1.41", "\\sqrt{2}", False),
        ("\\frac{\\pi}{2}", "1.5708", True),
        ("3", "2x+3", False),  # a formula with a variable is not a constant
        ("3", "\\begin{pmatrix} 3 \\end{pmatrix}", False),
        ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\end{pmatrix}", False),
        ("12", "(0,9) \\cup (9,36)", False),
        ("1", "1 \\pm \\sqrt{19}", False),
        ("3", "x > 3", False),
        ("east", "2k+2", False),
        ("(C)", "288\\pi", False),
        ("(1,2)", "1", False),
        ("r = 0", "\\sec\\theta=\\cos 2 \\theta", False),  # equations in different unknowns (sympy: > 5 s)
        ("\\sqrt{4}", "2", None),  # same value: sympy must confirm
        ("x^2", "x \\cdot x", None),
    ],
)
def test_cheap_checks_settle_what_they_safely_can(a, b, verdict):
    from w2s_lib.grading.decide import decide
    from w2s_lib.grading.normalize import analyze

    assert decide(analyze(a), analyze(b)) is verdict
    if verdict is not None:
        assert answers_match(a, b) is verdict
