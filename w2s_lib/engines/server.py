"""One generation engine per generation step, in a process of its own: load the model once, serve every shard.

    with RemoteGenerator(model_dir, backend="vllm", python=venv_python) as g:   # starts the engine process
        for shard in shards:                                                     # the model is loaded once
            texts = g.generate(shard_prompts, n=10, temperature=1.0, max_new_tokens=256, stop=STOP, seed=0)
    # leaving the block ends the process: all of its (GPU) memory is free again

Why: a vLLM engine of a 70B model takes minutes to start (reading 138 GB, compiling, profiling memory). A stage
writes its results in resumable shards; starting an engine per shard paid that start-up ~40 times per seed. Here
the stage's shards are served by one engine process that lives for the step, and the parent writes each shard as
it comes back, so an interrupted step still resumes from its last finished shard. The engine runs in its own
process so that, when it exits, the notebook kernel holds no GPU memory before training starts.

`DataParallelGenerator` holds one such process per GPU (a small model on several GPUs) and splits each call's
prompts into contiguous pieces, one per engine, run at once.

Protocol: the parent starts `python -m w2s_lib.engines.server REQ_FD RESP_FD` with two inherited pipe ends. Over
them go JSON lines: first the engine's settings, answered by {"ready": ...}; then one request per `generate` call,
answered by {"completions": ...} or {"error": ...}. The engine's own output (progress bars, vLLM logs) goes to the
inherited stdout/stderr, never into the pipe. Closing the request pipe ends the process (it also ends when the
parent dies, since the pipe then closes).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any, Sequence

from w2s_lib.run.paths import REPO_ROOT

from . import relay



class EngineError(RuntimeError):
    """The engine process failed to start or to answer."""


class RemoteGenerator:
    """A `w2s_lib.engines.generation.Generator` that lives in a child process (see the module docstring)."""

    def __init__(self, model: str, *, backend: str = "transformers", batch_size: int | None = None, seed: int = 0,
                 python: str | None = None, env: dict | None = None, **engine_kwargs: Any):
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        self.cmd = [python or sys.executable, "-m", "w2s_lib.engines.server", str(req_r), str(resp_w)]
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), full_env.get("PYTHONPATH", "")])
        self._relay = None
        try:
            # the engine's own output (progress, vLLM's log) is relayed under the caller's cell (w2s_lib.engines.relay)
            self.proc, self._relay = relay.popen(self.cmd, pass_fds=(req_r, resp_w), env=full_env)
        finally:
            os.close(req_r)
            os.close(resp_w)
        self._req = os.fdopen(req_w, "w", encoding="utf-8")
        self._resp = os.fdopen(resp_r, "r", encoding="utf-8")
        try:
            settings = dict(model=str(model), backend=backend, batch_size=batch_size, seed=seed,
                            engine_kwargs=engine_kwargs)
            self.info = self._call(settings)
        except BaseException:
            self.close()
            raise

    def _call(self, message: dict) -> dict:
        try:
            self._req.write(json.dumps(message) + "\n")
            self._req.flush()
        except TypeError as e:
            raise TypeError(f"engine arguments must be JSON values: {e}") from None
        except BrokenPipeError:
            pass                                   # the process died: its exit code is reported below
        line = self._resp.readline()
        if not line:
            code = self.proc.wait()
            if self._relay is not None:
                self._relay.join()
            raise EngineError(f"the generation engine process exited (code {code}) before answering; its output "
                              f"above says why: {' '.join(self.cmd)}")
        reply = json.loads(line)
        if "error" in reply:
            raise EngineError(f"the generation engine failed: {reply['error']}")
        return reply

    def generate(self, prompts: Sequence[str], *, n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int, stop: Sequence[str] | None = None, seed: int = 0,
                 progress: bool = True) -> list[list[str]]:
        if self.proc is None:
            raise RuntimeError("this RemoteGenerator was closed")
        sampling = dict(n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                        stop=list(stop or []), seed=seed, progress=progress)
        return self._call({"prompts": list(prompts), "sampling": sampling})["completions"]

    __call__ = generate

    def close(self) -> None:
        """End the engine process and wait for it (its memory is free when this returns)."""
        proc, self.proc = getattr(self, "proc", None), None
        for f in (getattr(self, "_req", None), getattr(self, "_resp", None)):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        if proc is not None:
            try:
                proc.wait(timeout=600)
            except subprocess.TimeoutExpired:      # pragma: no cover - an engine that ignores EOF
                proc.kill()
                proc.wait()
        if getattr(self, "_relay", None) is not None:
            self._relay.join()
            self._relay = None

    def __enter__(self) -> "RemoteGenerator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class DataParallelGenerator:
    """One RemoteGenerator per device group (CUDA_VISIBLE_DEVICES values such as "0" or "2,3"); each call's prompts
    are cut into contiguous pieces, one per engine, generated at once and joined in order."""

    def __init__(self, model: str, devices: Sequence[str], **kwargs: Any):
        if not devices:
            raise ValueError("DataParallelGenerator needs at least one device group")
        self.engines: list[RemoteGenerator] = []
        starters = []
        errors: list[BaseException] = []
        slots: list[RemoteGenerator | None] = [None] * len(devices)

        def start(i: int, dev: str) -> None:
            try:
                slots[i] = RemoteGenerator(model, env={"CUDA_VISIBLE_DEVICES": dev}, **kwargs)
            except BaseException as e:  # noqa: BLE001 - reported after every engine has started or failed
                errors.append(e)

        for i, dev in enumerate(devices):      # engines load at once: each reads its own copy of the weights
            t = threading.Thread(target=start, args=(i, dev))
            t.start()
            starters.append(t)
        for t in starters:
            t.join()
        self.engines = [g for g in slots if g is not None]
        if errors:
            self.close()
            raise errors[0]

    def generate(self, prompts: Sequence[str], **sampling: Any) -> list[list[str]]:
        prompts = list(prompts)
        k = min(len(self.engines), max(1, len(prompts)))
        bounds = [round(i * len(prompts) / k) for i in range(k + 1)]
        results: list[list[list[str]] | None] = [None] * k
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                results[i] = self.engines[i].generate(prompts[bounds[i]:bounds[i + 1]], **sampling)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(k)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        out = [row for part in results for row in (part or [])]
        assert len(out) == len(prompts), "data-parallel engines returned the wrong number of rows"
        return out

    __call__ = generate

    def close(self) -> None:
        for g in self.engines:
            g.close()
        self.engines = []

    def __enter__(self) -> "DataParallelGenerator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------------------
# The engine process
# ---------------------------------------------------------------------------------------------------------------


def serve(req_fd: int, resp_fd: int) -> int:
    """Load the engine named by the first message, then answer generate requests until the pipe closes."""
    import time

    from w2s_lib.engines.generation import Generator

    req = os.fdopen(req_fd, "r", encoding="utf-8")
    resp = os.fdopen(resp_fd, "w", encoding="utf-8")

    def reply(obj: dict) -> None:
        resp.write(json.dumps(obj) + "\n")
        resp.flush()

    first = req.readline()
    if not first:
        return 0
    s = json.loads(first)
    start = time.time()
    try:
        gen = Generator(s["model"], backend=s["backend"], batch_size=s["batch_size"], seed=s["seed"],
                        **s["engine_kwargs"])
    except Exception as e:  # noqa: BLE001 - sent to the parent, which raises it with context
        reply({"error": f"loading {s['model']} ({s['backend']}): {type(e).__name__}: {e}"})
        return 1
    reply({"ready": True, "load_seconds": time.time() - start, "pid": os.getpid()})
    try:
        for line in req:
            msg = json.loads(line)
            try:
                reply({"completions": gen.generate(msg["prompts"], **msg["sampling"])})
            except Exception as e:  # noqa: BLE001
                reply({"error": f"{type(e).__name__}: {e}"})
    finally:
        gen.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python -m w2s_lib.engines.server REQ_FD RESP_FD (started by RemoteGenerator)", file=sys.stderr)
        sys.exit(2)
    sys.exit(serve(int(sys.argv[1]), int(sys.argv[2])))
