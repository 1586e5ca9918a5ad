"""The official grader (the paper release's test_answer / normalize_final_answer, and OlympicArena's judge)
against the release's own verdicts and kept data (../shared/data/w2s_official; skipped when absent)."""
import json

import pytest

from w2s_lib.grading.answers import is_correct
from w2s_lib.tasks import TASKS
from w2s_lib.grading.official import (is_correct_official, normalize_final_answer,
                                      official_gold, official_pred, test_answer as release_test_answer)
from w2s_lib.grading.official_olympic import auto_judge, judge_official, official_olympic_pred
from w2s_lib.run.jsonl import read_jsonl


# ---- the rules, one by one ------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, norm", [
    ("72", "72"), ("1,000", "1000"), ("3.0", "3"), ("3.00", "3"), ("50\\%", "50"), ("x = 5", "5"),
    ("$\\frac{1}{2}$", "\\frac{1}{2}"), ("\\boxed{\\frac12}", "\\frac{1}{2}"), ("\\sqrt2", "\\sqrt{2}"),
    ("B", "b"), ("12 dollars", "12"), ("\\text{(C)}", "(C)"), ("0.50", "0.50"), ("5 apples", "5apples"),
])
def test_normalize_final_answer(raw, norm):
    assert normalize_final_answer(raw) == norm


def test_prediction_rules():
    # the answer key must be on the LAST line, text from "Question" on is cut, "The answer is" is the fallback
    assert official_pred("2+3=5\n#### 5") == "5"
    assert official_pred("#### 5\nmore text") == ""
    assert official_pred("#### 5\nQuestion: next one\n#### 9") == "5"
    assert official_pred("So the total is 12. The answer is 1,200 dollars.") == "1200"
    assert official_pred("nothing here") == ""
    assert official_pred("... The answer is: \\frac{3}{2}", "The answer is:") == "\\frac{3}{2}"
    ok, pred, gold = release_test_answer("x\n#### 0.50", "0.5")
    assert (ok, pred, gold) == (False, "0.50", "0.5")            # string equality: what the release's runs did
    assert release_test_answer("x\n#### 0.50", "0.5", sympy=True)[0]   # the code as written, with parse_latex
    assert official_gold("a <<1+1=2>>2\n#### 2") == "2"


def test_is_correct_grader_switch():
    assert is_correct("x\n#### 0.50", "0.5")                      # ours: equal numbers
    assert not is_correct("x\n#### 0.50", "0.5", grader="official")
    assert is_correct("x\n#### 1,000", "1000", grader="official")
    with pytest.raises(ValueError):
        is_correct("1", "1", grader="nope")


def test_empty_predictions_agree_under_the_official_comparator():
    agree_official = TASKS["gsm8k"]("gsm8k").official_agree
    assert agree_official("no answer here", "none here either")
    assert agree_official("#### 5", "#### 5.0")
    assert not agree_official("#### 0.5", "#### 0.50")


# ---- against the release ---------------------------------------------------------------------------------------
def test_official_verdicts_equal_the_released_result_on_every_row(shared_data):
    rows = read_jsonl(shared_data / "w2s_official" / "weak_outputs" / "gsm8k_train_2_llama2_7b.results.jsonl")
    assert len(rows) == 7000
    out = [release_test_answer(r["response"], r["gold"], "####") for r in rows]
    assert [o[1] for o in out] == [r["pred"] for r in rows]
    assert [o[0] for o in out] == [r["result"] for r in rows]
    assert sum(o[0] for o in out) == 2896                        # 41.37%, the README's official accuracy
    # the same through the public API, with the gold taken from the released train_2 solutions
    train_2 = read_jsonl(shared_data / "w2s_official" / "raw" / "gsm8k" / "train_2.jsonl")
    assert [is_correct(r["response"], g["answer"], grader="official") for r, g in zip(rows[:500], train_2)] == \
        [r["result"] for r in rows[:500]]
    # the code as written (sympy) would call 13 of them differently: "0.50" vs "0.5" and the like
    differ = [r for r in rows if release_test_answer(r["response"], r["gold"], sympy=True)[0] != r["result"]]
    assert len(differ) == 13 and all(float(r["pred"]) == float(r["gold"]) for r in differ)


def _released(shared_data, prefix):
    lf = shared_data / "w2s_official" / "llama_factory"
    weak = json.loads((lf / f"{prefix}_weak.json").read_text())
    icl = json.loads((lf / f"{prefix}_icl.json").read_text())
    assert [w["id"] for w in weak] == [i["id"] for i in icl]
    return weak, icl


@pytest.mark.parametrize("prefix, dataset, both_empty", [
    ("gsm8k/train_gsm8k_llama2_7b_iter1", "gsm8k", 8), ("gsm8k/train_gsm8k_llama2_7b_iter2", "gsm8k", 11),
    ("math/train_math_llama2_7b_iter1", "math", 0),
    ("olympicarena/train_olympic_llama3-8b-instruct_iter1", "olympicarena", None),
    ("olympicarena/train_olympic_llama3-8b-instruct_iter2", "olympicarena", None)])
def test_every_released_kept_question_agrees_officially(shared_data, prefix, dataset, both_empty):
    weak, icl = _released(shared_data, prefix)
    task = TASKS[dataset](dataset)
    assert all(task.official_agree(w["output"], i["output"]) for w, i in zip(weak, icl))
    if both_empty is not None:
        key = "####" if dataset == "gsm8k" else "The answer is:"
        assert sum(official_pred(w["output"], key) == official_pred(i["output"], key) == ""
                   for w, i in zip(weak, icl)) == both_empty


def test_olympic_first_box_string_equality_would_not_explain_the_release(shared_data):
    weak, icl = _released(shared_data, "olympicarena/train_olympic_llama3-8b-instruct_iter1")
    differ = sum(official_olympic_pred(w["output"]) != official_olympic_pred(i["output"]) for w, i in zip(weak, icl))
    assert differ == 40                                          # hence OlympicTask.official_agree's judge-based rule


# ---- OlympicArena's judge ------------------------------------------------------------------------------------
def test_olympic_judge_rules():
    assert auto_judge("so \\boxed{3} and later \\boxed{4}", "3")           # the FIRST box
    assert not auto_judge("so \\boxed{3} and later \\boxed{4}", "4")
    assert auto_judge("\\boxed{1.000001}", "1")                            # absolute 1e-5 tolerance
    assert auto_judge("\\boxed{2e-7}", "1e-7")                             # ... even for tiny numbers
    assert not auto_judge("\\boxed{\\{3, 4\\}}", ["3", "4"], None)          # braces are not removed (SET)
    assert auto_judge("\\boxed{A, C}", ["A", "C"])                          # MC
    assert not auto_judge("no box at all", "5")
    assert judge_official("\\boxed{True}", {"answer": ["True"], "answer_type": "TF"})


def test_olympic_judge_on_real_rows(shared_data):
    gold = {r["id"]: r["answer"] for r in read_jsonl(shared_data / "olympicarena" / "hz_eval_olympicarena_math.jsonl")}
    assert all(auto_judge("\\boxed{" + a + "}", a) for a in gold.values()) and len(gold) == 120
    resp = [r for r in read_jsonl(shared_data / "olympicarena" / "w2s_llama3_8b_test_split_responses.jsonl")
            if r["id"] in gold]
    assert len(resp) == 15
    assert sum(judge_official(r["output"], {"answer": [gold[r["id"]]]}) for r in resp) == 4   # the README's count
    assert is_correct_official("x\n#### 5", "5", "####")
