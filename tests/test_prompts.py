"""Prompt formats of the paper's release and stop-string truncation."""
import json

from w2s_lib.tasks.prompts import STOP, clean_response, completion, few_shot, truncate_at_stop, zero_shot


def test_zero_shot_and_completion_format():
    assert zero_shot("What is 2+3?") == "Question: What is 2+3?\nAnswer:"
    assert completion("2+3 = 5\n#### 5") == " 2+3 = 5\n#### 5"
    assert completion(" already spaced") == " already spaced"


def test_few_shot_joins_demos_with_blank_lines():
    p = few_shot([("q1", "a1\n#### 1"), ("q2", "a2")], "q3")
    assert p == "Question: q1\nAnswer: a1\n#### 1\n\nQuestion: q2\nAnswer: a2\n\nQuestion: q3\nAnswer:"
    assert few_shot([], "q") == zero_shot("q")


def test_stop_strings_end_a_demo_block_but_not_a_multiline_response():
    generated = " 48 / 2 = 24\nSo 48 + 24 = 72\n#### 72\n\nQuestion: next one"
    text, hit = truncate_at_stop(generated, STOP)
    assert hit and text == " 48 / 2 = 24\nSo 48 + 24 = 72\n#### 72"
    assert clean_response(text) == "48 / 2 = 24\nSo 48 + 24 = 72\n#### 72"
    assert truncate_at_stop(" 5\nQuestion: more", STOP) == (" 5", True)
    assert truncate_at_stop("no stop here", STOP) == ("no stop here", False)
    assert truncate_at_stop("abc", None) == ("abc", False)
    assert truncate_at_stop("xaybx", ["b", "a"]) == ("x", True)  # earliest occurrence wins, not list order


def test_release_prompts_are_zero_shot_prompts(shared_data):
    """The paper's LLaMA-Factory files hold exactly our zero-shot prompt for each question."""
    path = shared_data / "w2s_official" / "llama_factory" / "gsm8k" / "train_gsm8k_llama2_7b_iter1_hybrid.json"
    rows = json.loads(path.read_text())
    for row in rows[:200]:
        assert row["content"].startswith("Question: ") and row["content"].endswith("\nAnswer:")
        question = row["content"][len("Question: "):-len("\nAnswer:")]
        assert zero_shot(question) == row["content"]
        assert "\n\n" not in row["output"], "a response with a blank line would be cut by the stop strings"
