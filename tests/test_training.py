"""The training engine on a tiny locally built Llama: the trainers' losses equal our own DPO / ORPO / SFT formulas
on a batch, SFT learns completions that end with EOS, LoRA save modes agree, bad rows are named, and the
accelerate launcher runs 2 CPU processes (gloo) for each of SFT, DPO and ORPO."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fixtures.tiny_model.build import build, task_rows
from w2s_lib.engines.generation import generate
from w2s_lib.run.jsonl import DataError
from w2s_lib.tasks.prompts import completion, zero_shot
from reference_losses import completion_logps, dpo_loss, orpo_loss
from w2s_lib.engines.training import load_model, make_trainer, train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("tiny"))


def sft_rows(n: int = 8, seed: int = 3) -> list[dict]:
    return [{"prompt": zero_shot(q), "completion": completion(r)} for q, r in task_rows(n, seed=seed)]


def pref_rows(n: int = 6) -> list[dict]:
    # rejected responses of a different length than the chosen ones, so the batch is padded
    return [{"prompt": zero_shot(q), "chosen": completion(r), "rejected": completion(r.split(".")[0] + ". Wrong")}
            for q, r in task_rows(n, seed=11)]


def quiet(**trl) -> dict:
    return {"disable_tqdm": True, "logging_steps": 1, **trl}


def perturb(model: torch.nn.Module, scale: float = 0.05, seed: int = 0) -> None:
    """Move the policy away from the reference so the DPO loss is not log 2 by construction."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * scale)


def whole_batch(trainer) -> dict:
    batches = list(trainer.get_train_dataloader())
    assert len(batches) == 1, "the test puts every row in one batch so the mean does not depend on shuffling"
    return batches[0]


def reference_model(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).eval()


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_dpo_trainer_loss_equals_reference_formula(tiny, tmp_path, lora):
    rows = pref_rows()
    recipe = {"kind": "dpo", "trl": quiet(beta=0.3, per_device_train_batch_size=len(rows)),
              "lora": {"r": 4, "lora_alpha": 8, "init_lora_weights": False} if lora else None}
    trainer, info = make_trainer(recipe, tiny, rows, tmp_path, seed=0)
    if not lora:
        perturb(trainer.model)  # LoRA with init_lora_weights=False already differs from the base
    trainer.model.eval()
    with torch.no_grad():
        got = trainer.compute_loss(trainer.model, whole_batch(trainer))

    tok, policy, ref = info["tokenizer"], trainer.model, reference_model(tiny)
    prompts = [r["prompt"] for r in rows]
    pc, _ = completion_logps(policy, tok, prompts, [r["chosen"] for r in rows])
    pr, _ = completion_logps(policy, tok, prompts, [r["rejected"] for r in rows])
    rc, _ = completion_logps(ref, tok, prompts, [r["chosen"] for r in rows])
    rr, _ = completion_logps(ref, tok, prompts, [r["rejected"] for r in rows])
    want = dpo_loss(pc, pr, rc, rr, beta=0.3)
    assert abs(want.item() - torch.log(torch.tensor(2.0)).item()) > 1e-3, "policy == reference: test is vacuous"
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5), (got, want)


@pytest.mark.parametrize("nll", ["completion", "full"])
def test_orpo_trainer_loss_equals_reference_formula(tiny, tmp_path, nll):
    rows = pref_rows()
    recipe = {"kind": "orpo", "trl": quiet(beta=0.25, per_device_train_batch_size=len(rows)), "orpo_nll": nll}
    trainer, info = make_trainer(recipe, tiny, rows, tmp_path, seed=0)
    perturb(trainer.model, seed=1)
    trainer.model.eval()
    with torch.no_grad():
        got = trainer.compute_loss(trainer.model, whole_batch(trainer))

    tok, model = info["tokenizer"], trainer.model
    prompts = [r["prompt"] for r in rows]
    cs, cn = completion_logps(model, tok, prompts, [r["chosen"] for r in rows])
    rs, rn = completion_logps(model, tok, prompts, [r["rejected"] for r in rows])
    if nll == "completion":  # LLaMA-Factory: mean over pairs of the per-sequence mean completion NLL
        nll_value = -(cs / cn).mean()
    else:  # TRL: token-mean NLL over every chosen token after the first, prompt included
        full_sum, full_n = completion_logps(model, tok, [""] * len(rows), [r["prompt"] + r["chosen"] for r in rows])
        nll_value = -full_sum.sum() / full_n.sum()
    want = orpo_loss(cs / cn, rs / rn, nll_value, lam=0.25)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5), (got, want)


def test_sft_loss_is_on_completion_tokens_only(tiny, tmp_path):
    rows = sft_rows(6)
    trainer, info = make_trainer({"kind": "sft", "trl": quiet(per_device_train_batch_size=6)}, tiny, rows,
                                 tmp_path, seed=0)
    batch = whole_batch(trainer)
    tok = info["tokenizer"]
    # labels: -100 on prompt and padding, the completion's tokens then EOS
    for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist()):
        kept = [t for t in labels if t != -100]
        assert kept[-1] == tok.eos_token_id
        text = tok.decode(kept[:-1])
        assert any(text == r["completion"] for r in rows), text
    trainer.model.eval()
    with torch.no_grad():
        got = trainer.compute_loss(trainer.model, batch)
    s, n = completion_logps(trainer.model, tok, [r["prompt"] for r in rows], [r["completion"] for r in rows])
    assert torch.allclose(got, -s.sum() / n.sum(), rtol=1e-4), (got, -s.sum() / n.sum())


def test_sft_learns_completions_that_stop_at_eos(tiny, tmp_path):
    rows = sft_rows(8)
    recipe = {"kind": "sft", "trl": quiet(max_steps=120, per_device_train_batch_size=8, learning_rate=1e-2,
                                          lr_scheduler_type="constant", logging_steps=40)}
    metrics = train("sft", tiny, rows, tmp_path / "model", recipe, seed=0)
    assert metrics["train_loss"] > 0 and metrics["global_step"] == 120
    assert metrics["log_history"][-2]["loss"] < 0.1
    assert metrics["num_rows"] == 8 and metrics["dropped_rows"] == 0 and metrics["tokens_per_second"] > 0
    assert json.loads((tmp_path / "model" / "train_metrics.json").read_text())["global_step"] == 120
    out = generate(tmp_path / "model", [r["prompt"] for r in rows], max_new_tokens=40, progress=False)
    # exact: the model reproduces each completion and then stops (EOS was appended during training)
    assert [o[0] for o in out] == [r["completion"] for r in rows]


def test_lora_merged_and_adapter_saves_agree(tiny, tmp_path):
    rows = pref_rows()
    lora = {"r": 4, "lora_alpha": 8, "init_lora_weights": False}
    common = dict(max_steps=2, per_device_train_batch_size=3, learning_rate=1e-3)
    train("orpo", tiny, rows, tmp_path / "merged", {"kind": "orpo", "trl": quiet(**common), "lora": lora}, seed=0)
    train("orpo", tiny, rows, tmp_path / "adapter", {"kind": "orpo", "trl": quiet(**common), "lora": lora,
                                                      "save": "adapter"}, seed=0)
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    assert (tmp_path / "merged" / "model.safetensors").exists()
    ids = torch.tensor([[5, 17, 42, 99, 3]])
    with torch.no_grad():
        a = load_model(tmp_path / "merged").eval()(input_ids=ids).logits
        b = load_model(tmp_path / "adapter").eval()(input_ids=ids).logits
        base = reference_model(tiny)(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a, base, atol=1e-4), "training changed nothing"


def test_bad_rows_are_named(tiny, tmp_path):
    with pytest.raises(DataError, match=r"rows:1.*completion"):
        train("sft", tiny, [sft_rows(1)[0], {"prompt": "p"}], tmp_path, "sft_full", seed=0)
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(pref_rows(1)[0]) + "\n" + json.dumps({"prompt": "p", "chosen": "c"}) + "\n")
    with pytest.raises(DataError, match=r"rows\.jsonl:2.*rejected"):
        train("dpo", tiny, path, tmp_path, "dpo_full", seed=0)
    with pytest.raises(ValueError, match="recipe"):
        train("dpo", tiny, pref_rows(), tmp_path, "sft_full", seed=0)


def test_rows_dropped_by_the_trainer_are_reported(tiny, tmp_path, capsys):
    rows = pref_rows(4)
    rows[0] = {**rows[0], "prompt": zero_shot("a very long question " * 20)}
    trainer, info = make_trainer({"kind": "dpo", "trl": quiet(max_length=40)}, tiny, rows, tmp_path, seed=0)
    assert info["dropped"] == 1 and len(trainer.train_dataset) == 3
    assert info["truncated"] >= 1
    assert "1 of 4 rows dropped" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["sft", "dpo", "orpo"])
def test_accelerate_two_cpu_processes(tiny, tmp_path, kind):
    rows = sft_rows(8) if kind == "sft" else pref_rows(8)
    recipe = {"kind": kind, "trl": quiet(max_steps=2, per_device_train_batch_size=2, learning_rate=1e-3)}
    metrics = train(kind, tiny, rows, tmp_path / "model", recipe, seed=0, launcher="accelerate", num_processes=2,
                    accelerate_config="ddp")
    assert metrics["num_processes"] == 2 and metrics["global_step"] == 2
    assert metrics["train_loss"] > 0
    out = generate(tmp_path / "model", [rows[0]["prompt"]], n=2, temperature=1.0, max_new_tokens=6, progress=False)
    assert len(out) == 1 and len(out[0]) == 2
    trained = reference_model(tmp_path / "model")
    base = reference_model(tiny)
    assert any(not torch.equal(a, b) for a, b in zip(trained.parameters(), base.parameters()))
