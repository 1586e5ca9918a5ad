"""w2s_lib.engines.scale: data-parallel generation returns what one engine returns (here two CPU processes with the
transformers backend stand in for two GPUs), the fits-on-one-GPU rule, and the unsloth fallback."""
from __future__ import annotations

import warnings

import pytest

from fixtures.tiny_model.build import build, task_rows
from w2s_lib.engines.generation import generate
from w2s_lib.tasks.prompts import completion, zero_shot
from w2s_lib.engines.scale import fits_on_one_gpu, generate_data_parallel, train, unsloth_usable, visible_gpus


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build(tmp_path_factory.mktemp("tiny"), init_std=0.6)


def test_data_parallel_equals_one_engine_sampled(tiny):
    # sampled (not only greedy): the shards' samples are the same draws one engine makes, in prompt order
    prompts = [zero_shot(q) for q, _ in task_rows(7, seed=2)]
    kw = dict(n=3, temperature=1.0, seed=5, max_new_tokens=12, progress=False)
    two = generate_data_parallel(tiny, prompts, ["", ""], **kw)
    assert two == generate(tiny, prompts, **kw)
    assert len({t for row in two for t in row}) > 3            # varied samples, so the comparison means something


def test_data_parallel_reports_a_failed_shard(tiny):
    with pytest.raises(RuntimeError, match=r"engine process exited \(code 1\) before answering"):
        generate_data_parallel(tiny, ["Question: x\nAnswer:", "Question: y\nAnswer:"], ["", ""],
                               max_new_tokens=2, python="false")


def test_fits_on_one_gpu_rule():
    gb80 = 80 * 1024 ** 3
    assert fits_on_one_gpu("meta-llama/Llama-2-7b-hf", gb80)        # 13.5 GB of weights: one engine per GPU
    assert not fits_on_one_gpu("meta-llama/Llama-2-70b-hf", gb80)   # 138 GB: tensor parallel
    assert not fits_on_one_gpu("Qwen/Qwen2.5-7B", 24 * 1024 ** 3)   # 15 GB of 24 leaves too little KV cache
    assert not fits_on_one_gpu("someone/unknown", gb80)             # unknown shape: the safe choice (TP)
    assert visible_gpus() == [] or all(g for g in visible_gpus())


def test_unsloth_recipe_falls_back_to_trl_where_unsloth_cannot_run(tiny, tmp_path):
    ok, why = unsloth_usable()
    if ok:
        pytest.skip("unsloth can run here")
    rows = [{"prompt": zero_shot(q), "completion": completion(r)} for q, r in task_rows(4, seed=1)]
    recipe = {"kind": "sft", "backend": "unsloth", "trl": {"max_steps": 1, "per_device_train_batch_size": 2,
                                                            "report_to": "none"}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = train("sft", tiny, rows, tmp_path / "m", recipe, seed=0)
    assert m["global_step"] == 1 and (tmp_path / "m" / "config.json").is_file()
    assert any("backend unsloth not used" in str(w.message) and why in str(w.message) for w in caught)
