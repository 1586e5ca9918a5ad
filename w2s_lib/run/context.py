"""The run a notebook (or the pipeline) works on: a preset, a seed, a run directory, and a few helpers that
every stage module shares (prompts, answer extraction, generation and training with the preset's settings).

    ctx = open_run("toy", seed=0)                                 # runs/toy/seed0
    ctx = open_run("smoke", seed=0, run_dir="/tmp/r", strong_base="/path/to/model")
    ctx.store.require("d_weak", hint="run notebooks/01_weak_data.ipynb first")
    texts = ctx.generate(model_dir, prompts)                      # greedy, preset's max_new_tokens and stops
    ctx.train("sft", "strong_sft", base, rows, out_dir)           # preset's recipe and overrides

Why a context object: the stage modules (weak, selection, stage1, stage2, evaluate) all need the same four
things, and a notebook's parameters (model overrides, sizes) must reach every stage the same way. The
overrides are written into the preset copy this object holds, so they also land in every stage's config
hash: pointing a notebook at another model recomputes the stages that used the old one.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from w2s_lib.tasks import prompts as P
from .preset_types import TYPES, missing_local
from .presets import SCHEMA, STAGE2_METHODS, Preset, load_preset
from .runstore import RunStore
from w2s_lib.tasks import Task, task_for

# Bump when a change in the stage modules must invalidate results already in run stores.
STAGE_VERSION = 1



@dataclass
class RunContext:
    """One run: `preset` (with the notebook's overrides applied), `seed`, and its run directory `root`."""
    preset: Preset
    seed: int
    root: Path
    # engines open for a generation step (`engine`): model -> loaded engine (None until the first call)
    _engines: dict = field(default_factory=dict, repr=False, compare=False)
    # every engine load of this context, in order (model references): one per generation step
    engine_loads: list = field(default_factory=list, repr=False, compare=False)

    @property
    def store(self) -> RunStore:
        return RunStore(self.root)

    def stage(self, name: str, config: dict, deps: Any = (), *, verbose: bool = True):
        """`store.stage(name, config, deps)`, saying "<name>: done (<dir>)" when the stage is already computed."""
        st = self.store.stage(name, config, deps=deps)
        if st.done and verbose:
            print(f"{name}: done ({st.dir})")
        return st

    def comparison_config(self) -> dict:
        """Config keys of a stage that compares answers: the judge, and `stage1.comparator` when it is not the
        default `math` (so stages computed before the comparator existed keep their hash)."""
        from w2s_lib.grading.official import comparator_of
        c = comparator_of(self.preset)
        return {"judge": self.judge, **({"comparator": c} if c != "math" else {})}

    @property
    def task(self) -> Task:
        """The dataset's Task (w2s_lib.tasks): prompts, answer extraction, comparison keys, grading."""
        return task_for(self.preset)

    @property
    def judge(self) -> str:
        """'grading' (GSM8K, MATH, toy: w2s_lib.grading.answers) or 'olympic' (per-answer-type judge)."""
        return self.task.judge

    def model(self, role: str) -> str:
        """A model reference from the preset (weak_base, strong_base, weak_model), overrides applied."""
        return self.preset.model(role)

    def model_of(self, stage: str, hint: str | None = None) -> str:
        """The model a committed stage produced: `<stage>/model/`, or the model its metrics name (`model`): a
        given weak supervisor, the `m_plus` pointer, or M_plus kept as is by a preference stage with no pairs."""
        st = self.store.require(stage, hint=hint)
        if (st.dir / "model").is_dir():
            return str(st.dir / "model")
        given = st.metrics.get("model")
        if not given:
            raise FileNotFoundError(f"stage '{stage}' ({st.dir}) holds no model/ and names no model")
        return given

    @property
    def weak_given(self) -> bool:
        """True when the preset names a ready weak supervisor (models.weak_model): no SFT on train_1."""
        return bool(self.preset.models.get("weak_model"))

    # ---- prompts and answers -----------------------------------------------------------------------
    def prompt(self, record: Any) -> str:
        """The zero-shot prompt of a record (Record or QuestionRecord), as the release wrote it."""
        return self.task.prompt(record)

    def pred(self, response: str, record: Any = None) -> str:
        """The final answer of a response ('' if none): what selection, voting and the tables show."""
        return self.task.pred(response, record)

    # ---- generation ----------------------------------------------------------------------------------
    @property
    def stop(self) -> list[str]:
        """generation.stop, else the task's default (`P.STOP`: "\\n\\n" ends a few-shot block; OlympicArena,
        whose responses contain blank lines: the start of a new exercise block)."""
        s = self.preset.generation.get("stop")
        return list(s) if s is not None else self.task.stop()

    def max_new_tokens(self, purpose: str = "train") -> int:
        """Token budget: eval.max_new_tokens for purpose 'eval' when set, else generation.max_new_tokens."""
        if purpose == "eval" and self.preset.eval.get("max_new_tokens"):
            return int(self.preset.eval["max_new_tokens"])
        return int(self.preset.generation["max_new_tokens"])

    def shard_size(self, per_prompt: int = 1) -> int:
        """Prompts per resumable shard of a generation job (`generation.shard_size`, else 256 with transformers
        and 1024 with vLLM, whose scheduler wants many sequences at once), divided by `per_prompt` samples.
        The engine loads once per step (`engine`), not per shard: a shard only bounds the work an interruption
        can lose."""
        g = self.preset.generation
        size = g.get("shard_size") or (1024 if g["backend"] == "vllm" else 256)
        return max(1, int(size) // max(1, per_prompt))

    def generation_config(self, purpose: str = "train") -> dict:
        """The generation settings that change outputs (part of every generating stage's config hash)."""
        g = self.preset.generation
        out = {"backend": g["backend"], "max_new_tokens": self.max_new_tokens(purpose), "stop": self.stop,
               "engine": dict(g.get("engine") or {}), "dtype": self.preset.models.get("dtype", "auto"),
               "threads": self.threads_setting()}
        if (g.get("cleanup") or "strip") != "strip":
            out["cleanup"] = g["cleanup"]
        return out

    def _engine_kwargs(self) -> dict[str, Any]:
        g = self.preset.generation
        kw: dict[str, Any] = dict(g.get("engine") or {})
        threads = self.preset.compute.get("threads")
        if g["backend"] == "transformers" and threads:
            kw.setdefault("threads", int(threads))
        dtype = self.preset.models.get("dtype")
        if dtype and dtype != "auto":              # "auto": the engine's default (bf16 on GPU, fp32 on CPU)
            kw.setdefault("dtype", dtype)
        return dict(backend=g["backend"], subprocess=bool(g.get("subprocess")), batch_size=g.get("batch_size"),
                    seed=self.seed, **kw)

    @contextlib.contextmanager
    def engine(self, model: Any):
        """One generation engine for a whole step. Inside the block, `ctx.generate(model, ...)` reuses it: it is
        loaded at the first call (so a step whose shards are all on disk loads nothing) and closed when the block
        ends (with `generation.subprocess`, its process exits and its GPU memory is free before training).

            with ctx.engine(model):
                rows = st.sharded("answers", items, ctx.shard_size(), run)   # run() calls ctx.generate(model, ...)
        """
        key = str(model)
        if key in self._engines:                   # nested: the outer block owns the engine
            yield
            return
        self._engines[key] = None
        try:
            yield
        finally:
            eng = self._engines.pop(key, None)
            if eng is not None:
                eng.close()

    def generate(self, model: Any, prompts: Sequence[str], *, n: int = 1, temperature: float = 0.0,
                 top_p: float = 1.0, seed: int | None = None, purpose: str = "train",
                 progress: bool = False, max_new_tokens: int | None = None) -> list[list[str]]:
        """Generate with the preset's backend, budget, stops and threads; responses come back cleaned (leading
        space of the format and trailing whitespace removed). Inside `with ctx.engine(model):` the step's engine
        is reused; elsewhere an engine is loaded for this call alone. No progress bar by default: a step's calls
        run shard by shard inside `Stage.sharded`, whose one bar counts the whole step. `max_new_tokens` replaces
        the preset's budget for this call (SCORE's critiques copy every step of a solution: a longer budget)."""
        from w2s_lib.engines.scale import open_generator   # a Generator, in its own process(es) when the preset says so
        budget = int(max_new_tokens) if max_new_tokens else self.max_new_tokens(purpose)
        sampling = dict(n=n, temperature=temperature, top_p=top_p, max_new_tokens=budget,
                        stop=self.stop, seed=self.seed if seed is None else seed, progress=progress)
        if not prompts:
            return []
        key = str(model)
        if key in self._engines:
            if self._engines[key] is None:
                self._engines[key] = open_generator(model, **self._engine_kwargs())
                self.engine_loads.append(key)
            out = self._engines[key].generate(list(prompts), **sampling)
        else:
            self.engine_loads.append(key)
            with open_generator(model, **self._engine_kwargs()) as g:
                out = g.generate(list(prompts), **sampling)
        cleanup = self.preset.generation.get("cleanup") or "strip"
        return [[P.clean_response(t, cleanup) for t in row] for row in out]

    # ---- training ------------------------------------------------------------------------------------
    def train_config(self, job: str) -> dict:
        """What a training job's result depends on: its recipe (path and content) and the preset's overrides."""
        path = self.preset.recipe(job)
        t = self.preset.train
        return {"recipe": str(path), "recipe_sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
                "overrides": self.preset.overrides(job), "launcher": t.get("launcher", "process"),
                "num_processes": t.get("num_processes", 1), "seed": self.seed, "threads": self.threads_setting()}

    def threads_setting(self) -> int | None:
        """Torch intra-op threads on a CPU: the preset's `compute.threads` (the toy presets: 1), else None (torch's
        default, or 1 for small models, see `generation.default_threads`). Part of every training and generating
        stage's config: float sums in another order give other numbers, so a result is the same only at the same
        thread count (and the same machine and library versions)."""
        threads = self.preset.compute.get("threads")
        return int(threads) if threads else None

    def num_processes(self) -> int:
        """Training processes: with GPUs visible, one per visible GPU (so `--jobs` seeds, each with its share of
        CUDA_VISIBLE_DEVICES, train on their own GPUs); on a CPU, the preset's `train.num_processes`."""
        t = self.preset.train
        if t.get("launcher") != "accelerate":
            return 1
        from w2s_lib.engines.scale import visible_gpus
        gpus = visible_gpus()
        return len(gpus) if gpus else int(t.get("num_processes") or 1)

    def report_to(self) -> str:
        """Where trainers report: `train.report_to`, else TensorBoard on GPU presets and none on a CPU. A logger
        that is not installed falls back to none, said once."""
        want = self.preset.train.get("report_to") or ("tensorboard" if self.preset.compute.get("gpus") else "none")
        if want == "none":
            return want
        import importlib.util
        if importlib.util.find_spec(want) is None:
            print(f"note: train.report_to {want!r} is not installed (pip install {want}); trainers log to the "
                  f"stage's train_log.jsonl only", flush=True)
            return "none"
        return want

    def train(self, kind: str, job: str, base: str, rows: list[dict], out_dir: str | Path) -> dict:
        """Train `base` on `rows` with the recipe of `job` (weak_sft, strong_sft, dpo, orpo); save in out_dir.

        Training runs in a process of its own (`train.launcher: process`) or in an `accelerate launch` job, never
        in the notebook kernel; a LoRA adapter is merged after the job has exited. The trainer's log history is
        kept next to the model, in `<stage>/train_log.jsonl` (03 and 04 plot it), and TensorBoard logs in
        `<stage>/tensorboard/` when the preset reports to it.

        Preference training with no pairs at all trains nothing: the result is `base` itself, said loudly and
        recorded (`trained: False, model: base`; `RunContext.model_of` resolves it), since "no preference
        data" has a clear meaning (no update). SFT with no rows is an error: a Stage I set that kept no
        question means the weak and strong answers never agreed, and a model "trained" on it would be the base
        model in disguise (its answers would then agree with themselves in the next iteration)."""
        from w2s_lib.engines.scale import train           # training.train, with unsloth only where it can run
        from .jsonl import write_jsonl
        if not rows:
            if kind == "sft":
                raise ValueError(f"{job}: no training rows; nothing to fine-tune {base} on")
            msg = f"WARNING {job}: no preference pairs; the model stays {base}, unchanged"
            print(msg, flush=True)
            return {"trained": False, "model": str(base), "note": msg, "train_loss": None, "train_runtime": 0.0,
                    "global_step": 0, "num_tokens": 0, "dropped_rows": 0, "truncated_rows": 0,
                    "launch": {"launcher": "none", "merged_in": "none"}}
        t = self.preset.train
        out_dir = Path(out_dir)
        launcher = t.get("launcher") or "process"
        kw: dict[str, Any] = dict(launcher=launcher, num_processes=self.num_processes(),
                                  accelerate_config=t.get("accelerate_config"), log_dir=out_dir.parent / "tensorboard")
        if self.preset.compute.get("threads"):
            kw["threads"] = int(self.preset.compute["threads"])
        overrides = {"report_to": self.report_to(), **self.preset.overrides(job)}
        m = train(kind, base, rows, out_dir, self.preset.recipe(job), seed=self.seed, overrides=overrides, **kw)
        write_jsonl(out_dir.parent / "train_log.jsonl", list(m.get("log_history") or []))
        return m


def open_run(preset: str | Preset = "toy", seed: int = 0, run_dir: str | Path = "", *, weak_base: str = "",
             strong_base: str = "", weak_model: str = "", sizes: dict | None = None,
             iterations: int | None = None, methods: Sequence[str] | None = None,
             overrides: dict | None = None) -> RunContext:
    """The run of `preset` and `seed` in `run_dir` (default runs/<preset>/seed<seed>).

    Empty-string overrides (the notebooks' parameter defaults) mean "the preset's". `weak_base`,
    `strong_base`, `weak_model` replace the preset's models; `sizes` updates dataset.sizes; `iterations`
    sets stage1.iterations; `methods` stage2.methods; `overrides` = {section: {key: value}} updates any
    preset section (e.g. {"stage2": {"n_samples": 4}}); unknown sections or keys raise."""
    p = copy.deepcopy(preset) if isinstance(preset, Preset) else load_preset(preset)
    for role, value in (("weak_base", weak_base), ("strong_base", strong_base), ("weak_model", weak_model)):
        if value:   # an existing path (relative to the current directory) becomes absolute; else a hub id
            if missing_local(value, [Path.cwd()]):
                raise ValueError(f"{role}={value!r}: a local path that does not exist (a hub id is 'name' or 'org/name')")
            p.models[role] = str(Path(value).resolve()) if Path(value).exists() else value
    if sizes:
        p.dataset["sizes"] = {**(p.dataset.get("sizes") or {}), **sizes}
    if iterations is not None:
        if int(iterations) < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        p.stage1["iterations"] = int(iterations)
    if methods is not None:
        bad = set(methods) - set(STAGE2_METHODS)
        if bad:
            raise ValueError(f"unknown Stage II method(s) {sorted(bad)}; choose from {', '.join(STAGE2_METHODS)}")
        p.stage2["methods"] = list(methods)
    for section, values in (overrides or {}).items():
        target = getattr(p, section, None)
        if not isinstance(target, dict) or section == "paper":
            raise ValueError(f"overrides: unknown preset section {section!r}")
        bad = set(values) - set(SCHEMA[section])
        if bad:
            raise ValueError(f"overrides: unknown key(s) {sorted(bad)} in {section!r}")
        wrong = [f"{section}.{k} {bad}" for k, v in values.items()
                 if (bad := TYPES[section][k](v) if k in TYPES[section] else None)]
        if wrong:
            raise ValueError(f"overrides: {'; '.join(wrong)}")
        target.update(values)
    root = Path(run_dir) if run_dir else RunStore.for_run(p.name, seed).root
    return RunContext(p, int(seed), root)


def train_summary(m: dict) -> dict:
    """The part of `RunContext.train`'s metrics a stage keeps in its metrics.json."""
    out = {"trained": m.get("trained", True)}
    out.update({k: m[k] for k in ("model", "note") if k in m})
    out.update({k: m.get(k) for k in ("train_loss", "train_runtime", "global_step", "num_tokens", "dropped_rows",
                                      "truncated_rows", "launch")})
    for k in ("merge", "backend_fallback"):
        if k in m:
            out[k] = m[k]
    return out
