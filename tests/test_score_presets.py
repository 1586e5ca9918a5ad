"""SCORE's full-scale presets (paper-score-*, single-gpu-score), its data (GSM8K split, MATH out-of-distribution
subset), the rule that decides which series a preset runs, the pipeline choosing SCORE's notebooks, and the dry run's
SCORE estimates. The SCORE stages and notebooks themselves are tested with them (w2s_lib/stages/score.py)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from w2s_lib.engines import costs
from w2s_lib.engines.recipes import build_trl_config, load_recipe
from w2s_lib.run.data import (SCORE_GSM8K, SCORE_MATH_SUBJECTS, is_numeric_answer, load_jsonl_records,
                              load_score_gsm8k, load_score_math_ood, score_math_ood, score_split)
from w2s_lib.run.jsonl import DataError
from w2s_lib.run.pipeline import Notebook, for_preset, main
from w2s_lib.run.presets import PresetError, list_presets, load_preset

SCORE = ["paper-score-gsm8k-llama2-13b-chat", "paper-score-gsm8k-gemma-7b-it", "single-gpu-score"]
SMALL = {"paper-score-gsm8k-llama2-13b-chat": "meta-llama/Llama-2-13b-chat-hf",
         "paper-score-gsm8k-gemma-7b-it": "google/gemma-7b-it", "single-gpu-score": "google/gemma-7b-it"}


# main's rule: a preset with a SCORE run names both SCORE recipes
RECIPES = "train: {score_refiner: configs/train/score_refiner.yaml, score_classifier: x/score_classifier.yaml}\n"


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ---- the presets ---------------------------------------------------------------------------------------------------


def test_the_score_presets_are_listed():
    assert set(SCORE) <= set(list_presets())


@pytest.mark.parametrize("name", SCORE)
def test_score_preset_has_the_papers_settings(name):
    p = load_preset(name)
    assert p.has_score and not p.has_w2s                    # SCORE only: no weak or strong model
    assert p.score["small_model"] == SMALL[name]
    assert p.score["n_samples"] == 10 and p.score["temperature"] == 0.7 and p.score["top_p"] == 0.95
    assert p.generation["max_new_tokens"] == 512 and p.score["sample_demos"] == 8
    assert p.score["pairs_per_question"] == 0 and p.score["threshold_grid"] == [0.5, 1.0, 0.01]
    assert p.dataset["name"] == "gsm8k" and p.dataset["split"] == "score"
    assert p.dataset["sizes"] == {"train_1": 7473, "test": 1319} and p.score["dev_size"] == 973
    assert p.score["train_split"] == "train_1" and p.score["ood_source"] == "EleutherAI/hendrycks_math"
    assert SCORE_GSM8K["train"] + SCORE_GSM8K["dev"] == SCORE_GSM8K["pool"] == p.dataset["sizes"]["train_1"]
    assert p.train["score_classifier"] == "configs/train/score_classifier_lora.yaml"
    assert p.recipe("score_refiner").exists()
    verifier = p.score["strong_verifier"]
    if name == "single-gpu-score":                          # one GPU: a 70B model does not fit in bf16
        assert p.compute["gpus"] == 1 and verifier == "meta-llama/Meta-Llama-3-8B-Instruct"
        assert load_recipe(p.recipe("score_refiner")).lora        # LoRA, not full SFT
        assert p.train["launcher"] == "process"
    else:
        assert p.compute["gpus"] == 8 and verifier == "meta-llama/Meta-Llama-3-70B-Instruct"
        assert load_recipe(p.recipe("score_refiner")).lora is None


@pytest.mark.parametrize("name", SCORE)
def test_every_value_the_paper_does_not_state_is_marked(name):
    """The SCORE lines of the preset and of its refiner recipe that are ours say `# our choice`."""
    p = load_preset(name)
    text = p.recipe("score_refiner").read_text()
    for key in ("learning_rate", "num_train_epochs", "per_device_train_batch_size", "max_length", "r", "lora_alpha",
                "lora", "lr_scheduler_type"):
        for line in re.findall(rf"^\s*{key}:.*$", text, flags=re.M):
            assert "# our choice" in line, f"{p.recipe('score_refiner')}: {line.strip()!r}"
    preset_text = Path(p.path).read_text()
    for key in ("strong_verifier", "critique_max_new_tokens", "demo_seed", "train_size", "sample_demos"):
        for line in re.findall(rf"^\s*{key}:.*$", preset_text, flags=re.M):
            assert "# our choice" in line, f"{p.path}: {line.strip()!r}"


@pytest.mark.parametrize("name", SCORE)
def test_the_refiner_recipe_builds_under_pinned_trl(name, tmp_path):
    p = load_preset(name)
    r = load_recipe(p.recipe("score_refiner"))
    args = build_trl_config(r, tmp_path, seed=0, overrides=p.overrides("score_refiner"), has_gpu=False)
    for key, value in r.trl.items():
        assert getattr(args, key) == value, key


# ---- which series a preset runs -------------------------------------------------------------------------------------


def test_a_preset_that_names_no_model_runs_nothing_and_is_refused(tmp_path):
    with pytest.raises(PresetError, match="runs nothing"):
        load_preset(write(tmp_path, "dataset: {name: gsm8k}\n"))


def test_a_weak_model_without_a_strong_one_is_half_a_series(tmp_path):
    with pytest.raises(PresetError, match=r"p\.yaml:\d+: models\.strong_base is required for the weak-to-strong"):
        load_preset(write(tmp_path, "dataset: {name: gsm8k}\nmodels: {weak_base: a/b}\nscore: {small_model: c/d}\n"
                          + RECIPES))


def test_a_score_only_preset_needs_only_the_small_model(tmp_path):
    p = load_preset(write(tmp_path, "dataset: {name: gsm8k}\nscore: {small_model: org/small}\n" + RECIPES))
    assert p.has_score and not p.has_w2s
    both = load_preset(write(tmp_path, "extends: toy\nscore: {small_model: org/small}\n" + RECIPES, "both.yaml"))
    assert both.has_score and both.has_w2s
    toy = load_preset("toy")
    assert toy.has_w2s and toy.has_score == bool(toy.score.get("small_model"))


@pytest.mark.parametrize("text, match", [
    ("dataset: {name: gsm8k, split: score}\nscore: {small_model: a/b, dev_size: 9}\n"
     "models: {weak_base: a/b, strong_base: c/d}\n", "no weak-to-strong models"),
    ("dataset: {name: math, split: score}\nscore: {small_model: a/b, dev_size: 9}\n", "needs dataset.name gsm8k"),
    ("dataset: {name: gsm8k, split: score, sizes: {train_1: 10, train_2: 5}}\nscore: {small_model: a/b, dev_size: 2}\n",
     "has no train_2"),
    ("dataset: {name: gsm8k, split: score}\nscore: {small_model: a/b}\n", r"p\.yaml:2: .* needs score\.dev_size"),
    ("dataset: {name: gsm8k}\nscore: {small_model: a/b, ood_source: ./no/such/math.jsonl}\n",
     r"p\.yaml:2: score\.ood_source .* does not exist"),
    ("dataset: {name: gsm8k, split: scored}\nscore: {small_model: a/b}\n", "must be one of seeded, official, score"),
])
def test_score_data_settings_are_checked_at_load(tmp_path, text, match):
    with pytest.raises(PresetError, match=match):
        load_preset(write(tmp_path, text + RECIPES))


# ---- data: SCORE's GSM8K split and its MATH subset ------------------------------------------------------------------


@pytest.fixture
def release_gsm8k(shared_data) -> Path:
    return shared_data / "w2s_official" / "raw" / "gsm8k"


def test_score_split_is_a_fixed_shuffle_whose_first_part_is_train_and_last_part_dev(release_gsm8k):
    pool = load_jsonl_records(release_gsm8k / "train_1.jsonl", "gsm8k")         # 7,000 real GSM8K-style rows
    s = score_split(pool)
    assert sorted(r.id for r in s) == sorted(r.id for r in pool) and [r.id for r in s] != [r.id for r in pool]
    assert [r.id for r in s] == [r.id for r in score_split(pool)]                 # the same every call and run seed
    assert [r.id for r in score_split(pool, 6000)] == [r.id for r in s[:6000]]    # a cap keeps the shuffle's head
    assert [r.id for r in score_split(pool, seed=1)] != [r.id for r in s]
    # SCORE's stages take the last score.dev_size of train_1 as dev (w2s_lib.stages.score.splits): the shuffle's
    # first part is SCORE's train, the next its dev, as the paper's shuffle-then-slice
    train, dev = s[:-973], s[-973:]
    assert len(train) == 7000 - 973 and not {r.id for r in train} & {r.id for r in dev}
    with pytest.raises(ValueError, match="cannot take 7001 records from 7000"):
        score_split(pool, 7001)


def test_load_score_gsm8k_reads_train_and_test_and_refuses_a_small_pool(release_gsm8k):
    with pytest.raises(DataError, match=r"sizes\.train_1 is 7473, the pool has 7000 questions"):
        load_score_gsm8k(release_gsm8k / "train_1.jsonl", release_gsm8k / "test.jsonl", n=SCORE_GSM8K["pool"])
    s = load_score_gsm8k(release_gsm8k / "train_1.jsonl", release_gsm8k / "test.jsonl")
    assert [len(s[k]) for k in ("train_1", "train_2", "test")] == [7000, 0, 1319]
    with pytest.raises(DataError, match="needs a test_source"):
        load_score_gsm8k(release_gsm8k / "train_1.jsonl")


@pytest.mark.parametrize("answer, numeric", [("5", True), ("-12", True), ("3.75", True), (".5", True),
                                             (" 42 ", True), ("1,000", False), ("\\frac{1}{2}", False),
                                             ("5\\%", False), ("1e5", False), ("", False), (None, False),
                                             ("\\text{east}", False), ("137 \\frac{1}{2}", False)])
def test_numeric_answers(answer, numeric):
    assert is_numeric_answer(answer) == numeric


def test_math_ood_subset_of_the_real_math500(shared_data):
    """The filter on the real MATH500 file (the only MATH test file here): it keeps 8 problems, not the paper's 181,
    because MATH500 is a 500-problem sample of the 5,000-problem MATH test set that SCORE's subset is cut from
    (score.ood_source: EleutherAI/hendrycks_math, read at run time)."""
    path = shared_data / "w2s_official" / "raw" / "math" / "test.jsonl"
    kept, dropped = load_score_math_ood(path)
    records = load_jsonl_records(path, "math")
    assert len(kept) + sum(dropped.values()) == len(records) == 500
    for r in kept:
        assert r.meta["level"] == 1 and r.meta["subject"] in SCORE_MATH_SUBJECTS
        assert is_numeric_answer(r.answer) and "$" not in r.question
    # every record that passes the four rules is kept
    assert len(kept) == sum(1 for r in records if r.meta["level"] == 1 and r.meta["subject"] in SCORE_MATH_SUBJECTS
                            and is_numeric_answer(r.answer) and "$" not in r.question)
    assert len(kept) == 8 and dropped["'$' in the problem"] == 19 and dropped["answer not numeric"] == 4


def test_math_ood_counts_each_dropped_row_under_its_first_failing_rule(shared_data):
    records = load_jsonl_records(shared_data / "w2s_official" / "raw" / "math" / "test.jsonl", "math")
    level1 = [r for r in records if r.meta["level"] == 1]
    kept, dropped = score_math_ood(level1)
    assert dropped["level != 1"] == 0 and len(kept) + sum(dropped.values()) == len(level1)


# ---- the pipeline picks the preset's notebooks ----------------------------------------------------------------------


STEPS = ["01_weak", "02_sel", "05_olympic", "06_results", "07_score_data", "08_score_verify"]


def nbs(tmp_path: Path) -> list[Notebook]:
    return [Notebook(s[:2], tmp_path / f"{s}.ipynb") for s in STEPS]


def test_for_preset_keeps_the_series_the_preset_runs(tmp_path):
    both = load_preset(write(tmp_path, "extends: toy\nscore: {small_model: org/small}\n" + RECIPES))
    w2s_only = load_preset(write(tmp_path, "extends: toy\nscore: {small_model: null}\n", "w2s.yaml"))
    steps = lambda p: [nb.step for nb in for_preset(nbs(tmp_path), p)]  # noqa: E731
    assert steps(load_preset("paper-score-gsm8k-gemma-7b-it")) == ["06", "07", "08"]
    assert steps(w2s_only) == ["01", "02", "05", "06"]
    assert steps(both) == ["01", "02", "05", "06", "07", "08"]


ORDER = """
from pathlib import Path
import os
with open(Path(os.environ["ORDER_LOG"]), "a") as fh:
    fh.write(STEP + "\\n")
"""


@pytest.fixture
def series(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "notebooks"
    d.mkdir()
    for stem in ("01_weak", "02_sel", "06_results", "07_score_data", "08_score_verify"):
        nb = nbformat.v4.new_notebook()
        params = 'preset = "toy"\nseed = 0\nrun_dir = ""\n' if stem[:2] != "06" else 'preset = "toy"\nrun_dir = ""\n'
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells = [cell, nbformat.v4.new_code_cell(f"STEP = {stem[:2]!r}\n" + ORDER)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(d / f"{stem}.ipynb"))
    monkeypatch.setenv("ORDER_LOG", str(tmp_path / "order.log"))
    return d


def ran(tmp_path: Path) -> list[str]:
    log = tmp_path / "order.log"
    steps = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return steps


def test_a_score_only_preset_runs_07_08_then_the_report(series, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["--preset", "single-gpu-score", "--notebooks-dir", str(series), "--runs-dir", str(runs)]) == 0
    assert ran(tmp_path) == ["07", "08", "06"]
    assert (runs / "single-gpu-score" / "seed0" / "notebooks" / "07_score_data.ipynb").is_file()
    # --from/--until inside the weak-to-strong range: nothing of this preset's series is left
    assert main(["--preset", "single-gpu-score", "--from", "01", "--until", "02", "--notebooks-dir", str(series),
                 "--runs-dir", str(runs)]) == 2
    assert "runs SCORE (07-08)" in capsys.readouterr().err and ran(tmp_path) == []


def test_a_preset_with_both_series_runs_01_to_05_then_07_08_then_the_report(series, tmp_path):
    both = write(tmp_path, "extends: toy\nname: both\nseeds: [0]\nscore: {small_model: org/small}\n" + RECIPES,
                 "both.yaml")
    assert main(["--preset", str(both), "--notebooks-dir", str(series), "--runs-dir", str(tmp_path / "runs")]) == 0
    assert ran(tmp_path) == ["01", "02", "07", "08", "06"]


def test_a_preset_without_score_never_runs_07_08(series, tmp_path):
    w2s = write(tmp_path, "extends: toy\nname: w2s\nseeds: [0]\nscore: {small_model: null}\n", "w2s.yaml")
    assert main(["--preset", str(w2s), "--notebooks-dir", str(series), "--runs-dir", str(tmp_path / "runs")]) == 0
    assert ran(tmp_path) == ["01", "02", "06"]


# ---- the dry run's SCORE estimates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCORE)
def test_dry_run_lists_score_stages_and_notebooks(name, series, capsys):
    assert main(["--preset", name, "--dry-run", "--notebooks-dir", str(series)]) == 0
    out = capsys.readouterr().out
    assert "[07_score_data]" in out and "[08_score_verify]" in out and "[01_weak_data]" not in out
    assert "not measurements" in out and "no SCORE stage has run at full scale" in out
    assert "train_1 7473 (SCORE: train 6492, dev 973), train_2 0, test 1319" in out
    assert "per seed then once: 07_score_data.ipynb, 08_score_verify.ipynb, 06_results.ipynb" in out


@pytest.mark.parametrize("name", SCORE)
def test_score_plan_follows_the_preset(name):
    p = load_preset(name)
    steps = {s.name: s for s in costs.plan(p)}
    n_train = 7473 - 973 - 8                      # train_1 minus dev minus the 8 demos drawn from it (stages.score)
    ns, cap = p.score["n_samples"], p.generation["max_new_tokens"]
    assert steps["SCORE samples"].rows == n_train and steps["SCORE samples"].model == SMALL[name]
    assert steps["SCORE samples"].gen_cap == n_train * ns * cap
    pairs = steps["critiques"].rows
    assert pairs == round(costs.score_pairs_per_question(ns) * n_train) == 15 * n_train   # c uniform on 0..10
    assert steps["refinement filter"].rows == steps["refiner SFT"].rows == pairs
    assert steps["self-verifier (LoRA classifier)"].rows == n_train * ns
    assert steps["initial answers dev"].rows == 973 and steps["initial answers test"].rows == 1319
    assert steps["SCORE refiner dev + test"].rows == steps["self-verifier scores dev + test"].rows == 973 + 1319
    for what in ("prompted self-verifier", "strong verifier", "prompted self-refine"):   # test only, as 08 runs them
        assert steps[f"{what} test"].rows == 1319 and f"{what} dev" not in steps
    assert steps["strong verifier test"].model == p.score["strong_verifier"]
    assert {s.notebook for s in steps.values()} == {"07_score_data", "08_score_verify"}
    limit = p.compute["gpu_memory_gb"]
    for s in steps.values():
        assert s.memory_gb is None or s.memory_gb < limit, s.name
        assert s.gpu_hours or any("not found: no estimate" in n for n in s.notes), s.name
    if p.compute["gpus"] == 8:
        assert "tensor parallel 8" in steps["strong verifier test"].detail
        assert costs.share_problems(p, 8) == []
        assert any("70B" in x for x in costs.share_problems(p, 1))    # the 70B verifier does not fit one GPU


def test_pairs_per_question_cap():
    assert costs.score_pairs_per_question(10) == 15
    assert costs.score_pairs_per_question(10, cap=1) == 9 / 11      # c = 1..9 have a pair, c = 0 and 10 do not
    assert costs.score_pairs_per_question(2) == 1 / 3


def test_gpu_guide_score_cost_table_is_current():
    """docs/gpu.md's SCORE table is what `python -m w2s_lib.engines.costs` prints now (regenerate it on drift)."""
    from w2s_lib.run.paths import REPO_ROOT

    assert costs.score_cost_table(costs.gpu_presets()[1]) in (REPO_ROOT / "docs" / "gpu.md").read_text()


def test_the_readme_preset_table_has_the_score_presets():
    from w2s_lib.run.paths import REPO_ROOT

    table = (REPO_ROOT / "README.md").read_text().split("## Presets", 1)[1].split("\n\n")[2]
    for name in SCORE:
        assert f"| `{name}` |" in table, name
