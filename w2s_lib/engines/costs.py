"""Dry-run estimates: every stage of a preset with its model, data sizes, tokens generated and trained, GPU
memory and GPU-hours, without loading (or downloading) a model.

    steps = plan(load_preset("paper-gsm8k-llama2-7b"))
    print(format_plan(preset, steps))         # what `python -m w2s_lib --preset NAME --dry-run` prints
    python -m w2s_lib.engines.costs           # the markdown cost tables of docs/gpu.md, for every GPU preset
                                              # (weak-to-strong 01-05, and SCORE 07-08: its assumptions by _score_plan)

Everything here is an ESTIMATE from stated assumptions, not a measurement:
- Model shapes come from KNOWN_MODELS (the models' published config.json values) or from a local config.json;
  parameter counts are computed from the shapes (Llama-style blocks).
- Text lengths (LENGTHS) were measured on the paper's release files (/work/shared/data/w2s_official): characters
  divided by 3.14, the characters-per-token of the Llama-2 tokenizer on the 6,906 GSM8K weak responses whose
  `num_tokens` the release records. Questions kept by selection and pairs per question (KEEP, PAIRS) are the
  release's Llama2-7b-supervisor counts; other supervisors keep more or fewer.
- Throughput: FLOPs / (GPU peak x utilisation). An A100 80GB (312 bf16 TFLOP/s dense) at 35% utilisation in
  training (ZeRO-3, bf16, gradient checkpointing), 40% in prefill and 15% in vLLM decoding; plus a start-up cost
  per model load (60 s + reading the bf16 weights at 2 GB/s). Training FLOPs per token: 8P for full fine-tuning
  (6P + 2P recomputation), 6P for LoRA (no weight gradients of the frozen base), plus 2P for DPO's reference
  forward. On a CPU (compute.gpus: 0) the toy world's measured speeds are used instead (docs/engines.md).
- Memory per GPU: vLLM = bf16 weights / tensor-parallel size + KV cache of 256 concurrent sequences + 2 GB;
  training = weights and optimizer state (full: 16 bytes/parameter; LoRA: 2 bytes/parameter + 16 per adapter
  parameter), sharded over the processes under ZeRO-3/FSDP, + activations of one micro-batch at max_length with
  gradient checkpointing (2·s·b·h bytes per layer kept, 34·s·b·h for the layer being recomputed, bf16 logits).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from w2s_lib.tasks import task_for
from w2s_lib.run.data import PAPER_SIZES, SCORE_GSM8K
from .model_specs import GIB, KNOWN_MODELS, ModelSpec, model_spec  # noqa: F401 (the dry run's models)
from w2s_lib.run.presets import Preset, load_preset, resolve

# ---------------------------------------------------------------------------------------------------------------
# Data: lengths and yields measured on the paper's release (see the module docstring).
# ---------------------------------------------------------------------------------------------------------------

# Mean tokens of a zero-shot prompt ("Question: ...\nAnswer:") and of a response.
# GSM8K: 235 / 230 chars (7,000 weak prompts / responses). MATH: 186-char prompts of the kept questions and
# MATH500 gold solutions of 531 chars vs 274-char kept weak responses: 120 tokens taken in between.
# OlympicArena: 870-char prompts (with the release's instructions), 1,161-char responses. Toy: word-level tokens,
# a rough figure (docs/toy_world.md has the real ones).
LENGTHS = {"gsm8k": (75, 74), "math": (60, 120), "olympicarena": (277, 370), "toy": (40, 60)}
# Share of train_2 kept by the agreement selection, per Stage I iteration (release, Llama2-7b / Llama3-8b-instruct
# supervisors): GSM8K 2,683 and 4,022 of 7,000; MATH 334 of 6,000 (one iteration); OlympicArena 746 and 1,288 of
# 6,020. The toy world uses GSM8K's.
KEEP = {"gsm8k": (0.383, 0.575), "math": (0.056, 0.056), "olympicarena": (0.124, 0.214)}
# Preference pairs per train_2 question: GSM8K 2,563 / 7,000; MATH 1,328 / 6,000 (OlympicArena: MATH's rate).
PAIRS = {"gsm8k": 0.366, "math": 0.221, "olympicarena": 0.221}

# ---------------------------------------------------------------------------------------------------------------
# Hardware assumptions.
# ---------------------------------------------------------------------------------------------------------------
GPU_NAME = "A100 80GB"
GPU_PEAK_FLOPS = 312e12
MFU_TRAIN, MFU_PREFILL, MFU_DECODE = 0.35, 0.40, 0.15
LOAD_SECONDS, READ_BYTES_PER_S = 60.0, 2e9
VLLM_MAX_SEQS = 256
# CPU (compute.gpus: 0): measured on the 2-core machine with the toy strong model (1.1M parameters, 1 thread):
# generation ~3,000 tokens/s, SFT ~7,400 tokens/s (benchmarks/results/generation.json). Scaled by parameters.
CPU_REF_PARAMS, CPU_GEN_TPS, CPU_TRAIN_TPS = 1.1e6, 3000.0, 7400.0


@dataclass
class Step:
    """One unit of work of a stage: a generation or a training run."""
    notebook: str
    name: str
    kind: str                    # generate | train
    model: str
    rows: int
    detail: str
    prompt_tokens: int = 0
    gen_tokens: int = 0          # estimate (mean response length)
    gen_cap: int = 0             # upper bound (every sequence runs to max_new_tokens)
    train_tokens: int = 0        # tokens forwarded in training, all epochs
    memory_gb: float | None = None
    disk_gb: float = 0.0         # the saved model
    engine_loads: int = 0        # generation: engine processes started for this step (1, or 1 per GPU)
    merge_gb: float = 0.0        # training: a LoRA adapter merged after the job: the merged copy written (GB)
    micro_batch: int = 0         # training: per-device micro-batch of the recipe
    max_micro_batch: int | None = None   # training: the largest micro-batch the estimated memory allows
    gpu_hours: float | None = None
    wall_hours: float | None = None
    command: str = ""
    notes: list[str] = field(default_factory=list)


def _sizes(p: Preset) -> tuple[int, int, int]:
    name = p.dataset["name"]
    paper = PAPER_SIZES.get(name, (0, 0, 0))
    s = p.dataset.get("sizes") or {}
    if p.dataset.get("split") == "score":             # SCORE's split: all of GSM8K train as train_1, no train_2
        paper = (SCORE_GSM8K["pool"], 0, SCORE_GSM8K["test"])
    n1 = 0 if p.models.get("weak_model") else int(s.get("train_1", paper[0]))
    return n1, int(s.get("train_2", paper[1])), int(s.get("test", paper[2]))


def _score_sizes(p: Preset) -> tuple[int, int]:
    """(SCORE's train, SCORE's dev) questions: w2s_lib.stages.score.splits takes the last score.dev_size records of
    train_1 as dev, draws score.sample_demos demos out of the rest, and keeps score.train_size of it when set."""
    sc = p.score
    n1 = _sizes(p)[0]
    dev = int(sc.get("dev_size") or 0)
    train = max(0, n1 - dev - int(sc.get("sample_demos") or 0))
    return (min(train, int(sc["train_size"])) if int(sc.get("train_size") or 0) else train), dev


def _recipe(p: Preset, job: str) -> dict:
    from .training import load_recipe

    if job == "score_classifier":       # a sequence-classifier recipe: not a TRL generation kind; read as written
        import yaml

        raw = yaml.safe_load(p.recipe(job).read_text(encoding="utf-8")) or {}
        r_trl, r_lora, backend, save = dict(raw.get("trl") or {}), raw.get("lora"), raw.get("backend", "trl"), \
            raw.get("save", "adapter")
    else:
        r = load_recipe(p.recipe(job))
        r_trl, r_lora, backend, save = r.trl, r.lora, r.backend, r.save
    trl = {**r_trl, **p.overrides(job)}
    return {"lora": r_lora, "epochs": float(trl.get("num_train_epochs", 3)), "batch": int(
        trl.get("per_device_train_batch_size", 8)), "max_length": int(trl.get("max_length") or 1024),
        "max_steps": int(trl.get("max_steps", -1) or -1), "accum": int(trl.get("gradient_accumulation_steps", 1)),
        "path": str(p.recipe(job)), "backend": backend, "save": save}


class _Estimator:
    def __init__(self, p: Preset, gpus: int | None = None):
        self.p = p
        self.gpus = int(p.compute.get("gpus") or 0) if gpus is None else gpus
        self.gpu_bytes = float(p.compute.get("gpu_memory_gb") or 80) * GIB
        t = p.train
        # with GPUs, an accelerate job runs one process per GPU it is given (RunContext.num_processes)
        procs = (self.gpus or int(t.get("num_processes") or 1)) if gpus is not None else int(t.get("num_processes")
                                                                                             or 1)
        self.procs = procs if t.get("launcher") == "accelerate" else 1
        # ZeRO-3 and FSDP shard weights and optimizer state over the processes; DDP keeps a full copy in each
        config = Path(str(t.get("accelerate_config") or "ddp")).stem
        self.sharded = t.get("launcher") == "accelerate" and ("zero3" in config or "fsdp" in config)

    # -- generation ----------------------------------------------------------------------------------------
    def generate(self, step: Step, model: str, prompt_tokens: int, seqs: int, mean_new: int, max_new: int) -> None:
        spec = model_spec(model)
        step.prompt_tokens, step.gen_tokens, step.gen_cap = prompt_tokens, seqs * mean_new, seqs * max_new
        step.engine_loads = 1                      # one engine per step (RunContext.engine), not per shard
        if spec is None and self.gpus == 0:
            step.notes.append(f"{model}: no config.json yet; assumed the toy strong model's size")
        elif spec is None:
            step.notes.append("model shape unknown: no memory or time estimate")
            return
        P = spec.params if spec else CPU_REF_PARAMS
        if self.gpus == 0:
            seconds = step.gen_tokens / (CPU_GEN_TPS * CPU_REF_PARAMS / max(P, CPU_REF_PARAMS))
            step.wall_hours = seconds / 3600
            return
        engine = self.p.generation.get("engine") or {}
        fits = P * 2 < 0.5 * self.gpu_bytes and "tensor_parallel_size" not in engine
        step.engine_loads = self.gpus if fits else 1   # data parallel: one engine process per GPU, loaded at once
        tp = 1 if fits else int(engine.get("tensor_parallel_size") or self.gpus)
        # vLLM reserves gpu_memory_utilization of each GPU up front; what the weights leave is KV cache, which
        # bounds how many sequences decode at once.
        util = float(engine.get("gpu_memory_utilization") or 0.9)
        weights = 2 * P / tp
        seq_kv = (prompt_tokens / max(seqs, 1) + max_new) * spec.kv_bytes_per_token() / tp
        room = util * self.gpu_bytes - weights - 2 * GIB
        wanted = min(seqs, VLLM_MAX_SEQS) * seq_kv
        step.memory_gb = (weights + max(0.0, min(wanted, room)) + 2 * GIB) / GIB
        if room < seq_kv:
            step.notes.append(f"does not fit: {weights / GIB:.0f} GB of weights per GPU leave no KV cache room")
        elif room < wanted:
            step.notes.append(f"KV cache room for ~{int(room // seq_kv)} full-length sequences per engine "
                              f"(vLLM schedules more when they are shorter)")
        flops = 2 * P * (prompt_tokens / MFU_PREFILL + step.gen_tokens / MFU_DECODE)
        load = LOAD_SECONDS + weights / READ_BYTES_PER_S    # the step's one load (engines load in parallel)
        step.gpu_hours = (flops / GPU_PEAK_FLOPS + load * self.gpus) / 3600
        step.wall_hours = step.gpu_hours / self.gpus
        step.detail += ("; vLLM on 1 GPU" if self.gpus == 1 else "; vLLM data parallel, 1 engine per GPU" if fits
                        else f"; vLLM tensor parallel {tp}")

    # -- training ------------------------------------------------------------------------------------------
    def train(self, step: Step, model: str, job: str, rows: int, row_tokens: int, pref: bool) -> None:
        if not self.p.train.get(job) or not self.p.recipe(job).exists():
            step.notes.append(f"train.{job} recipe {self.p.train.get(job) or '(not set)'} not found: no estimate")
            return
        spec, r = model_spec(model), _recipe(self.p, job)
        lora = r["lora"]
        kind = "LoRA r=%s" % lora.get("r", 8) if lora else "full"
        step.detail = f"{step.detail}; {kind}, {r['epochs']:g} epoch(s), recipe {Path(r['path']).name}"
        if r["backend"] == "unsloth":
            step.detail += " (unsloth)"
        per_row = row_tokens * (2 if pref else 1)
        epochs = r["epochs"]
        if r["max_steps"] > 0:
            epochs = min(epochs, r["max_steps"] * r["batch"] * r["accum"] * self.procs / max(rows, 1))
        step.train_tokens = int(rows * per_row * epochs)
        step.micro_batch = r["batch"]
        if self.procs > 1 or self.p.train.get("launcher") == "accelerate":
            cfg = self.p.train.get("accelerate_config") or "ddp"
            step.command = (f"accelerate launch --config_file configs/accelerate/{Path(str(cfg)).stem}.yaml "
                            f"--num_processes {self.procs} -m w2s_lib.engines.train_job --recipe {_rel(r['path'])} "
                            f"--model {_short(model)} --data <rows.jsonl> --out <stage>/model")
        else:
            step.command = (f"python -m w2s_lib.engines.train_job --recipe {_rel(r['path'])} --model {_short(model)} "
                            f"--data <rows.jsonl> --out <stage>/model")
        if lora and r["save"] == "merged":
            step.command += "   then, after it exits: merge the adapter on the CPU (training.finish_merge)"
        if spec is None and self.gpus == 0:
            step.notes.append(f"{model}: no config.json yet; assumed the toy strong model's size")
        elif spec is None:
            step.notes.append("model shape unknown: no memory or time estimate")
            return
        P = spec.params if spec else int(CPU_REF_PARAMS)
        if self.gpus == 0:
            step.disk_gb = 4 * P / GIB   # float32 on the CPU
            step.wall_hours = step.train_tokens / (CPU_TRAIN_TPS * CPU_REF_PARAMS / max(P, CPU_REF_PARAMS)) / 3600
            return
        step.disk_gb = (2 * P if not (lora and r["save"] == "adapter") else
                        16 * spec.lora_params(int(lora.get("r", 8)), tuple(lora.get("target_modules") or ()))) / GIB
        shard = self.procs if self.sharded else 1
        if lora:
            targets = tuple(lora.get("target_modules") or ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                           "up_proj", "down_proj"))
            state = 2 * P + 16 * spec.lora_params(int(lora.get("r", 8)), targets)
            flops_per_token = 6 * P
        else:
            state = 16 * P
            flops_per_token = 8 * P
        if job == "dpo":
            flops_per_token += 2 * P
        b, s, h = r["batch"] * (2 if pref else 1), r["max_length"], spec.hidden
        act = spec.layers * 2 * s * b * h + 34 * s * b * h + 2 * s * b * spec.vocab
        step.memory_gb = (state / shard + act + 2 * GIB) / GIB
        act_per_row = act / max(b, 1)
        room = 0.95 * self.gpu_bytes - state / shard - 2 * GIB
        step.max_micro_batch = max(0, int(room // (act_per_row * (2 if pref else 1))))
        if step.max_micro_batch < r["batch"]:
            step.notes.append(f"micro-batch {r['batch']} does not fit in {self.gpu_bytes / GIB:.0f} GB "
                              f"(estimate: at most {step.max_micro_batch}); lower per_device_train_batch_size "
                              f"and raise gradient_accumulation_steps")
        load = LOAD_SECONDS + 2 * P / max(shard, 1) / READ_BYTES_PER_S
        if lora and r["save"] == "merged":
            # after the job exits, the parent reads the base on the CPU, merges the adapter and writes the merged
            # copy (the GPUs of the node are held, idle, meanwhile)
            step.merge_gb = 2 * P / GIB
            load += 2 * (2 * P) / READ_BYTES_PER_S
        step.gpu_hours = (step.train_tokens * flops_per_token / (GPU_PEAK_FLOPS * MFU_TRAIN)
                          + load * self.gpus) / 3600
        step.wall_hours = step.gpu_hours / self.gpus


def _short(model: str) -> str:
    return _rel(model) if os.path.isabs(model) else model


def _rel(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(resolve(".").resolve()))
    except ValueError:
        return str(path)


def plan(p: Preset, gpus: int | None = None) -> list[Step]:
    """The stages the notebooks run for one seed of preset `p`, with estimated sizes, tokens, memory and time:
    the weak-to-strong series (01-05) when the preset runs it, then SCORE (07-08) when it does.
    `gpus`: plan for that many GPUs (one seed's share under `--jobs`) instead of the preset's compute.gpus."""
    est = _Estimator(p, gpus)
    return (_w2s_plan(p, est) if p.has_w2s else []) + (_score_plan(p, est) if p.has_score else [])


def _w2s_plan(p: Preset, est: _Estimator) -> list[Step]:
    task = task_for(p)
    ds = task.name
    q, resp = LENGTHS.get(ds, LENGTHS["toy"])
    keep = KEEP.get(ds, KEEP["gsm8k"])
    n1, n2, nt = _sizes(p)
    max_new = int(p.generation["max_new_tokens"])
    eval_new = int(p.eval.get("max_new_tokens") or max_new)
    mean_new = min(resp, max_new)
    k = int(p.eval.get("sample_k") or 0)
    weak_given = bool(p.models.get("weak_model"))
    weak = p.model("weak_model" if weak_given else "weak_base")
    strong = p.model("strong_base")
    steps: list[Step] = []

    def gen(nb: str, name: str, model: str, rows: int, detail: str, *, n: int = 1, prompt: int = q,
            cap: int = max_new) -> None:
        st = Step(nb, name, "generate", model, rows, detail)
        est.generate(st, model, rows * prompt, rows * n, min(resp, cap), cap)
        steps.append(st)

    only = p.eval.get("sample_stages")

    def evaluate(nb: str, name: str, model: str, stage: str) -> None:
        gen(nb, f"eval {name}", model, nt, "test, greedy", cap=eval_new)
        if k and (only is None or stage in only):   # as evaluate.evaluate: the preset picks who samples
            gen(nb, f"eval {name} @{k}", model, nt, f"test, {k} samples at T=1", n=k, cap=eval_new)

    def train(nb: str, name: str, model: str, job: str, rows: int, detail: str, *, pref: bool = False) -> None:
        st = Step(nb, name, "train", model, rows, detail)
        est.train(st, model, job, rows, q + resp + 1, pref)
        steps.append(st)

    nb1, nb2, nb3, nb4 = "01_weak_data", "02_selection", "03_stage1_sft", "04_stage2_preference"
    if weak_given:
        steps.append(Step(nb1, "weak model", "train", weak, 0, "given as-is (models.weak_model): no SFT"))
    else:
        train(nb1, "weak SFT on train_1 gold", weak, "weak_sft", n1, "weak base")
    # The trained weak model has the weak base's shape: its estimates use the base.
    evaluate(nb1, "weak floor", weak, "weak_model")
    gen(nb1, "D_weak", weak, n2, "train_2, greedy")
    nd = int(p.icl.get("n_demos", 4))
    gen(nb2, "D_icl (strong ICL)", strong, n2, f"train_2, {nd}-shot greedy", prompt=q + nd * (q + resp + 2))
    gen(nb2, "strong ICL on test", strong, nt, f"test, {nd}-shot greedy (baseline)", prompt=q + nd * (q + resp + 2),
        cap=eval_new)
    iters = int(p.stage1.get("iterations", 2))
    for it in range(1, iters + 1):
        kept = int(round(keep[min(it, len(keep)) - 1] * n2))
        for subset in p.stage1.get("subsets", ["weak", "icl", "hybrid"]):
            rows = 2 * kept if subset == "hybrid" else kept
            train(nb3, f"iter{it} SFT {subset}", strong, "strong_sft", rows, f"~{kept} questions kept")
            evaluate(nb3, f"iter{it} {subset}", strong, f"sft_iter{it}_{subset}")
        if it < iters:
            gen(nb3, f"iter{it} re-answer (weak-set model)", strong, n2, "train_2, greedy")
            gen(nb3, f"iter{it} re-answer (ICL-set model)", strong, n2, "train_2, greedy")
    train(nb3, "full weak FT", strong, "strong_sft", n2, "all of D_weak (baseline)")
    evaluate(nb3, "full weak FT", strong, "sft_full_weak")
    if task.has_train_2_gold:
        train(nb3, "strong ceiling", strong, "strong_sft", n2, "train_2 gold (reference only)")
        evaluate(nb3, "strong ceiling", strong, "sft_ceiling")
    ns = int(p.stage2.get("n_samples", 10))
    gen(nb4, "M_plus samples", strong, n2, f"train_2, {ns} samples at T={p.stage2.get('temperature', 1.0)}", n=ns)
    pairs = int(round(PAIRS.get(ds, PAIRS["gsm8k"]) * n2))
    for method in p.stage2.get("methods", ["dpo", "orpo"]):
        train(nb4, method.upper(), strong, method, pairs, f"~{pairs} pairs from M_plus", pref=True)
        evaluate(nb4, method.upper(), strong, method)
    # 05 scores the weak model, full weak FT, M_plus, DPO and ORPO on OlympicArena val (313 questions; a toy set of
    # that shape for the toy world). On the OlympicArena preset it reuses 01-04's evaluations: nothing to run.
    toy_set = task.olympic_set == "toy"
    if task.olympic_set != "run test set":
        oq, oresp = (q, resp) if toy_set else LENGTHS["olympicarena"]
        n_olympic = min(nt, 313) if toy_set else 313
        for who, model in [("weak model", weak), ("full weak FT", strong), ("M_plus", strong)] + [
                (m.upper(), strong) for m in p.stage2.get("methods", ["dpo", "orpo"])]:
            st = Step("05_olympicarena_eval", f"olympic eval {who}", "generate", model, n_olympic,
                      "OlympicArena-shaped toy set, greedy" if toy_set else "OlympicArena val, greedy")
            est.generate(st, model, n_olympic * oq, n_olympic, min(oresp, eval_new), eval_new)
            steps.append(st)
    return steps


# SCORE (notebooks 07-08). Its "Step i:" solutions are taken as long as the release's responses (LENGTHS); a critique
# copies every step and adds a feedback line of about its length (CRITIQUE_FACTOR x a solution); the refiner writes one
# feedback line and `Correction:` (REFINER_FEEDBACK tokens) before the corrected solution. Pairs per question: the
# number c of correct samples among N is taken as uniform on 0..N (no measurement: a small model's per-question
# accuracy is spread out), so every-pair critiquing gives mean(c (N - c)) pairs per question: 15 at N = 10. The
# filters' yields are unknown before a run: the refinement filter and the refiner's SFT are counted for every pair
# (upper bounds). Notebook 08 does not evaluate the MATH out-of-distribution subset yet (score.ood_source): not counted.
CRITIQUE_FACTOR, REFINER_FEEDBACK, CHECK_DEMOS = 2, 30, 4


def score_pairs_per_question(n_samples: int, cap: int = 0) -> float:
    """Expected (incorrect, correct) pairs per question with c correct of n_samples uniform on 0..n_samples; `cap`
    (score.pairs_per_question) > 0 keeps at most that many per question."""
    per_c = [c * (n_samples - c) for c in range(n_samples + 1)]
    return sum(min(x, cap) if cap else x for x in per_c) / len(per_c)


def _score_plan(p: Preset, est: _Estimator) -> list[Step]:
    sc = p.score
    q, resp = LENGTHS.get(p.dataset["name"], LENGTHS["toy"])
    nt = _sizes(p)[2]
    n_train, nd = _score_sizes(p)
    max_new, crit_new = int(p.generation["max_new_tokens"]), int(sc["critique_max_new_tokens"])
    small, strong = p.score_model("small_model"), (p.score_model("strong_verifier") if sc.get("strong_verifier")
                                                   else None)
    ns, sd = int(sc["n_samples"]), int(sc["sample_demos"])
    crit = CRITIQUE_FACTOR * resp
    fixed = resp + REFINER_FEEDBACK
    steps: list[Step] = []

    def gen(nb: str, name: str, model: str, rows: int, detail: str, *, prompt: int, mean: int, cap: int,
            n: int = 1) -> None:
        st = Step(nb, name, "generate", model, rows, detail)
        est.generate(st, model, rows * prompt, rows * n, min(mean, cap), cap)
        steps.append(st)

    def train(nb: str, name: str, model: str, job: str, rows: int, row_tokens: int, detail: str) -> None:
        st = Step(nb, name, "train", model, rows, detail)
        est.train(st, model, job, rows, row_tokens, False)
        steps.append(st)

    nb7, nb8 = "07_score_data", "08_score_verify"
    shots = q + sd * (q + resp + 2)
    gen(nb7, "SCORE samples", small, n_train, f"{sc.get('train_split', 'train_1')}, {ns} samples at "
        f"T={sc['temperature']} top_p={sc['top_p']}, {sd}-shot", prompt=shots, mean=resp, cap=max_new, n=ns)
    per_q = score_pairs_per_question(ns, int(sc.get("pairs_per_question") or 0))
    pairs = int(round(per_q * n_train))
    gen(nb7, "critiques", small, pairs, f"~{per_q:.1f} (incorrect, correct) pairs per question (c of {ns} correct "
        "taken uniform), greedy, 2 demos", prompt=2 * (q + 2 * resp + crit) + q + 2 * resp, mean=crit, cap=crit_new)
    gen(nb7, "refinement filter", small, pairs, "refine each critiqued solution, greedy, 2 demos (after the rule "
        "filter, a CPU check; counted for every pair: an upper bound)", prompt=2 * (q + resp + crit + resp) + q + resp
        + crit, mean=resp, cap=max_new)
    train(nb7, "refiner SFT", small, "score_refiner", pairs, q + resp + fixed,
          "first-error feedback + Correction: + solution (every pair kept: an upper bound)")
    # 08 (w2s_lib.stages.score_eval): greedy answers and the refiner on dev and test (dev chooses the self-verifier's
    # threshold); the prompted checks and the prompted self-refine baseline on test only (no threshold to choose)
    for label, rows in (("dev", nd), ("test", nt)):
        if rows:
            gen(nb8, f"initial answers {label}", small, rows, f"{label}, greedy, {sd}-shot", prompt=shots, mean=resp,
                cap=max_new)
    check_prompt = CHECK_DEMOS * (q + resp + crit) + q + resp
    gen(nb8, "prompted self-verifier test", small, nt, f"test, {CHECK_DEMOS}-shot step-by-step check, then a verdict",
        prompt=check_prompt, mean=crit, cap=crit_new)
    if strong:
        gen(nb8, "strong verifier test", strong, nt, f"test, {CHECK_DEMOS}-shot step-by-step check, then a verdict "
            "(the paper: GPT-4)", prompt=check_prompt, mean=crit, cap=crit_new)
    gen(nb8, "SCORE refiner dev + test", small, nd + nt, "the fine-tuned refiner on every initial answer",
        prompt=q + resp + REFINER_FEEDBACK, mean=fixed, cap=max_new)
    gen(nb8, "prompted self-refine test", small, nt, "the small model with its own check, no SFT (baseline)",
        prompt=check_prompt + crit, mean=fixed, cap=max_new)
    train(nb8, "self-verifier (LoRA classifier)", small, "score_classifier", n_train * ns, q + resp,
          f"the {n_train * ns} sampled solutions labelled by correctness")
    gen(nb8, "self-verifier scores dev + test", small, nd + nt, "P(incorrect) from the classifier (a forward pass, "
        "no generation)", prompt=q + resp, mean=0, cap=1)
    return steps


def totals(steps: list[Step]) -> dict[str, Any]:
    """GPU-hours, wall hours and tokens per notebook and in all (one seed)."""
    out: dict[str, Any] = {}
    for s in steps:
        t = out.setdefault(s.notebook, {"gpu_hours": 0.0, "wall_hours": 0.0, "gen_tokens": 0, "train_tokens": 0,
                                        "memory_gb": 0.0, "disk_gb": 0.0, "engine_loads": 0, "merges": 0})
        t["disk_gb"] += s.disk_gb
        t["engine_loads"] += s.engine_loads
        t["merges"] += int(s.merge_gb > 0)
        t["gpu_hours"] += s.gpu_hours or 0.0
        t["wall_hours"] += s.wall_hours or 0.0
        t["gen_tokens"] += s.gen_tokens
        t["train_tokens"] += s.train_tokens
        t["memory_gb"] = max(t["memory_gb"], s.memory_gb or 0.0)
    out["total"] = {key: (max if key == "memory_gb" else sum)(v[key] for v in list(out.values()))
                    for key in ("gpu_hours", "wall_hours", "gen_tokens", "train_tokens", "memory_gb", "disk_gb",
                                "engine_loads", "merges")}
    return out


def _tok(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.1f}k" if n >= 1000 else str(n)


def format_plan(p: Preset, steps: list[Step], seeds: list[int] | None = None) -> str:
    """The dry run's text: per notebook, its papermill command and each step with its estimate; then totals."""
    seeds = list(seeds if seeds is not None else p.seeds)
    gpus = int(p.compute.get("gpus") or 0)
    n1, n2, nt = _sizes(p)
    nd = _score_sizes(p)[1] if p.has_score else 0
    series = " + ".join(x for x, on in (("weak-to-strong (01-05)", p.has_w2s), ("SCORE (07-08)", p.has_score)) if on)
    lines = [f"preset {p.name} ({_rel(str(p.path))}): {p.description.strip()}",
             f"  dataset {p.dataset['name']}: train_1 {n1}{f' (SCORE: train {_score_sizes(p)[0]}, dev {nd})' if nd else ''}"
             f", train_2 {n2}, test {nt}; "
             f"seeds {seeds}; series: {series}, then the report (06)"]
    if p.has_w2s:
        lines += [f"  weak: {p.models.get('weak_model') or p.models.get('weak_base')}"
                  f"{' (given as-is)' if p.models.get('weak_model') else ' (+ SFT on train_1)'}; "
                  f"strong: {p.models['strong_base']}",
                  f"  method: split {p.dataset.get('split') or 'seeded'}, comparator "
                  f"{p.stage1.get('comparator') or 'math'}, demos {p.icl.get('demos') or 'sampled'}, stop "
                  f"{list(p.generation['stop']) if p.generation.get('stop') else 'default'}, "
                  f"cleanup {p.generation.get('cleanup') or 'strip'}"]
    if p.has_score:
        sc = p.score
        lines += [f"  SCORE: small model {sc['small_model']}; strong verifier {sc.get('strong_verifier') or 'none'}; "
                  f"split {p.dataset.get('split') or 'seeded'}, samples {sc['train_split']} x {sc['n_samples']} at "
                  f"T={sc['temperature']} top_p={sc['top_p']}, {sc['sample_demos']}-shot; pairs per question "
                  f"{sc['pairs_per_question'] or 'all'}; MATH OOD subset: "
                  f"{'from ' + sc['ood_source'] + ', not evaluated by 08 yet' if sc.get('ood_source') else 'none'}"]
    lines += [f"  generation: {p.generation['backend']}, max_new_tokens {p.generation['max_new_tokens']}, "
             f"subprocess={bool(p.generation.get('subprocess'))}; training: {p.train.get('launcher')}"
             f" x{p.train.get('num_processes') or 1} {p.train.get('accelerate_config') or ''}".rstrip(),
             "  hardware assumed: " + (f"{gpus} GPU(s) of {p.compute.get('gpu_memory_gb') or 80} GB at {GPU_NAME} "
                                       f"speed ({GPU_PEAK_FLOPS / 1e12:.0f} bf16 TFLOP/s)"
                                       if gpus else "CPU (toy-world speeds measured on 2 cores)"),
             "  ESTIMATES from stated assumptions (w2s_lib/engines/costs.py docstring), not measurements"
             + ("; no SCORE stage has run at full scale, and its filters' yields are upper bounds." if p.has_score
                else "."), ""]
    current = None
    for s in steps:
        if s.notebook != current:
            current = s.notebook
            lines.append(f"[{s.notebook}]  papermill notebooks/{s.notebook}.ipynb "
                         f"runs/{p.name}/seed<k>/notebooks/{s.notebook}.ipynb -p preset {p.name} -p seed <k>")
        what = (f"gen {_tok(s.gen_tokens)} tok (cap {_tok(s.gen_cap)}), prompts {_tok(s.prompt_tokens)}"
                if s.kind == "generate" else f"train {_tok(s.train_tokens)} tok")
        mem = f"{s.memory_gb:6.1f} GB/GPU" if s.memory_gb is not None else "      n/a     "
        hours = (f"{s.gpu_hours:7.2f} GPU-h" if s.gpu_hours is not None else
                 f"{s.wall_hours * 60:7.1f} min " if s.wall_hours is not None else "      n/a  ")
        lines.append(f"  {s.name:<38} {_short(s.model)[:34]:<34} rows {s.rows:>6}  {what:<44} {mem} {hours}")
        lines.append(f"      {s.detail}")
        if s.kind == "generate" and s.engine_loads:
            lines.append(f"      engine: loaded once for the step ({s.engine_loads} engine process"
                         f"{'es, one per GPU' if s.engine_loads > 1 else ''}); shards resume")
        if s.kind == "train" and s.micro_batch:
            fit = f", fits up to {s.max_micro_batch} (estimate)" if s.max_micro_batch is not None else ""
            lines.append(f"      micro-batch {s.micro_batch} per device{fit}; saved model {s.disk_gb:.1f} GB"
                         + (f"; LoRA merged after the job: reads and writes {s.merge_gb:.0f} GB" if s.merge_gb else ""))
        if s.command:
            lines.append(f"      $ {s.command}")
        for note in s.notes:
            lines.append(f"      note: {note}")
    t = totals(steps)
    lines.append("")
    lines.append("per seed:")
    for nb, v in t.items():
        tokens = f"generated {_tok(v['gen_tokens'])} tok, trained {_tok(v['train_tokens'])} tok"
        loads = f"{v['engine_loads']} engine load(s), {v['merges']} merge(s)"
        if gpus:
            lines.append(f"  {nb:<22} {v['gpu_hours']:8.1f} GPU-h, {v['wall_hours']:6.2f} h wall on {gpus} GPU(s); "
                         f"{tokens}; {loads}; peak {v['memory_gb']:.1f} GB/GPU; models saved {v['disk_gb']:.0f} GB")
        else:
            lines.append(f"  {nb:<22} {v['wall_hours'] * 60:8.1f} min on one CPU core; {tokens}; {loads}")
    if gpus:
        lines.append(f"all {len(seeds)} seed(s): {t['total']['gpu_hours'] * len(seeds):.1f} GPU-hours")
    return "\n".join(lines)


def share_problems(p: Preset, gpus: int) -> list[str]:
    """Why one seed given `gpus` GPUs (its share of the node under `--jobs`) cannot run preset `p`: the steps whose
    estimated memory per GPU exceeds compute.gpu_memory_gb (empty when every step fits)."""
    limit = float(p.compute.get("gpu_memory_gb") or 80)
    problems = []
    for s in plan(p, gpus=gpus):
        if s.memory_gb is None:
            continue
        if s.memory_gb > limit or any("does not fit" in n for n in s.notes) or s.max_micro_batch == 0:
            problems.append(f"{s.notebook} {s.name} ({_short(s.model)}): ~{s.memory_gb:.0f} GB per GPU on {gpus} "
                            f"GPU(s) of {limit:.0f} GB")
    return problems


def cost_table(names: list[str]) -> str:
    """Markdown: GPU-hours per notebook and per seed, peak memory, for each preset (docs/gpu.md)."""
    head = ("| preset | GPUs | 01 weak | 02 selection | 03 Stage I | 04 Stage II | 05 OlympicArena | GPU-h / seed "
            "| wall h / seed | peak GB/GPU |")
    lines = [head, "|" + "---|" * 10]
    for name in names:
        p = load_preset(name)
        t = totals(plan(p))
        g = lambda nb: f"{t.get(nb, {}).get('gpu_hours', 0):.1f}"  # noqa: E731
        lines.append(f"| {name} | {p.compute.get('gpus')} | {g('01_weak_data')} | {g('02_selection')} | "
                     f"{g('03_stage1_sft')} | {g('04_stage2_preference')} | {g('05_olympicarena_eval')} | "
                     f"{t['total']['gpu_hours']:.1f} | "
                     f"{t['total']['wall_hours']:.1f} | {t['total']['memory_gb']:.0f} |")
    return "\n".join(lines)


def score_cost_table(names: list[str]) -> str:
    """Markdown: SCORE's GPU-hours per notebook and per seed, peak memory, for each preset that runs SCORE
    (docs/gpu.md). A step whose recipe is missing counts nothing (the dry run says so)."""
    lines = ["| preset | GPUs | 07 SCORE data | 08 verify | GPU-h / seed | wall h / seed | peak GB/GPU |",
             "|" + "---|" * 7]
    for name in names:
        p = load_preset(name)
        t = totals([s for s in plan(p) if s.notebook.startswith(("07", "08"))])
        g = lambda nb: f"{t.get(nb, {}).get('gpu_hours', 0):.1f}"  # noqa: E731
        lines.append(f"| {name} | {p.compute.get('gpus')} | {g('07_score_data')} | {g('08_score_verify')} | "
                     f"{t['total']['gpu_hours']:.1f} | {t['total']['wall_hours']:.1f} | "
                     f"{t['total']['memory_gb']:.0f} |")
    return "\n".join(lines)


def gpu_presets() -> tuple[list[str], list[str]]:
    """(GPU presets that run the weak-to-strong series, GPU presets that run SCORE): the cost tables' rows."""
    from w2s_lib.run.presets import list_presets

    gpu = [load_preset(n) for n in list_presets()]
    gpu = [p for p in gpu if int(p.compute.get("gpus") or 0) > 0]
    return [p.name for p in gpu if p.has_w2s], [p.name for p in gpu if p.has_score]


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")   # recipes are parsed against TRL's ORPO config
    if argv:
        presets = [load_preset(n) for n in argv]
        w2s, score = [p.name for p in presets if p.has_w2s], [p.name for p in presets if p.has_score]
    else:
        w2s, score = gpu_presets()
    print("\n\n".join(t for t in ([cost_table(w2s)] if w2s else []) + ([score_cost_table(score)] if score else [])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
