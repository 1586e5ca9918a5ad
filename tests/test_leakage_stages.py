"""The strong side never reads train_2 gold.

The weak-data, selection, Stage I (all but the ceiling) and Stage II code paths run at the smoke size inside
`forbid_gold(...)`, where the only door to train_2 gold raises (in this process and in child processes). They
must finish without a single attempt to open it, and leave strong-side artifacts with no trace of train_2 gold.
The test can fail: the ceiling and the analysis helpers, run inside the same guard, are refused and logged."""
import pytest

from stage_helpers import gold_openings, scan_strong_side, toy_model_overrides
from w2s_lib.stages import evaluate, selection, stage1, stage2, weak
from w2s_lib.run.context import open_run
from w2s_lib.stages.prepare import prepare
from w2s_lib.run.records import LeakageError, forbid_gold


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ctx = open_run("smoke", 0, tmp_path_factory.mktemp("leak") / "run", **toy_model_overrides("smoke"))
    prepare(ctx, verbose=False)                # the data stage reads train_2 gold to seal it: outside the guard
    with forbid_gold("weak data, selection, Stage I without the ceiling, Stage II"):
        weak.train_weak(ctx, verbose=False)
        weak.generate_d_weak(ctx, verbose=False)
        evaluate.evaluate(ctx, "weak_model", verbose=False)       # reads test gold: allowed, not the door
        selection.generate_d_icl(ctx, verbose=False)
        selection.select(ctx, 1, verbose=False)
        for it in (1, 2):                                         # both iterations (notebook 03's loop), M_plus
            if it > 1:
                stage1.iteration_answers(ctx, it - 1, verbose=False)
                selection.select(ctx, it, *stage1.answer_stages(it - 1), verbose=False)
            stage1.train_iteration(ctx, it, verbose=False)
        stage1.declare_m_plus(ctx)
        stage1.train_full_weak(ctx, verbose=False)
        stage2.sample(ctx, verbose=False)
        stage2.make_pairs(ctx, verbose=False)
        for method in ("dpo", "orpo"):
            stage2.train_preference(ctx, method, verbose=False)
    return ctx


def strong_side_openings(run_dir):
    """Attempts to open train_2 gold other than the data stage's own build (logged as 'data_build')."""
    return [o for o in gold_openings(run_dir) if o[0] != "data_build"]


def test_no_attempt_to_open_train_2_gold(run):
    assert strong_side_openings(run.root) == []
    assert gold_openings(run.root) == [("data_build", "prepare", True)]
    assert run.store.has("m_plus") and run.store.has("dpo") and run.store.has("orpo")


def test_strong_side_artifacts_carry_no_train_2_gold(run):
    assert scan_strong_side(run.root) == []


def test_the_guard_is_live_for_the_paths_that_do_read_gold(run):
    with forbid_gold("checking the guard"):
        with pytest.raises(LeakageError):
            stage1.train_ceiling(run, verbose=False)
        with pytest.raises(LeakageError):
            selection.kept_accuracy(run, 1)
        with pytest.raises(LeakageError):
            stage2.pair_analysis(run)
    assert strong_side_openings(run.root) == [("strong_ceiling", "train_ceiling", False),
                                       ("analysis", "kept_accuracy", False), ("analysis", "pair_analysis", False)]


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
    import shutil
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
