"""One writer per run directory (w2s_lib.run.runlock), with real processes: a second writer fails at once naming the
holder, delegates (the pipeline's kernels) write under their holder's lock, a dead holder leaves no stale lock,
and orphan partial directories are cleaned up without losing resumable work."""
from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from w2s_lib.run import runlock
from w2s_lib.run.paths import REPO_ROOT
from w2s_lib.run.runstore import RunStore

# A writer in its own process: opens stage `held`, writes a file, says "ready", waits for "go", commits.
WRITER = """
import os, sys, time
from pathlib import Path
from w2s_lib.run.runstore import RunStore
root, signals = sys.argv[1], Path(sys.argv[2])
st = RunStore(root).stage("held", {"k": int(sys.argv[3]) if len(sys.argv) > 3 else 1})
(st.path / "who.txt").write_text(str(os.getpid()))
(signals / "ready").write_text(str(os.getpid()))
t = time.time()
while not (signals / "go").exists() and time.time() - t < 120:
    time.sleep(0.05)
st.commit({"pid": os.getpid()})
print("committed")
"""


def start_writer(root: Path, signals: Path, env: dict | None = None) -> subprocess.Popen:
    signals.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(signals)], cwd=str(REPO_ROOT),
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t = time.time()
    while not (signals / "ready").exists():
        if proc.poll() is not None:
            pytest.fail(f"writer exited early: {proc.communicate()}")
        assert time.time() - t < 120, "writer never became ready"
        time.sleep(0.05)
    return proc


def finish(proc: subprocess.Popen, signals: Path) -> str:
    (signals / "go").write_text("")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out


def test_a_second_writer_fails_at_once_naming_the_holder(tmp_path):
    root = tmp_path / "runs" / "toy" / "seed0"
    holder = start_writer(root, tmp_path / "sig")
    with pytest.raises(runlock.RunLockedError) as e:
        RunStore(root).stage("other", {"x": 1})
    msg = str(e.value)
    assert f"{root} is being written by another process (pid {holder.pid} on {socket.gethostname()}, started " in msg
    assert f"kill {holder.pid}" in msg
    assert not (root / "other.partial").exists()              # the refused writer touched nothing
    assert (root / "held.partial" / "who.txt").read_text() == str(holder.pid)
    assert finish(holder, tmp_path / "sig").strip() == "committed"
    assert RunStore(root).require("held").metrics == {"pid": holder.pid}
    assert (root / ".lock").read_text() == ""                # released: the lock file names nobody
    st = RunStore(root).stage("other", {"x": 1})             # free again
    st.commit()
    assert not runlock.holds(root)


def test_the_lock_is_reentrant_and_given_back_at_commit_or_when_the_stage_is_dropped(tmp_path):
    store = RunStore(tmp_path)
    a = store.stage("a", {})
    b = store.stage("b", {})
    assert runlock.holds(tmp_path)
    info = json.loads((tmp_path / ".lock").read_text())
    assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
    a.commit()
    assert runlock.holds(tmp_path)                           # b is still open
    b.commit()
    assert not runlock.holds(tmp_path)
    c = store.stage("c", {})
    assert runlock.holds(tmp_path)
    del c                                                     # e.g. a cell that raised before its commit
    gc.collect()
    assert not runlock.holds(tmp_path)
    done = store.stage("a", {})                               # a done stage takes no lock
    assert done.done and not runlock.holds(tmp_path)


def test_a_delegate_writes_under_its_holders_lock_and_nobody_else_does(tmp_path, monkeypatch):
    root = tmp_path / "run"
    hold = runlock.acquire(root)                              # this process plays the pipeline
    try:
        delegate = start_writer(root, tmp_path / "sig1", env={runlock.ENV_TOKEN: runlock.child_env_token()})
        assert finish(delegate, tmp_path / "sig1").strip() == "committed"
        assert RunStore(root).require("held").metrics == {"pid": delegate.pid}
        stranger = subprocess.run([sys.executable, "-c", WRITER, str(root), str(tmp_path / "sig2"), "2"],
                                  cwd=str(REPO_ROOT), env={**os.environ, "PYTHONPATH": str(REPO_ROOT),
                                                           runlock.ENV_TOKEN: "not-the-token"},
                                  capture_output=True, text=True, timeout=120)
        assert stranger.returncode != 0
        assert f"is being written by another process (pid {os.getpid()} on" in stranger.stderr
    finally:
        hold.release()


def test_a_killed_holder_leaves_no_stale_lock_and_its_delegate_takes_over(tmp_path, monkeypatch):
    root = tmp_path / "run"
    holder = start_writer(root, tmp_path / "sig")
    token = json.loads((root / ".lock").read_text())["token"]
    monkeypatch.setenv(runlock.ENV_TOKEN, token)              # this process is the holder's kernel
    st = RunStore(root).stage("mine", {})
    assert runlock.holds(root) and runlock.acquire(root).delegated
    runlock._release(runlock._key(root))                      # (the extra hold just taken)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=60)
    (st.path / "rows.jsonl").write_text('{"a": 1}\n')
    st.commit()                                               # the holder is dead: the delegate takes the lock
    assert st.done and not runlock.holds(root)
    monkeypatch.delenv(runlock.ENV_TOKEN)
    again = RunStore(root).stage("other", {})                 # and nothing stale is left for the next writer
    again.commit()


def test_orphans_of_a_killed_writer_are_cleaned_and_resumable_work_is_kept(tmp_path):
    store = RunStore(tmp_path)
    keep = store.stage("gen", {"t": 1})
    (keep.path / "samples").mkdir()
    (keep.path / "samples" / "shard-00000.jsonl").write_text('{"x": 1}\n')
    (keep.path / "samples" / ".shard-00001.jsonl.abc.tmp").write_text('{"x":')   # a write cut short
    del keep
    gc.collect()
    (tmp_path / "weak_model.partial").mkdir()                  # killed between mkdir and its marker
    (tmp_path / "weak_model.partial" / "half.bin").write_bytes(b"\0" * 10)
    (tmp_path / "data.old-1234abcd").mkdir()                   # killed in the middle of a swap
    (tmp_path / ".config.json.x1.tmp").write_text("{")
    st = store.stage("data", {})                               # the first writer to take the lock cleans up
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "data.partial", "gen.partial"]
    st.commit()
    resumed = store.stage("gen", {"t": 1})
    assert (resumed.path / "samples" / "shard-00000.jsonl").exists()
    assert not list(resumed.path.rglob("*.tmp"))
    resumed.commit()


def test_locking_can_be_turned_off_for_filesystems_without_flock(tmp_path, monkeypatch):
    monkeypatch.setenv(runlock.ENV_SWITCH, "off")
    st = RunStore(tmp_path).stage("a", {})
    st.commit()
    assert st.done and not (tmp_path / ".lock").exists()


def test_an_unwritable_run_directory_is_named(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    runs = tmp_path / "runs"
    runs.mkdir()
    runs.chmod(0o555)
    try:
        with pytest.raises(runlock.RunDirAccessError, match=rf"cannot write the run directory {runs}/toy/seed0: "
                                                            "permission denied"):
            RunStore(runs / "toy" / "seed0").stage("data", {})
    finally:
        runs.chmod(0o755)
