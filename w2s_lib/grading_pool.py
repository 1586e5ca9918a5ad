"""Symbolic answer comparison with math-verify, in worker processes under a wall-clock limit.

Why processes and not math-verify's own timeouts: those use `signal.alarm`, which only works on the main
thread, and sympy can spend minutes (or forever) simplifying an adversarial expression. Here every comparison
runs in a worker process; the parent waits on a pipe with a deadline, and a worker that misses it is killed
and replaced. A timeout counts as "not equal" and is counted in `stats` and logged. A worker that crashes is
replaced the same way. Nothing here can hang or kill the caller.

Workers are plain `python -m w2s_lib.grading_pool` subprocesses that talk JSON lines over stdin/stdout (not
multiprocessing): the caller's `__main__` is never re-imported (a script or notebook without an
`if __name__ == "__main__"` guard is safe), nothing is pickled, and a worker can be killed at any moment.
Starting one costs about a second (importing sympy); that is paid once per worker and again after a timeout.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Sequence

log = logging.getLogger("w2s_lib.grading")
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)

# Counters over every pool in this process (what `w2s_lib.grading.grading_stats()` reports).
STATS = {"compared": 0, "timeouts": 0, "crashes": 0, "errors": 0}

# How long a new worker may take to import math-verify and report ready (a cold start on a loaded machine).
STARTUP_TIMEOUT = 120.0


# ---------------------------------------------------------------------------------------------- worker side


def _parse(latex: str) -> list:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    # math-verify finds LaTeX inside $...$; our extraction already isolated the answer, so wrap it.
    out = parse(
        "$" + latex + "$",
        extraction_config=[LatexExtractionConfig(), ExprExtractionConfig()],
        fallback_mode="no_fallback",
        parsing_timeout=None,  # the parent's wall clock is the timeout
    )
    return [x for x in out if not isinstance(x, str)]


def _is_assignment(expr) -> bool:
    """`x = 3` or `x = y = 3`: an equation whose left side is one symbol. (math-verify's own test also accepts
    `x + y = 3`, whose left side is "only symbols", and would then call it equal to 3.)"""
    from sympy import And, Eq, Symbol

    if isinstance(expr, And) and expr.args:
        expr = getattr(expr, "_unsorted_args", expr.args)[0]
    return isinstance(expr, Eq) and isinstance(expr.lhs, Symbol)


def symbolic_equal(a: str, b: str) -> bool:
    """math-verify equality of two cleaned LaTeX answers, in both directions, with one guard added.

    math-verify unwraps an equation against a plain value (`x+y=3` vs `3` -> True). We only allow that when
    the equation is an assignment (`x = 3`); otherwise an equation never equals a non-equation.
    This runs without any timeout of its own: call it through `SymbolicPool`, not directly on user input.
    """
    from math_verify import verify
    from math_verify.grader import is_equation

    for x in _parse(a):
        for y in _parse(b):
            ex, ey = is_equation(x), is_equation(y)
            if ex != ey and not _is_assignment(x if ex else y):
                continue
            if verify(x, y, timeout_seconds=None) or verify(y, x, timeout_seconds=None):
                return True
    return False


def serve() -> None:
    """Worker loop over stdin/stdout JSON lines: read [task_id, a, b], write [task_id, equal, error]."""
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    logging.getLogger("latex2sympy2_extended").setLevel(logging.ERROR)
    import math_verify  # noqa: F401  (import before reporting ready, so task deadlines exclude it)

    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        tid, a, b = json.loads(line)
        try:
            reply = [tid, bool(symbolic_equal(a, b)), None]
        except Exception as e:  # a parser bug must not take the worker down
            reply = [tid, False, f"{type(e).__name__}: {e}"[:300]]
        out.write(json.dumps(reply) + "\n")
        out.flush()


# ---------------------------------------------------------------------------------------------- parent side


class _Worker:
    """One `python -m w2s_lib.grading_pool` subprocess. A plain subprocess (not multiprocessing) so the
    caller's __main__ is never re-imported and nothing needs pickling; it can be killed at any moment."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO_ROOT, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "w2s_lib.grading_pool"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            bufsize=1,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], STARTUP_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.kill()
            raise RuntimeError(
                f"grading worker did not start within {STARTUP_TIMEOUT:.0f} s "
                f"(run `{sys.executable} -m w2s_lib.grading_pool` to see its error)"
            )

    def send(self, tid: int, a: str, b: str) -> None:
        self.proc.stdin.write(json.dumps([tid, a, b]) + "\n")
        self.proc.stdin.flush()

    def recv(self) -> tuple[int, bool, str | None]:
        line = self.proc.stdout.readline()
        if not line:
            raise EOFError("grading worker closed its output")
        tid, equal, err = json.loads(line)
        return tid, equal, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


class SymbolicPool:
    """A fixed number of math-verify worker processes; `run` compares many pairs under a per-pair time limit."""

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.size = workers
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self.stats = STATS

    def _ensure_started(self) -> None:
        while len(self._workers) < self.size:
            self._workers.append(_Worker())

    def run(
        self,
        pairs: Sequence[tuple[str, str]],
        timeout: float = 5.0,
        on_result: Callable[[int, bool], None] | None = None,
    ) -> list[bool]:
        """Compare each (a, b) with `symbolic_equal`; a pair that takes longer than `timeout` s is False."""
        if not pairs:
            return []
        with self._lock:
            self._ensure_started()
            results = [False] * len(pairs)
            todo = deque(range(len(pairs)))
            busy: dict[int, tuple[int, float]] = {}  # worker slot -> (task index, deadline)
            while todo or busy:
                for slot in range(len(self._workers)):
                    if slot not in busy and todo:
                        i = todo.popleft()
                        try:
                            self._workers[slot].send(i, pairs[i][0], pairs[i][1])
                        except (BrokenPipeError, OSError):
                            self._replace(slot, crashed=True)
                            todo.appendleft(i)
                            continue
                        busy[slot] = (i, time.monotonic() + timeout)
                if not busy:
                    continue
                wait_for = max(0.0, min(d for _, d in busy.values()) - time.monotonic())
                streams = {self._workers[s].proc.stdout: s for s in busy}
                ready, _, _ = select.select(list(streams), [], [], wait_for)
                for stream in ready:
                    slot = streams[stream]
                    i, _ = busy.pop(slot)
                    try:
                        tid, equal, err = self._workers[slot].recv()
                        if tid != i:
                            raise EOFError(f"worker answered task {tid}, expected {i}")
                    except (EOFError, OSError, ValueError) as e:
                        self._replace(slot, crashed=True)
                        log.warning("grading worker failed (%s) on %r vs %r; counted as not equal", e, *pairs[i])
                        self._finish(i, False, results, on_result)
                        continue
                    if err:
                        self.stats["errors"] += 1
                        log.debug("symbolic comparison error on %r vs %r: %s", pairs[i][0], pairs[i][1], err)
                    self._finish(i, equal, results, on_result)
                now = time.monotonic()
                for slot, (i, deadline) in list(busy.items()):
                    if now >= deadline:
                        busy.pop(slot)
                        self.stats["timeouts"] += 1
                        log.warning(
                            "symbolic comparison timed out after %.1f s, counted as not equal: %r vs %r",
                            timeout, pairs[i][0][:200], pairs[i][1][:200],
                        )
                        self._replace(slot, crashed=False)
                        self._finish(i, False, results, on_result)
            return results

    def _finish(self, i: int, equal: bool, results: list[bool], on_result) -> None:
        results[i] = equal
        self.stats["compared"] += 1
        if on_result is not None:
            on_result(i, equal)

    def _replace(self, slot: int, crashed: bool) -> None:
        if crashed:
            self.stats["crashes"] += 1
        self._workers[slot].kill()
        self._workers[slot] = _Worker()

    def close(self) -> None:
        """Stop all workers (also done at interpreter exit for the shared pool)."""
        with self._lock:
            for w in self._workers:
                w.kill()
            self._workers = []


_SHARED: SymbolicPool | None = None
_SHARED_LOCK = threading.Lock()


def default_workers() -> int:
    """Workers for the shared pool: W2S_GRADING_WORKERS, else min(2, CPU count)."""
    env = os.environ.get("W2S_GRADING_WORKERS")
    return max(1, int(env)) if env else max(1, min(2, os.cpu_count() or 1))


def shared_pool(workers: int | None = None) -> SymbolicPool:
    """The process-wide pool, started on first use (and restarted if a different size is asked for)."""
    global _SHARED
    want = workers or default_workers()
    with _SHARED_LOCK:
        if _SHARED is None or _SHARED.size != want:
            if _SHARED is not None:
                _SHARED.close()
            _SHARED = SymbolicPool(want)
        return _SHARED


def shutdown_shared_pool() -> None:
    """Stop the shared pool's workers (safe to call when none was started)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is not None:
            _SHARED.close()
            _SHARED = None


atexit.register(shutdown_shared_pool)


if __name__ == "__main__":
    serve()
