"""The shipped toy base models (data/toy/) load with transformers and write text in the task's format."""
import json

import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from w2s_lib.run.paths import DATA_DIR
from w2s_lib.toy.build import TASK
from w2s_lib.toy.task import Difficulty, SplitSizes, make_splits
from w2s_lib.toy.tokenizer import unknown_pieces

TOY = DATA_DIR / "toy"


@pytest.fixture(scope="module")
def tok():
    if not (TOY / "tokenizer" / "tokenizer.json").is_file():
        pytest.fail(f"{TOY / 'tokenizer'} is missing: the toy world ships with the repository (git checkout data/toy, "
                    "or rebuild it with `make toy-models`)")
    return AutoTokenizer.from_pretrained(TOY / "tokenizer")


def test_build_record_names_seeds_configs_and_time():
    build = json.loads((TOY / "BUILD.json").read_text())
    for name in ("strong_base", "weak_base"):
        m = build["models"][name]
        assert m["train"]["seed"] is not None and m["seconds"] > 0 and m["params"] > 0
    assert build["models"]["strong_base"]["params"] > 4 * build["models"]["weak_base"]["params"]
    assert build["corpus"]["tokens"] > 1_000_000


@pytest.mark.parametrize("task", [TASK, Difficulty()], ids=["toy-task", "default-task"])
def test_shipped_tokenizer_round_trips_the_task(tok, task):
    recs = make_splits(SplitSizes(0, 0, 0, 100), seed=0, difficulty=task)["test"]
    for r in recs:
        text = f"Question: {r.question}\nAnswer: {r.solution}"
        assert unknown_pieces(tok, text) == []
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


@pytest.mark.parametrize("name", ["strong_base", "weak_base"])
def test_base_model_loads_and_continues_a_fewshot_prompt_in_format(name, tok):
    """Given 4 solved examples in the toy preset's task format, the base model's greedy continuation is a
    solution in that format: step lines and a `#### N` final line (correctness is the benchmark's business)."""
    model = LlamaForCausalLM.from_pretrained(TOY / name)
    model.eval()
    sp = make_splits(SplitSizes(4, 0, 0, 3), seed=0, difficulty=TASK)
    demos = "\n\n".join(f"Question: {r.question}\nAnswer: {r.solution}" for r in sp["train_1"])
    formatted = 0
    for r in sp["test"]:
        enc = tok(f"{demos}\n\nQuestion: {r.question}\nAnswer:", return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=90, do_sample=False, pad_token_id=tok.pad_token_id)
        text = tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).split("\n\n")[0]
        lines = text.strip().split("\n")
        formatted += lines[-1].startswith("#### ") and len(lines) >= 2
    assert formatted >= 2 if name == "strong_base" else formatted >= 0
