import pytest

from w2s_lib.presets import PresetError, list_presets, load_preset


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_loads_and_validates(name):
    p = load_preset(name)
    assert p.name == name
    assert p.stage2["min_conf"] <= p.stage2["flip_conf"]
    for job in ("strong_sft", "dpo", "orpo"):
        assert p.recipe(job).exists()


def test_smoke_extends_toy_and_overrides_only_what_it_says():
    toy, smoke = load_preset("toy"), load_preset("smoke")
    assert smoke.dataset["sizes"]["train_2"] < toy.dataset["sizes"]["train_2"]
    assert smoke.dataset["toy"] == toy.dataset["toy"]          # inherited
    assert smoke.stage2["flip_conf"] == toy.stage2["flip_conf"]
    assert smoke.overrides("dpo")["num_train_epochs"] == 1 and toy.overrides("dpo") == {}


def write(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


def test_typo_in_a_section_names_file_and_key(tmp_path):
    p = write(tmp_path, "extends: toy\nstage2: {min_confidence: 0.5}\n")
    with pytest.raises(PresetError, match=r"p\.yaml: unknown key\(s\) \['min_confidence'\] in 'stage2'"):
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
