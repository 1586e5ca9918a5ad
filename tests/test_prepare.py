"""The `data` stage built from a preset: toy generator, GSM8K official and seeded splits, MATH pool + MATH500,
OlympicArena (HF test as train_2, val as test, no train_1). Real formats from tests/fixtures/data."""
from pathlib import Path

import pytest
import yaml

from w2s_lib.run.context import open_run
from w2s_lib.run.jsonl import read_jsonl
from w2s_lib.stages.prepare import prepare
from w2s_lib.run.records import GOLD_KEYS, load_split, reference_gold

FIX = Path(__file__).parent / "fixtures" / "data"


@pytest.fixture(autouse=True)
def hf_cache(tmp_path, monkeypatch):
    """datasets' Arrow cache for hub-layout fixtures, kept out of ~/.cache."""
    import datasets
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


def preset_file(tmp_path, dataset: dict, **extra) -> Path:
    p = tmp_path / f"p_{dataset['name']}_{len(list(tmp_path.glob('p_*')))}.yaml"
    p.write_text(yaml.safe_dump({"extends": "smoke", "dataset": dataset, **extra}))
    return p


def test_toy_data_stage(tmp_path):
    ctx = open_run("smoke", 0, tmp_path / "a")
    st = prepare(ctx, verbose=False)
    assert st.metrics["n_train_1"] == 48 and st.metrics["n_train_2"] == 48 and st.metrics["n_test"] == 24
    t1, t2, test = (load_split(ctx.root, s) for s in ("train_1", "train_2", "test"))
    assert all(r.answer and r.solution for r in t1 + test)
    assert not {r.question for r in t1} & {q.question for q in t2}
    assert not {r.question for r in test} & ({q.question for q in t2} | {r.question for r in t1})
    # train_2 questions carry no gold; the sealed file does
    rows = read_jsonl(st.dir / "train_2.questions.jsonl")
    assert all(not set(r) & GOLD_KEYS and not set(r["meta"]) & GOLD_KEYS for r in rows)
    assert len(reference_gold(ctx.root, purpose="analysis")) == 48
    # same preset and seed: the stage is reused; another seed draws other train splits, the same test set
    before = (st.dir / "config.json").stat().st_mtime_ns
    assert prepare(ctx, verbose=False).hash == st.hash
    assert (st.dir / "config.json").stat().st_mtime_ns == before
    other = open_run("smoke", 1, tmp_path / "b")
    prepare(other, verbose=False)
    assert [q.id for q in load_split(other.root, "test")] == [r.id for r in test]
    assert [r.question for r in load_split(other.root, "test")] == [r.question for r in test]
    assert [q.question for q in load_split(other.root, "train_2")] != [q.question for q in t2]


def test_sizes_override_changes_the_stage(tmp_path):
    ctx = open_run("smoke", 0, tmp_path / "a", sizes={"train_2": 10})
    assert prepare(ctx, verbose=False).metrics["n_train_2"] == 10


def test_gsm8k_official_split_from_release_files(tmp_path):
    p = preset_file(tmp_path, {"name": "gsm8k", "split": "official", "source": str(FIX / "w2s_raw"),
                               "sizes": {"train_2": 3}})
    ctx = open_run(p, 0, tmp_path / "run")
    st = prepare(ctx, verbose=False)
    t1, t2, test = (load_split(ctx.root, s) for s in ("train_1", "train_2", "test"))
    release = [r["question"] for r in read_jsonl(FIX / "w2s_raw" / "gsm8k" / "train_2.jsonl")]
    assert [q.question for q in t2] == release[:3]                      # first n rows of the fixed split, in order
    assert len(t1) == 5 and len(test) == 4 and test[2].answer == "70000"
    assert "train_2" in st.config["notes"]                     # the cap is said, not silent


def test_gsm8k_seeded_split_from_hub_layout(tmp_path):
    p = preset_file(tmp_path, {"name": "gsm8k", "split": "seeded", "source": str(FIX / "hub" / "gsm8k"),
                               "sizes": {"train_1": 3, "train_2": 3}})
    ctx = open_run(p, 0, tmp_path / "run")
    prepare(ctx, verbose=False)
    t1, t2, test = (load_split(ctx.root, s) for s in ("train_1", "train_2", "test"))
    assert len(t1) == 3 and len(t2) == 3 and len(test) == 4
    assert not {r.id for r in t1} & {q.id for q in t2}
    assert all(r.id.startswith("gsm8k_test_") for r in test)


def test_math_pool_and_math500(tmp_path):
    p = preset_file(tmp_path, {"name": "math", "source": str(FIX / "hub" / "hendrycks_math"),
                               "test_source": str(FIX / "hub" / "MATH-500"), "sizes": {"train_1": 10, "train_2": 11}})
    ctx = open_run(p, 0, tmp_path / "run")
    st = prepare(ctx, verbose=False)
    t1, t2, test = (load_split(ctx.root, s) for s in ("train_1", "train_2", "test"))
    assert len(t1) == 10 and len(t2) == 11 and len(test) == 7
    assert not {q.question for q in t2} & {r.question for r in test}
    assert st.config["notes"]["dropped"] == {"in the test set (MATH500)": 7}
    # MATH weak SFT target: solution + " The answer is: " + answer (the release's convert.py)
    from w2s_lib.tasks import MATHTask
    assert MATHTask("math").gold_target(t1[0]).endswith(f" The answer is: {t1[0].answer}")


def test_olympicarena_test_split_is_train_2(tmp_path):
    p = preset_file(tmp_path, {"name": "olympicarena", "source": str(FIX / "hub" / "OlympicArena"),
                               "sizes": {}}, models={"weak_model": "some/ready-model"},
                    eval={"judge": "olympic"})
    ctx = open_run(p, 0, tmp_path / "run")
    st = prepare(ctx, verbose=False)
    assert st.metrics["n_train_1"] == 0 and st.metrics["n_train_2"] == 10 and st.metrics["n_test"] == 9
    assert st.metrics["train_2_with_gold_answer"] == 0                  # the HF test split has no public answers
    notes = st.config["notes"]["dropped"]
    assert notes["train_2 (HF test)"]["language != EN"] == 1
    q = load_split(ctx.root, "train_2")[0]
    assert ctx.prompt(q).endswith("\n\nAnswer:") and "\n\nQuestion: " in ctx.prompt(q)


def test_olympicarena_needs_a_given_weak_model(tmp_path):
    p = preset_file(tmp_path, {"name": "olympicarena", "source": str(FIX / "hub" / "OlympicArena"), "sizes": {}})
    with pytest.raises(ValueError, match="weak_model"):
        prepare(open_run(p, 0, tmp_path / "run"), verbose=False)


def test_real_gsm8k_official_split(shared_data, tmp_path):
    p = preset_file(tmp_path, {"name": "gsm8k", "split": "official", "sizes": {}})
    ctx = open_run(p, 0, tmp_path / "run")
    st = prepare(ctx, verbose=False)
    assert (st.metrics["n_train_1"], st.metrics["n_train_2"], st.metrics["n_test"]) == (7000, 7000, 1319)
    assert st.metrics["question_overlap_train_1_train_2"] > 0          # the release's Abel overlap is reported
