"""Loaders on the shipped fixtures (tests/fixtures/data, always run) and on ../shared/data (when present)."""
import json
from pathlib import Path

import pytest

from w2s_lib.run.data import (
    OLYMPIC_SUBJECTS, gold_answers, gsm8k_final_answer, last_boxed, load_gsm8k, load_jsonl_records,
    load_math, load_math500, load_math_train_pool, load_olympicarena, load_paper_splits, split_train,
)
from w2s_lib.run.jsonl import DataError
from w2s_lib.run.records import Record

FIX = Path(__file__).parent / "fixtures" / "data"
HUB = FIX / "hub"
OLY_DEFAULTS = {"language": "EN", "modality": "text-only", "subject": "Math", "answer_type": "NV"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """datasets' Arrow cache for hub-layout fixtures, kept out of ~/.cache."""
    return tmp_path_factory.mktemp("hf_cache")


# ---- answers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, gold", [
    ("a\n#### 72", "72"), ("#### 1,080", "1080"), ("x #### 109,200,000", "109200000"),
    ("#### 8 pizzas, 10 packs", "8 pizzas, 10 packs"),          # a list, not a thousands separator
    ("#### -3.5", "-3.5"), ("#### 1,23", "1,23"), ("no marker", None),
])
def test_gsm8k_final_answer(text, gold):
    assert gsm8k_final_answer(text) == gold


@pytest.mark.parametrize("text, inner", [
    (r"so $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
    (r"\boxed{1} then \boxed{\left( 3, \frac{\pi}{2} \right)}", r"\left( 3, \frac{\pi}{2} \right)"),
    (r"\fbox{7}", "7"), (r"$\boxed 5$", "5"), (r"\boxed{unclosed", None), ("none", None),
])
def test_last_boxed(text, inner):
    assert last_boxed(text) == inner


# ---- GSM8K ----------------------------------------------------------------------------------------------
def test_gsm8k_paper_split_fixture():
    s = load_paper_splits("gsm8k", root=FIX / "w2s_raw")
    assert {k: len(v) for k, v in s.items()} == {"train_1": 5, "train_2": 5, "test": 4}
    by_id = {r.id: r for r in s["train_1"] + s["train_2"]}
    assert by_id["gsm8k_345"].answer == "1080" and by_id["gsm8k_367"].answer == "850000"
    assert by_id["aug_19"].meta["augmented"] and not by_id["gsm8k_0"].meta["augmented"]
    assert by_id["gsm8k_0"].solution.endswith("#### 72")
    t = s["test"][2]
    assert (t.id, t.answer, t.meta["source"]) == ("gsm8k_test_2", "70000", "GSM8K")


def test_gsm8k_hub_layout_matches_paper_ids(cache):
    """openai/gsm8k train row k is the paper's gsm8k_k: the hub path and the release agree."""
    hub = load_gsm8k(HUB / "gsm8k", "train", cache_dir=cache)
    assert [r.id for r in hub] == [f"gsm8k_{k}" for k in range(6)]
    paper = {r.id: r for split in load_paper_splits("gsm8k", root=FIX / "w2s_raw").values() for r in split}
    for r in hub:
        if r.id in paper:
            assert (r.question, r.solution, r.answer) == (paper[r.id].question, paper[r.id].solution,
                                                          paper[r.id].answer)
    test = load_gsm8k(HUB / "gsm8k", "test", cache_dir=cache)
    assert [r.id for r in test][:2] == ["gsm8k_test_0", "gsm8k_test_1"] and test[2].answer == "70000"


def test_gsm8k_local_jsonl_without_ids(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_text(json.dumps({"question": "1+1?", "answer": "2\n#### 2"}) + "\n")
    assert load_gsm8k(p)[0] == Record("train_0", "1+1?", "2\n#### 2", "2", {"augmented": False})


# ---- MATH -----------------------------------------------------------------------------------------------
def test_math_hub_layout(cache):
    train = load_math(HUB / "hendrycks_math", "train", cache_dir=cache)
    assert len(train) == 14 and train[0].id == "math/train/algebra/0"
    assert {r.meta["subject"] for r in train} == {"Algebra", "Counting & Probability", "Geometry",
                                                   "Intermediate Algebra", "Number Theory", "Prealgebra",
                                                   "Precalculus"}
    assert all(r.answer == last_boxed(r.solution) for r in train)   # no `answer` column on the hub
    levels = {r.question: r.meta["level"] for r in train}
    assert levels["A right triangle has legs 3 and 4. How long is its hypotenuse?"] is None   # "Level ?"
    assert levels["A fair coin is tossed twice. What is the probability of two heads?"] == 2


def test_math_train_pool_excludes_math500(cache):
    m500 = load_math500(HUB / "MATH-500", cache_dir=cache)
    assert len(m500) == 7 and m500[0].id == "test/precalculus/807.json"
    pool, dropped = load_math_train_pool(HUB / "hendrycks_math", m500, cache_dir=cache)
    assert dropped == {"in the test set (MATH500)": 7}
    assert len(pool) == 14 + 7                      # 14 train + 14 test - 7 MATH500
    assert not {r.question for r in pool} & {r.question for r in m500}
    assert m500 == load_jsonl_records(FIX / "w2s_raw/math/test.jsonl", "math")   # hub dir == local file


# ---- OlympicArena ---------------------------------------------------------------------------------------
def test_olympicarena_hub_layout_filters_and_reports(cache):
    val, dropped = load_olympicarena(HUB / "OlympicArena", "val", subjects=OLYMPIC_SUBJECTS, cache_dir=cache)
    assert dropped == {"language != EN": 0, "not text-only (has figures)": 0,
                       "answer_type == CODE": 1, "answer_type == OT": 1}
    assert [r.id for r in val][:4] == ["Math_2888", "Math_1431", "Math_85", "Math_599"]
    assert gold_answers(val[2]) == ["-2^{1011}"] and json.loads(val[2].answer) == ["-2^{1011}"]
    assert val[0].meta["answer_type"] == "NV" and val[0].solution

    train_2, dropped = load_olympicarena(HUB / "OlympicArena", "test", cache_dir=cache)   # paper: no CS
    assert dropped == {"language != EN": 1, "not text-only (has figures)": 1,
                       "answer_type == CODE": 0, "answer_type == OT": 0}
    assert all(r.answer is None for r in train_2)  # HF test split: no public answers
    r = train_2[0]
    assert r.id == "Math_55" and r.meta["prompt"].startswith("You are participating in an international Math")
    assert "\n\nproblem:\n" + r.question in r.meta["prompt"]
    assert {x.meta["answer_type"] for x in train_2} >= {"NV", "TF", "TUP", "SC", "MC", "EQ"}


def test_olympicarena_local_jsonl(tmp_path):
    val, dropped = load_olympicarena(FIX / "olympicarena_val.jsonl")
    assert len(val) == 9 and dropped["answer_type == OT"] == 1
    assert dropped["subject not in ['Math', 'Physics', 'Chemistry', 'Biology', 'Geography', 'Astronomy']"] == 1
    # A file without language/modality/answer_type fails on the first missing field...
    p = tmp_path / "oa.jsonl"
    p.write_text(json.dumps({"id": "Math_1", "problem": "1+1?", "answer": "2"}) + "\n")
    with pytest.raises(DataError, match=r"oa\.jsonl:1: missing field 'answer_type'"):
        load_olympicarena(p)
    # ...unless the caller states them explicitly.
    recs, _ = load_olympicarena(p, defaults=OLY_DEFAULTS)
    assert gold_answers(recs[0]) == ["2"]


# ---- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, row, message", [
    ("gsm8k", {"answer": "#### 1"}, r"bad\.jsonl:2: missing field 'question'"),
    ("gsm8k", {"question": "q", "answer": "no final line"}, r"bad\.jsonl:2: field 'answer' has no '#### N'"),
    ("gsm8k", {"question": "q", "solution": "#### 5", "answer": "6"}, r"bad\.jsonl:2: answer '6' disagrees"),
    ("math", {"problem": "p", "level": 1, "subject": "Algebra"}, r"bad\.jsonl:2: missing field 'solution'"),
    ("math", {"problem": "p", "solution": "no box", "level": 1, "subject": "A"}, r"bad\.jsonl:2: no 'answer'"),
    ("math", {"problem": "p", "solution": r"\boxed{1}", "level": 1}, r"bad\.jsonl:2: missing field 'subject'"),
    ("math", {"problem": "p", "solution": r"\boxed{1}", "level": "hard", "type": "A"}, "not a MATH level"),
    ("olympicarena", {"id": "x", "answer_type": "NV", "language": "EN", "modality": "text-only",
                      "subject": "Math"}, r"bad\.jsonl:2: missing field 'problem'"),
    ("w2s", {"id": "x"}, r"bad\.jsonl:2: missing field 'question'"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, fmt, row, message):
    good = {"gsm8k": {"question": "q", "answer": "#### 1"},
            "math": {"problem": "p0", "solution": r"\boxed{1}", "level": 1, "subject": "A"},
            "olympicarena": {"id": "y", "problem": "p", **OLY_DEFAULTS},
            "w2s": {"id": "y", "question": "q"}}[fmt]
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError, match=message):
        load_jsonl_records(p, fmt)


def test_malformed_line_and_duplicate_id(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"id": "a", "question": "q"}\n{"id": "b", "question": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: malformed JSON"):
        load_jsonl_records(p, "w2s")
    p.write_text('{"id": "a", "question": "q"}\n\n{"id": "a", "question": "r"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:3: duplicate id 'a' \(first on line 1\)"):
        load_jsonl_records(p, "w2s")


def test_a_byte_that_is_not_utf8_names_file_and_line(tmp_path):
    p = tmp_path / "mine.jsonl"
    p.write_bytes('{"question": "Tom has 3 apples.", "answer": "#### 3"}\n'.encode()
                  + b'{"question": "Caf\xe9 sells 2 cakes.", "answer": "#### 2"}\n')
    with pytest.raises(DataError, match=r"mine\.jsonl:2: not valid UTF-8 \(byte 0xe9 at column 18\)"):
        load_jsonl_records(p, "gsm8k")


def test_math_train_splits_missing_from_snapshot_is_explained():
    with pytest.raises(DataError, match="load_math_train_pool"):
        load_paper_splits("math", root=FIX / "w2s_raw")


# ---- split ----------------------------------------------------------------------------------------------
def test_split_train_deterministic_disjoint_ordered():
    records = [Record(f"r{i}", f"q{i}") for i in range(100)]
    a1, a2 = split_train(records, 30, 50, seed=0)
    b1, b2 = split_train(records, 30, 50, seed=0)
    c1, _ = split_train(records, 30, 50, seed=1)
    assert (a1, a2) == (b1, b2) and a1 != c1
    assert (len(a1), len(a2)) == (30, 50) and not {r.id for r in a1} & {r.id for r in a2}
    pos = {r.id: i for i, r in enumerate(records)}
    assert [pos[r.id] for r in a1] == sorted(pos[r.id] for r in a1)          # dataset order kept
    with pytest.raises(ValueError, match="cannot take 60 \\+ 50"):
        split_train(records, 60, 50, seed=0)
    with pytest.raises(DataError, match="duplicate ids"):
        split_train(records + records[:1], 1, 1, seed=0)


# ---- real data (../shared/data) -------------------------------------------------------------------------
@pytest.mark.shared_data
def test_real_gsm8k_paper_splits(shared_data):
    s = load_paper_splits("gsm8k", root=shared_data / "w2s_official" / "raw")
    assert {k: len(v) for k, v in s.items()} == {"train_1": 7000, "train_2": 7000, "test": 1319}
    for split in s.values():
        assert all(r.answer and r.solution and r.question for r in split)
    assert not {r.id for r in s["train_1"]} & {r.id for r in s["train_2"]}
    assert {r.id.split("_")[0] for r in s["train_1"] + s["train_2"]} == {"gsm8k", "aug"}
    # Our gold equals the official grader's gold for the weak outputs on train_2 (joined by question);
    # the grader itself squeezes spaces and rewrites "0.00" as "0", which is all that may differ.
    by_q = {r.question: r.answer for r in s["train_2"]}
    rows = [json.loads(line) for line in
            open(shared_data / "w2s_official/weak_outputs/gsm8k_train_2_llama2_7b.results.jsonl")]
    assert len(rows) == 7000
    for row in rows:
        ours = by_q[row["prompt"].removeprefix("Question: ").removesuffix("\nAnswer:")]
        if ours != row["gold"]:
            assert ours.replace(" ", "") == row["gold"] or float(ours) == float(row["gold"]), (ours, row["gold"])


@pytest.mark.shared_data
def test_real_math500(shared_data):
    recs = load_math500(shared_data / "w2s_official/raw/math/test.jsonl")
    assert len(recs) == 500 and len({r.id for r in recs}) == 500
    assert {r.meta["level"] for r in recs} == {1, 2, 3, 4, 5}
    assert len({r.meta["subject"] for r in recs}) == 7
    assert all(r.answer for r in recs)
    assert sum(last_boxed(r.solution) == r.answer for r in recs) == 500   # the boxed helper agrees


@pytest.mark.shared_data
def test_real_olympicarena_fixture_rows(shared_data):
    oa = shared_data / "olympicarena"
    recs, dropped = load_olympicarena(oa / "hz_eval_olympicarena_math.jsonl", defaults=OLY_DEFAULTS)
    assert len(recs) == 120 and sum(dropped.values()) == 0
    assert all(len(gold_answers(r)) == 1 and gold_answers(r)[0] for r in recs)
    ids = {r.id for r in recs}
    w2s = [json.loads(line) for line in open(oa / "w2s_llama3_8b_test_split_responses.jsonl")]
    assert len(ids & {r["id"] for r in w2s}) == 15         # the README's 15 NV rows joinable to gold


@pytest.mark.shared_data
def test_real_gsm8k_run_data_is_sealed(shared_data, tmp_path):
    from w2s_lib.run.records import LeakageError, load_split, prepare_data, reference_gold

    s = load_paper_splits("gsm8k", root=shared_data / "w2s_official" / "raw")
    st = prepare_data(tmp_path, s["train_1"], s["train_2"], s["test"], config={"dataset": "gsm8k-paper"})
    m = st.metrics
    assert (m["n_train_1"], m["n_train_2"], m["n_test"]) == (7000, 7000, 1319)
    # The release's split repeats some Abel questions across train_1 and train_2; the metric says how many.
    norm = lambda q: " ".join(q.split()).lower()                                          # noqa: E731
    assert m["question_overlap_train_1_train_2"] == len({norm(r.question) for r in s["train_1"]}
                                                        & {norm(r.question) for r in s["train_2"]})
    assert m["question_overlap_train_2_test"] == 0
    q2 = load_split(tmp_path, "train_2")
    assert len(q2) == 7000 and q2[0].id == s["train_2"][0].id
    with pytest.raises(LeakageError):
        q2[0].answer
    text = (st.dir / "train_2.questions.jsonl").read_text()
    assert "####" not in text and '"answer"' not in text
    assert reference_gold(tmp_path, purpose="analysis") == s["train_2"]
