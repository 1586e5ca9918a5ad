"""The paper presets do what the paper's runs did: the release's comparator, demos, GSM8K split, stops and cleanup.
Real-data checks use ../shared/data/w2s_official and skip when it is absent."""
import json
import shutil

import pytest

from w2s_lib.tasks import prompts as P
from w2s_lib.run.context import open_run
from w2s_lib.run.data import load_paper_splits, release_split_dir
from w2s_lib.grading.official import comparator_of, demos_mode, released_demos, released_demos_path
from w2s_lib.run.jsonl import DataError, read_jsonl
from w2s_lib.run.presets import list_presets, load_preset
from w2s_lib.stages.selection import agree_reasons, few_shot_prompt


def paper_presets():
    return [n for n in list_presets() if n.startswith("paper-") and load_preset(n).has_w2s]   # not paper-score-*


@pytest.mark.parametrize("name", paper_presets())
def test_paper_presets_default_to_the_release(name):
    p = load_preset(name)
    assert comparator_of(p) == "official" and demos_mode(p) == "released"
    assert list(p.generation["stop"]) == ["Question", "Answer"] and p.generation["cleanup"] == "release"
    assert released_demos(p).endswith("\n\n")                # every shipped demo file exists and is readable
    if p.dataset["name"] == "gsm8k":
        assert p.dataset["split"] == "official" and p.dataset["sizes"]["train_1"] == 7000
        assert p.dataset["sizes"]["train_2"] == 7000


@pytest.mark.parametrize("name", ["toy", "smoke", "single-gpu", "single-gpu-math"])
def test_other_presets_keep_our_choices(name):
    p = load_preset(name)
    assert comparator_of(p) == "math" and demos_mode(p) == "sampled"
    assert (p.generation.get("cleanup") or "strip") == "strip" and p.dataset.get("split") != "official"


def test_release_cleanup():
    assert P.clean_response(" 2+3=5.\n#### 5. ", "release") == "2+3=5.\n#### 5"
    assert P.clean_response(" ...#### 5. ", "strip") == "...#### 5."
    with pytest.raises(ValueError):
        P.clean_response("x", "other")


def test_olympic_demos_repeat_one_question_four_times():
    text = released_demos(load_preset("paper-olympicarena-llama3-8b"))
    blocks = text.split("\n\n\n")
    assert blocks[-1] == "" and len(blocks) == 5
    questions = [b.split("\n\nAnswer: ")[0] for b in blocks[:4]]
    answers = [b.split("\n\nAnswer: ", 1)[1] for b in blocks[:4]]
    assert len(set(questions)) == 1 and "ABO" in questions[0]      # as released: the same question 4 times
    assert len(set(answers)) == 4 and "enzyme" in answers[0]        # ... with four different responses


# ---- against the release's data ----------------------------------------------------------------------------
def test_gsm8k_demos_are_the_released_weak_outputs(shared_data):
    rows = read_jsonl(shared_data / "w2s_official" / "weak_outputs" / "gsm8k_train_2_llama2_7b.results.jsonl")
    text = released_demos(load_preset("paper-gsm8k-llama2-7b"))
    assert text == "\n\n".join(f"{rows[i]['prompt']} {rows[i]['response']}" for i in (2619, 456, 102, 3037)) + "\n\n"
    assert [rows[i]["result"] for i in (2619, 456, 102, 3037)].count(True) == 1


def test_d_icl_prompts_are_the_release_format_byte_for_byte(shared_data, tmp_path):
    ctx = open_run("paper-gsm8k-llama2-7b", 0, tmp_path / "run")
    train_2 = load_paper_splits("gsm8k")["train_2"]
    released = read_jsonl(shared_data / "w2s_official" / "weak_outputs" / "gsm8k_train_2_llama2_7b.results.jsonl")
    demos = released_demos(ctx.preset)
    assert released_demos_path(ctx.preset).name == "gsm8k_llama2_7b.txt"
    for rec, row in zip(train_2[:20], released[:20]):
        ours = few_shot_prompt(ctx, demos, rec, {})
        # the release: template + "Question: [INPUT]\nAnswer:" (src/prompt/prompts.py); its zero-shot prompt of
        # the same question is the `prompt` field of its weak outputs
        assert ours.encode() == (demos + row["prompt"]).encode()
        assert ours == demos + "Question: " + rec.question + "\nAnswer:"


@pytest.mark.parametrize("preset, prefix", [
    ("paper-gsm8k-llama2-7b", "gsm8k/train_gsm8k_llama2_7b_iter1"),
    ("paper-gsm8k-llama2-7b", "gsm8k/train_gsm8k_llama2_7b_iter2"),
    ("paper-math-llama2-7b", "math/train_math_llama2_7b_iter1"),
    ("paper-olympicarena-llama3-8b", "olympicarena/train_olympic_llama3-8b-instruct_iter1")])
def test_selection_keeps_every_released_question(shared_data, tmp_path, preset, prefix):
    """Our selection code (agree_reasons, comparator official), given the released weak and ICL answers, keeps
    every question the release kept; under `math` some are dropped (tests/fixtures/release/exceptions.json)."""
    lf = shared_data / "w2s_official" / "llama_factory"
    weak = json.loads((lf / f"{prefix}_weak.json").read_text())
    icl = json.loads((lf / f"{prefix}_icl.json").read_text())
    ctx = open_run(preset, 0, tmp_path / "run")

    class Q:                                                    # agree_reasons reads only .id
        def __init__(self, i):
            self.id = i
    qs = [Q(str(w["id"])) for w in weak]
    rows = lambda side: [{"id": str(r["id"]), "response": r["output"], "pred": ctx.pred(r["output"], None)}
                         for r in side]
    reasons = agree_reasons(ctx, rows(weak), rows(icl), qs)
    assert reasons == [None] * len(weak)
    if "gsm8k" in prefix or "olympic" in prefix:
        ctx_math = open_run(preset, 0, tmp_path / "run2", overrides={"stage1": {"comparator": "math"}})
        assert agree_reasons(ctx_math, rows(weak), rows(icl), qs).count(None) < len(weak)


# ---- the official split --------------------------------------------------------------------------------------
def test_official_split_from_a_copy_a_clone_and_the_release_cache(shared_data, tmp_path, monkeypatch):
    raw = shared_data / "w2s_official" / "raw"
    s = load_paper_splits("gsm8k")
    assert (len(s["train_1"]), len(s["train_2"]), len(s["test"])) == (7000, 7000, 1319)
    assert sum(r.id.startswith("aug") for r in s["train_1"] + s["train_2"]) == 14000 - 7473
    # a clone of the release repository: data/raw/gsm8k/train_{1,2}.jsonl and data/test/gsm8k.jsonl
    clone = tmp_path / "clone"
    (clone / "data" / "raw" / "gsm8k").mkdir(parents=True)
    (clone / "data" / "test").mkdir()
    for n in ("train_1.jsonl", "train_2.jsonl"):
        shutil.copy(raw / "gsm8k" / n, clone / "data" / "raw" / "gsm8k" / n)
    shutil.copy(raw / "gsm8k" / "test.jsonl", clone / "data" / "test" / "gsm8k.jsonl")
    c = load_paper_splits("gsm8k", clone)
    assert [r.to_dict() for r in c["train_2"]] == [r.to_dict() for r in s["train_2"]]
    # github:<repo>@<commit> reads its cache; with downloads off, a missing file is an error, not a download
    cache = tmp_path / "cache"
    monkeypatch.setenv("W2S_OFFLINE", "1")
    with pytest.raises(DataError, match="downloads are off"):
        release_split_dir("github:GAIR-NLP/weak-to-strong-reasoning@abc", "gsm8k", cache)
    shutil.copytree(raw / "gsm8k", cache / "gsm8k")
    g = load_paper_splits("gsm8k", "github:GAIR-NLP/weak-to-strong-reasoning@abc", cache_dir=cache)
    assert [r.id for r in g["train_1"]] == [r.id for r in s["train_1"]]
    with pytest.raises(DataError, match="neither"):
        release_split_dir(tmp_path, "gsm8k")


def test_official_votes_count_the_release_strings():
    from w2s_lib.tasks import GSM8KTask, MATHTask
    q = {"weak_response": "so\n#### 5", "samples": ["#### 5", "#### 5.0", "#### 0.50", "#### 0.5", "no answer"]}
    assert GSM8KTask("gsm8k").official_vote_keys([q]) == [["5", "5", "5", "0.50", "0.5", ""]]
    m = {"weak_response": "The answer is: \\frac12", "samples": ["The answer is: \\frac{1}{2}", "The answer is: 0.5"]}
    assert MATHTask("math").official_vote_keys([m]) == [["\\frac{1}{2}", "\\frac{1}{2}", "0.5"]]


def _demo_pairs(text: str, olympic: bool) -> list[tuple[str, str]]:
    """(prompt, response) of each demo block of a released demo string."""
    if olympic:
        blocks = [b for b in text.split("\n\n\n") if b]
        return [(b.split("\n\nAnswer: ", 1)[0] + "\n\nAnswer:", b.split("\n\nAnswer: ", 1)[1]) for b in blocks]
    blocks = [b for b in ("\n\n" + text).split("\n\nQuestion: ") if b.strip()]
    return [("Question: " + b.split("\nAnswer: ", 1)[0] + "\nAnswer:", b.split("\nAnswer: ", 1)[1].rstrip("\n"))
            for b in blocks]


@pytest.mark.parametrize("name, folder", [("gsm8k_llama2_7b", "gsm8k"), ("math_llama2_7b", "math"),
                                          ("olympicarena_llama3_8b_instruct", "olympicarena")])
def test_shipped_demos_are_released_weak_outputs(shared_data, name, folder):
    """Every demo of the files whose weak model's outputs the release ships is, byte for byte, a released prompt
    and a released weak response (OlympicArena: the repeated question's prompt, and four responses that the
    release's training files hold for other questions)."""
    from w2s_lib.run.paths import REPO_ROOT
    text = (REPO_ROOT / "data" / "release" / "demos" / f"{name}.txt").read_text()
    prompts, outputs = set(), set()
    for f in (shared_data / "w2s_official" / "llama_factory" / folder).glob("*.json"):
        for r in json.loads(f.read_text()):
            prompts.add(r.get("content") or r.get("instruction"))
            outputs.update(r["output"] if isinstance(r["output"], list) else [r["output"]])
    pairs = _demo_pairs(text, folder == "olympicarena")
    assert len(pairs) == 4
    assert all(p in prompts and o in outputs for p, o in pairs)
