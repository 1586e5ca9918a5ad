"""Symbolic answer comparison with math-verify, in worker processes under a wall-clock limit.

Why processes and not math-verify's own timeouts: those use `signal.alarm`, which only works on the main
thread, and sympy can spend minutes (or forever) simplifying an adversarial expression. Here every comparison
runs in a worker process; the parent waits on a pipe with a deadline, and a worker that misses it is killed
and replaced. A timeout counts as "not equal" and is counted in `stats` and logged. A worker that crashes is
replaced the same way. Nothing here can hang or kill the caller.

Two kinds of task: "equal" compares two cleaned LaTeX answers (`symbolic_equal`); "grade" runs the whole
verdict of `w2s_lib.grading.answers.is_correct` (extraction, normalisation, cheap checks, sympy) inside the worker, so
the deadline covers all of it (used for oversized inputs). Before sympy sees an answer, `sympy_safe` refuses
what it could not finish (see there): a refused comparison is "not equal" at once, counted in `stats["refused"]`.
A killed worker's replacement starts in the background; the caller does not wait for it unless it needs it.

Workers are plain `python -m w2s_lib.grading.pool` subprocesses that talk JSON lines over stdin/stdout (not
multiprocessing): the caller's `__main__` is never re-imported (a script or notebook without an
`if __name__ == "__main__"` guard is safe), nothing is pickled, and a worker can be killed at any moment.
Starting one costs about a second (importing sympy); that is paid once per worker and again after a timeout.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import re
import select
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Callable, Sequence

from w2s_lib.run.paths import REPO_ROOT

log = logging.getLogger("w2s_lib.grading")
_REPO_ROOT = str(REPO_ROOT)

# Counters over every pool in this process (what `w2s_lib.grading.answers.grading_stats()` reports).
STATS = {"compared": 0, "timeouts": 0, "crashes": 0, "errors": 0, "refused": 0}

# What sympy is never asked to do (it could take minutes or all memory): answers longer than this, nesting
# deeper than MAX_NESTING, integer exponents of 10,000 or more (100 or more on a bracket: `(x+1)^{999}`),
# power towers of numbers (`9^{9^{9}}`),
# factorials of 1,000 or more, integer literals of more than 300 digits.
MAX_SYMBOLIC_CHARS = 400
MAX_NESTING = 20
_TOWER = re.compile(r"\^\s*\{[^{}a-zA-Z\\]*\^|\^\s*\d+\s*\^")
_BIG_EXP = re.compile(r"\^\s*\{?\s*[+-]?\s*\d{5,}|[)}\]]\s*\^\s*\{?\s*[+-]?\s*\d{3,}")
_BIG_FACT = re.compile(r"\d{4,}\s*!")
_BIG_INT = re.compile(r"\d{301,}")


def sympy_safe(latex: str) -> bool:
    """False for input sympy could not finish in reasonable time (see MAX_SYMBOLIC_CHARS); linear time."""
    if len(latex) > MAX_SYMBOLIC_CHARS:
        return False
    depth = deepest = 0
    for c in latex:
        if c in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")]}":
            depth -= 1
    if deepest > MAX_NESTING:
        return False
    return not (_TOWER.search(latex) or _BIG_EXP.search(latex) or _BIG_FACT.search(latex) or _BIG_INT.search(latex))

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


def grade_locally(response: str, gold: str) -> bool:
    """`is_correct`'s whole verdict computed in this process with no pool (the worker side of a "grade" task)."""
    from w2s_lib.grading.answers import extract_answer, gold_answer
    from w2s_lib.grading.decide import decide, symbolic_form
    from w2s_lib.grading.normalize import analyze

    pa, pb = analyze(extract_answer(response)), analyze(gold_answer(gold))
    verdict = decide(pa, pb)
    if verdict is not None:
        return verdict
    x, y = symbolic_form(pa, pb), symbolic_form(pb, pa)
    return sympy_safe(x) and sympy_safe(y) and symbolic_equal(x, y)


def serve() -> None:
    """Worker loop over stdin/stdout JSON lines: read [task_id, a, b, kind], write [task_id, equal, error]."""
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    logging.getLogger("latex2sympy2_extended").setLevel(logging.ERROR)
    import math_verify  # noqa: F401  (import before reporting ready, so task deadlines exclude it)

    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        tid, a, b, kind = json.loads(line)
        try:
            reply = [tid, bool(grade_locally(a, b) if kind == "grade" else symbolic_equal(a, b)), None]
        except Exception as e:  # a parser bug must not take the worker down
            reply = [tid, False, f"{type(e).__name__}: {e}"[:300]]
        out.write(json.dumps(reply) + "\n")
        out.flush()


# ---------------------------------------------------------------------------------------------- parent side


class _Worker:
    """One `python -m w2s_lib.grading.pool` subprocess. A plain subprocess (not multiprocessing) so the
    caller's __main__ is never re-imported and nothing needs pickling; it can be killed at any moment.
    Starting returns at once; `wait_ready` waits (up to STARTUP_TIMEOUT) for the worker's "ready" line."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO_ROOT, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "w2s_lib.grading.pool"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            bufsize=1,
        )
        self.started = time.monotonic()
        self.ready = False

    def wait_ready(self, block: bool = True) -> bool:
        """True once the worker has reported ready; with block=False, do not wait."""
        if self.ready:
            return True
        left = STARTUP_TIMEOUT - (time.monotonic() - self.started)
        ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, left) if block else 0.0)
        if not ready:
            if block or left <= 0:
                self.kill()
                raise RuntimeError(
                    f"grading worker did not start within {STARTUP_TIMEOUT:.0f} s "
                    f"(run `{sys.executable} -m w2s_lib.grading.pool` to see its error)"
                )
            return False
        if self.proc.stdout.readline().strip() != "ready":
            self.kill()
            raise RuntimeError(f"grading worker failed to start (run `{sys.executable} -m w2s_lib.grading.pool`)")
        self.ready = True
        return True

    def send(self, tid: int, a: str, b: str, kind: str) -> None:
        self.proc.stdin.write(json.dumps([tid, a, b, kind]) + "\n")
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
        kind: str = "equal",
    ) -> list[bool]:
        """Run one task per pair; a task that takes longer than `timeout` s is False (and its worker killed).

        kind "equal": `symbolic_equal(a, b)` on cleaned LaTeX (pairs sympy could not finish are refused, False);
        kind "grade": the whole `is_correct(response=a, gold=b)` verdict inside the worker."""
        if not pairs:
            return []
        if kind not in ("equal", "grade"):
            raise ValueError(f"unknown task kind {kind!r}")
        with self._lock:
            self._ensure_started()
            results = [False] * len(pairs)
            todo: deque[int] = deque()
            for i, (a, b) in enumerate(pairs):
                if kind == "equal" and not (sympy_safe(a) and sympy_safe(b)):
                    self.stats["refused"] += 1
                    log.debug("symbolic comparison refused (input sympy could not finish): %r vs %r", a[:80], b[:80])
                    self._finish(i, False, results, on_result)
                else:
                    todo.append(i)
            busy: dict[int, tuple[int, float]] = {}  # worker slot -> (task index, deadline)
            while todo or busy:
                idle = [s for s in range(len(self._workers)) if s not in busy]
                if todo and idle and not busy and not any(self._workers[s].ready for s in idle):
                    self._workers[idle[0]].wait_ready()  # nothing else to wait for: block on a starting worker
                for slot in idle:
                    if not todo or not self._workers[slot].wait_ready(block=False):
                        continue
                    i = todo.popleft()
                    try:
                        self._workers[slot].send(i, pairs[i][0], pairs[i][1], kind)
                    except (BrokenPipeError, OSError):
                        self._replace(slot, crashed=True)
                        todo.appendleft(i)
                        continue
                    busy[slot] = (i, time.monotonic() + timeout)
                if not busy:
                    continue
                wait_for = max(0.0, min(d for _, d in busy.values()) - time.monotonic())
                starting = [self._workers[s].proc.stdout for s in idle if not self._workers[s].ready]
                if todo and starting:
                    wait_for = min(wait_for, 0.05)  # poll starting workers so they can take queued tasks
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
                        log.warning("grading worker failed (%s) on %r vs %r; counted as not equal",
                                    e, pairs[i][0][:200], pairs[i][1][:200])
                        self._finish(i, False, results, on_result)
                        continue
                    if err:
                        self.stats["errors"] += 1
                        log.debug("symbolic comparison error on %r vs %r: %s", pairs[i][0][:200], pairs[i][1][:200], err)
                    self._finish(i, equal, results, on_result)
                now = time.monotonic()
                for slot, (i, deadline) in list(busy.items()):
                    if now >= deadline:
                        busy.pop(slot)
                        self.stats["timeouts"] += 1
                        log.warning(
                            "%s timed out after %.1f s, counted as not equal: %r vs %r",
                            "symbolic comparison" if kind == "equal" else "grading", timeout,
                            pairs[i][0][:200], pairs[i][1][:200],
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
        """Kill the worker in `slot` and start its replacement without waiting for it to be ready."""
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
