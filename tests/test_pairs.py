"""Stage II pair rules on hand-made cases (docs/paper_settings.md section 5)."""
import random

import pytest

from w2s_lib.grading.answers import extract_answer
from w2s_lib.method.pairs import (DISAGREE_LOW_CONF, LOW_CONFIDENCE, NO_ANSWER, NO_MINORITY, WEAK_CHOSEN,
                                  WEAK_REJECTED, build_pairs, pairs_for_question)
from w2s_lib.method.vote import passes, vote
from w2s_lib.tasks import Task


def grader_pairs(questions, **gates):
    """build_pairs with the default task's keys (the grader's clusters), as stage2.make_pairs computes them."""
    qs = [{**q, "weak_pred": extract_answer(q["weak_response"]), "preds": [extract_answer(s) for s in q["samples"]]}
          for q in questions]
    pairs, _, stats = build_pairs(qs, Task("toy").vote_keys(qs, [None] * len(qs)), **gates)
    return pairs, stats


def resp(ans: str) -> str:
    """A GSM8K-style response whose final answer is `ans` ('' = a response with no answer)."""
    return f"Some steps.\n#### {ans}" if ans else "Some steps that never finish"


def run(weak: str, answers: list[str], **kw):
    samples = [resp(a) for a in answers]
    keys = [a for a in answers]
    return pairs_for_question(resp(weak), weak, samples, keys, rng=random.Random(0), **kw)


def test_vote_ties_go_to_first_seen():
    v = vote(["7", "3", "3", "7", "1"])
    assert (v.top, v.count) == ("7", 2)
    v = vote(["3", "7", "7", "3"])
    assert v.top == "3"


def test_vote_counts_empty_answer_as_a_candidate():
    v = vote(["", "", "", "5", "5"])
    assert v.top == "" and v.confidence == pytest.approx(0.6)


def test_evaluation_vote_never_lets_the_empty_answer_win():
    # maj@k's vote: '' is not a candidate, but stays in the denominator of the share
    v = vote(["", "", "", "5", "5"], empty_wins=False)
    assert (v.top, v.count, v.confidence) == ("5", 2, 0.4)
    assert vote(["", ""], empty_wins=False).count == 0
    # above half of the samples, both votes agree (Stage II's 0.6 gate is decided the same way)
    keys = ["5", "", "5", "5", "2"]
    assert vote(keys) == vote(keys, empty_wins=False)


@pytest.mark.parametrize("count,n,threshold,ok", [(6, 10, 0.6, True), (5, 10, 0.6, False), (8, 10, 0.8, True),
                                                  (7, 10, 0.8, False), (3, 5, 0.6, True), (4, 5, 0.8, True)])
def test_gates_are_exact_at_the_boundary(count, n, threshold, ok):
    assert passes(count, n, threshold) is ok


def test_min_conf_boundary_six_of_ten_passes_five_does_not():
    pairs, reason, _ = run("4", ["4"] * 6 + ["1", "2", "3", "5"])
    assert reason is None and len(pairs) == 1
    pairs, reason, _ = run("4", ["4"] * 5 + ["1", "2", "3", "5", "6"])
    assert reason == LOW_CONFIDENCE and pairs == []


def test_flip_gate_boundary_eight_of_ten_flips_seven_does_not():
    pairs, reason, v = run("9", ["4"] * 8 + ["9", "1"])
    assert reason is None and v.confidence == pytest.approx(0.8)
    assert pairs[0]["branch"] == WEAK_REJECTED and pairs[0]["rejected"] == resp("9")
    assert pairs[0]["chosen"] == resp("4")
    pairs, reason, _ = run("9", ["4"] * 7 + ["9", "1", "2"])
    assert reason == DISAGREE_LOW_CONF and pairs == []


def test_weak_agrees_at_low_confidence_still_chosen():
    # 0.6 is enough when the weak answer IS the majority; only overriding the weak answer needs 0.8.
    pairs, reason, _ = run("4", ["4"] * 6 + ["1"] * 4)
    assert reason is None
    assert pairs == [{"chosen": resp("4"), "rejected": resp("1"), "branch": WEAK_CHOSEN}]


def test_unanimous_agreement_has_nothing_to_reject():
    pairs, reason, _ = run("4", ["4"] * 10)
    assert reason == NO_MINORITY and pairs == []


def test_majority_without_answer_is_skipped():
    pairs, reason, _ = run("4", [""] * 7 + ["4"] * 3)
    assert reason == NO_ANSWER


def test_empty_weak_answer_counts_as_disagreement():
    pairs, reason, _ = run("", ["4"] * 9 + ["5"])
    assert reason is None and pairs[0]["branch"] == WEAK_REJECTED
    pairs, reason, _ = run("", ["4"] * 7 + ["5"] * 3)
    assert reason == DISAGREE_LOW_CONF


def test_minority_samples_include_ones_without_answer():
    pairs, reason, _ = run("4", ["4"] * 9 + [""])
    assert reason is None and pairs[0]["rejected"] == resp("")


def test_up_to_three_pairs_agree_branch_distinct_minority_draws():
    answers = ["4"] * 6 + ["1", "2", "3", "5"]
    pairs, _, _ = run("4", answers, max_pairs=3)
    assert len(pairs) == 3 and all(p["chosen"] == resp("4") for p in pairs)
    assert len({p["rejected"] for p in pairs}) == 3
    assert {p["rejected"] for p in pairs} <= {resp(a) for a in ["1", "2", "3", "5"]}
    pairs, _, _ = run("4", ["4"] * 8 + ["1", "2"], max_pairs=3)   # only two minority samples: two pairs
    assert len(pairs) == 2


def test_up_to_three_pairs_disagree_branch_adds_distinct_majority_texts():
    samples = ["Path A.\n#### 4", "Path B.\n#### 4", "Path A.\n#### 4", "Path C.\n#### 4", "x\n#### 4",
               "y\n#### 4", "z\n#### 4", "w\n#### 4", "#### 9", "#### 1"]
    keys = ["4"] * 8 + ["9", "1"]
    pairs, reason, _ = pairs_for_question("#### 9", "9", samples, keys, rng=random.Random(1), max_pairs=3)
    assert reason is None and len(pairs) == 3
    assert all(p["rejected"] == "#### 9" and p["branch"] == WEAK_REJECTED for p in pairs)
    first = pairs[0]["chosen"]
    assert all(p["chosen"] != first for p in pairs[1:])


def test_equivalent_answers_written_differently_vote_together():
    # Uses the real grader: 0.5, \frac12, 1/2 and 50% are one answer; the weak 0.50 agrees with them.
    q = {"id": "q1", "prompt": "Question: x\nAnswer:", "weak_response": "so\n#### 0.50",
         "samples": ["a\n#### 0.5", "b\n#### \\frac12", "c\n#### 1/2", "d\n#### 0.5", "e\n#### \\frac{1}{2}",
                     "f\n#### 0.5", "g\n#### 3", "h\n#### 0.5", "i\n#### 2", "j\n#### .5"]}
    pairs, stats = grader_pairs([q])
    assert stats.pairs == 1 and pairs[0]["branch"] == WEAK_CHOSEN
    assert pairs[0]["confidence"] == pytest.approx(0.8)
    assert pairs[0]["rejected"] in ("g\n#### 3", "i\n#### 2")


def test_build_pairs_counts_every_question_once_and_is_deterministic():
    qs = [
        {"id": "a", "prompt": "p", "weak_response": resp("4"), "samples": [resp("4")] * 6 + [resp("1")] * 4},
        {"id": "b", "prompt": "p", "weak_response": resp("9"), "samples": [resp("4")] * 8 + [resp("2")] * 2},
        {"id": "c", "prompt": "p", "weak_response": resp("9"), "samples": [resp(str(i)) for i in range(10)]},
        {"id": "d", "prompt": "p", "weak_response": resp("4"), "samples": [resp("4")] * 10},
    ]
    key = lambda r: r.split("#### ")[1] if "#### " in r else ""
    keys = [[key(q["weak_response"])] + [key(r) for r in q["samples"]] for q in qs]
    p1, votes, s1 = build_pairs(qs, keys, seed=42)
    p2, _, _ = build_pairs(qs, keys, seed=42)
    assert p1 == p2
    assert s1.questions == 4 and s1.pairs == 2 and s1.weak_chosen == 1 and s1.weak_rejected == 1
    assert s1.skipped == {LOW_CONFIDENCE: 1, NO_ANSWER: 0, NO_MINORITY: 1, DISAGREE_LOW_CONF: 0}
    assert sum(s1.skipped.values()) + s1.questions_with_pairs == s1.questions
    assert [(v["reason"], v["pairs"], v["branch"]) for v in votes] == [
        (None, 1, WEAK_CHOSEN), (None, 1, WEAK_REJECTED), (LOW_CONFIDENCE, 0, None), (NO_MINORITY, 0, None)]


def test_symbolically_equal_answers_vote_together():
    # sqrt(8) and 2 sqrt(2) have different canonical keys; the grader's clusters merge them.
    q = {"id": "q", "prompt": "p", "weak_response": "The answer is: 2\\sqrt{2}",
         "samples": ["The answer is: \\sqrt{8}"] * 3 + ["The answer is: 2\\sqrt{2}"] * 3 + ["The answer is: 3"] * 4}
    pairs, stats = grader_pairs([q])
    assert stats.pairs == 1 and pairs[0]["confidence"] == pytest.approx(0.6)
    assert pairs[0]["branch"] == WEAK_CHOSEN and pairs[0]["rejected"] == "The answer is: 3"
