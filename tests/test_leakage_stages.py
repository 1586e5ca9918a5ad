"""The strong side never reads train_2 gold.

The session's smoke run of notebooks 01-04 (`smoke_series`: weak data, selection, both Stage I iterations, the
baselines, Stage II sampling, pairs, DPO and ORPO, as a learner runs them) is checked here: every attempt to open
train_2 gold is logged with its caller, and the only callers allowed are the data stage's own build, the strong
ceiling and the analysis-only helpers (the notebooks run each strong-side stage inside `forbid_gold(...)`, so an
attempt from a strong-side stage would also have stopped the notebook). Its strong-side artifacts must carry no
trace of train_2 gold. The test can fail: the ceiling and the analysis helpers, run inside the guard on a copy of
the run, are refused and logged, and a planted leak is found by the scan."""
import shutil

import pytest

from smoke_series import PRESET, SEED, smoke_series  # noqa: F401 (session fixture)
from stage_helpers import gold_openings, scan_strong_side, toy_model_overrides
from w2s_lib.stages import selection, stage1, stage2
from w2s_lib.run.context import open_run
from w2s_lib.run.records import LeakageError, forbid_gold

# (purpose, caller) of the only openings of train_2 gold a run of 01-04 may make, all outside the strong side
ALLOWED = {("data_build", "prepare"), ("strong_ceiling", "train_ceiling"), ("analysis", "kept_accuracy"),
           ("analysis", "pair_analysis")}


@pytest.fixture(scope="module")
def notebook_run(smoke_series):
    run_dir, _, _ = smoke_series
    return run_dir


@pytest.fixture(scope="module")
def run(notebook_run, tmp_path_factory):
    """A copy of the smoke run (these tests add openings to its log), opened as a RunContext. The copy leaves out
    the strong ceiling, which notebook 03 trained: here it must be trained again, so that it opens the gold."""
    copy = tmp_path_factory.mktemp("leak") / PRESET / f"seed{SEED}"
    shutil.copytree(notebook_run, copy, ignore=shutil.ignore_patterns(".lock", "sft_ceiling", "eval_sft_ceiling"))
    return open_run(PRESET, SEED, copy, **toy_model_overrides(PRESET))


def test_no_attempt_to_open_train_2_gold(notebook_run):
    openings = gold_openings(notebook_run)
    assert [o for o in openings if (o[0], o[1]) not in ALLOWED or not o[2]] == []
    assert openings[0] == ("data_build", "prepare", True)
    assert {o[:2] for o in openings} == ALLOWED          # each allowed door was used, so the log is live
    for stage in ("m_plus", "sft_full_weak", "sft_iter2_hybrid", "dpo", "orpo"):
        assert (notebook_run / stage / "metrics.json").is_file(), stage


def test_strong_side_artifacts_carry_no_train_2_gold(notebook_run):
    assert scan_strong_side(notebook_run) == []


def test_the_guard_is_live_for_the_paths_that_do_read_gold(run):
    before = len(gold_openings(run.root))
    with forbid_gold("checking the guard"):
        with pytest.raises(LeakageError):
            stage1.train_ceiling(run, verbose=False)
        with pytest.raises(LeakageError):
            selection.kept_accuracy(run, 1)
        with pytest.raises(LeakageError):
            stage2.pair_analysis(run)
    assert gold_openings(run.root)[before:] == [("strong_ceiling", "train_ceiling", False),
                                                ("analysis", "kept_accuracy", False),
                                                ("analysis", "pair_analysis", False)]


def test_the_data_builders_are_behind_the_same_door(run):
    """prepare.build_records / toy_splits return train_2 WITH gold: inside forbid_gold they raise and are logged."""
    from w2s_lib.stages.prepare import build_records, toy_splits
    before = len(gold_openings(run.root))
    with forbid_gold("a strong-side stage that rebuilds the data"):
        with pytest.raises(LeakageError, match="build_records"):
            build_records(run)
        with pytest.raises(LeakageError, match="toy_splits"):
            toy_splits(run, run.preset.dataset["sizes"])
    assert gold_openings(run.root)[before:] == [("data_build", "test_the_data_builders_are_behind_the_same_door",
                                                 False)] * 2
    train_1, train_2, test, _ = build_records(run)                  # outside the guard: allowed, and logged
    assert train_2[0].answer is not None
    assert gold_openings(run.root)[-1][0::2] == ("data_build", True)


def test_the_scan_finds_a_planted_leak(run, tmp_path):
    """The artifact scan can fail: copy the run, put one gold solution into the hybrid set, scan again."""
    from w2s_lib.run.jsonl import read_jsonl, write_jsonl
    copy = tmp_path / "run"
    shutil.copytree(run.root, copy)
    gold = read_jsonl(copy / "data" / "sealed" / "train_2.gold.jsonl")
    f = copy / "selection_iter1" / "hybrid.jsonl"
    rows = read_jsonl(f)
    rows.append({**rows[0], "response": gold[0]["solution"]} if rows else
                {"id": gold[0]["id"], "position": 0, "prompt": "x", "response": gold[0]["solution"]})
    write_jsonl(f, rows)
    problems = scan_strong_side(copy)
    assert any("no model of this run generated" in p for p in problems)
