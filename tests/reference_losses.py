"""Reference losses from the papers' formulas, and an independent log-prob computation: what
tests/test_training.py checks the trainers against (test code, not part of w2s_lib)."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

@torch.no_grad()
def completion_logps(model: Any, tokenizer: Any, prompts: Sequence[str], completions: Sequence[str], *,
                     add_eos: bool = True, add_bos: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of log-probs over completion tokens, number of completion tokens) per (prompt, completion) pair.

    One sequence at a time, no padding: an independent computation to check the trainers' batched ones.
    Completion tokens = tokens of prompt + completion (+ EOS) after the tokens of the prompt alone.
    """
    sums, counts = [], []
    for p, c in zip(prompts, completions):
        p_ids = tokenizer(p)["input_ids"]
        full = tokenizer(p + c)["input_ids"] + ([tokenizer.eos_token_id] if add_eos else [])
        if add_bos and (not full or full[0] != tokenizer.bos_token_id):
            p_ids, full = [tokenizer.bos_token_id] + p_ids, [tokenizer.bos_token_id] + full
        assert full[: len(p_ids)] == p_ids, "prompt tokens are not a prefix of prompt+completion tokens"
        ids = torch.tensor([full], device=model.device)
        logp = model(input_ids=ids).logits.float().log_softmax(-1)[0, :-1]
        token_logp = logp.gather(-1, ids[0, 1:, None]).squeeze(-1)[max(len(p_ids) - 1, 0):]
        sums.append(token_logp.sum())
        counts.append(len(token_logp))
    return torch.stack(sums), torch.tensor(counts, dtype=torch.float32)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO (Rafailov et al. 2023): -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), mean over pairs;
    inputs are sequence log-probs summed over completion tokens."""
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


def orpo_loss(chosen_avg_logp: torch.Tensor, rejected_avg_logp: torch.Tensor, nll: torch.Tensor,
              lam: float) -> torch.Tensor:
    """ORPO (Hong et al. 2024): NLL(chosen) - lambda * log sigmoid(log odds(chosen) - log odds(rejected)),
    with odds(y) = P(y|x) / (1 - P(y|x)) from length-normalised log-probs, mean over pairs."""
    def log_odds(logp: torch.Tensor) -> torch.Tensor:
        return logp - torch.log1p(-torch.exp(logp))

    ratio = log_odds(chosen_avg_logp) - log_odds(rejected_avg_logp)
    return nll - lam * F.logsigmoid(ratio).mean()
