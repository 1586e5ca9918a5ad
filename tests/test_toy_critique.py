"""The toy world's SCORE documents (w2s_lib.toy.critique) against SCORE's rules (w2s_lib.method.score)."""
import random
import re

import pytest

from w2s_lib.method import score as sr
from w2s_lib.toy import critique as cr
from w2s_lib.toy.build import STRONG_CORPUS, TASK
from w2s_lib.toy.corpus import Arithmetic, CorpusConfig
from w2s_lib.toy.errors import classify, question_terms
from w2s_lib.toy.task import count_spec, count_steps, render_count_solution

ALL_KINDS = {k: 1.0 for k in cr.DOC_KINDS}
HOLES = Arithmetic(STRONG_CORPUS)


def flagged(d) -> int:
    """The step a document's critique calls wrong first: the planted error, or the last step when the critic
    missed the error (only the reference's answer shows it)."""
    return len(sr.split_steps(d.solution)) - 1 if d.missed else d.first_error


def _docs(kind: str, holes: str = "avoid", errors: dict | None = None, n: int = 120, seed: int = 0):
    cfg = cr.default_config(seed=seed, holes=holes, mix={kind: 1.0},
                            **({"errors": errors} if errors else {}))
    return cr.examples(cfg, n)


@pytest.fixture(scope="module")
def critiques():
    """Critique documents of every error kind, in both hole modes."""
    out = []
    for holes in cr.HOLE_MODES:
        for err in cr.ERROR_KINDS:
            if err == "hole" and holes == "avoid":
                continue
            out += _docs("critique", holes, {err: 1.0}, n=25, seed=len(out))
    return out


def test_the_writer_reproduces_the_task_solution_and_steps_round_trip():
    for s in range(40):
        spec = count_spec(random.Random(s), TASK)
        q = cr.draw_question(random.Random(s), TASK)
        steps = count_steps(spec, random.Random(1000 + s))
        order = tuple(x[1] for x in steps if x[0] == "start") + tuple(x[2] for x in steps if x[0] == "add")
        gold = render_count_solution(spec, steps, TASK.start_phrase)
        assert cr.render(cr.write(q, order), TASK) == gold
        text = cr.as_steps(gold)
        assert text.splitlines()[0].startswith("Step 1: Begin with ")
        assert cr.from_steps(text) == gold
        assert cr.final_answer(text) == str(q.answer) == str(spec["total"])
        assert len(sr.split_steps(text)) == len(gold.splitlines())


def test_every_critique_is_kept_by_the_rule_filter_and_locates_the_planted_error(critiques):
    assert {d.error for d in critiques} == set(cr.ERROR_KINDS)
    for d in critiques:
        assert not d.correct and cr.final_answer(d.solution) != d.gold
        v = sr.rule_filter(d.solution, d.critique, d.gold)
        assert v.kept, (v.reason, d.text)
        assert v.critique[-1][1] == "" and sr.mentions(sr.parse_critique(d.critique)[-1][1], d.gold)
        assert sr.first_error(v.critique) == flagged(d)
        pairs = sr.parse_critique(d.critique)
        assert sr.first_error(pairs) == flagged(d)
        # every step before the planted error is called right; it and every later step wrong (the error carries);
        # a missed error: every step but the last called right
        assert [sr.says_correct(fb) for _, fb in pairs] == [i < flagged(d) for i in range(len(pairs))]


def test_some_critics_miss_an_arithmetic_error_and_still_name_the_references_answer(critiques):
    missed = [d for d in critiques if d.missed]
    assert 0.15 < len(missed) / len(critiques) < 0.45          # p_missed = 0.3
    for d in missed:
        assert d.error == "arithmetic"
        pairs = sr.parse_critique(d.critique)
        # the missed step gets a bare "correct": no false sum is stated
        assert pairs[d.first_error][1] == cr.OK
        # the critic went on from the wrong total: the steps after it are checked as written, and only the last
        # feedback, from the reference, says the answer is wrong
        wrong_answer = cr.final_answer(d.solution)
        assert pairs[-1][1] == f"{cr.WRONG} The answer is {d.gold}, not {wrong_answer}, as in the {cr.REF_NAME}."
        assert all(sr.says_correct(fb) for _, fb in pairs[:-1])
    assert [d for d in critiques if not d.missed and d.error == "arithmetic"]


def test_a_missed_error_needs_a_reference():
    d = next(d for d in _docs("critique", n=40) if d.missed)
    q = cr.Question(d.question, (), None)
    with pytest.raises(ValueError, match="reference"):
        cr.feedback(q, [], reference=False, missed=0)


def test_the_hint_is_a_correct_solution_of_the_same_question_in_another_order(critiques):
    for d in critiques:
        hint, wrong = sr.split_steps(d.hint), sr.split_steps(d.solution)
        assert cr.final_answer(d.hint) == d.gold
        # the last feedback names the hint as where the right answer stands (what SCORE's hint is for)
        last = sr.parse_critique(d.critique)[-1][1]
        assert last.endswith(f"The answer is {d.gold}, not {cr.final_answer(d.solution)}, as in the {cr.REF_NAME}.")
        assert classify(d.question, cr.from_steps(d.hint), d.gold) == "ok"
        if d.error != "skip" and not d.missed:   # the correction keeps the wrong solution's order: the hint's is another
            assert hint != sr.split_steps(d.correction)
            assert len(hint) == len(wrong)
        assert d.text.index(cr.REFERENCE) < d.text.index(cr.SOLUTION) < d.text.index(cr.CRITIQUE)


def test_planted_defects_in_a_critique_fail_the_rule_filter(critiques):
    for d in critiques[::7]:
        pairs = sr.parse_critique(d.critique)
        blocks = [f"Step {i}: {s}\nFeedback: {f}" for i, (s, f) in enumerate(pairs, 1)]
        # one feedback missing
        assert sr.rule_filter(d.solution, "\n".join(blocks[:-1]), d.gold).reason == "step_feedback_count"
        # a step not copied exactly: its first number changed
        s0 = pairs[0][0]
        n0 = re.search(r"\d+", s0).group()
        bad = [f"Step 1: {s0.replace(n0, str(int(n0) + 1), 1)}\nFeedback: {pairs[0][1]}"] + blocks[1:]
        assert sr.rule_filter(d.solution, "\n".join(bad), d.gold).reason == "step_not_copied"
        # the last feedback agrees with the wrong answer instead of naming the right one
        wrong = cr.final_answer(d.solution)
        bad = blocks[:-1] + [f"Step {len(pairs)}: {pairs[-1][0]}\nFeedback: {cr.OK} The answer is {wrong}."]
        assert sr.rule_filter(d.solution, "\n".join(bad), d.gold).reason == "last_feedback_lacks_gold"
        # a solution whose final step already holds the gold answer is not a wrong solution to critique
        steps = sr.split_steps(d.solution)
        right_end = sr.join_steps(steps[:-1] + [f"#### {d.gold}"])
        crit = "\n".join(blocks[:-1] + [f"Step {len(steps)}: #### {d.gold}\nFeedback: {pairs[-1][1]}"])
        assert sr.rule_filter(right_end, crit, d.gold).reason == "wrong_step_holds_gold"


def test_the_planted_error_is_the_kind_errors_classify_finds(critiques):
    expected = {"skip": "structure", "hole": "arithmetic"}
    for d in critiques:
        assert classify(d.question, cr.from_steps(d.solution), d.gold) == expected.get(d.error, d.error), d.text


def test_the_critic_states_only_true_arithmetic(critiques):
    claims = re.compile(r"(\d+) ([-+]) (\d+) is (\d+)")
    should = re.compile(r"It should be (\d+) ([-+]) [a-z]+ (\d+) = (\d+)\.")
    n = 0
    for d in critiques:
        for _, fb in sr.parse_critique(d.critique):
            for a, op, b, c in claims.findall(fb) + should.findall(fb):
                n += 1
                assert int(c) == (int(a) + int(b) if op == "+" else int(a) - int(b)), fb
    assert n > 500


def test_refinement_documents_round_trip_split_refinement():
    docs = _docs("refine", n=150)
    assert len({d.error for d in docs}) >= 4
    for d in docs:
        target = d.text.split(cr.REVIEW + "\n", 1)[1]
        assert target == d.critique
        head, corrected = sr.split_refinement(target)
        assert corrected == d.correction and cr.final_answer(corrected) == d.gold
        assert classify(d.question, cr.from_steps(corrected), d.gold) == "ok"
        (step, fb), = sr.parse_critique(head)
        assert head.startswith(f"Step {d.first_error + 1}: ")
        assert step == sr.split_steps(d.solution)[d.first_error] and not sr.says_correct(fb)
        # the correction keeps the steps before the first error
        assert sr.split_steps(corrected)[:d.first_error] == sr.split_steps(d.solution)[:d.first_error]


def test_apply_documents_hold_the_kept_critique_and_the_correction():
    for d in _docs("apply", n=100):
        after = d.text.split(f"\n{cr.CRITIQUE}\n", 1)[1]
        head, corrected = sr.split_refinement(after)
        assert head == d.critique and corrected == d.correction
        pairs = sr.parse_critique(head)
        assert [s for s, _ in pairs] == sr.split_steps(d.solution)
        assert pairs[-1][1] == cr.WRONG and not sr.mentions(pairs[-1][1], d.gold)   # the answer does not leak
        assert sr.first_error(pairs) == flagged(d)
        assert cr.final_answer(corrected) == d.gold
        if d.missed:               # nothing pointed at a step: the correction solves it again in another order
            assert sr.split_steps(corrected)[0] != sr.split_steps(d.solution)[0] or \
                sr.split_steps(corrected) != sr.split_steps(d.solution)


def _recompute(question: str, solution: str) -> bool:
    """Is every line of a toy solution right? Read from the texts alone: the question's numbers, the arithmetic of
    each line, each line continuing the previous total, every term used once, the removal last, `####` = total."""
    terms = question_terms(question)
    lines = cr.from_steps(solution).splitlines()
    m = re.fullmatch(r"Begin with ([a-z]+) (\d+)\.", lines[0])
    if not m or terms.get(m[1]) != int(m[2]):
        return False
    acc, used = int(m[2]), [m[1]]
    for line in lines[1:-1]:
        m = re.fullmatch(r"(\d+) ([-+]) ([a-z]+) (\d+) = (\d+)\.", line)
        if not m or int(m[1]) != acc or terms.get(m[3]) != int(m[4]) or m[3] in used:
            return False
        acc = acc + int(m[4]) if m[2] == "+" else acc - int(m[4])
        if int(m[5]) != acc:
            return False
        used.append(m[3])
    return sorted(used) == sorted(terms) and lines[-1] == f"#### {acc}"


def test_verification_labels_match_a_recomputation_of_the_solution():
    docs = _docs("verify", n=300) + _docs("verify", "true", {"hole": 1.0, "copy": 1.0}, n=100)
    labels = [d.correct for d in docs]
    assert 100 < sum(labels) < 300
    for d in docs:
        verdict = d.text.rsplit(cr.VERDICT, 1)[1].strip()
        assert verdict == cr.VERDICTS[d.correct]
        assert cr.read_verdict(d.text[len(cr.verify_prompt(d.question, d.solution)):]) is (not d.correct)
        # the verdict follows a check without a reference: a wrong solution's check calls a step wrong, a right
        # one's calls every step right and ends with the solution's own answer
        pairs = sr.parse_critique(d.critique)
        assert [s for s, _ in pairs] == sr.split_steps(d.solution)
        assert all(sr.says_correct(fb) for _, fb in pairs) == d.correct
        assert cr.REF_NAME not in d.critique
        assert _recompute(d.question, d.solution) == d.correct, d.text
        assert (cr.final_answer(d.solution) == d.gold) == d.correct


def test_holes_avoided_or_stated_with_their_true_value():
    avoid = cr.examples(cr.default_config(seed=1, mix=ALL_KINDS), 300)
    assert not [s for d in avoid for s in cr.stated_sums(d.text) if HOLES.is_hole(s[0], s[1])]
    hole = [d for d in _docs("critique", "true", {"hole": 1.0}, n=60) if not d.missed]
    assert len(hole) > 25
    for d in hole:
        fb = sr.parse_critique(d.critique)[d.first_error][1]
        a, b, c = map(int, re.search(r"(\d+) \+ (\d+) is (\d+), not \d+", fb).groups())
        step = sr.split_steps(d.solution)[d.first_error]
        assert HOLES.is_hole(a, b) and c == a + b
        assert step.endswith(f"= {HOLES.add(a, b)}.")          # the solution wrote the believed sum


def test_same_seed_same_documents():
    a = cr.documents(60, seed=3)
    assert a == cr.documents(60, seed=3)
    assert a != cr.documents(60, seed=4)
    assert cr.documents(30, seed=3, holes="true") != cr.documents(30, seed=3)


def test_a_few_hundred_documents_of_every_kind():
    docs = cr.examples(cr.default_config(seed=9, mix=ALL_KINDS), 400)
    assert {d.kind for d in docs} == set(cr.DOC_KINDS)
    for d in docs:
        assert d.text.startswith(cr.QUESTION + d.question + "\n")
        assert all(0 <= int(n) <= 199 for n in re.findall(r"\d+", d.text))
        # each document is its call's prompt, then the completion
        expected = {"critique": lambda: f"{cr.critique_prompt(d.question, d.hint, d.solution)}\n{d.critique}",
                    "apply": lambda: f"{cr.apply_prompt(d.question, d.solution, d.critique)}\n{d.correction}",
                    "refine": lambda: f"{cr.refine_prompt(d.question, d.solution)}\n{d.critique}",
                    "verify": lambda: f"{cr.verify_prompt(d.question, d.solution)}\n{d.critique}\n"
                                      f"{cr.VERDICT} {cr.VERDICTS[d.correct]}"}
        assert d.text == expected[d.kind]()


@pytest.mark.parametrize("changes, words", [
    ({"holes": "sometimes"}, "holes"), ({"mix": {"essay": 1.0}}, "mix"), ({"errors": {"copy": -1.0}}, "errors"),
    ({"errors": {"hole": 1.0}}, "avoid"), ({"p_missed": 1.5}, "p_missed"),
    ({"errors": {"hole": 1.0}, "holes": "true", "hole_corpus": CorpusConfig()}, "holes > 0")])
def test_bad_configs_say_what_is_wrong(changes, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        cr.default_config(**changes)


def test_groups_are_refused_with_a_clear_error():
    import dataclasses
    with pytest.raises(ValueError, match="group_prob"):
        cr.examples(cr.default_config(task=dataclasses.replace(TASK, group_prob=0.5)), 5)


@pytest.mark.parametrize("text, flag", [("Step 1: x\nFeedback: ok\nVerdict: incorrect", True),
                                        ("Verdict: correct\n", False), ("Verdict:  incorrect.", True),
                                        ("Step 1: x\nFeedback: This step is correct.", None),
                                        ("Verdict: correctly", None)])
def test_read_verdict(text, flag):
    assert cr.read_verdict(text) is flag


def test_answer_first_critiques_open_with_the_references_answer_and_still_pass_the_rule_filter():
    docs = cr.examples(cr.default_config(seed=5, mix={"critique": 1.0}, answer_first=True), 60)
    for d in docs:
        first, rest = d.critique.split("\n", 1)
        assert first == cr.answer_line(d.gold) == f"The answer is {d.gold}, as in the {cr.REF_NAME}."
        assert cr.final_answer(d.hint) == d.gold != cr.final_answer(d.solution)
        # the opening line is not a block: the parsed critique is the one without it
        assert sr.parse_critique(d.critique) == sr.parse_critique(rest)
        assert sr.rule_filter(d.solution, d.critique, d.gold).kept
    plain = cr.examples(cr.default_config(seed=5, mix={"critique": 1.0}), 60)
    assert all(d.critique.startswith("Step 1: ") for d in plain)


def test_last_repeats_answer_makes_the_last_feedback_the_answer_line_again():
    docs = cr.examples(cr.default_config(seed=6, mix={"critique": 1.0}, answer_first=True,
                                         last_repeats_answer=True), 60)
    for d in docs:
        pairs = sr.parse_critique(d.critique)
        assert pairs[-1][1] == f"{cr.WRONG} {cr.answer_line(d.gold)}"
        assert d.critique.splitlines()[0] == cr.answer_line(d.gold)
        v = sr.rule_filter(d.solution, d.critique, d.gold)
        assert v.kept and sr.first_error(v.critique) == (len(pairs) - 1 if d.missed else d.first_error)
