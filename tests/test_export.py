"""LLaMA-Factory layouts: our export of a selection reproduces the release's files (keys, ids, hybrid interleaving)."""
import json

import pytest

from w2s_lib.stages.export import (PAIR_KEYS, SFT_KEYS, dataset_info, pairs_to_llama_factory, read_llama_factory,
                                   sft_to_llama_factory)
from w2s_lib.run.jsonl import DataError
from w2s_lib.stages.selection import build_sets


def test_layouts_and_ids():
    rows = [{"id": "toy-1", "position": 4, "prompt": "Question: q\nAnswer:", "response": "r"}]
    assert sft_to_llama_factory(rows) == [{"id": 4, "content": "Question: q\nAnswer:", "output": "r"}]
    assert sft_to_llama_factory(rows, ids="record")[0]["id"] == "toy-1"
    pairs = [{"id": "toy-1", "position": 4, "prompt": "P", "chosen": "c", "rejected": "r"}]
    assert pairs_to_llama_factory(pairs) == [{"id": 4, "instruction": "P", "input": "", "output": ["c", "r"]}]
    with pytest.raises(ValueError, match="ids must be"):
        sft_to_llama_factory(rows, ids="row")
    info = dataset_info(sft={"a": "a.json"}, pairs={"b": "b.json"})
    assert info["a"] == {"file_name": "a.json", "columns": {"prompt": "content", "response": "output"}}
    assert info["b"]["ranking"] is True and info["b"]["columns"]["response"] == "output"


@pytest.mark.parametrize("data, message", [
    ({"id": 1}, "expected a JSON list"),
    ([{"id": 1, "content": "a"}], "row 0: keys"),
    ([{"id": 1, "content": "a", "output": "b"}, {"id": 2, "instruction": "a", "input": "", "output": ["x"]}],
     "row 1: wrong field types"),
])
def test_reader_names_file_and_row(tmp_path, data, message):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(data))
    with pytest.raises(DataError, match=message) as e:
        read_llama_factory(f)
    assert str(f) in str(e.value)


def release_rows(path):
    return [{"id": str(r["id"]), "position": r["id"], "prompt": r["content"], "response": r["output"]}
            for r in read_llama_factory(path)]


@pytest.mark.parametrize("prefix", ["gsm8k/train_gsm8k_llama2_7b_iter1", "gsm8k/train_gsm8k_llama2_7b_iter2",
                                    "math/train_math_llama2_7b_iter1"])
def test_our_export_rebuilds_the_release_files(shared_data, prefix):
    """From the release's weak and ICL sets (the kept questions), our build_sets + export give the release's
    three files byte-for-byte as JSON values: same keys, same ids, the hybrid interleaved weak_i, icl_i."""
    lf = shared_data / "w2s_official" / "llama_factory"
    weak, icl = release_rows(lf / f"{prefix}_weak.json"), release_rows(lf / f"{prefix}_icl.json")
    sets = build_sets(weak, icl, [True] * len(weak), [r["prompt"] for r in weak])
    for subset in ("weak", "icl", "hybrid"):
        release = read_llama_factory(lf / f"{prefix}_{subset}.json")
        ours = sft_to_llama_factory(sets[subset])
        assert ours == release, subset
        assert all(list(r) == list(SFT_KEYS) for r in ours)


def test_pair_layout_matches_the_release(shared_data):
    lf = shared_data / "w2s_official" / "llama_factory"
    release = read_llama_factory(lf / "gsm8k" / "train_gsm8k_llama2_7b_iter2_hybrid_paired.json")
    ours = pairs_to_llama_factory([{"id": str(r["id"]), "position": r["id"], "prompt": r["instruction"],
                                    "chosen": r["output"][0], "rejected": r["output"][1]} for r in release])
    assert ours == release and all(list(r) == list(PAIR_KEYS) for r in ours)
    info = json.loads((lf / "dataset_info.json").read_text())
    entry = next(v for v in info.values() if v.get("file_name", "").endswith("iter2_hybrid_paired.json"))
    assert entry["ranking"] is True
    assert entry["columns"] == dataset_info(pairs={"x": "y"})["x"]["columns"]
