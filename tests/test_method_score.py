"""SCORE's rules (w2s_lib.method.score) on solutions and critiques written the way the method's prompts ask for."""
import pytest

from w2s_lib.method import score as sr

WRONG = """Step 1: Hana has 8 marbles and finds 2 more, so she has 8 + 2 = 10 marbles.
Step 2: She gets 8 from Omar: 10 + 8 = 19 marbles.
Step 3: She loses 12: 19 - 12 = 7. The answer is \\boxed{7}."""

CRITIQUE = """Step 1: Hana has 8 marbles and finds 2 more, so she has 8 + 2 = 10 marbles.
Feedback: This step is correct.
Step 2: She gets 8 from Omar: 10 + 8 = 19 marbles.
Feedback: 10 + 8 is 18, not 19.
Step 3: She loses 12: 19 - 12 = 7. The answer is \\boxed{7}.
Feedback: It starts from the wrong total; 18 - 12 = 6, so the answer is 6."""


def test_split_steps_and_join_round_trip():
    steps = sr.split_steps(WRONG)
    assert len(steps) == 3 and steps[1].startswith("She gets 8")
    assert sr.split_steps(sr.join_steps(steps)) == steps
    # text before Step 1 is dropped; a continuation line stays with its step
    assert sr.split_steps("Let me think.\nStep 1: a\nstill a\nStep 2: b") == ["a\nstill a", "b"]


@pytest.mark.parametrize("text", ["no steps here", "Step 2: starts at two", "Step 1: a\nStep 3: gap"])
def test_split_steps_rejects_other_formats(text):
    assert sr.split_steps(text) == []


def test_parse_critique_pairs_steps_with_feedback():
    pairs = sr.parse_critique(CRITIQUE)
    assert [fb.split()[0] for _, fb in pairs] == ["This", "10", "It"]
    assert [s for s, _ in pairs] == sr.split_steps(WRONG)
    # a feedback over two lines stays one feedback; a step without feedback gets ""
    assert sr.parse_critique("Step 1: a\nFeedback: x\nmore x\nStep 2: b") == [("a", "x\nmore x"), ("b", "")]


def test_rule_filter_keeps_a_good_critique_and_hides_the_answer():
    v = sr.rule_filter(WRONG, CRITIQUE, "6")
    assert v.kept and v.reason == "kept"
    assert v.critique[-1] == (sr.split_steps(WRONG)[-1], "")       # the answer-bearing feedback is gone
    assert "6" not in v.critique[-1][1]
    assert v.critique[1][1] == "10 + 8 is 18, not 19."


def test_rule_filter_reasons():
    lines = CRITIQUE.splitlines()
    short = "\n".join(lines[:4])                                       # two blocks for three steps
    assert sr.rule_filter(WRONG, short, "6").reason == "step_feedback_count"
    edited = CRITIQUE.replace("10 + 8 = 19 marbles", "10 + 8 = 18 marbles")  # step not copied exactly
    assert sr.rule_filter(WRONG, edited, "6").reason == "step_not_copied"
    no_answer = CRITIQUE.replace("18 - 12 = 6, so the answer is 6.", "check the total again.")
    assert sr.rule_filter(WRONG, no_answer, "6").reason == "last_feedback_lacks_gold"
    # the "wrong" solution's last step already holds the gold answer: nothing to learn from
    assert sr.rule_filter(WRONG, CRITIQUE, "7").reason == "wrong_step_holds_gold"
    assert sr.rule_filter("The answer is 7.", CRITIQUE, "6").reason == "solution_not_in_steps"


@pytest.mark.parametrize("text,answer,expected", [
    ("so the answer is 6.", "6", True),
    ("the answer is 60", "6", False),
    ("1.6 apples", "6", False),
    ("it is 6.0 in all", "6", True),
    ("a total of 1,234 coins", "1234", True),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}", True),
    ("", "6", False),
    ("6", "", False),
])
def test_mentions(text, answer, expected):
    assert sr.mentions(text, answer) is expected


def test_refiner_target_names_the_first_wrong_step_only():
    kept = sr.rule_filter(WRONG, CRITIQUE, "6").critique
    fixed = "Step 1: 8 + 2 = 10.\nStep 2: 10 + 8 = 18.\nStep 3: 18 - 12 = 6. The answer is \\boxed{6}."
    target = sr.refiner_target(kept, fixed)
    assert target.startswith("Step 2: She gets 8 from Omar") and "Feedback: 10 + 8 is 18, not 19." in target
    assert "Step 1: Hana" not in target                                  # the correct step is not repeated
    feedback, correction = sr.split_refinement(target)
    assert correction == fixed and feedback.endswith("not 19.")
    # only the last step is wrong: its feedback was removed, the target says only that it is wrong
    only_last = tuple((s, "This step is correct.") for s, _ in kept[:-1]) + (kept[-1],)
    assert sr.first_error(only_last) == 2
    assert "Feedback: This step is incorrect." in sr.refiner_target(only_last, fixed)
    assert sr.split_refinement("no correction here") == ("", "")


def test_dedupe_keeps_first_in_order():
    ex = [{"prompt": "a", "target": "x", "i": 0}, {"prompt": "a", "target": "x", "i": 1},
          {"prompt": "a", "target": "y", "i": 2}]
    assert [e["i"] for e in sr.dedupe(ex)] == [0, 2]


def test_verify_then_refine_counts_fixed_and_broken():
    initial = [True, True, False, False, False]
    refined = [False, True, True, False, True]
    flags = [True, False, True, True, False]
    out = sr.verify_then_refine(initial, refined, flags)
    assert (out.initial, out.final, out.fixed, out.broken, out.flagged) == (2, 2, 1, 1, 3)
    assert out.accuracy == pytest.approx(0.4)
    # the oracle flags exactly the wrong ones: it can only fix
    oracle = sr.verify_then_refine(initial, refined, [not c for c in initial])
    assert oracle.broken == 0 and oracle.fixed == 2
    with pytest.raises(ValueError, match="one of each"):
        sr.verify_then_refine(initial, refined, flags[:-1])


def test_verifier_scores():
    s = sr.verifier_scores([True, False, True, True], [False, False, True, False])
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    none = sr.verifier_scores([False, False], [True, True])
    assert none["precision"] is None and none["recall"] is None


def test_threshold_grid_and_choice():
    grid = sr.threshold_grid()
    assert len(grid) == 51 and grid[0] == 0.5 and grid[10] == 0.6 and grid[-1] == 1.0
    assert sr.flags_at([0.6, 0.59], 0.6) == [True, False]
    p = [0.95, 0.70, 0.55, 0.52]
    initial = [False, True, True, False]
    refined = [True, False, False, False]
    t, acc = sr.choose_threshold(p, initial, refined)
    # refining only the 0.95 one is best: it fixes one and breaks none; 0.71 is the lowest threshold that does it
    assert t == pytest.approx(0.71) and acc == pytest.approx(0.75)
    with pytest.raises(ValueError):
        sr.choose_threshold(p, initial, refined, grid=[])
