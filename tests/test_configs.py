"""Every YAML under configs/train and configs/accelerate parses against the pinned TRL / peft / accelerate, so a
renamed field fails CI instead of a training run."""
from __future__ import annotations

import glob

import pytest
import yaml

from w2s_lib.run.jsonl import DataError
from w2s_lib.run.paths import CONFIGS_DIR
from w2s_lib.engines.recipes import PAPER_LORA_TARGETS, build_trl_config, device_defaults, lora_config, load_recipe

TRAIN = sorted(glob.glob(str(CONFIGS_DIR / "train" / "*.yaml")))
ACCEL = sorted(glob.glob(str(CONFIGS_DIR / "accelerate" / "*.yaml")))


def test_there_are_recipes_for_every_kind():
    kinds = {load_recipe(p).kind for p in TRAIN}
    assert kinds == {"sft", "dpo", "orpo", "classifier"}
    assert {"ddp", "zero3", "fsdp"} <= {p.rsplit("/", 1)[-1][:-5] for p in ACCEL}


@pytest.mark.parametrize("path", TRAIN, ids=lambda p: p.rsplit("/", 1)[-1])
def test_train_recipe_builds_trl_and_peft_configs(path, tmp_path):
    r = load_recipe(path)
    args = build_trl_config(r, tmp_path, seed=3)
    for key, value in r.trl.items():
        assert getattr(args, key) == value or key == "loss_type", key
    assert args.seed == 3 and args.output_dir == str(tmp_path) and args.save_strategy == "no"
    if r.lora is not None:
        cfg = lora_config(r)
        assert set(cfg.target_modules) == set(PAPER_LORA_TARGETS)


def test_recipe_by_name():
    assert load_recipe("sft_full").source.endswith("configs/train/sft_full.yaml")
    with pytest.raises(DataError, match="no such recipe"):
        load_recipe("does_not_exist")


@pytest.mark.parametrize("bad, message", [
    ({"kind": "sft", "trl": {"learning_rte": 1e-4}}, "learning_rte"),
    ({"kind": "dpo", "trl": {}, "lora": {"rank": 8}}, "rank"),
    ({"kind": "ppo", "trl": {}}, "kind"),
    ({"kind": "sft", "trl": {}, "extra": 1}, "extra"),
    ({"kind": "sft", "trl": {}, "save": "adapter"}, "adapter"),
    ({"kind": "sft", "trl": {"seed": 1}}, "seed"),
])
def test_bad_recipes_fail_with_the_field_named(bad, message):
    with pytest.raises(DataError, match=message):
        load_recipe(bad)


def test_bad_recipe_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"kind": "orpo", "trl": {"betta": 0.1}}))
    with pytest.raises(DataError, match=r"bad\.yaml.*betta"):
        load_recipe(path)


def test_cpu_settings_are_forced_and_gpu_defaults_are_overridable(tmp_path):
    r = load_recipe({"kind": "sft", "trl": {"bf16": True, "gradient_checkpointing": True, "logging_steps": 3}})
    defaults, forced = device_defaults(has_gpu=False)
    assert forced["use_cpu"] and not forced["bf16"] and not forced["gradient_checkpointing"]
    args = build_trl_config(r, tmp_path, seed=0, has_gpu=False)
    assert args.use_cpu and not args.bf16 and not args.fp16 and not args.gradient_checkpointing
    assert args.report_to == [] or args.report_to == "none" or args.report_to == ["none"]
    assert args.logging_steps == 3 and args.dataloader_num_workers == 0
    gpu_defaults, gpu_forced = device_defaults(has_gpu=True)
    assert gpu_defaults["gradient_checkpointing"] and gpu_forced == {}
    assert gpu_defaults["bf16"] or gpu_defaults["fp16"]


@pytest.mark.parametrize("path", ACCEL, ids=lambda p: p.rsplit("/", 1)[-1])
def test_accelerate_config_parses(path):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(path)
    assert cfg.num_machines == 1 and cfg.distributed_type is not None


def test_accelerate_config_with_unknown_key_fails(tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file

    good = yaml.safe_load(open(ACCEL[0]))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**good, "num_procesess": 2}))
    with pytest.raises(ValueError, match="num_procesess"):
        load_config_from_file(str(bad))
