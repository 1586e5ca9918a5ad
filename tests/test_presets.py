import pytest

from w2s_lib.run.presets import PresetError, list_presets, load_preset


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_loads_and_validates(name):
    p = load_preset(name)
    assert p.name == name
    assert p.has_w2s or p.has_score
    assert p.stage2["min_conf"] <= p.stage2["flip_conf"]
    for job in ("strong_sft", "dpo", "orpo") if p.has_w2s else ("score_refiner",):
        assert p.recipe(job).exists()


def test_smoke_extends_toy_and_overrides_only_what_it_says():
    toy, smoke = load_preset("toy"), load_preset("smoke")
    assert smoke.dataset["sizes"]["train_2"] < toy.dataset["sizes"]["train_2"]
    assert smoke.dataset["toy"] == toy.dataset["toy"]          # inherited
    assert smoke.stage2["flip_conf"] == toy.stage2["flip_conf"]
    # smoke's own keys win, the rest of toy's overrides are inherited key by key
    assert toy.overrides("dpo")["num_train_epochs"] == 3 and smoke.overrides("dpo")["num_train_epochs"] == 1
    assert smoke.overrides("dpo")["beta"] == toy.overrides("dpo")["beta"] == 0.5
    assert toy.overrides("orpo") == {} and smoke.overrides("orpo")["num_train_epochs"] == 1


def write(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


def test_typo_in_a_section_names_file_and_key(tmp_path):
    p = write(tmp_path, "extends: toy\nstage2: {min_confidence: 0.5}\n")
    with pytest.raises(PresetError, match=r"p\.yaml:2: unknown key\(s\) \['min_confidence'\] in 'stage2'"):
        load_preset(p)


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(PresetError, match="unknown top-level"):
        load_preset(write(tmp_path, "extends: toy\nstage3: {}\n"))


def test_bad_gates_and_missing_recipe(tmp_path):
    with pytest.raises(PresetError, match="min_conf <= flip_conf"):
        load_preset(write(tmp_path, "extends: toy\nstage2: {min_conf: 0.9, flip_conf: 0.8}\n"))
    with pytest.raises(PresetError, match="does not exist"):
        load_preset(write(tmp_path, "extends: toy\ntrain: {dpo: configs/train/nope.yaml}\n"))


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(PresetError, match=r"p\.yaml:\d+: invalid YAML"):
        load_preset(write(tmp_path, "name: x\nseeds: [0, 1\n"))


def test_unknown_preset_lists_known_ones():
    with pytest.raises(PresetError, match="known presets: .*toy"):
        load_preset("no-such-preset")


def test_a_typo_in_sample_stages_is_refused_with_the_known_names(tmp_path):
    """A misspelt model in eval.sample_stages would silently give that model no samples."""
    p = write(tmp_path, "extends: toy\neval: {sample_stages: [sft_iter2_hybird]}\n")
    with pytest.raises(PresetError, match=r"sft_iter2_hybird.*known: .*sft_iter2_hybrid"):
        load_preset(p)
    ok = write(tmp_path, "extends: toy\neval: {sample_stages: [sft_iter1_icl, dpo, sft_ceiling]}\n")
    assert load_preset(ok).eval["sample_stages"] == ["sft_iter1_icl", "dpo", "sft_ceiling"]


def test_evaluated_models_follow_what_stage1_trains(tmp_path):
    """With stage1.subsets [hybrid], iteration 1 still trains (and evaluates) weak and icl, because iteration 2
    selects from their answers: sample_stages may name them, and the report lists them."""
    from w2s_lib.run.presets import evaluated_models, stage1_subsets
    p = write(tmp_path, "extends: toy\nstage1: {subsets: [hybrid], m_plus: hybrid}\n"
                        "eval: {sample_stages: [sft_iter1_weak]}\n")
    preset = load_preset(p)
    assert stage1_subsets(preset, 1) == ["weak", "icl", "hybrid"]
    assert stage1_subsets(preset, 2) == ["hybrid"]
    names = evaluated_models(preset)
    assert names == ["weak_model", "strong_icl", "sft_full_weak", "sft_iter1_weak", "sft_iter1_icl",
                     "sft_iter1_hybrid", "sft_iter2_hybrid", "dpo", "orpo", "sft_ceiling"]
    bad = write(tmp_path, "extends: toy\nstage1: {subsets: [hybrid], m_plus: hybrid}\n"
                          "eval: {sample_stages: [sft_iter2_weak]}\n")
    with pytest.raises(PresetError, match="sft_iter2_weak"):
        load_preset(bad)


def test_the_report_order_is_the_evaluated_models(tmp_path):
    from w2s_lib.run.context import open_run
    from w2s_lib.stages.evaluate import method_order
    ctx = open_run("toy", 0, tmp_path / "run")
    order = method_order(ctx)
    assert [n for n, _ in order] == [
        "weak_model", "strong_icl", "sft_full_weak", "sft_iter1_weak", "sft_iter1_icl", "sft_iter1_hybrid",
        "sft_iter2_weak", "sft_iter2_icl", "sft_iter2_hybrid", "dpo", "orpo", "sft_ceiling"]
    assert dict(order)["sft_iter2_hybrid"] == "M_plus (Stage I iter 2, hybrid set)"
    assert dict(order)["sft_iter1_hybrid"] == "Stage I iter 1, hybrid set"
    assert dict(order)["dpo"] == "Stage II DPO (from M_plus)"
    # a run store with a third iteration (made under an older preset) still gets its rows
    (tmp_path / "run" / "sft_iter3_hybrid").mkdir(parents=True)
    assert "sft_iter3_hybrid" in dict(method_order(ctx))


def test_the_report_keeps_a_stage2_method_the_preset_no_longer_lists(tmp_path):
    # a run that trained ORPO, reported under a preset that now lists only DPO, keeps its ORPO row
    from w2s_lib.run.context import open_run
    from w2s_lib.stages.evaluate import eval_stage, method_order
    ctx = open_run("toy", 0, tmp_path / "run", methods=["dpo"])
    assert "orpo" not in dict(method_order(ctx))
    (tmp_path / "run" / eval_stage("orpo")).mkdir(parents=True)
    names = [n for n, _ in method_order(ctx)]
    assert names.index("dpo") < names.index("orpo") < names.index("sft_ceiling")
    assert dict(method_order(ctx))["orpo"] == "Stage II ORPO (from M_plus)"


# ---- types, ranges and local paths, checked at load time (issue 20) ------------------------------------------
@pytest.mark.parametrize("line, key, wrong", [
    ('stage2: {n_samples: "four"}', "stage2.n_samples", "must be an integer >= 1, got 'four' (a string)"),
    ('stage2: {min_conf: "0.6"}', "stage2.min_conf", "must be a number > 0 and <= 1, got '0.6' (a string)"),
    ("stage2: {n_samples: 0}", "stage2.n_samples", "must be an integer >= 1, got 0"),
    ("stage2: {n_samples: true}", "stage2.n_samples", "must be an integer >= 1, got True (a boolean)"),
    ("generation: {max_new_tokens: 12.5}", "generation.max_new_tokens", "must be an integer >= 1"),
    ("stage1: {subsets: [weak, hybird]}", "stage1.subsets", "item 1 must be one of weak, icl, hybrid"),
    ('generation: {stop: "\\n"}', "generation.stop", "must be a list or null"),
    ("dataset: {sizes: {train_1: many}}", "dataset.sizes", "entry 'train_1' must be an integer >= 0"),
    ("seeds: [0, one]", "seeds", "item 1 must be an integer"),
])
def test_a_bad_value_fails_at_load_naming_file_line_and_key(tmp_path, line, key, wrong):
    p = write(tmp_path, f"name: mine\nextends: toy\n{line}\n")
    with pytest.raises(PresetError) as e:
        load_preset(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:3: {key} {wrong}"), msg


def test_a_bad_value_in_the_parent_names_the_parent_file(tmp_path):
    parent = tmp_path / "parent.yaml"
    parent.write_text("extends: toy\n\nstage2:\n  temperature: hot\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {parent}\nstage2: {{n_samples: 4}}\n")
    with pytest.raises(PresetError, match=rf"^{parent}:4: stage2.temperature must be a number >= 0"):
        load_preset(child)


@pytest.mark.parametrize("value", ["/nonexistent/models/strong", "data/toy/strong_bas", "./strong", "~/no/such/model"])
def test_a_local_model_path_that_does_not_exist_fails_at_load(tmp_path, value):
    p = write(tmp_path, f"extends: toy\nmodels:\n  strong_base: {value}\n")
    with pytest.raises(PresetError, match=rf"^{p}:3: models.strong_base is '{value}', a local path that does not "
                                          r"exist"):
        load_preset(p)


def test_hub_ids_and_existing_paths_pass(tmp_path):
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    p = write(tmp_path, f"extends: toy\nmodels: {{weak_base: Qwen/Qwen2.5-0.5B, strong_base: {model_dir}}}\n")
    preset = load_preset(p)
    assert preset.model("weak_base") == "Qwen/Qwen2.5-0.5B" and preset.model("strong_base") == str(model_dir)


def test_a_preset_that_is_not_utf8_is_named(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_bytes(b"extends: toy\ndescription: caf\xe9\n")
    with pytest.raises(PresetError, match=r"p\.yaml: not valid UTF-8"):
        load_preset(p)


def test_every_schema_key_has_a_type():
    from w2s_lib.run.preset_types import TYPES
    from w2s_lib.run.presets import SCHEMA

    assert {s: sorted(keys) for s, keys in SCHEMA.items()} == {s: sorted(keys) for s, keys in TYPES.items()}


def test_a_bad_launcher_names_the_file_line_and_key(tmp_path):
    p = write(tmp_path, "extends: toy\ntrain:\n  launcher: slurm\n")
    with pytest.raises(PresetError, match=rf"^{p}:3: train.launcher must be process or accelerate, got 'slurm'$"):
        load_preset(p)
    old = write(tmp_path, "extends: toy\ntrain:\n  launcher: inprocess\n")
    with pytest.raises(PresetError, match=r"`inprocess` became `process`"):
        load_preset(old)


def test_a_notebooks_overrides_are_checked_like_the_preset(tmp_path):
    from w2s_lib.run.context import open_run

    with pytest.raises(ValueError, match=r"overrides: stage2.n_samples must be an integer >= 1, got 'four'"):
        open_run("smoke", 0, str(tmp_path), overrides={"stage2": {"n_samples": "four"}})
    with pytest.raises(ValueError, match=r"strong_base='/no/such/model': a local path that does not exist"):
        open_run("smoke", 0, str(tmp_path), strong_base="/no/such/model")
    ctx = open_run("smoke", 0, str(tmp_path), strong_base="Qwen/Qwen2.5-7B", overrides={"stage2": {"n_samples": 3}})
    assert ctx.preset.models["strong_base"] == "Qwen/Qwen2.5-7B" and ctx.preset.stage2["n_samples"] == 3
