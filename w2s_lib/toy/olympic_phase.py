"""The build phase of the toy forward-looking world: the toy weak base continued on "instruct" documents, so that it
answers OlympicArena-shaped toy prompts as it is (the analog of Llama3-8b-instruct; issue #19).

    python -m w2s_lib.toy.olympic_phase --out /tmp/olympic      # ~15 min on 2 cores; writes /tmp/olympic/weak_instruct

Shipped as `data/toy/weak_instruct` (its `olympic_phase.json` and `pretrain_log.json` beside the weights).

What the phase is: the weak base's own general corpus (a replay, so it keeps what it knew) mixed with documents of
1-3 solved toy problems in the toy-olympic prompt (`olympic_world.toy_prompt`: the answer-type sentence, the
question, `Answer:`), every answer type of the toy set, gold solutions ending `The final answer is $\\boxed{...}$`.
The problems come from the same generator as the preset's splits with their own seed: an instruct model has seen
problems like the benchmark's, not the benchmark (overlap with a run's questions is counted by notebook 01's data
stage, not removed). The strong base gets no such phase: it meets the format only through the weak model's
demos and answers, as Llama3-70b base did.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
from dataclasses import dataclass
from pathlib import Path

from .build import CORPUS, MODELS, STRONG_CORPUS, TASK
from .corpus import FRAMINGS, CorpusConfig, corpus_docs
from .olympic_world import toy_prompt
from .pretrain import ModelConfig, TrainConfig


@dataclass(frozen=True)
class InstructDocs:
    seed: int = 2026              # the problems' generator seed (never a preset split's: those use 10_000*w + 1..700)
    n_docs: int = 8_000
    blocks: tuple[int, int] = (1, 3)   # solved problems per document
    max_number: int = 49          # every number <= 49, as in the toy-olympic world


@dataclass(frozen=True)
class OlympicPhase:
    name: str
    init_from: str                # the shipped base it continues, relative to the repository root
    model: ModelConfig
    docs: "InstructDocs | BoxedDocs"
    replay: CorpusConfig
    train: TrainConfig


WEAK_INSTRUCT = OlympicPhase(
    name="weak_instruct", init_from="data/toy/weak_base", model=MODELS["weak_base"].model,
    docs=InstructDocs(), replay=dataclasses.replace(CORPUS, n_docs=6_000),
    # our choice (not tuned): the weak base's phase-1 batch and window, a tenth of its peak rate's schedule length
    train=TrainConfig(steps=800, batch=8, window=512, lr=1e-3, warmup=50, seed=21, checkpoint_every=200))

@dataclass(frozen=True)
class BoxedDocs:
    """Solved toy problems of every answer type in the corpus's own framings (`corpus.FRAMINGS`, not the toy-olympic
    prompt: no answer-type sentence, no `Question:`/`Answer:`), their answers written `The final answer is
    $\\boxed{...}$`: what a large base has seen of LaTeX-boxed answers and option lists in pretraining."""
    seed: int = 2027
    n_docs: int = 5_000
    blocks: tuple[int, int] = (2, 4)
    max_number: int = 49


# measured on toy-olympic seed 0 (2026-12-05) before this phase existed: the strong base never met `$\boxed{`, its
# pieces are in the vocabulary only (their embeddings untrained), and full weak FT on 700 weak answers wrote
# "The final answer is $\boxed answer is $\" on every test item (accuracy 0.000); with 4 weak demos it fell back
# on its corpus's "The answer is N." (SC, MC, SET 0.00). This phase gives the strong base the notation, not the task's
# prompt  # our choice (not tuned)
STRONG_BOXED = OlympicPhase(
    name="strong_olympic", init_from="data/toy/strong_base", model=MODELS["strong_base"].model,
    docs=BoxedDocs(), replay=dataclasses.replace(STRONG_CORPUS, n_docs=6_000),
    train=TrainConfig(steps=600, batch=8, window=512, lr=3e-4, warmup=50, seed=22, checkpoint_every=200))

PHASES = {WEAK_INSTRUCT.name: WEAK_INSTRUCT, STRONG_BOXED.name: STRONG_BOXED}
# the corpus framings whose solution prefix is not "A: " (option lines of choice questions are "A: 12")
BOXED_FRAMINGS = [f for f in FRAMINGS if not f[1].lstrip("\n").startswith("A")]


def boxed_docs(cfg: BoxedDocs, n_docs: int | None = None) -> list[str]:
    """Documents of 2-4 solved toy problems in one corpus framing each (blocks joined by a blank line)."""
    from w2s_lib.toy.olympic_world import toy_olympic_records
    n_docs = cfg.n_docs if n_docs is None else n_docs
    rng = random.Random(f"boxed-{cfg.seed}")
    plan = [(rng.randint(*cfg.blocks), rng.choice(BOXED_FRAMINGS)) for _ in range(n_docs)]
    recs = toy_olympic_records(sum(k for k, _ in plan), cfg.seed, TASK, max_number=cfg.max_number)
    out, i = [], 0
    for k, (qp, sp) in plan:
        out.append("\n\n".join(qp.format(i=j + 1) + r.question.replace("\n\n", "\n") + sp.format(i=j + 1)
                                 + r.solution for j, r in enumerate(recs[i:i + k])))
        i += k
    return out


def instruct_docs(cfg: InstructDocs, n_docs: int | None = None) -> list[str]:
    """Documents of 1-3 solved toy-olympic problems each (prompt, a space, gold solution; blocks joined by a blank
    line, as the method's few-shot prompts join them)."""
    from w2s_lib.toy.olympic_world import toy_olympic_records
    n_docs = cfg.n_docs if n_docs is None else n_docs
    rng = random.Random(f"instruct-{cfg.seed}")
    sizes = [rng.randint(*cfg.blocks) for _ in range(n_docs)]
    recs = toy_olympic_records(sum(sizes), cfg.seed, TASK, max_number=cfg.max_number)
    out, i = [], 0
    for k in sizes:
        out.append("\n\n".join(toy_prompt(r) + " " + r.solution for r in recs[i:i + k]))
        i += k
    return out


def phase_docs(phase: OlympicPhase, n_docs: int | None = None, n_replay: int | None = None) -> list[str]:
    """The phase's corpus: its documents (instruct or boxed) and replay documents, shuffled together (seeded)."""
    docs = (instruct_docs if isinstance(phase.docs, InstructDocs) else boxed_docs)(phase.docs, n_docs)
    replay = dataclasses.replace(phase.replay, n_docs=phase.replay.n_docs if n_replay is None else n_replay)
    out = docs + corpus_docs(replay)
    random.Random(f"{phase.name}-{phase.docs.seed}").shuffle(out)
    return out


def run(phase: OlympicPhase, out: str | Path, threads: int = 2, repo_root: str | Path | None = None,
        docs: list[str] | None = None) -> dict:
    """Continue the phase's base into `out/<name>` (checkpoints under it), and write `olympic_phase.json` there."""
    from transformers import PreTrainedTokenizerFast

    from .pretrain import pretrain, token_stream
    root = Path(repo_root) if repo_root else Path(__file__).resolve().parents[2]
    init = root / phase.init_from
    if not (init / "config.json").is_file():
        raise FileNotFoundError(f"{init}/config.json: the phase continues this model (build it with `make toy-models`)")
    tok = PreTrainedTokenizerFast.from_pretrained(str(init))
    stream = token_stream(phase_docs(phase) if docs is None else docs, tok)
    log = pretrain(stream, tok, phase.model, dataclasses.replace(phase.train, threads=threads),
                   Path(out) / phase.name, init_from=init)
    (Path(out) / phase.name / "olympic_phase.json").write_text(json.dumps(dataclasses.asdict(phase), indent=1) + "\n")
    return log


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for <phase>/ (shipped copies: data/toy/<phase>)")
    ap.add_argument("--phase", default=WEAK_INSTRUCT.name, choices=sorted(PHASES))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    log = run(PHASES[a.phase], a.out, threads=a.threads)
    print(json.dumps({k: log[k] for k in log if k in ("seconds", "final_loss", "params")}, indent=1))


if __name__ == "__main__":
    main()
