"""Child processes whose output shows where the caller's output shows.

A training job or a generation engine runs in a process of its own. Its output written straight to the inherited
file descriptors would land in the terminal that started Jupyter, not under the notebook cell that started it.
So the child's stdout and stderr go through a pipe, and a thread copies them to this process's `sys.stderr`
(a notebook kernel shows that under the running cell; papermill writes it to the executed notebook's log).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import IO, Any, Sequence

# Deprecation noise from torch.distributed that every ZeRO-3 step prints, and that a user cannot act on.
QUIET_WARNINGS = "ignore::FutureWarning:torch.distributed.c10d_logger"


def child_env(env: dict | None = None) -> dict:
    """The environment of a child process: `env` (default: this one) with the quiet-warning filter added."""
    out = dict(os.environ if env is None else env)
    out.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")   # TRL's ORPO lives in trl.experimental; said once in the docs
    out["PYTHONWARNINGS"] = ",".join(w for w in (out.get("PYTHONWARNINGS"), QUIET_WARNINGS) if w)
    return out


def start_relay(stream: IO[bytes], to: Any = None) -> threading.Thread:
    """Copy `stream` (a child's output pipe) to `to` (default sys.stderr at the time of each write) until EOF."""
    def pump() -> None:
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                break
            target = to or sys.stderr
            try:
                target.write(chunk.decode("utf-8", errors="replace"))
                target.flush()
            except (ValueError, OSError):    # the target was closed: keep draining so the child never blocks
                pass
        stream.close()

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    return t


def popen(cmd: Sequence[str], *, env: dict | None = None, **kwargs: Any) -> tuple[subprocess.Popen, threading.Thread]:
    """Start `cmd` with its stdout and stderr relayed to this process's sys.stderr."""
    proc = subprocess.Popen(list(cmd), env=child_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, **kwargs)
    assert proc.stdout is not None
    return proc, start_relay(proc.stdout)


def run(cmd: Sequence[str], *, env: dict | None = None, **kwargs: Any) -> int:
    """Run `cmd` to the end with its output relayed; returns its exit code."""
    proc, relay = popen(cmd, env=env, **kwargs)
    try:
        code = proc.wait()
    except BaseException:                    # Ctrl-C in the caller ends the child too
        proc.terminate()
        proc.wait()
        raise
    relay.join()
    return code
