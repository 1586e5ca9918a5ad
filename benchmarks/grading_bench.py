"""Benchmark the answer grader on MATH500-style answers: answers/second and worst-case latency.

    .venv/bin/python benchmarks/grading_bench.py [--timeout 5] [--workers 2] [--out benchmarks/results/grading.json]

Workloads (all real answers; ../shared/data when present, else the shipped MATH500 fixture rows):
  math500_gold_vs_boxed   each MATH500 gold answer vs the last \\boxed{} of its own solution (mostly key hits)
  math500_gold_vs_next    each gold vs the next row's gold: different answers, many need sympy to say "no"
  math_weak_vs_icl        extracted final answers of the paper's MATH weak and ICL outputs (iteration 1)
  math_chosen_vs_rejected extracted final answers of the paper's MATH preference pairs
  adversarial_timeouts    3 inputs sympy cannot finish (+1 easy pair): latency is bounded by --timeout + restart
  gsm8k_weak_outputs      full grade_batch on the 7,000 GSM8K weak outputs (plain numbers: the fast path)
For each: pairs/second through match_batch (2 workers, symbolic cache cleared first), how many pairs needed the
symbolic pool, and the per-pair latency of single answers_match calls (cache cleared): median, p99, max.
Timing is measured here and never asserted by tests.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from w2s_lib import grading  # noqa: E402
from w2s_lib.grading import answers_match, extract_answer, grade_batch, match_batch  # noqa: E402
from w2s_lib.grading_extract import last_boxed  # noqa: E402
from w2s_lib.grading_decide import decide  # noqa: E402
from w2s_lib.grading_normalize import analyze, normalize  # noqa: E402
from w2s_lib.grading_numeric import approx_value  # noqa: E402
from w2s_lib.grading_pool import STATS, shared_pool, shutdown_shared_pool  # noqa: E402
from w2s_lib.jsonl import read_json, read_jsonl, write_json  # noqa: E402
from w2s_lib.paths import REPO_ROOT, shared_data_dir  # noqa: E402


def workloads() -> tuple[dict[str, list[tuple[str, str]]], str]:
    shared = shared_data_dir()
    if shared is not None:
        math_rows = read_jsonl(shared / "w2s_official/raw/math/test.jsonl")
        source = "../shared/data (paper release)"
    else:
        math_rows = read_jsonl(REPO_ROOT / "tests/fixtures/grading/math500_sample.jsonl")
        source = "tests/fixtures/grading/math500_sample.jsonl (no shared data)"
    golds = [r["answer"] for r in math_rows]
    out = {
        "math500_gold_vs_boxed": [(g, last_boxed(r["solution"]) or "") for g, r in zip(golds, math_rows)],
        "math500_gold_vs_next": [(golds[i], golds[(i + 1) % len(golds)]) for i in range(len(golds))],
    }
    if shared is not None:
        base = shared / "w2s_official/llama_factory/math"
        weak = {r["id"]: r["output"] for r in read_json(base / "train_math_llama2_7b_iter1_weak.json")}
        icl = {r["id"]: r["output"] for r in read_json(base / "train_math_llama2_7b_iter1_icl.json")}
        out["math_weak_vs_icl"] = [(extract_answer(weak[i]), extract_answer(icl[i])) for i in sorted(weak)]
        paired = read_json(base / "train_math_llama2_7b_iter1_hybrid_paired.json")
        out["math_chosen_vs_rejected"] = [(extract_answer(p["output"][0]), extract_answer(p["output"][1])) for p in paired]
    # Adversarial: sympy would take minutes on these; the pool's wall-clock limit bounds the latency.
    out["adversarial_timeouts"] = [("(x+1)^{5000}", "(x+2)^{5000}"), ("9^{9^{9^{9}}}", "1"),
                                   ("2^{2^{2^{30}}}", "3"), ("x^2", "x \\cdot x")]
    return out, source


def clear_caches() -> None:
    """Cold start for every measurement: no cached keys, values or symbolic verdicts."""
    grading._SYMBOLIC_CACHE.clear()
    analyze.cache_clear()
    normalize.cache_clear()
    approx_value.cache_clear()


def bench_batch(pairs: list[tuple[str, str]], timeout: float, workers: int) -> dict:
    clear_caches()
    t0 = time.perf_counter()
    verdicts = match_batch(pairs, timeout=timeout, workers=workers)
    dt = time.perf_counter() - t0
    symbolic = sum(decide(analyze(a), analyze(b)) is None for a, b in pairs)
    return {"pairs": len(pairs), "needed_symbolic": symbolic, "equal": sum(verdicts),
            "seconds": round(dt, 3), "pairs_per_second": round(len(pairs) / dt, 1)}


def bench_single(pairs: list[tuple[str, str]], timeout: float) -> dict:
    clear_caches()
    lat = []
    worst = None
    for a, b in pairs:
        t0 = time.perf_counter()
        answers_match(a, b, timeout=timeout)
        d = time.perf_counter() - t0
        lat.append(d)
        if worst is None or d > worst[0]:
            worst = (d, a, b)
    lat.sort()
    return {"median_ms": round(statistics.median(lat) * 1000, 3),
            "p99_ms": round(lat[int(0.99 * (len(lat) - 1))] * 1000, 3),
            "max_ms": round(lat[-1] * 1000, 3),
            "slowest_pair": [worst[1][:120], worst[2][:120]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=grading.DEFAULT_TIMEOUT)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks/results/grading.json")
    args = ap.parse_args()

    shutdown_shared_pool()
    t0 = time.perf_counter()
    shared_pool(args.workers).run([("x", "x")], timeout=60)
    startup = time.perf_counter() - t0

    loads, source = workloads()
    results = {}
    for name, pairs in loads.items():
        r = bench_batch(pairs, args.timeout, args.workers)
        r.update(bench_single(pairs, args.timeout))
        results[name] = r
        print(f"{name:26s} {r['pairs']:5d} pairs  {r['needed_symbolic']:4d} symbolic  "
              f"{r['pairs_per_second']:9.1f} pairs/s  single: median {r['median_ms']:.2f} ms  "
              f"p99 {r['p99_ms']:.1f} ms  max {r['max_ms']:.1f} ms")

    shared = shared_data_dir()
    if shared is not None:
        rows = read_jsonl(shared / "w2s_official/weak_outputs/gsm8k_train_2_llama2_7b.results.jsonl")
        clear_caches()
        t0 = time.perf_counter()
        verdicts = grade_batch([r["response"] for r in rows], [r["gold"] for r in rows], progress=False,
                               timeout=args.timeout, workers=args.workers)
        dt = time.perf_counter() - t0
        results["gsm8k_weak_outputs"] = {"rows": len(rows), "seconds": round(dt, 3),
                                         "rows_per_second": round(len(rows) / dt, 1),
                                         "accuracy": round(sum(verdicts) / len(rows), 4)}
        print(f"{'gsm8k_weak_outputs':26s} {len(rows)} rows in {dt:.2f} s ({len(rows) / dt:.0f} rows/s)")

    report = {
        "source": source,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "workers": args.workers,
        "timeout_s": args.timeout,
        "pool_startup_s": round(startup, 3),
        "workloads": results,
        "pool_stats": dict(STATS),
        "note": "single-call latency includes the IPC round trip to a worker for pairs that need sympy; "
                "pairs settled by keys/numbers never touch the pool",
    }
    write_json(args.out, report)
    print(f"pool startup {startup:.2f} s; timeouts {STATS['timeouts']}; wrote {args.out}")
    shutdown_shared_pool()


if __name__ == "__main__":
    main()
