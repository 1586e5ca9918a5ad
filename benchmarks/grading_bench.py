"""Benchmark the answer grader: accuracy against math-verify on free-form answers, worst-case time per verdict
on hostile input, and answers/second with worst-case latency on MATH500-style answers.

    .venv/bin/python benchmarks/grading_bench.py [--timeout 5] [--workers 2] [--out benchmarks/results/grading.json]

free_form (tests/fixtures/grading/free_form_pairs.jsonl, every case with its source): accuracy, false positives
(unequal pairs judged equal) and false negatives of our `is_correct`, of math-verify 0.9 called plainly
(`verify(parse(gold), parse(response))`) and with both inputs wrapped in `$`; overall and per category.
hostile (w2s_lib.grading.cases.hostile_inputs): wall time of one `is_correct` verdict for each input as the
response, as the gold, and boxed inside a sentence; the worst is the figure to read.

Throughput workloads (all real answers; ../shared/data when present, else the shipped MATH500 fixture rows):
  math500_gold_vs_boxed   each MATH500 gold answer vs the last \\boxed{} of its own solution (mostly key hits)
  math500_gold_vs_next    each gold vs the next row's gold: different answers, many need sympy to say "no"
  math_weak_vs_icl        extracted final answers of the paper's MATH weak and ICL outputs (iteration 1)
  math_chosen_vs_rejected extracted final answers of the paper's MATH preference pairs
  adversarial_timeouts    inputs sympy cannot finish (+1 easy pair): refused by sympy_safe or cut at --timeout
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

from w2s_lib.grading import answers  # noqa: E402
from w2s_lib.grading.answers import answers_match, extract_answer, grade_batch, is_correct, match_batch  # noqa: E402
from w2s_lib.grading.extract import last_boxed  # noqa: E402
from w2s_lib.grading.decide import decide  # noqa: E402
from w2s_lib.grading.normalize import analyze, clean_latex, normalize  # noqa: E402
from w2s_lib.grading.numeric import approx_value  # noqa: E402
from w2s_lib.grading.cases import hostile_inputs, load_cases, math_verify_verdict, score  # noqa: E402
from w2s_lib.grading.pool import STATS, shared_pool, shutdown_shared_pool  # noqa: E402
from w2s_lib.run.jsonl import read_json, read_jsonl, write_json  # noqa: E402
from w2s_lib.run.paths import REPO_ROOT, shared_data_dir  # noqa: E402


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
                                   ("2^{2^{2^{30}}}", "3"), ("(a+b+c+d)^{60}", "(a+b+c+e)^{60}"),
                                   ("x^2", "x \\cdot x")]
    return out, source


def clear_caches() -> None:
    """Cold start for every measurement: no cached keys, values or symbolic verdicts."""
    answers._SYMBOLIC_CACHE.clear()
    analyze.cache_clear()
    normalize.cache_clear()
    clean_latex.cache_clear()
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


def bench_free_form(timeout: float, workers: int) -> dict:
    cases = load_cases(REPO_ROOT / "tests/fixtures/grading/free_form_pairs.jsonl")
    clear_caches()
    t0 = time.perf_counter()
    ours = grade_batch([c.response for c in cases], [c.gold for c in cases], progress=False, timeout=timeout,
                       workers=workers)
    dt = time.perf_counter() - t0
    out = {"cases": len(cases), "unequal_cases": sum(not c.expected for c in cases),
           "ours": {**score(cases, ours), "seconds": round(dt, 3)}}
    for wrapped in (False, True):
        t0 = time.perf_counter()
        verdicts = [math_verify_verdict(c.response, c.gold, wrapped=wrapped) for c in cases]
        out["math_verify_wrapped" if wrapped else "math_verify_plain"] = {
            **score(cases, verdicts), "seconds": round(time.perf_counter() - t0, 3)}
    return out


def bench_hostile(timeout: float) -> dict:
    """Wall time of single is_correct verdicts on hostile input (caches cleared before each)."""
    per_input = {}
    for name, h in hostile_inputs().items():
        times = []
        for response, gold in [(h, "1"), ("1", h), ("The answer is $\\boxed{" + h + "}$.", "5")]:
            clear_caches()
            t0 = time.perf_counter()
            is_correct(response, gold, timeout=timeout)
            times.append(time.perf_counter() - t0)
        per_input[name] = {"chars": len(h), "max_s": round(max(times), 4)}
    worst = max(per_input, key=lambda k: per_input[k]["max_s"])
    # A pair that passes every guard and makes sympy work past the limit (a true identity it misses): the
    # verdict is "not equal" at about `timeout`; the next symbolic verdict may wait for the worker's restart.
    timed = {}
    for name, (a, b) in {"symbolic_timeout": ("\\sin(x)^{40}\\cos(x)^{40}", "\\frac{\\sin(2x)^{40}}{2^{40}}"),
                         "next_symbolic_after_timeout": ("x^2+2x+1", "(x+1)^2")}.items():
        t0 = time.perf_counter()
        verdict = is_correct(a, b, timeout=timeout)
        timed[name] = {"pair": [a, b], "verdict": verdict, "seconds": round(time.perf_counter() - t0, 4)}
    return {"inputs": len(per_input), "verdicts": 3 * len(per_input), "worst_s": per_input[worst]["max_s"],
            "worst_input": worst, "per_input": per_input, "past_the_guards": timed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=answers.DEFAULT_TIMEOUT)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks/results/grading.json")
    args = ap.parse_args()

    shutdown_shared_pool()
    t0 = time.perf_counter()
    shared_pool(args.workers).run([("x", "x")], timeout=60)
    startup = time.perf_counter() - t0

    free_form = bench_free_form(args.timeout, args.workers)
    for name in ("ours", "math_verify_plain", "math_verify_wrapped"):
        r = free_form[name]
        print(f"free_form {name:20s} accuracy {r['accuracy']:.4f} ({r['right']}/{r['cases']})  "
              f"false positives {r['false_positives']}/{free_form['unequal_cases']}  false negatives {r['false_negatives']}")
    hostile = bench_hostile(args.timeout)
    print(f"hostile: {hostile['verdicts']} verdicts, worst {hostile['worst_s']:.3f} s ({hostile['worst_input']})")
    for name, r in hostile["past_the_guards"].items():
        print(f"  {name}: {r['verdict']} in {r['seconds']:.2f} s")

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
        "free_form": free_form,
        "hostile": hostile,
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
