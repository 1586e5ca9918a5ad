"""Tests for w2s_lib.grading.olympic: prompts per answer type and the judge, including the official judge's traps.

Fixtures (tests/fixtures/olympic/, see its README): hand-written rows in the HF schema, one or two per answer
type, and 15 real prompts from the weak-to-strong release. tests/test_olympic_real.py runs on ../shared/data.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from w2s_lib.grading.olympic import (
    TYPE_DESCRIPTION,
    answers_agree,
    build_prompt,
    final_answer,
    gold_list,
    hf_prompt,
    judge,
    judge_batch,
    option_letters,
    prompt_fields,
)

FIX = Path(__file__).parent / "fixtures" / "olympic"
ROWS = {r["id"]: r for r in map(json.loads, open(FIX / "olympic_types.jsonl"))}


# ---------------------------------------------------------------------------------------------- prompts

def test_release_prompts_are_rebuilt_exactly():
    rows = [json.loads(line) for line in open(FIX / "w2s_prompts_sample.jsonl")]
    seen = set()
    for r in rows:
        fields = prompt_fields(r["content"])
        seen.add(fields["answer_type"])
        assert build_prompt(fields) == r["content"], r["id"]
    assert seen == {"SC", "MC", "TF", "NV", "SET", "EX", "EQ", "TUP", "MA"}


def test_prompt_of_a_record_built_like_the_data_loader_builds_it():
    # A Record as w2s_lib.run.data.olympic_record makes it: question = HF problem, the rest in meta
    from w2s_lib.run.records import Record

    row = next(json.loads(line) for line in open(FIX / "w2s_prompts_sample.jsonl") if '"Astronomy_1059"' in line)
    f = prompt_fields(row["content"])
    assert f["unit"] and f["context"]  # this one has both a unit and a context block
    meta = {"answer_type": f["answer_type"], "unit": f["unit"], "subject": f["subject"], "context": f["context"],
            "answer_sequence": None, "type_sequence": None, "language": "EN", "modality": "text-only", "prompt": None}
    rec = Record(row["id"], f["problem"], None, None, meta)
    assert build_prompt(rec) == row["content"]


def test_hf_prompt_field_is_used_as_is_with_the_release_rewrite():
    rec = {"prompt": "You are ...\nThis is a True or False question.\n\nproblem:\nIs 1 odd?\n\nYou can solve it."}
    assert build_prompt(rec) == "You are ...\nThis is a True or False question.\n\nQuestion: Is 1 odd?\n\nYou can solve it.\n\nAnswer:"


@pytest.mark.parametrize("rid", sorted(ROWS))
def test_every_fixture_type_gets_a_prompt(rid):
    row = ROWS[rid]
    p = build_prompt(row)
    assert p.startswith(f"You are participating in an international {row['subject']} competition")
    assert f"\n\nQuestion: {row['problem']}\n\n" in p and p.endswith("\n\nAnswer:")
    assert TYPE_DESCRIPTION[row["answer_type"]] in p
    assert "\\boxed{ANSWER}" in p


def test_prompt_details_per_type():
    assert "one of the options: [A, B, C, D]." in build_prompt(ROWS["Fixture_SC"])
    assert "two or more of the options: [A, B, C, D]." in build_prompt(ROWS["Fixture_MC"])
    nv = build_prompt(ROWS["Fixture_NV_unit"])
    assert "calculated in the unit of \\mathrm{~m} / \\mathrm{s}, but when concluding" in nv
    assert nv.endswith("where ANSWER is the numerical value without any units.\n\nAnswer:")
    assert build_prompt(ROWS["Fixture_NV_int"]).endswith("where ANSWER is the numerical value.\n\nAnswer:")
    mpv = build_prompt(ROWS["Fixture_MPV"])
    assert "in the following order: [the mass $m$, the speed $v$]." in mpv
    assert "Their units are, in order, [kg, m/s]" in mpv and "[numerical value, numerical value]" in mpv
    assert "The final answers are \\boxed{ANSWER}" in mpv
    assert option_letters("Statements:\nA: x\nB: y\nOptions:\nA: 1\nB: 2\nC: 3") == ["A", "B", "C"]


def test_prompt_fields_round_trip_for_inferred_types_and_rejects_other_text():
    for rid in ("Fixture_MPV", "Fixture_MPV_mixed", "Fixture_IN", "Fixture_NV_unit"):
        row = ROWS[rid]
        fields = prompt_fields(build_prompt(row))
        assert build_prompt(fields) == build_prompt(row)
        assert fields["answer_type"] == row["answer_type"] and fields["problem"] == row["problem"]
    with pytest.raises(ValueError, match="not an OlympicArena release prompt"):
        prompt_fields("Question: 1+1?\nAnswer:")


def test_prompt_needs_fields():
    with pytest.raises(ValueError, match="need subject, answer_type"):
        build_prompt({"id": "x", "problem": "p", "answer_type": "NV"})


# ---------------------------------------------------------------------------------------------- judge

def box(s: str) -> str:
    return f"Some reasoning.\n\nThe final answer is $\\boxed{{{s}}}$."


CASES = {
    "Fixture_SC": [(box("B"), True), (box("(B)"), True), (box("\\text{B}"), True),
                   (box("B: $3 \\mathrm{~m} / \\mathrm{s}^{2}$"), True), (box("A"), False), (box("A, B"), False),
                   (box("3"), False),
                   # official reads the FIRST box; the final answer is the last one
                   ("First guess $\\boxed{A}$, but no.\nThe final answer is $\\boxed{B}$", True),
                   ("First guess $\\boxed{B}$, but no.\nThe final answer is $\\boxed{A}$", False)],
    "Fixture_MC": [(box("AC"), True), (box("A, C"), True), (box("C, A"), True), (box("A and C"), True),
                   (box("\\text{A, C}"), True), ("So \\boxed{A} and \\boxed{C}", True),
                   (box("A"), False), (box("ABC"), False), (box("AD"), False), (box("A, A"), False)],
    "Fixture_TF": [(box("False"), True), (box("\\text{False}"), True), (box("false"), True),
                   (box("True"), False), (box("0"), False)],
    "Fixture_NV_unit": [(box("3 \\times 10^{8}"), True), (box("3.0 \\times 10^8 \\mathrm{~m} / \\mathrm{s}"), True),
                        (box("2.98 \\times 10^{8}"), True), (box("299792458"), True),
                        (box("3.2 \\times 10^{8}"), False), (box("3 \\times 10^{9}"), False), (box("3"), False)],
    # official: |1e-34 - 6.63e-34| <= 1e-5, so any tiny number is "correct"
    "Fixture_NV_tiny": [(box("6.626 \\times 10^{-34}"), True), (box("6.63e-34"), True),
                        (box("1 \\times 10^{-34}"), False), (box("0"), False)],
    "Fixture_NV_int": [(box("2017"), True), (box("2017.0"), True), (box("2,017"), True), (box("n = 2017"), True),
                       (box("2018"), False), (box("2017.01"), False), (box("20170"), False)],
    "Fixture_NV_expr": [(box("\\ln 9 - \\frac{3}{2}"), True), (box("2\\ln 3 - 1.5"), True), (box("0.6972246"), True),
                        (box("0.70"), False), (box("\\ln 9"), False)],
    "Fixture_SET": [(box("\\{3, 7, 11\\}"), True), (box("11, 3, 7"), True), (box("\\{3, 3, 7, 11\\}"), True),
                    (box("\\{3, 7\\}"), False), (box("\\{3, 7, 11, 13\\}"), False)],
    "Fixture_SET_braced": [(box("\\{2, -2\\}"), True), (box("-2, 2"), True), (box("\\{2\\}"), False)],
    "Fixture_IN": [(box("(-\\infty, -1) \\cup (2, +\\infty)"), True), (box("(2, \\infty) \\cup (-\\infty, -1)"), True),
                   (box("x \\in (-\\infty,-1)\\cup(2,\\infty)"), True),
                   (box("(-\\infty, -1) \\cup [2, +\\infty)"), False), (box("(-\\infty, -1)"), False),
                   (box("(-\\infty, -2) \\cup (2, +\\infty)"), False)],
    "Fixture_EX": [(box("\\frac{g t^2}{2}"), True), (box("h = \\frac{1}{2}gt^2"), True), (box("0.5 g t^{2}"), True),
                   (box("g t^2"), False), (box("\\frac{1}{2} g t"), False)],
    "Fixture_EQ": [(box("x^2 + 2y^2 = 4"), True), (box("\\frac{x^{2}}{4}+\\frac{y^{2}}{2}=1"), True),
                   (box("x^2+y^2=4"), False), (box("\\frac{x^2}{4}+\\frac{y^2}{2}"), False)],
    "Fixture_TUP": [(box("(3, 5)"), True), (box("(3.0, 5)"), True), (box("(5, 3)"), False), (box("(3, 5, 0)"), False)],
    "Fixture_MPV": [("The final answers are \\boxed{2, 5}", True), ("\\boxed{2 \\mathrm{~kg}, 5 \\mathrm{~m/s}}", True),
                    ("Mass and speed: \\boxed{2}, \\boxed{5}", True),
                    ("\\boxed{5, 2}", False), ("\\boxed{2, 5, 7}", False), ("\\boxed{2}", False)],
    "Fixture_MPV_mixed": [("\\boxed{\\sqrt{2} v_0, 45}", True), ("\\boxed{45, \\sqrt{2} v_0}", False),
                          ("\\boxed{2 v_0, 45}", False)],
    "Fixture_MA": [("\\boxed{\\frac{\\pi}{4}, \\frac{3\\pi}{4}}", True), ("\\boxed{\\frac{3\\pi}{4}, \\frac{\\pi}{4}}", True),
                   ("\\boxed{0.7854, 2.3562}", True), ("\\boxed{\\frac{\\pi}{4}, \\frac{\\pi}{4}}", False),
                   ("\\boxed{\\frac{\\pi}{4}}", False)],
}


def test_every_answer_type_has_cases():
    assert {ROWS[r]["answer_type"] for r in CASES} == {"SC", "MC", "TF", "NV", "SET", "IN", "EX", "EQ", "TUP", "MPV", "MA"}
    assert set(CASES) == set(ROWS)


@pytest.mark.parametrize("rid, response, verdict", [(r, resp, v) for r, cases in CASES.items() for resp, v in cases])
def test_judge(rid, response, verdict):
    assert judge(response, ROWS[rid]) is verdict


def test_judge_accepts_record_like_objects():
    from types import SimpleNamespace

    row = ROWS["Fixture_MC"]
    rec = SimpleNamespace(id=row["id"], answer=json.dumps(row["answer"]), meta={"answer_type": "MC"})
    assert gold_list(rec) == ["A", "C"]
    assert judge(box("CA"), rec) and not judge(box("C"), rec)
    try:
        from w2s_lib.run.records import Record
    except ImportError:  # pragma: no cover - records.py is another helper's module
        return
    rec = Record("Fixture_TUP", row["problem"], None, json.dumps(["(3, 5)"]), {"answer_type": "TUP"})
    assert judge(box("(3,5)"), rec) and not judge(box("(5,3)"), rec)


def test_no_answer_and_unknown_type():
    assert not judge("", ROWS["Fixture_NV_int"])
    assert not judge("I think it is large.", ROWS["Fixture_NV_int"])
    with pytest.raises(ValueError, match="unknown OlympicArena answer type"):
        judge(box("1"), {"answer": ["1"], "answer_type": "XYZ"})
    with pytest.raises(ValueError, match="no gold answer"):
        judge(box("1"), {"id": "Math_1", "answer": None, "answer_type": "NV"})


def test_auto_type_when_the_record_has_none():
    assert judge(box("B"), {"answer": ["B"]})
    assert judge(box("\\frac{1}{2}"), {"answer": ["0.5"]})
    assert not judge(box("C"), {"answer": ["B"]})
    assert judge("\\boxed{5, 2}", {"answer": ["2", "5"], "type_sequence": ["NV", "NV"]})  # MA fallback


def test_final_answer_reading():
    assert final_answer("x \\boxed{1} then\nThe final answer is $\\boxed{2}$") == "2"
    assert final_answer("The final answer is 7.") == "7"
    assert final_answer("The final answers are 2, 5") == "2, 5"
    assert final_answer("\\boxed{A}\n\n\nYou are participating in an international Biology competition\n\\boxed{C}") == "A"
    assert final_answer("So \\boxed{2}, \\boxed{5}", "MPV") == "2, 5"
    assert final_answer("So \\boxed{2}, \\boxed{5}", "NV") == "5"


def test_answers_agree_never_reads_gold_and_handles_non_letters():
    sc = {"answer_type": "SC", "answer": None}
    assert answers_agree(box("B"), box("(B)"), sc)
    assert not answers_agree(box("B"), box("C"), sc)
    assert answers_agree(box("8.2"), box("8.20"), sc)  # both answered a number to a multiple-choice question
    mc = {"answer_type": "MC"}
    assert answers_agree(box("A, C"), box("CA"), mc) and not answers_agree(box("A"), box("AD"), mc)
    assert not answers_agree("no answer", box("A"), mc)


def test_judge_batch():
    rows = [ROWS["Fixture_SC"], ROWS["Fixture_NV_int"]]
    assert judge_batch([box("B"), box("2016")], rows, progress=False) == [True, False]
    with pytest.raises(ValueError, match="2 responses but 1 records"):
        judge_batch(["a", "b"], rows[:1])
