"""Pretraining a toy base model from scratch: plain torch, AdamW, warm-up + cosine schedule.

The model is a `transformers.LlamaForCausalLM`, so everything downstream (TRL, generation) loads it with
`from_pretrained`. The corpus is one token stream (documents joined by EOS); each step samples random
windows from it with a seeded generator, so a run is a pure function of (config, corpus, seed) and, on the
same machine with the same thread count, gives the same weights (CPU kernels are deterministic for a fixed
thread count; different thread counts may change float summation order).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast


@dataclass(frozen=True)
class ModelConfig:
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    ffn: int = 512
    context: int = 512
    tie_embeddings: bool = True    # output layer = input embeddings (the shipped models)

    def llama_config(self, tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
        return LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=self.hidden, intermediate_size=self.ffn,
            num_hidden_layers=self.layers, num_attention_heads=self.heads, num_key_value_heads=self.heads,
            max_position_embeddings=self.context, rms_norm_eps=1e-5, tie_word_embeddings=self.tie_embeddings,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id, attn_implementation="sdpa")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch: int = 16
    window: int = 256          # tokens per training window (<= context)
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 2
    checkpoint_every: int = 0  # 0: only the final model
    decay_embeddings: bool = True  # weight decay on the (input and output) embeddings too
    stop_at: int = 0           # >0: stop after this many steps of the `steps`-step schedule (less pretraining
                               # compute on the same schedule: how the weak base is made weaker)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def token_stream(docs: list[str], tokenizer: PreTrainedTokenizerFast) -> torch.Tensor:
    """All documents as one 1-D tensor of ids, each document followed by EOS."""
    ids = tokenizer(docs, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    flat = [t for doc in ids for t in (*doc, eos)]
    return torch.tensor(flat, dtype=torch.long)


def pretrain(stream: torch.Tensor, tokenizer: PreTrainedTokenizerFast, model_cfg: ModelConfig,
             train_cfg: TrainConfig, out_dir: str | Path,
             on_checkpoint: Callable[[int, Path], dict] | None = None, log_every: int = 50,
             init_from: str | Path | None = None) -> dict:
    """Train a fresh model on random windows of `stream`; save it (and checkpoints) under `out_dir`.
    With `init_from`, continue a saved model instead (a second phase on its own schedule; `model_cfg` must
    describe it).

    Returns a summary dict (losses, wall time) that is also written to `out_dir/pretrain_log.json`.
    `on_checkpoint(step, path)` may evaluate a saved checkpoint; its dict is logged.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(train_cfg.threads)
    torch.manual_seed(train_cfg.seed)
    model = (LlamaForCausalLM.from_pretrained(init_from) if init_from
             else LlamaForCausalLM(model_cfg.llama_config(tokenizer)))
    n_params = sum(p.numel() for p in model.parameters())

    def decays(n: str, p: torch.Tensor) -> bool:
        embedding = "embed_tokens" in n or "lm_head" in n
        return p.dim() >= 2 and (train_cfg.decay_embeddings or not embedding)
    decay = [p for n, p in model.named_parameters() if decays(n, p)]
    no_decay = [p for n, p in model.named_parameters() if not decays(n, p)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": train_cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=train_cfg.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(train_cfg.seed)
    w = train_cfg.window
    log: dict = {"params": n_params, "model": asdict(model_cfg), "train": asdict(train_cfg),
                 "init_from": str(init_from) if init_from else None,
                 "stream_tokens": int(stream.numel()), "losses": [], "checkpoints": []}
    t0 = time.time()
    running = None
    model.train()
    last = train_cfg.stop_at or train_cfg.steps
    for step in range(last):
        starts = torch.randint(0, stream.numel() - w, (train_cfg.batch,), generator=gen)
        x = torch.stack([stream[s:s + w] for s in starts.tolist()])
        for g in opt.param_groups:
            g["lr"] = lr_at(step, train_cfg)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
        opt.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if (step + 1) % log_every == 0 or step == 0:
            log["losses"].append({"step": step + 1, "loss": round(running, 4), "time": round(time.time() - t0, 1)})
            print(f"step {step + 1}/{train_cfg.steps} loss {running:.4f} lr {lr_at(step, train_cfg):.2e} "
                  f"{time.time() - t0:.0f}s", flush=True)
        ce = train_cfg.checkpoint_every
        if ce and (step + 1) % ce == 0 and step + 1 < last:
            path = out_dir / f"checkpoint-{step + 1}"
            model.save_pretrained(path)
            tokenizer.save_pretrained(path)
            entry = {"step": step + 1, "path": path.name}
            if on_checkpoint:
                model.eval()
                entry.update(on_checkpoint(step + 1, path))
                model.train()
            log["checkpoints"].append(entry)
            print(f"checkpoint {entry}", flush=True)
    log["seconds"] = round(time.time() - t0, 1)
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "pretrain_log.json").write_text(json.dumps(log, indent=1) + "\n")
    return log
