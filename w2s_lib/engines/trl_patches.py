"""Patches to TRL 1.15: its CPU log-prob path, and ORPO trained as the paper's LLaMA-Factory trains it."""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------------------------
# TRL on a CPU-only torch: TRL 1.15 computes SFT/DPO log-probs through a Triton kernel (`_ChunkedLogProbFunction`,
# a fused LM head) that is None when Triton is absent (CPU wheels of torch) and cannot run on CPU tensors when it
# is present. We route non-CUDA tensors to the same maths in plain torch (autograd does the backward).
# ---------------------------------------------------------------------------------------------------------------


def _torch_chunked_logprob(hidden, weight, bias, targets, temperature, chunk_size, softcap=None, logit_scale=1.0,
                           outputs=("entropy", "log_sum_sq_probs", "mean_logits", "is_top1")):
    z = F.linear(hidden, weight, bias).float() * logit_scale
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    z = z / temperature
    logp = z.log_softmax(dim=-1)
    logprobs = logp.gather(-1, targets[:, None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1) if "entropy" in outputs else None
    with torch.no_grad():
        log_sum_sq = torch.logsumexp(2 * logp, dim=-1) if "log_sum_sq_probs" in outputs else None
        mean_logits = z.mean(-1) if "mean_logits" in outputs else None
        is_top1 = (z.argmax(-1) == targets) if "is_top1" in outputs else None
    return logprobs, entropy, log_sum_sq, mean_logits, is_top1


class _ChunkedLogProbDispatch:
    """Stands in for trl.trainer.utils._ChunkedLogProbFunction: the Triton kernel on GPU, plain torch elsewhere."""

    def __init__(self, original: Any):
        self.original = original

    def apply(self, hidden, *args):
        if self.original is not None and hidden.device.type in ("cuda", "xpu"):
            return self.original.apply(hidden, *args)
        return _torch_chunked_logprob(hidden, *args)


def patch_trl_for_cpu() -> None:
    """Idempotently install the CPU fallback for TRL's fused log-prob kernel."""
    import trl.trainer.utils as tu

    if not isinstance(tu._ChunkedLogProbFunction, _ChunkedLogProbDispatch):
        tu._ChunkedLogProbFunction = _ChunkedLogProbDispatch(tu._ChunkedLogProbFunction)


# ---------------------------------------------------------------------------------------------------------------
# ORPO: TRL's experimental trainer, with two corrections so it trains what the paper's LLaMA-Factory trains and on
# the token sequences the generation engine feeds at inference.
# ---------------------------------------------------------------------------------------------------------------


def _orpo_trainer_class() -> type:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")      # as in recipes.config_class
    from trl.experimental.orpo import ORPOTrainer

    class W2SORPOTrainer(ORPOTrainer):
        """ORPOTrainer with (1) the NLL term over completion tokens only, length-normalised per sequence
        (`orpo_nll="completion"`, LLaMA-Factory's `sft_loss = -chosen_logps_avg`; TRL's own NLL also covers the
        prompt tokens: `orpo_nll="full"` keeps it), and (2) no BOS token added to prompts when the tokenizer
        itself does not add one (TRL's ORPO always prepends BOS, so the model would train on a context it never
        sees at generation time)."""

        orpo_nll = "completion"

        def tokenize_row(self, feature, model=None):
            batch = super().tokenize_row(feature, model)
            tok = self.processing_class
            bos = tok.bos_token_id
            if bos is not None and not _tokenizer_adds_bos(tok):
                for prefix in ("", "chosen_", "rejected_"):
                    ids_key = f"{prefix}input_ids" if prefix else "prompt_input_ids"
                    mask_key = f"{prefix}attention_mask" if prefix else "prompt_attention_mask"
                    if batch.get(ids_key) and batch[ids_key][0] == bos:
                        batch[ids_key] = batch[ids_key][1:]
                        batch[mask_key] = batch[mask_key][1:]
                        if prefix:
                            batch[f"{prefix}labels"] = batch[f"{prefix}labels"][1:]
            return batch

        def concatenated_forward(self, model, batch):
            out = super().concatenated_forward(model, batch)
            if self.orpo_nll == "full":
                return out
            chosen_logps = out[0]  # mean log-prob of each chosen completion (prompt masked by -100 labels)
            return (out[0], out[1], out[2], out[3], -chosen_logps.mean(), *out[5:])

    return W2SORPOTrainer


def _tokenizer_adds_bos(tok: Any) -> bool:
    if tok.bos_token_id is None:
        return False
    ids = tok("x", add_special_tokens=True)["input_ids"]
    return len(ids) > 0 and ids[0] == tok.bos_token_id
