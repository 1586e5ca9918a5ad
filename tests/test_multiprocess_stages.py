"""The multi-process training path, through the stages' own entry: a preset with `train.launcher: accelerate`,
`num_processes: 2` (DDP over gloo on this CPU) and the paper presets' recipes (full fine-tuning for the weak
model; LoRA on the seven projections, merged at save, for the strong model, DPO and ORPO).

  weak SFT      w2s_lib.stages.weak.train_weak         (stage weak_model)
  Stage I SFT   w2s_lib.stages.stage1.train_sft        (a Stage I SFT stage, on D_weak made by the trained weak model)
  DPO / ORPO    RunContext.train                (what stages.stage2.train_preference calls), from the Stage I model

Each saved model must load and generate, differ from its starting model, and record 2 processes. The engines'
tests already check the trainers' losses and one accelerate run per kind on hand-made rows; these check the
wiring from a preset to `accelerate launch` with the recipes the GPU presets use. One optimizer step each.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import yaml

from w2s_lib.run.context import open_run
from w2s_lib.run.paths import DATA_DIR
from w2s_lib.stages.prepare import prepare
from w2s_lib.tasks.prompts import completion
from w2s_lib.engines.training import load_model

ONE_STEP = {"max_steps": 1, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
            "logging_steps": 1, "warmup_steps": 0, "learning_rate": 1.0e-3}   # one step that moves the weights


def models(tmp_path_factory) -> tuple[str, str]:
    """The toy base models (data/toy, or $W2S_TOY_MODELS) when they exist, else the engines' tiny test model."""
    root = Path(os.environ.get("W2S_TOY_MODELS") or DATA_DIR / "toy")
    weak, strong = root / "weak_base", root / "strong_base"
    if (weak / "config.json").is_file() and (strong / "config.json").is_file():
        return str(weak), str(strong)
    from fixtures.tiny_model.build import build

    tiny = str(build(tmp_path_factory.mktemp("tiny")))
    return tiny, tiny


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    weak, strong = models(tmp_path_factory)
    d = tmp_path_factory.mktemp("mp")
    preset = {
        "name": "smoke-accelerate", "extends": "smoke",
        "models": {"weak_base": weak, "strong_base": strong},
        "dataset": {"sizes": {"train_1": 12, "train_2": 12, "dev": 4, "test": 4}},
        "generation": {"max_new_tokens": 24},
        "train": {"weak_sft": "configs/train/paper_weak_sft.yaml", "strong_sft": "configs/train/paper_strong_sft.yaml",
                  "dpo": "configs/train/paper_dpo.yaml", "orpo": "configs/train/paper_orpo.yaml",
                  "launcher": "accelerate", "num_processes": 2, "accelerate_config": "ddp",
                  "overrides": {job: ONE_STEP for job in ("weak_sft", "strong_sft", "dpo", "orpo")}},
    }
    path = d / "smoke-accelerate.yaml"
    path.write_text(yaml.safe_dump(preset))
    c = open_run(str(path), seed=0, run_dir=str(d / "run"))
    prepare(c, verbose=False)
    return c


def params_differ(a: str, b: str) -> bool:
    ma, mb = load_model(a), load_model(b)
    return any(not torch.equal(x, y) for x, y in zip(ma.parameters(), mb.parameters()))


def check_trained(ctx, model_dir: str, base: str) -> None:
    m = json.loads((Path(model_dir) / "train_metrics.json").read_text())
    assert m["num_processes"] == 2 and m["launcher"] == "accelerate" and m["global_step"] == 1
    assert not (Path(model_dir) / "adapter_config.json").exists()     # merged weights, loadable by vLLM
    out = ctx.generate(model_dir, ["Question: What is 2 plus 3?\nAnswer:"], n=2, temperature=1.0, progress=False)
    assert len(out) == 1 and len(out[0]) == 2 and all(isinstance(t, str) for t in out[0])
    assert params_differ(model_dir, base)


@pytest.fixture(scope="module")
def weak_stage(ctx):
    from w2s_lib.stages.weak import train_weak

    return train_weak(ctx, verbose=False)


def test_weak_sft_stage_runs_on_two_processes(ctx, weak_stage):
    assert weak_stage.done and weak_stage.metrics["rows"] == 12
    check_trained(ctx, str(weak_stage.dir / "model"), ctx.model("weak_base"))


@pytest.fixture(scope="module")
def sft_model(ctx, weak_stage) -> str:
    from w2s_lib.stages.stage1 import train_sft
    from w2s_lib.stages.weak import generate_d_weak, load_d_weak

    generate_d_weak(ctx, verbose=False)            # the accelerate-trained weak model, loaded by the next stage
    rows = load_d_weak(ctx)
    assert len(rows) == 12
    st = train_sft(ctx, "sft_iter1_hybrid", [{"prompt": r["prompt"], "response": r["response"] or "0"} for r in rows],
                   {"d_weak": None}, "D_weak rows (multi-process test)", verbose=False)
    return str(st.dir / "model")


def test_stage1_sft_stage_runs_on_two_processes_with_lora_merged(ctx, sft_model):
    check_trained(ctx, sft_model, ctx.model("strong_base"))


@pytest.mark.parametrize("method", ["dpo", "orpo"])
def test_preference_training_runs_on_two_processes(ctx, sft_model, method, tmp_path):
    from w2s_lib.stages.weak import load_d_weak

    rows = load_d_weak(ctx)
    pairs = [{"prompt": r["prompt"], "chosen": completion(r["response"] or "1"),
              "rejected": completion((rows[(i + 1) % len(rows)]["response"] or "2") + " 7")}
             for i, r in enumerate(rows)]
    out = tmp_path / method / "model"
    m = ctx.train(method, method, sft_model, pairs, out)
    assert m["num_processes"] == 2 and m["train_loss"] > 0
    check_trained(ctx, str(out), sft_model)
