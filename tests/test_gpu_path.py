"""The GPU path's process layout, checked on a CPU (issue 14):

- one generation engine per step: a stage with several shards loads its engine once, an engine in a child process
  answers what the in-process engine answers, and an interrupted step resumes from its last shard;
- training always in a process of its own, a LoRA adapter merged in the parent after the job exited, with the
  `launch` facts each training stage records; unsloth falls back to TRL inside the job and says why;
- `--jobs` gives each seed a share of the GPUs for training and generation alike, or refuses before it starts;
- the dry run counts one engine load per generation step and the merges and their disk.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fixtures.tiny_model.build import build, task_rows
from w2s_lib.engines import costs
from w2s_lib.run import pipeline
from w2s_lib.engines.server import EngineError, RemoteGenerator
from w2s_lib.engines.generation import Generator
from w2s_lib.run.presets import load_preset
from w2s_lib.tasks.prompts import completion, zero_shot
from w2s_lib.engines.training import load_model, train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("tiny"), init_std=0.6)


def prompts(n: int, seed: int = 2) -> list[str]:
    return [zero_shot(q) for q, _ in task_rows(n, seed=seed)]


# ---- one engine per step -----------------------------------------------------------------------------------------


def test_engine_in_a_child_process_answers_as_the_in_process_engine(tiny):
    ps = prompts(6)
    kw = dict(max_new_tokens=10, progress=False)
    with Generator(tiny) as local:
        greedy, sampled = local.generate(ps, **kw), local.generate(ps, n=3, temperature=1.0, seed=7, **kw)
    with RemoteGenerator(str(tiny)) as remote:
        pid = remote.info["pid"]
        assert remote.generate(ps, **kw) == greedy
        assert remote.generate(ps, n=3, temperature=1.0, seed=7, **kw) == sampled    # same engine, second call
        assert remote.proc.pid == pid
    assert remote.proc is None                                                         # closed: the process is gone
    assert len({t for row in sampled for t in row}) > 3


def test_engine_process_failures_are_reported(tiny, tmp_path):
    with pytest.raises(EngineError, match="loading .*does-not-exist"):
        RemoteGenerator(str(tmp_path / "does-not-exist"))
    with pytest.raises(EngineError, match=r"exited \(code 1\) before answering"):
        RemoteGenerator(str(tiny), python="false")
    with RemoteGenerator(str(tiny)) as g:                   # a bad request fails, the engine stays usable
        with pytest.raises(EngineError, match="max_new_tokens"):
            g.generate(prompts(1), max_new_tokens=0, progress=False)
        assert len(g.generate(prompts(2), max_new_tokens=4, progress=False)) == 2


@pytest.fixture()
def small_ctx(tmp_path):
    """A smoke run whose data stage and weak model exist (the weak model is the toy strong base as-is)."""
    from stage_helpers import toy_models
    from w2s_lib.run.context import open_run
    from w2s_lib.stages.prepare import prepare

    toy_models()
    ctx = open_run("smoke", seed=0, run_dir=str(tmp_path / "run"), sizes={"train_1": 8, "train_2": 20, "test": 4},
                   weak_model="data/toy/strong_base", overrides={"generation": {"shard_size": 4,
                                                                               "max_new_tokens": 24}})
    prepare(ctx, verbose=False)
    return ctx


def test_a_step_with_several_shards_loads_its_engine_once_and_resumes(small_ctx, monkeypatch):
    from w2s_lib.stages import weak

    ctx = small_ctx
    weak.train_weak(ctx, verbose=False)
    model = weak.weak_model_path(ctx)
    st = ctx.store.stage("probe", {"x": 1}, deps=["data"])
    calls = {"n": 0}
    real = ctx.generate

    def failing_generate(*a, **k):                          # dies in the third shard, as a kill would
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(ctx, "generate", failing_generate)
    with pytest.raises(KeyboardInterrupt):
        weak.answer_train_2(ctx, st, model, job="answers")
    assert ctx.engine_loads == [model]                      # one load for the shards it did
    assert sorted(p.name for p in (st.path / "answers").glob("shard-*")) == ["shard-00000.jsonl",
                                                                             "shard-00001.jsonl"]
    monkeypatch.setattr(ctx, "generate", real)
    ctx.engine_loads.clear()
    rows = weak.answer_train_2(ctx, st, model, job="answers")   # resumes: the 3 missing shards, one engine
    assert len(rows) == 20 and ctx.engine_loads == [model]
    ctx.engine_loads.clear()
    again = weak.answer_train_2(ctx, st, model, job="answers")  # every shard on disk: no engine at all
    assert again == rows and ctx.engine_loads == []
    fresh = ctx.store.stage("probe2", {"x": 2}, deps=["data"])
    assert weak.answer_train_2(ctx, fresh, model) == rows      # the resumed rows equal an uninterrupted run


# ---- training in its own process, merge in the parent --------------------------------------------------------------


def sft_rows(n: int = 8) -> list[dict]:
    return [{"prompt": zero_shot(q), "completion": completion(r)} for q, r in task_rows(n, seed=3)]


def test_process_launcher_merges_lora_in_the_parent_after_the_job(tiny, tmp_path):
    lora = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0}
    common = {"max_steps": 3, "per_device_train_batch_size": 4, "learning_rate": 5e-3, "disable_tqdm": True,
              "report_to": "none"}
    merged = train("sft", tiny, sft_rows(), tmp_path / "merged", {"kind": "sft", "trl": common, "lora": lora},
                   seed=0, launcher="process")
    assert merged["launch"] == {"launcher": "process", "num_processes": 1, "distributed_type": "NO",
                                "merged_in": "parent"}
    assert merged["merge"]["bytes"] > 0 and not (tmp_path / "merged" / "_adapter").exists()
    adapter = train("sft", tiny, sft_rows(), tmp_path / "adapter",
                    {"kind": "sft", "trl": common, "lora": lora, "save": "adapter"}, seed=0, launcher="process")
    assert adapter["launch"]["merged_in"] == "none"
    ids = torch.tensor([[1, 5, 9, 12, 7]])
    with torch.no_grad():
        a = load_model(tmp_path / "merged").eval()(input_ids=ids).logits
        b = load_model(tmp_path / "adapter").eval()(input_ids=ids).logits      # merged in memory by peft
        base = load_model(tiny).eval()(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-5) and not torch.allclose(a, base, atol=1e-4)
    saved = json.loads((tmp_path / "merged" / "train_metrics.json").read_text())
    assert saved["launch"]["merged_in"] == "parent" and saved["global_step"] == 3


def test_full_fine_tuning_in_its_own_process_merges_nothing(tiny, tmp_path):
    m = train("sft", tiny, sft_rows(), tmp_path / "m", {"kind": "sft", "trl": {"max_steps": 1, "disable_tqdm": True,
              "per_device_train_batch_size": 4, "report_to": "none"}}, seed=0, launcher="process")
    assert m["launch"]["merged_in"] == "none" and m["launch"]["launcher"] == "process" and "merge" not in m
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_unsloth_falls_back_to_trl_inside_the_job_and_says_why(tiny, tmp_path, capfd):
    recipe = {"kind": "sft", "backend": "unsloth", "trl": {"max_steps": 1, "per_device_train_batch_size": 2,
                                                            "disable_tqdm": True, "report_to": "none"}}
    m = train("sft", tiny, sft_rows(4), tmp_path / "m", recipe, seed=0, launcher="process")
    why = "no GPU is visible" if not torch.cuda.is_available() else None
    assert m["backend"] == "trl" and m["global_step"] == 1
    if why:
        assert m["backend_fallback"] == why
        assert f"backend unsloth not used ({why}); training with TRL" in capfd.readouterr().err


def test_a_stage_records_its_launch_and_log_history(small_ctx):
    from w2s_lib.stages import weak
    from w2s_lib.run.context import open_run

    ctx = open_run(small_ctx.preset, seed=0, run_dir=str(small_ctx.root.parent / "run2"))
    ctx.preset.models["weak_model"] = None
    ctx.preset.train["overrides"]["weak_sft"] = {"max_steps": 2, "per_device_train_batch_size": 4,
                                                 "logging_steps": 1}
    from w2s_lib.stages.prepare import prepare
    prepare(ctx, verbose=False)
    st = weak.train_weak(ctx, verbose=False)
    launch = st.metrics["launch"]
    assert launch["launcher"] == "process" and launch["num_processes"] == 1 and launch["merged_in"] == "none"
    log = [json.loads(line) for line in (st.dir / "train_log.jsonl").read_text().splitlines()]
    assert [h["step"] for h in log if "loss" in h] == [1, 2]


# ---- --jobs and the GPUs ------------------------------------------------------------------------------------------


def test_each_seed_trains_on_its_share_of_the_gpus(monkeypatch, tmp_path):
    from w2s_lib.engines import scale
    from w2s_lib.run.context import open_run

    ctx = open_run("paper-gsm8k-llama2-7b", seed=0, run_dir=str(tmp_path))
    monkeypatch.setattr(scale, "visible_gpus", lambda: ["4", "5", "6", "7"])
    assert ctx.num_processes() == 4                          # not the preset's 8
    monkeypatch.setattr(scale, "visible_gpus", lambda: [])
    assert ctx.num_processes() == 8                          # no GPU: the preset's count (CPU processes)


def test_jobs_that_leave_a_seed_too_few_gpus_are_refused_before_anything_starts(monkeypatch):
    from w2s_lib.engines import scale

    p = load_preset("paper-gsm8k-llama2-7b")
    assert costs.share_problems(p, 8) == []
    too_few = costs.share_problems(p, 1)                     # Llama-2-70b on one 80 GB GPU: neither fits
    assert any("Llama-2-70b" in x and "SFT" in x for x in too_few)
    assert any("Llama-2-70b" in x and "D_icl" in x for x in too_few)
    monkeypatch.setattr(scale, "visible_gpus", lambda: [str(i) for i in range(8)])
    with pytest.raises(SystemExit, match=r"--jobs 8 gives each seed 1 of the 8 visible GPUs"):
        pipeline.check_gpu_share("paper-gsm8k-llama2-7b", 8)
    pipeline.check_gpu_share("paper-gsm8k-llama2-7b", 1)   # the whole node: fine
    assert pipeline._device_slices(2) == ["0,1,2,3", "4,5,6,7"]


# ---- the dry run ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["paper-gsm8k-llama2-7b", "paper-math-gemma-2b", "paper-olympicarena-llama3-8b",
                                  "single-gpu"])
def test_dry_run_counts_one_engine_load_per_generation_step_and_the_merges(name):
    p = load_preset(name)
    steps = costs.plan(p)
    gens = [s for s in steps if s.kind == "generate"]
    for s in gens:
        dp = costs.model_spec(s.model) is not None and costs.model_spec(s.model).params * 2 < 0.5 * 80 * costs.GIB
        assert s.engine_loads == (p.compute["gpus"] if dp and p.compute["gpus"] > 1 else 1), s.name
    lora_trains = [s for s in steps if s.kind == "train" and "LoRA" in s.detail]
    assert lora_trains and all(s.merge_gb > 100 or "single" in name for s in lora_trains)
    assert all(s.merge_gb > 0 for s in lora_trains)
    text = costs.format_plan(p, steps)
    assert "engine: loaded once for the step" in text and "merged after the job" in text
    total = costs.totals(steps)["total"]
    assert total["engine_loads"] == sum(s.engine_loads for s in gens) and total["merges"] == len(lora_trains)
