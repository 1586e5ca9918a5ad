"""One writer per run directory: an exclusive lock on `<run dir>/.lock` (`fcntl.flock`).

    hold = acquire("runs/toy/seed0")        # RunLockedError at once if another process writes there
    ...write stages...
    hold.release()                           # or `with acquire(root): ...`

Who holds it:
- `RunStore.stage()` takes it for every stage it opens for writing and gives it back at `commit()` (or when the
  stage object is dropped), so a notebook kernel holds it only while it writes a stage. Within one process the
  lock is re-entrant: opening two stages of one run at once counts twice.
- The pipeline (`python -m w2s_lib`) takes it for each seed's run directory (and for runs/<preset>/ when
  it runs the report) before it runs anything, and keeps it to the end. Its notebook kernels are child processes:
  the pipeline puts its token in the environment variable W2S_RUN_LOCK_TOKEN, and a process whose token matches
  the one the holder wrote into the lock file writes as the holder's delegate. If the holder dies while a
  delegate still runs, the delegate takes the lock over at its next write (`ensure_writer`).
- Anybody else fails at once with RunLockedError naming the holder: pid, host, start time and command.
- Any process that takes the lock puts its token into its own W2S_RUN_LOCK_TOKEN, so the processes it starts
  (generation or training workers, a kernel) write as its delegates while it holds the lock.

The lock file stays in place; it holds the current holder's JSON (pid, host, started, command, token) and is
emptied when the holder releases it. A lock dies with its process (the kernel drops flock locks of a dead
process), so a killed run never leaves a stale lock. On a filesystem without flock support (some network
filesystems) acquiring fails with a message; W2S_RUN_LOCK=off then turns locking off (at your own risk: two
writers corrupt each other's stages).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

LOCK_NAME = ".lock"
ENV_TOKEN = "W2S_RUN_LOCK_TOKEN"     # tokens (comma-separated) of the holders this process writes for
ENV_SWITCH = "W2S_RUN_LOCK"          # "off": no locking (filesystems without flock)

_TOKEN = uuid.uuid4().hex            # this process's identity as a holder


class RunLockedError(RuntimeError):
    """Another process writes this run directory; the message names it."""


class RunDirAccessError(PermissionError):
    """The run directory cannot be written (permissions, read-only filesystem, no lock support)."""


@dataclass
class _Entry:
    root: Path
    fd: int | None            # our own flock; None while we write as a delegate of the holder
    count: int = 0


_HELD: dict[Path, _Entry] = {}
_MUTEX = threading.RLock()           # threads of one process share its holds


def lock_path(root: str | os.PathLike) -> Path:
    return Path(root) / LOCK_NAME


def _disabled() -> bool:
    return os.environ.get(ENV_SWITCH, "").strip().lower() in ("off", "0", "no", "false")


def delegated_tokens() -> set[str]:
    return {t for t in os.environ.get(ENV_TOKEN, "").split(",") if t}


def token() -> str:
    """This process's token: what a child process must find in W2S_RUN_LOCK_TOKEN to write as our delegate."""
    return _TOKEN


def child_env_token() -> str:
    """The value of W2S_RUN_LOCK_TOKEN for this process's children: our token plus any we write for."""
    return ",".join(sorted(delegated_tokens() | {_TOKEN}))


def holder(root: str | os.PathLike) -> dict | None:
    """The holder the lock file names ({pid, host, started, command, token}), or None when it names none."""
    path = lock_path(root)
    for _ in range(5):                   # the holder writes its record just after it locks: retry briefly
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, PermissionError):
            return None
        if text.strip():
            try:
                info = json.loads(text)
                return info if isinstance(info, dict) else None
            except json.JSONDecodeError:
                pass
        time.sleep(0.02)
    return None


def describe(info: dict | None) -> str:
    if not info:
        return "a process that has not written its name into the lock file yet"
    return (f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}: "
            f"{info.get('command', '?')}")


def _locked_message(root: Path, info: dict | None) -> str:
    return (f"{root} is being written by another process ({describe(info)}).\n"
            f"One writer per run directory: wait for it to finish, or stop it (kill {info.get('pid') if info else '<pid>'})"
            f"; its finished stages are kept and a re-run resumes what it left. "
            f"Lock file: {lock_path(root)}")


def _open_lock(root: Path) -> int:
    try:
        root.mkdir(parents=True, exist_ok=True)
        return os.open(lock_path(root), os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError as e:
        raise RunDirAccessError(f"cannot write the run directory {root}: permission denied "
                                f"({e.filename or root}); choose a runs directory you can write "
                                f"(--runs-dir or W2S_RUNS)") from None
    except OSError as e:
        if e.errno == errno.EROFS:
            raise RunDirAccessError(f"cannot write the run directory {root}: read-only filesystem") from None
        raise


def _try_flock(fd: int, root: Path) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as e:
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            os.close(fd)
            raise RunDirAccessError(f"{lock_path(root)}: this filesystem does not support file locks ({e.strerror});"
                                    f" set {ENV_SWITCH}=off to run without the one-writer lock (then make sure "
                                    f"only one process writes {root})") from None
        raise


def _write_record(fd: int) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(getattr(sys, "orig_argv", None) or [sys.executable] + sys.argv)[:300],
            "token": _TOKEN}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)


def _take(root: Path) -> _Entry:
    """Lock `root` for this process (own flock, or as the holder's delegate); RunLockedError otherwise."""
    fd = _open_lock(root)
    if _try_flock(fd, root):
        _write_record(fd)
        os.environ[ENV_TOKEN] = child_env_token()     # processes we start (workers, kernels) are our delegates
        return _Entry(root, fd)
    info = holder(root)
    os.close(fd)
    if info and info.get("token") in delegated_tokens():
        return _Entry(root, None)
    raise RunLockedError(_locked_message(root, info))


class Hold:
    """One hold on a run directory's lock; `release()` gives it back (idempotent)."""

    def __init__(self, root: Path, fresh: bool):
        self.root = root
        self.fresh = fresh            # True: this process did not hold the lock before this hold
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        _release(self.root)

    def __enter__(self) -> "Hold":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @property
    def delegated(self) -> bool:
        e = _HELD.get(self.root)
        return bool(e and e.fd is None)


def _key(root: str | os.PathLike) -> Path:
    return Path(os.path.abspath(root))


def acquire(root: str | os.PathLike) -> Hold:
    """Hold the lock of run directory `root` (re-entrant within a process). Raises RunLockedError naming the
    holder when another process writes there, RunDirAccessError when the directory cannot be written."""
    key = _key(root)
    if _disabled():
        return Hold(key, fresh=False)
    with _MUTEX:
        entry = _HELD.get(key)
        fresh = entry is None
        if entry is None:
            entry = _HELD[key] = _take(key)
        entry.count += 1
        return Hold(key, fresh)


def _release(key: Path) -> None:
    with _MUTEX:
        entry = _HELD.get(key)
        if entry is None:
            return
        entry.count -= 1
        if entry.count > 0:
            return
        del _HELD[key]
    if entry.fd is not None:
        try:
            os.ftruncate(entry.fd, 0)            # name no holder once we are gone
        finally:
            fcntl.flock(entry.fd, fcntl.LOCK_UN)
            os.close(entry.fd)


def holds(root: str | os.PathLike) -> bool:
    return _key(root) in _HELD


def ensure_writer(root: str | os.PathLike) -> None:
    """Check, before a write, that this process may still write `root`: it holds the lock, or the holder it writes
    for is still the holder. A delegate whose holder died takes the lock over; if someone else took it, this raises
    RunLockedError (an orphaned kernel must not write into another run's stages)."""
    if _disabled():
        return
    key = _key(root)
    entry = _HELD.get(key)
    if entry is None:              # e.g. a worker process writing shards of a stage its parent opened
        with acquire(key):         # RunLockedError unless nobody writes here or we write for the holder
            return
    if entry.fd is not None:
        try:
            same = os.fstat(entry.fd).st_ino == os.stat(lock_path(key)).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise RunLockedError(f"{lock_path(key)} was removed or replaced while this process held it; "
                                 "stopping so that two writers cannot mix their stages")
        return
    fd = _open_lock(key)
    if _try_flock(fd, key):                       # the holder we wrote for is gone: we are the writer now
        _write_record(fd)
        entry.fd = fd
        print(f"note: the process that held {lock_path(key)} is gone; pid {os.getpid()} holds it now", flush=True)
        return
    info = holder(key)
    os.close(fd)
    if not (info and info.get("token") in delegated_tokens()):
        raise RunLockedError(_locked_message(key, info))
