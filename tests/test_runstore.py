import json

import pytest

from w2s_lib.run.runstore import RunStore, StageMissingError, canonical_json, stage_hash


def build(store, name, config, deps=(), payload="x", metrics=None):
    """Open a stage and, unless it is up to date, write one file and commit. Returns (stage, computed?)."""
    st = store.stage(name, config, deps=deps)
    if st.done:
        return st, False
    (st.path / "out.txt").write_text(payload)
    st.commit(metrics=metrics or {"payload": payload})
    return st, True


def test_commit_then_skip(tmp_path):
    store = RunStore(tmp_path / "runs/toy/seed0")
    st, computed = build(store, "data", {"n": 3})
    assert computed and st.done
    assert (st.dir / "out.txt").read_text() == "x"
    assert st.metrics == {"payload": "x"}
    assert not st.partial.exists()
    saved = json.loads((st.dir / "config.json").read_text())
    assert saved["config"] == {"n": 3} and saved["hash"] == st.hash
    # Same config: skipped, nothing rewritten.
    st2, computed2 = build(store, "data", {"n": 3}, payload="other")
    assert not computed2 and (st2.dir / "out.txt").read_text() == "x"


def test_uncommitted_stage_is_invisible(tmp_path):
    store = RunStore(tmp_path)
    st = store.stage("weak_model", {"lr": 1e-4})
    (st.path / "half.txt").write_text("half")
    assert not st.done and st.path.name == "weak_model.partial"
    assert not (tmp_path / "weak_model").exists()
    with pytest.raises(StageMissingError, match="run notebooks/01_weak_data.ipynb"):
        store.require("weak_model", hint="run notebooks/01_weak_data.ipynb")


def test_changed_config_recomputes_and_replaces(tmp_path):
    store = RunStore(tmp_path)
    a, _ = build(store, "data", {"n": 3}, payload="old")
    b, computed = build(store, "data", {"n": 4}, payload="new")
    assert computed and b.hash != a.hash
    assert (b.dir / "out.txt").read_text() == "new"
    assert not a.done and b.done
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "data"]   # no .partial or .old-* left


def test_changed_upstream_recomputes_downstream(tmp_path):
    store = RunStore(tmp_path)
    build(store, "data", {"n": 3})
    w1, _ = build(store, "weak", {"lr": 1}, deps=["data"])
    assert w1.deps == {"data": store.require("data").digest}
    _, again = build(store, "weak", {"lr": 1}, deps=["data"])
    assert not again
    build(store, "data", {"n": 5}, payload="y")          # upstream recomputed, with other content
    w2, recomputed = build(store, "weak", {"lr": 1}, deps=["data"])
    assert recomputed and w2.hash != w1.hash


def test_missing_dependency_names_it_and_hint(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(StageMissingError, match=r"stage 'data' is missing.*run 01 first"):
        store.stage("weak", {}, deps={"data": "run 01 first"})


def test_stale_partial_is_discarded(tmp_path):
    store = RunStore(tmp_path)
    st = store.stage("gen", {"t": 1.0})
    (st.path / "leftover.txt").write_text("from t=1.0")
    st2 = store.stage("gen", {"t": 0.5})                 # another config: old partial files must go
    assert not (st2.path / "leftover.txt").exists()
    st3 = store.stage("gen", {"t": 0.5})                 # same config: partial kept (resume)
    (st3.path / "keep.txt").write_text("k")
    assert (store.stage("gen", {"t": 0.5}).path / "keep.txt").exists()


def test_commit_twice_and_hash_is_canonical(tmp_path):
    store = RunStore(tmp_path)
    st, _ = build(store, "data", {"a": 1, "b": [1, 2]})
    with pytest.raises(RuntimeError, match="already committed"):
        st.commit()
    assert stage_hash("s", {"a": 1, "b": (1, 2)}, {}) == stage_hash("s", {"b": [1, 2], "a": 1}, {})
    with pytest.raises(TypeError, match="cannot hash a object"):
        canonical_json({"f": object()})


def test_edited_config_json_is_detected(tmp_path):
    store = RunStore(tmp_path)
    st, _ = build(store, "data", {"n": 3})
    saved = json.loads((st.dir / "config.json").read_text())
    saved["config"]["n"] = 99
    (st.dir / "config.json").write_text(json.dumps(saved))
    with pytest.raises(Exception, match="does not match its config"):
        store.require("data")


# ---- sharded jobs -------------------------------------------------------------------------------------
def square_rows(batch):
    return [{"x": x, "y": x * x, "t": (x, "tuple becomes list")} for x in batch]


def test_sharded_interrupted_then_resumed(tmp_path):
    items = list(range(23))
    reference = RunStore(tmp_path / "ref").stage("gen", {"k": 1}).sharded("samples", items, 5, square_rows)

    store = RunStore(tmp_path / "run")
    calls = []

    def flaky(batch):
        calls.append(batch[0])
        if len(calls) == 3:                               # dies on the 3rd shard
            raise KeyboardInterrupt("killed")
        return square_rows(batch)

    st = store.stage("gen", {"k": 1})
    with pytest.raises(KeyboardInterrupt):
        st.sharded("samples", items, 5, flaky)
    shards = sorted(p.name for p in (st.path / "samples").glob("shard-*.jsonl"))
    assert shards == ["shard-00000.jsonl", "shard-00001.jsonl"]
    assert not list((st.path / "samples").glob("*.tmp"))

    calls.clear()
    st = store.stage("gen", {"k": 1})                    # a new session, same config
    rows = st.sharded("samples", items, 5, square_rows_counting(calls))
    assert calls == [10, 15, 20]                          # only the missing shards were computed
    assert rows == reference                              # same rows, same order, nothing duplicated
    assert [r["x"] for r in rows] == items
    st.commit(metrics={"n": len(rows)})
    assert st.sharded("samples", items, 5, pytest.fail) == reference   # committed: read back, no calls


def square_rows_counting(calls):
    def fn(batch):
        calls.append(batch[0])
        return square_rows(batch)
    return fn


def test_sharded_discards_shards_of_other_items_or_config(tmp_path):
    store = RunStore(tmp_path)
    st = store.stage("gen", {"k": 1})
    st.sharded("samples", [1, 2, 3], 2, square_rows)
    calls = []
    rows = st.sharded("samples", [4, 5, 6], 2, square_rows_counting(calls))   # other items: recompute all
    assert calls == [4, 6] and [r["x"] for r in rows] == [4, 5, 6]

    calls.clear()
    st2 = store.stage("gen", {"k": 2})                   # config changed: stale partial discarded
    st2.sharded("samples", [4, 5, 6], 2, square_rows_counting(calls))
    assert calls == [4, 6]


def test_sharded_rejects_bad_rows(tmp_path):
    st = RunStore(tmp_path).stage("gen", {})
    with pytest.raises(TypeError, match="list of dicts"):
        st.sharded("samples", [1], 1, lambda b: ["not a dict"])
    assert not (st.path / "samples" / "shard-00000.jsonl").exists()     # nothing written for a bad shard


# ---- content-addressed "done" and checked reads (issue 20) ---------------------------------------------------
def chain(store, data_payload):
    """data -> weak -> eval_weak; returns which of them were computed."""
    _, d = build(store, "data", {"n": 3}, payload=data_payload)
    _, w = build(store, "weak", {"lr": 1}, deps=["data"])
    _, e = build(store, "eval_weak", {"k": 0}, deps={"weak": "run 01", "data": "run 01"})
    return d, w, e


def test_an_upstream_stage_recomputed_with_other_content_recomputes_everything_below(tmp_path):
    import shutil

    store = RunStore(tmp_path)
    assert chain(store, "47 rows") == (True, True, True)
    assert chain(store, "47 rows") == (False, False, False)          # nothing changed: all skipped
    shutil.rmtree(tmp_path / "data")                                  # same config, recomputed ...
    assert chain(store, "48 rows") == (True, True, True)              # ... to other content: all below recompute
    digest = store.require("data").digest
    shutil.rmtree(tmp_path / "data")
    assert chain(store, "48 rows") == (True, False, False)            # recomputed to the same content: kept
    assert store.require("data").digest == digest
    assert store.require("weak").deps == {"data": digest}


def test_the_commit_records_a_manifest_of_what_it_wrote(tmp_path):
    st = RunStore(tmp_path).stage("s", {})
    (st.path / "sub").mkdir()
    (st.path / "sub" / "rows.jsonl").write_text('{"a": 1}\n\n{"a": 2}\n')
    st.commit({"n": 2})
    m = json.loads((st.dir / "manifest.json").read_text())["files"]
    assert sorted(m) == ["metrics.json", "sub/rows.jsonl"]
    assert m["sub/rows.jsonl"]["rows"] == 2 and m["sub/rows.jsonl"]["bytes"] == len('{"a": 1}\n\n{"a": 2}\n')
    assert json.loads((st.dir / "config.json").read_text())["digest"] == st.digest


def predictions_stage(root, n=24):
    st = RunStore(root).stage("eval_dpo", {"model": "dpo"})
    (st.path / "predictions.jsonl").write_text("".join(json.dumps({"id": f"q{i}", "correct": i % 2 == 0}) + "\n"
                                                       for i in range(n)))
    st.commit({"accuracy": 0.5, "n": n})
    return st.dir / "predictions.jsonl"


def test_dropping_rows_from_an_artifact_fails_the_read_naming_the_file(tmp_path):
    from w2s_lib.report import SeedRun
    from w2s_lib.run.jsonl import DataError

    f = predictions_stage(tmp_path)
    run = SeedRun(0, tmp_path, stages={"dpo": "dpo"})
    assert len(run.predictions("dpo")) == 24
    lines = f.read_text().splitlines(keepends=True)
    f.write_text("".join(lines[:10] + lines[13:]))                  # three rows dropped by hand
    with pytest.raises(DataError, match=rf"{f}: has \d+ bytes, the commit recorded \d+ .*rm -r {tmp_path / 'eval_dpo'}"):
        run.predictions("dpo")
    st = RunStore(tmp_path).stage("eval_dpo", {"model": "dpo"})      # the row check itself, past the size check
    with pytest.raises(DataError, match=rf"{f}: 21 rows, but stage 'eval_dpo' recorded 24 when it was committed; "
                                        r"the stage is damaged: discard it with `rm -r "):
        st.read_jsonl("predictions.jsonl")


def test_an_edited_artifact_of_the_same_size_fails_the_read(tmp_path):
    from w2s_lib.run.jsonl import DataError

    f = predictions_stage(tmp_path)
    f.write_text(f.read_text().replace('"id": "q1"', '"id": "x1"', 1))     # same size, other content
    with pytest.raises(DataError, match=rf"{f}: its content changed after stage 'eval_dpo' was committed"):
        RunStore(tmp_path).require("eval_dpo").read_jsonl("predictions.jsonl")


def test_committed_shards_are_read_back_checked(tmp_path):
    from w2s_lib.run.jsonl import DataError

    st = RunStore(tmp_path).stage("gen", {"k": 1})
    rows = st.sharded("samples", list(range(6)), 3, square_rows)
    st.commit()
    assert st.sharded("samples", list(range(6)), 3, pytest.fail) == rows
    shard = st.dir / "samples" / "shard-00001.jsonl"
    shard.write_text(shard.read_text().splitlines(keepends=True)[0])
    with pytest.raises(DataError, match=rf"{shard}: has"):
        RunStore(tmp_path).require("gen")


def test_read_shards_returns_the_jobs_rows_and_checks_their_count(tmp_path):
    from w2s_lib.run.jsonl import DataError, write_json

    st = RunStore(tmp_path).stage("gen", {"k": 1})
    rows = st.sharded("samples", list(range(7)), 3, square_rows)
    meta = json.loads((st.path / "samples" / "job.json").read_text())
    write_json(st.path / "samples" / "job.json", {**meta, "n_items": 8})     # a job.json that promises a row more
    st.commit()
    with pytest.raises(DataError, match="7 rows but the job had 8 items"):
        st.read_shards("samples")
    assert len(rows) == 7


def test_artifacts_follow_the_umask(tmp_path):
    import os

    from w2s_lib.run.jsonl import write_jsonl

    for umask, mode in ((0o022, 0o644), (0o002, 0o664), (0o077, 0o600)):
        before = os.umask(umask)
        try:
            write_jsonl(tmp_path / f"u{umask:o}.jsonl", [{"a": 1}])
        finally:
            os.umask(before)
        assert (tmp_path / f"u{umask:o}.jsonl").stat().st_mode & 0o777 == mode
