"""The model shapes the dry run's estimates use: from the published config.json of each hub model (no download at
run time), or read from a local model directory."""
from __future__ import annotations

import json
from dataclasses import dataclass

from w2s_lib.run.presets import resolve

GIB = 1024 ** 3

# ---------------------------------------------------------------------------------------------------------------
# Models: shapes from the published config.json of each hub model (no download at run time).
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """The shape of a decoder-only (Llama-style) model; `params` is computed from it."""
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    head_dim: int = 0            # 0 = hidden // heads
    tied: bool = False           # input and output embeddings shared
    qkv_bias: bool = False       # Qwen2 has q/k/v biases
    source: str = "table"

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def params(self) -> int:
        h, q, kv = self.hidden, self.heads * self.hd, self.kv_heads * self.hd
        attn = h * q + 2 * h * kv + q * h + ((q + 2 * kv) if self.qkv_bias else 0)
        per_layer = attn + 3 * h * self.intermediate + 2 * h
        return self.layers * per_layer + self.vocab * h * (1 if self.tied else 2) + h

    def lora_params(self, r: int, targets: tuple[str, ...]) -> int:
        """Adapter parameters of rank `r` on the named projections of every layer."""
        h, q, kv, i = self.hidden, self.heads * self.hd, self.kv_heads * self.hd, self.intermediate
        dims = {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}
        return self.layers * sum(r * sum(dims[t]) for t in targets if t in dims)

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        return 2 * self.layers * self.kv_heads * self.hd * dtype_bytes


KNOWN_MODELS: dict[str, ModelSpec] = {
    # the paper's models
    "meta-llama/Llama-2-7b-hf": ModelSpec(32, 4096, 11008, 32, 32, 32000),
    "meta-llama/Llama-2-70b-hf": ModelSpec(80, 8192, 28672, 64, 8, 32000),
    "google/gemma-2b": ModelSpec(18, 2048, 16384, 8, 1, 256000, head_dim=256, tied=True),
    "mistralai/Mistral-7B-v0.1": ModelSpec(32, 4096, 14336, 32, 8, 32000),
    "meta-llama/Meta-Llama-3-8B-Instruct": ModelSpec(32, 4096, 14336, 32, 8, 128256),
    "meta-llama/Meta-Llama-3-70B": ModelSpec(80, 8192, 28672, 64, 8, 128256),
    # SCORE's small models (the second paper) and the open strong verifier that replaces its GPT-4
    "meta-llama/Llama-2-13b-chat-hf": ModelSpec(40, 5120, 13824, 40, 40, 32000),
    "google/gemma-7b-it": ModelSpec(28, 3072, 24576, 16, 16, 256000, head_dim=256, tied=True),
    "meta-llama/Meta-Llama-3-70B-Instruct": ModelSpec(80, 8192, 28672, 64, 8, 128256),
    # current small open models (single-gpu presets)
    "Qwen/Qwen2.5-0.5B": ModelSpec(24, 896, 4864, 14, 2, 151936, tied=True, qkv_bias=True),
    "Qwen/Qwen2.5-1.5B": ModelSpec(28, 1536, 8960, 12, 2, 151936, tied=True, qkv_bias=True),
    "Qwen/Qwen2.5-7B": ModelSpec(28, 3584, 18944, 28, 4, 152064, qkv_bias=True),
}


def model_spec(ref: str) -> ModelSpec | None:
    """The shape of a model: a local directory's config.json (read as JSON, nothing loaded), else KNOWN_MODELS,
    else None."""
    path = resolve(ref) if ref else None
    cfg_path = path / "config.json" if path is not None else None
    if cfg_path is not None and cfg_path.is_file():
        c = json.loads(cfg_path.read_text(encoding="utf-8"))
        try:
            return ModelSpec(c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"],
                             c["num_attention_heads"], c.get("num_key_value_heads") or c["num_attention_heads"],
                             c["vocab_size"], head_dim=c.get("head_dim") or 0,
                             tied=bool(c.get("tie_word_embeddings", False)),
                             qkv_bias=bool(c.get("attention_bias", False)) or c.get("model_type") == "qwen2",
                             source=str(cfg_path))
        except KeyError:
            return None
    return KNOWN_MODELS.get(ref)
