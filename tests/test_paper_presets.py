"""The GPU presets (paper-*, single-gpu*): they load, validate, mirror the paper's settings (docs/paper_settings.md),
mark every value the paper does not state, build TRL configs under the pinned TRL with their overrides, and dry-run
without a model (shapes from a table, not downloads)."""
from __future__ import annotations

import re

import pytest

from w2s_lib.engines.costs import KNOWN_MODELS, LENGTHS, format_plan, model_spec, plan, totals
from w2s_lib.run.pipeline import main
from w2s_lib.run.presets import list_presets, load_preset
from w2s_lib.engines.recipes import PAPER_LORA_TARGETS, build_trl_config, load_recipe

# the weak-to-strong presets (the SCORE presets, paper-score-* and single-gpu-score: tests/test_score_presets.py)
PAPER = [n for n in list_presets() if n.startswith("paper-") and load_preset(n).has_w2s]
GPU = [n for n in list_presets() if n.startswith(("paper-", "single-gpu")) and load_preset(n).has_w2s]

# (dataset, weak, strong, max_new_tokens, pairs per question, Stage I iterations) from the paper's release
EXPECTED = {
    "paper-gsm8k-llama2-7b": ("gsm8k", "meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-70b-hf", 1024, 1, 2),
    "paper-gsm8k-gemma-2b": ("gsm8k", "google/gemma-2b", "meta-llama/Llama-2-70b-hf", 1024, 1, 2),
    "paper-gsm8k-mistral-7b": ("gsm8k", "mistralai/Mistral-7B-v0.1", "meta-llama/Llama-2-70b-hf", 1024, 1, 2),
    "paper-math-llama2-7b": ("math", "meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-70b-hf", 2048, 3, 1),
    "paper-math-gemma-2b": ("math", "google/gemma-2b", "meta-llama/Llama-2-70b-hf", 2048, 3, 1),
    "paper-math-mistral-7b": ("math", "mistralai/Mistral-7B-v0.1", "meta-llama/Llama-2-70b-hf", 2048, 3, 1),
    "paper-olympicarena-llama3-8b": ("olympicarena", "meta-llama/Meta-Llama-3-8B-Instruct",
                                     "meta-llama/Meta-Llama-3-70B", 2048, 3, 2),
}


def test_the_seven_paper_experiments_are_there():
    assert sorted(PAPER) == sorted(EXPECTED)
    assert {"single-gpu", "single-gpu-math"} <= set(GPU)


@pytest.mark.parametrize("name", PAPER)
def test_paper_preset_mirrors_the_paper(name):
    p = load_preset(name)
    dataset, weak, strong, max_new, pairs, iters = EXPECTED[name]
    assert p.dataset["name"] == dataset
    assert (p.models["weak_model"] if dataset == "olympicarena" else p.models["weak_base"]) == weak
    assert not (dataset == "olympicarena" and p.models["weak_base"])      # used as is: no train_1 SFT
    assert p.models["strong_base"] == strong
    assert p.generation["max_new_tokens"] == max_new
    assert p.stage2["max_pairs_per_question"] == pairs and p.stage1["iterations"] == iters
    assert p.stage1["m_plus"] == "hybrid"
    assert (p.stage2["n_samples"], p.stage2["temperature"], p.stage2["min_conf"], p.stage2["flip_conf"]) == (
        10, 1.0, 0.6, 0.8)
    assert p.icl["n_demos"] == 4 and set(p.stage2["methods"]) == {"dpo", "orpo"}
    assert p.generation["backend"] == "vllm" and p.generation["subprocess"] is True
    assert (p.train["launcher"], p.train["accelerate_config"], p.compute["gpus"]) == ("accelerate", "zero3", 8)
    assert p.eval["judge"] == ("olympic" if dataset == "olympicarena" else "grading")
    for job in ("strong_sft", "dpo", "orpo"):
        r = load_recipe(p.recipe(job))
        assert r.lora is not None and r.lora["target_modules"] == PAPER_LORA_TARGETS and r.save == "merged"
    assert p.paper["dataset"] == dataset                                  # join keys for configs/paper_results.yaml
    sizes = p.dataset["sizes"]
    if dataset == "math":
        assert (sizes["train_1"], sizes["train_2"], sizes["test"]) == (6000, 6000, 500)
        assert p.dataset["test_source"] == "HuggingFaceH4/MATH-500"
    if dataset == "olympicarena":
        assert "train_1" not in sizes and (sizes["train_2"], sizes["test"]) == (6020, 313)
        assert p.dataset["olympic"]["text_only"] is False and "CS" not in p.dataset["olympic"]["subjects"]


def test_paper_join_keys_use_paper_results_vocabulary():
    """06 joins a preset's `paper` keys to configs/paper_results.yaml (which has no number for some pairs, e.g.
    MATH with Llama2-7b): every value must be one that file uses."""
    import yaml

    from w2s_lib.run.paths import CONFIGS_DIR

    published = yaml.safe_load((CONFIGS_DIR / "paper_results.yaml").read_text())["results"]
    for key in ("dataset", "weak_model", "strong_model"):
        known = {r[key] for r in published}
        for name in PAPER:
            assert load_preset(name).paper[key] in known, (name, key)
    assert load_preset("single-gpu").paper == {}                            # no published counterpart


def recipe_paths(names):
    return sorted({str(load_preset(n).recipe(j)) for n in names for j in ("weak_sft", "strong_sft", "dpo", "orpo")})


@pytest.mark.parametrize("path", recipe_paths(GPU), ids=lambda p: p.rsplit("/", 1)[-1])
def test_values_the_paper_does_not_state_are_marked(path):
    """learning rate, epochs, LoRA rank and DPO/ORPO beta are not in the paper: each line says `# our choice`."""
    text = open(path).read()
    for key in ("learning_rate", "num_train_epochs", "beta", "r"):
        for line in re.findall(rf"^\s+{key}:.*$", text, flags=re.M):
            assert "# our choice" in line, f"{path}: {line.strip()!r} is not marked '# our choice'"


@pytest.mark.parametrize("name", GPU)
def test_recipes_with_the_presets_overrides_build_under_pinned_trl(name, tmp_path):
    p = load_preset(name)
    for job in ("weak_sft", "strong_sft", "dpo", "orpo"):
        r = load_recipe(p.recipe(job))
        # has_gpu=False: the pinned TRL refuses bf16 on a machine without a GPU at construction time
        args = build_trl_config(r, tmp_path, seed=0, overrides=p.overrides(job), has_gpu=False)
        for key, value in {**r.trl, **p.overrides(job)}.items():
            assert getattr(args, key) == value or key == "loss_type", (job, key)


def test_model_table_matches_published_parameter_counts():
    published = {"meta-llama/Llama-2-7b-hf": 6.74e9, "meta-llama/Llama-2-70b-hf": 68.98e9, "google/gemma-2b": 2.51e9,
                 "mistralai/Mistral-7B-v0.1": 7.24e9, "meta-llama/Meta-Llama-3-8B-Instruct": 8.03e9,
                 "meta-llama/Meta-Llama-3-70B": 70.55e9, "meta-llama/Meta-Llama-3-70B-Instruct": 70.55e9,
                 "meta-llama/Llama-2-13b-chat-hf": 13.02e9, "google/gemma-7b-it": 8.54e9, "Qwen/Qwen2.5-0.5B": 0.494e9,
                 "Qwen/Qwen2.5-1.5B": 1.54e9, "Qwen/Qwen2.5-7B": 7.62e9}
    assert set(published) == set(KNOWN_MODELS)
    for ref, n in published.items():
        assert abs(KNOWN_MODELS[ref].params - n) / n < 0.005, ref
    # the release's adapters: 12,943,360 LoRA parameters per unit of rank on Llama2-70b (docs/paper_settings.md)
    assert KNOWN_MODELS["meta-llama/Llama-2-70b-hf"].lora_params(1, tuple(PAPER_LORA_TARGETS)) == 12_943_360


def test_model_spec_reads_a_local_config_without_loading(tmp_path):
    from fixtures.tiny_model.build import build

    path = build(tmp_path / "tiny")
    spec = model_spec(str(path))
    from transformers import AutoModelForCausalLM

    assert spec.params == sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(path).parameters())
    assert model_spec("someone/unknown-model") is None


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_dry_runs(name, capsys):
    assert main(["--preset", name, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"preset {name}" in out and "ESTIMATES" in out and "no model was loaded" in out
    p = load_preset(name)
    for nb in ("01_weak_data", "02_selection", "03_stage1_sft", "04_stage2_preference"):
        assert (f"[{nb}]" in out) == p.has_w2s
    for nb in ("07_score_data", "08_score_verify"):
        assert (f"[{nb}]" in out) == p.has_score
    steps = plan(p)
    if p.compute.get("gpus"):
        # every hub model is in the table (a step whose recipe file is missing says so and estimates nothing)
        assert all(s.memory_gb and s.gpu_hours for s in steps if s.rows and not
                   any("not found: no estimate" in n for n in s.notes)), name
        assert all(s.memory_gb < p.compute["gpu_memory_gb"] for s in steps if s.memory_gb), name
        assert "GPU-hours" in out
        if p.train["launcher"] == "accelerate":
            assert "accelerate launch --config_file configs/accelerate/zero3.yaml --num_processes 8" in out


@pytest.mark.parametrize("name", PAPER)
def test_plan_follows_the_preset(name):
    p = load_preset(name)
    steps = {s.name: s for s in plan(p)}
    n2, ns = p.dataset["sizes"]["train_2"], p.stage2["n_samples"]
    samples = steps["M_plus samples"]
    assert samples.gen_cap == n2 * ns * p.generation["max_new_tokens"]
    assert samples.gen_tokens == n2 * ns * LENGTHS[p.dataset["name"]][1]
    iters = p.stage1["iterations"]
    assert f"iter{iters} SFT hybrid" in steps and f"iter{iters + 1} SFT hybrid" not in steps
    assert ("strong ceiling" in steps) == (p.dataset["name"] != "olympicarena")
    assert ("weak SFT on train_1 gold" in steps) == (p.dataset["name"] != "olympicarena")
    # 05 scores five models on OlympicArena val, except on the OlympicArena preset (it reuses 01-04's evaluations)
    olympic = [s for s in steps.values() if s.notebook == "05_olympicarena_eval"]
    assert len(olympic) == (0 if p.dataset["name"] == "olympicarena" else 5)
    assert steps["D_icl (strong ICL)"].prompt_tokens > 4 * steps["D_weak"].prompt_tokens   # 4 demos in each prompt
    t = totals(list(steps.values()))
    assert t["total"]["gpu_hours"] == pytest.approx(sum(s.gpu_hours or 0 for s in steps.values()))
    assert "vLLM tensor parallel 8" in steps["M_plus samples"].detail                  # 70B: one engine over 8 GPUs
    assert "data parallel" in steps["D_weak"].detail                                   # 2B-8B: one engine per GPU
    assert "ESTIMATES" in format_plan(p, list(steps.values()))


def test_gpu_guide_multinode_accelerate_config_parses(tmp_path):
    """docs/gpu.md's two-node DeepSpeed config is valid for the pinned accelerate (a typo would fail here)."""
    from accelerate.commands.config.config_args import load_config_from_file

    from w2s_lib.run.paths import REPO_ROOT

    text = (REPO_ROOT / "docs" / "gpu.md").read_text()
    block = text.split("<!-- multinode-accelerate-config -->", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "zero3_2nodes.yaml"
    path.write_text(block)
    cfg = load_config_from_file(str(path))
    assert cfg.num_machines == 2 and cfg.num_processes == 16 and str(cfg.distributed_type).endswith("DEEPSPEED")
    assert cfg.deepspeed_config["deepspeed_multinode_launcher"] == "pdsh"
    assert cfg.deepspeed_config["zero_stage"] == 3


def test_gpu_guide_cost_table_is_current():
    """The cost table in docs/gpu.md is what `python -m w2s_lib.engines.costs` prints now (regenerate it when it
    drifts)."""
    from w2s_lib.engines.costs import cost_table
    from w2s_lib.run.paths import REPO_ROOT

    text = (REPO_ROOT / "docs" / "gpu.md").read_text()
    assert cost_table(GPU) in text


def test_plan_samples_only_the_models_the_preset_lists():
    """The dry run counts the k test samples for the models in `eval.sample_stages`, as evaluation does."""
    sampled = [s.name for s in plan(load_preset("toy")) if s.name.startswith("eval ") and "@" in s.name]
    assert sampled == ["eval iter2 hybrid @10"]
    smoke = plan(load_preset("smoke"))        # sample_stages: null -> every evaluated model samples
    greedy = [s.name for s in smoke if s.name.startswith("eval ") and "@" not in s.name]
    assert len(greedy) == 11 and all(f"{g} @4" in {s.name for s in smoke} for g in greedy)
