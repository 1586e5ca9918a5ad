"""The continued-pretraining phases that give the toy bases SCORE's skills (critique, refine, verify), as data.

Not wired into `build.py`'s recipes: `run(phase, out)` trains one. Shipped (2026-12-04): `data/toy/score_small` is
SMALL_2 (SMALL, then its continuation), `data/toy/score_verifier` is VERIFIER (stopped at step 1,500); each folder
holds its phase's `score_phase.json` and training log (docs/toy_world.md, "SCORE documents").

The phases, continuing the shipped strong base:
- `SMALL` (SCORE's small model): SCORE documents that never state a hole fact (`holes="avoid"`) plus a replay of
  the strong corpus (same holes), so the model keeps its skills and its wrong beliefs, and learns to critique
  with the knowledge it has. It is the model that samples, critiques itself and is fine-tuned as the refiner.
- `VERIFIER` (SCORE's strong verifier): the same base, SCORE documents with true arithmetic everywhere
  (`holes="true"`) and a replay of the strong corpus without holes. It differs from the small model in knowledge
  (it is taught the facts the small model believes wrongly), not in size.

Why the strong base and not the weak base plays the small model: SCORE's small model must solve a fair share of
the questions (its own correct samples are the critiques' hints, and the refiner fixes its own errors); the shipped
weak base answers 2% of the few-shot check (BUILD.json), the strong base 78.8%.
"""
from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from pathlib import Path

from .build import MODELS, STRONG_CORPUS
from .corpus import CorpusConfig, corpus_docs
from .critique import ScoreDocsConfig, default_config, examples
from .pretrain import ModelConfig, TrainConfig
from .score_vocab import TOY_DATA


@dataclass(frozen=True)
class ScorePhase:
    name: str
    role: str                 # what the continued model plays in SCORE
    init_from: str            # the shipped base it continues, relative to the repository root
    model: ModelConfig        # the base's architecture (its recipe's ModelConfig)
    docs: ScoreDocsConfig     # the SCORE documents
    replay: CorpusConfig      # documents of a base corpus mixed in (keeps the base's skills; the holes or not)
    train: TrainConfig
    after: str = ""           # continue the output of this phase (in the same `out` folder) instead of init_from


_TRAIN = TrainConfig(steps=2000, batch=8, window=512, lr=3e-4, warmup=100, seed=5, checkpoint_every=500)
# the strong corpus's seed must stay 0: its holes are a function of the seed (corpus.Arithmetic)
_REPLAY = dataclasses.replace(STRONG_CORPUS, n_docs=15_000)

SMALL = ScorePhase(
    name="score_small", role="SCORE's small model (samples, self-critiques, becomes the refiner)",
    init_from="data/toy/strong_base", model=MODELS["strong_base"].model,
    # answer_first: measured at checkpoint 1,000 without it, the critic named its own total as the answer (the
    # reference's answer, 2 hops back, was not copied); the opening line puts that copy first  # our choice
    docs=default_config(seed=11, n_docs=20_000, holes="avoid", answer_first=True,
                        mix={"critique": 0.5, "apply": 0.2, "refine": 0.0, "verify": 0.3}),
    replay=_REPLAY, train=_TRAIN)

VERIFIER = ScorePhase(
    name="score_verifier", role="SCORE's strong verifier (knows the small model's hole facts)",
    init_from="data/toy/strong_base", model=MODELS["strong_base"].model,
    # hole errors too: the verifier's checks are where it differs from the small model  # our choice
    docs=default_config(seed=12, n_docs=20_000, holes="true",
                        errors={"arithmetic": 0.25, "copy": 0.2, "carry": 0.1, "skip": 0.15, "final": 0.1,
                                "hole": 0.2}),
    # stop_at 1,500 of the 2,000-step schedule: stopped for time on 2 shared cores (2026-12-04); the shipped model is
    # that checkpoint, and this line reproduces it
    replay=dataclasses.replace(_REPLAY, holes=0.0), train=dataclasses.replace(_TRAIN, seed=6, stop_at=1500))

# SMALL's continuation (2026-12-04): measured on the toy preset's seed 0 with SMALL (07, 662 critiques), the opening
# answer line copied the reference's answer in 662 of 662 critiques, but the last feedback named the critic's own
# total in 449 (only 40 the reference's): 4 kept by the rule filter. This phase continues SMALL on critiques whose
# last feedback repeats the opening line word for word ("This step is incorrect. The answer is 13, as in the
# reference solution."), so that naming the answer at the last step is a copy of a line already written.
# Measured with that wording ("The answer is 13, as in the reference solution." twice; 800 steps from SMALL, seed 0
# of the toy preset, 652 critiques): the last feedback still named the critic's own total in 516, 8 kept. "The
# answer is N" ends every verification check and right critique with the running total, so the phrase itself
# pulled the running total. SMALL_2 therefore uses a wording nothing else uses ("The reference solution says 13."),
# continuing SMALL (`after`).
SMALL_2 = ScorePhase(
    name="score_small_2", role="SCORE's small model, continued: the last feedback repeats the answer line",
    init_from="data/toy/strong_base", after="score_small", model=MODELS["strong_base"].model,
    docs=dataclasses.replace(SMALL.docs, seed=13, n_docs=12_000, last_repeats_answer=True, says=True),
    replay=dataclasses.replace(_REPLAY, n_docs=6_000),
    train=TrainConfig(steps=800, batch=8, window=512, lr=1e-4, warmup=50, seed=7, checkpoint_every=400))

PHASES = {p.name: p for p in (SMALL, VERIFIER, SMALL_2)}


def phase_docs(phase: ScorePhase, n_docs: int | None = None, n_replay: int | None = None) -> list[str]:
    """The phase's corpus: its SCORE documents and its replay documents, shuffled together (seeded).
    `n_docs` / `n_replay` cut the counts (a test's small version of the same phase)."""
    docs = [d.text for d in examples(phase.docs, phase.docs.n_docs if n_docs is None else n_docs)]
    replay = dataclasses.replace(phase.replay, n_docs=phase.replay.n_docs if n_replay is None else n_replay)
    out = docs + corpus_docs(replay)
    random.Random(f"{phase.name}-{phase.docs.seed}").shuffle(out)
    return out


def build_seconds_per_step(build_json: str | Path = TOY_DATA / "BUILD.json", model: str = "strong_base",
                           phase: str = "phase1") -> tuple[float, dict]:
    """Measured seconds per step of a shipped phase (and that phase's train config), from BUILD.json."""
    path = Path(build_json)
    rec = json.loads(path.read_text())
    try:
        ph = next(p for p in rec["models"][model]["phases"] if p["name"] == phase)
    except (KeyError, StopIteration):
        raise KeyError(f"{path}: no phase {phase!r} of model {model!r}") from None
    steps = ph["train"].get("stop_at") or ph["train"]["steps"]
    return ph["seconds"] / steps, ph["train"]


def estimate(phase: ScorePhase, build_json: str | Path = TOY_DATA / "BUILD.json", ref_phase: str = "phase1"
             ) -> dict:
    """The phase's training time from a shipped phase of the same model: its seconds per step, scaled by tokens
    per step (batch x window). Excludes the checkpoint checks and corpus generation; ignores the ~4% larger
    embedding (36 new pieces on 861)."""
    per_step, ref = build_seconds_per_step(build_json, "strong_base", ref_phase)
    scale = (phase.train.batch * phase.train.window) / (ref["batch"] * ref["window"])
    steps = phase.train.stop_at or phase.train.steps
    return {"reference": f"strong_base {ref_phase}", "reference_s_per_step": round(per_step, 4),
            "steps": steps, "tokens": steps * phase.train.batch * phase.train.window,
            "seconds": round(steps * per_step * scale, 1)}


def prepare(phase: ScorePhase, out: str | Path, repo_root: str | Path = TOY_DATA.parents[1]) -> Path:
    """The phase's starting point: the base with the extended tokenizer and grown embeddings, in `out/<name>.init`."""
    from .score_vocab import extend_model, score_tokenizer
    tok = score_tokenizer()
    src = Path(out) / phase.after if phase.after else Path(repo_root) / phase.init_from
    return extend_model(src, Path(out) / f"{phase.name}.init", tok, seed=phase.train.seed)


def run(phase: ScorePhase, out: str | Path, threads: int = 2, docs: list[str] | None = None) -> dict:
    """Prepare and pretrain the phase into `out/<name>` (not run in this repository yet: see the module doc)."""
    from transformers import PreTrainedTokenizerFast

    from .pretrain import pretrain, token_stream
    init = prepare(phase, out)
    tok = PreTrainedTokenizerFast.from_pretrained(str(init))
    stream = token_stream(phase_docs(phase) if docs is None else docs, tok)
    log = pretrain(stream, tok, phase.model, dataclasses.replace(phase.train, threads=threads),
                   Path(out) / phase.name, init_from=init)
    (Path(out) / phase.name / "score_phase.json").write_text(json.dumps(dataclasses.asdict(phase), indent=1) + "\n")
    return log
