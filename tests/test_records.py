import json
import subprocess
import sys

import pytest

from w2s_lib.run.jsonl import DataError
from w2s_lib.run.paths import REPO_ROOT
from w2s_lib.run.records import (
    GOLD_KEYS, LeakageError, QuestionRecord, Record, forbid_gold, gold_access_log, hide_gold, load_split,
    prepare_data, reference_gold,
)
from w2s_lib.run.runstore import StageMissingError


def rec(i, answer="7", **meta):
    return Record(f"q{i}", f"What is {i}+{i}?", f"{i}+{i} = 7. #### {answer}", answer, meta)


@pytest.fixture
def run(tmp_path):
    """A run directory with 3 train_1, 4 train_2 (meta carries a stray gold key) and 2 test records."""
    run_dir = tmp_path / "runs/toy/seed0"
    train_1 = [rec(i) for i in range(3)]
    train_2 = [rec(i, level=2, final_answer="7") for i in range(10, 14)]
    test = [rec(i) for i in range(20, 22)]
    prepare_data(run_dir, train_1, train_2, test, config={"dataset": "toy"})
    return run_dir, train_1, train_2, test


def test_record_roundtrip_and_errors():
    r = rec(1, level=3)
    assert Record.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    with pytest.raises(DataError, match=r"f\.jsonl:4: missing field 'question'"):
        Record.from_dict({"id": "a"}, "f.jsonl", 4)
    with pytest.raises(DataError, match="field 'answer' must be a string"):
        Record.from_dict({"id": "a", "question": "q", "answer": 3}, "f.jsonl", 1)


def test_gold_free_record_refuses_every_door_but_one():
    q = hide_gold([rec(1, level=2, final_answer="7", gold="7")])[0]
    assert (q.id, q.question, q.meta) == ("q1", "What is 1+1?", {"level": 2})
    for name in ("answer", "solution"):
        with pytest.raises(LeakageError, match=r"reference_gold\(run_dir, purpose="):
            getattr(q, name)
        with pytest.raises(LeakageError):
            getattr(q, name, None)          # a default does not turn the leak into a silent None
        with pytest.raises(LeakageError):
            q[name]
    for key in ("answer", "final_answer", "gold"):
        with pytest.raises(LeakageError):
            q.meta[key]
        with pytest.raises(LeakageError):
            q.meta.get(key)
    with pytest.raises(LeakageError):
        q.meta["solution"] = "sneaked in"
    with pytest.raises(AttributeError):
        q.no_such_field
    assert q["question"] == q.question
    assert not GOLD_KEYS & set(q.to_dict()) and not GOLD_KEYS & set(q.to_dict()["meta"])


def test_question_record_from_gold_row_is_refused():
    with pytest.raises(LeakageError, match=r"q\.jsonl:2: .*\['answer'\]"):
        QuestionRecord.from_dict({"id": "a", "question": "q", "answer": "1"}, "q.jsonl", 2)
    with pytest.raises(LeakageError, match=r"meta\.solution"):
        QuestionRecord.from_dict({"id": "a", "question": "q", "meta": {"solution": "s"}})
    with pytest.raises(LeakageError):
        QuestionRecord("a", "q", {"gold": "1"})


def test_prepare_data_writes_sealed_layout(run):
    run_dir, train_1, train_2, test = run
    d = run_dir / "data"
    assert sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()) == [
        "config.json", "manifest.json", "metrics.json", "sealed/train_2.gold.jsonl", "test.jsonl", "train_1.jsonl",
        "train_2.questions.jsonl"]
    questions = [json.loads(line) for line in (d / "train_2.questions.jsonl").read_text().splitlines()]
    assert [q["id"] for q in questions] == [r.id for r in train_2]
    for q in questions:                                  # no gold key anywhere in the strong side's file
        assert set(q) == {"id", "question", "meta"} and not GOLD_KEYS & set(q["meta"])
    assert "#### 7" not in (d / "train_2.questions.jsonl").read_text()
    m = json.loads((d / "metrics.json").read_text())
    assert (m["n_train_1"], m["n_train_2"], m["n_test"], m["train_2_meta_keys_stripped"]) == (3, 4, 2, 4)


def test_load_split_types(run):
    run_dir, train_1, train_2, test = run
    assert load_split(run_dir, "train_1") == train_1
    assert load_split(run_dir, "test") == test
    q2 = load_split(run_dir, "train_2")
    assert all(isinstance(q, QuestionRecord) for q in q2)
    assert [q.question for q in q2] == [r.question for r in train_2]
    with pytest.raises(LeakageError):
        q2[0].answer
    with pytest.raises(StageMissingError, match="run 01 first"):
        load_split(run_dir.parent / "seed1", "train_1", hint="run 01 first")


def test_prepare_data_skips_same_and_redoes_changed(run):
    run_dir, train_1, train_2, test = run
    config_file = run_dir / "data" / "config.json"
    before = config_file.read_text()
    st = prepare_data(run_dir, train_1, train_2, test, config={"dataset": "toy"})
    assert st.done and config_file.read_text() == before
    changed = train_2[:-1] + [rec(99)]                    # same config, different records: recomputed
    prepare_data(run_dir, train_1, changed, test, config={"dataset": "toy"})
    assert [q.id for q in load_split(run_dir, "train_2")][-1] == "q99"


def test_prepare_data_refuses_shared_or_duplicate_ids(tmp_path):
    with pytest.raises(DataError, match="share 1 ids"):
        prepare_data(tmp_path, [rec(1)], [rec(1)], [])
    with pytest.raises(DataError, match="train_2: duplicate id 'q2'"):
        prepare_data(tmp_path, [], [rec(2), rec(2)], [])


def test_reference_gold_is_logged(run):
    run_dir, _, train_2, _ = run
    assert gold_access_log(run_dir) == []
    gold = reference_gold(run_dir, purpose="strong_ceiling")
    assert gold == train_2                               # full records, meta included
    log = gold_access_log(run_dir)
    assert len(log) == 1
    assert log[0]["purpose"] == "strong_ceiling" and log[0]["allowed"] is True
    assert log[0]["caller"].startswith(__file__) and "test_reference_gold_is_logged" in log[0]["caller"]
    with pytest.raises(ValueError, match="purpose must be one of"):
        reference_gold(run_dir, purpose="stage1_selection")
    with pytest.raises(ValueError, match="not sealed"):
        reference_gold(run_dir, "test", purpose="analysis")


def test_forbid_gold_blocks_and_logs_the_attempt(run):
    run_dir = run[0]
    with forbid_gold("stage 02 selection"):
        with pytest.raises(LeakageError, match=r"inside forbid_gold\('stage 02 selection'\)"):
            reference_gold(run_dir, purpose="analysis")
        with forbid_gold("inner"):
            with pytest.raises(LeakageError, match="inner"):
                reference_gold(run_dir, purpose="analysis")
        with pytest.raises(LeakageError, match="stage 02 selection"):   # the outer ban is back
            reference_gold(run_dir, purpose="analysis")
    reference_gold(run_dir, purpose="analysis")          # outside: allowed again
    log = gold_access_log(run_dir)
    assert [e["allowed"] for e in log] == [False, False, False, True]
    assert [e["forbidden_by"] for e in log[:3]] == ["stage 02 selection", "inner", "stage 02 selection"]


def test_forbid_gold_reaches_child_processes(run):
    run_dir = run[0]
    code = ("import sys; from w2s_lib.run.records import reference_gold, LeakageError\n"
            "try:\n    reference_gold(sys.argv[1], purpose='analysis')\n"
            "except LeakageError as e:\n    print('BLOCKED', e); sys.exit(3)\n")
    with forbid_gold("stage 04 sampling"):
        p = subprocess.run([sys.executable, "-c", code, str(run_dir)], cwd=REPO_ROOT, capture_output=True,
                           text=True)
    assert p.returncode == 3 and "stage 04 sampling" in p.stdout, p.stderr
    assert gold_access_log(run_dir)[-1]["allowed"] is False


def test_gold_free_record_survives_pickle():
    """Process pools (grading, generation) pickle records: the guard must survive the trip."""
    import pickle

    q = pickle.loads(pickle.dumps(hide_gold([rec(1, level=2)])[0]))
    assert q.meta == {"level": 2}
    with pytest.raises(LeakageError):
        q.answer
    with pytest.raises(LeakageError):
        q.meta["answer"]
