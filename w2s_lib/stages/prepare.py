"""The `data` stage of a run, built from its preset: train_1 (gold, for the weak model), train_2 (questions only,
for the strong model; gold sealed) and the test set.

    ctx = open_run("toy", seed=0)
    stage = prepare(ctx)            # runs/toy/seed0/data/ (skipped when already there)
    stage.metrics                   # counts and question overlaps

Where the records come from (preset `dataset`):
- `toy`: `w2s_lib.toy.task.make_splits` (train_1/train_2 depend on the run seed, test on `toy.world_seed`);
- `gsm8k`: `split: official` reads the paper's own split files (`source` = the folder that holds `gsm8k/`,
  default ../shared/data/w2s_official/raw); `split: seeded` splits the GSM8K train set with the run seed; the
  test set is GSM8K test (from `test_source`, else `source`);
- `math`: the MATH pool (MATH train + test minus MATH500) split with the run seed; test = MATH500 (`test_source`);
- `toy-olympic`: the toy forward-looking world (OlympicArena-shaped toy problems): no train_1, train_2 without
  gold (run seed), test from the world seed;
- `olympicarena`: no train_1; the HF *test* split is train_2 (its answers are not public anyway) and *val* is
  the test set, with the paper's filters (`dataset.olympic`: subjects, language, text_only).

`dataset.sizes` caps each split: a seeded split draws exactly that many, a fixed split keeps its first n rows
(said in the printout and the stage config). Filters report what they dropped (stage config `dropped`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from w2s_lib.run.context import STAGE_VERSION, RunContext
from w2s_lib.run.records import Record, gold_door, prepare_data
from w2s_lib.run.runstore import Stage


def _cap(records: list[Record], n: int | None, what: str, notes: dict) -> list[Record]:
    if n is None or n >= len(records):
        return records
    notes[what] = f"kept the first {n} of {len(records)} rows (dataset.sizes.{what})"
    return records[:n]


def toy_splits(ctx: RunContext, sizes: dict) -> dict[str, list[Record]]:
    """The toy world's train_1, train_2, dev and test for this run's preset and seed. The data stage keeps all but
    dev; dev (disjoint from the others) is for choosing settings (experiments/tune_stage2.py). train_2 comes with
    its gold: like build_records, a logged door that forbid_gold shuts."""
    gold_door(ctx.root, "prepare.toy_splits (train_2 with gold)", purpose="data_build", note="toy splits")
    return _toy_splits(ctx, sizes)


def _toy_splits(ctx: RunContext, sizes: dict) -> dict[str, list[Record]]:
    from w2s_lib.toy.task import SplitSizes, difficulty_from_dict, make_splits
    toy = dict(ctx.preset.dataset.get("toy") or {})
    families = toy.get("families") or ["count"]
    families = families if isinstance(families, dict) else {f: 1.0 for f in families}
    need = ("train_1", "train_2", "dev", "test")
    missing = [k for k in need if k not in sizes]
    if missing:
        raise ValueError(f"{ctx.preset.path}: the toy dataset needs dataset.sizes.{missing[0]}")
    return make_splits(SplitSizes(*(int(sizes[k]) for k in need)), ctx.seed, world_seed=int(toy.get("world_seed", 0)),
                       difficulty=difficulty_from_dict(toy.get("difficulty")), families=families)


def _toy(ctx: RunContext, sizes: dict) -> tuple[list[Record], list[Record], list[Record], dict]:
    splits = _toy_splits(ctx, sizes)
    return splits["train_1"], splits["train_2"], splits["test"], {}


def _gsm8k(ctx: RunContext, sizes: dict) -> tuple[list[Record], list[Record], list[Record], dict]:
    from w2s_lib.run.data import GSM8K_HUB, load_gsm8k, load_paper_splits, split_train
    ds = ctx.preset.dataset
    notes: dict = {}
    if ds.get("split") == "score":          # SCORE's GSM8K: train shuffled into train_1 (its dev is train_1's tail)
        from w2s_lib.run.data import load_score_gsm8k
        s = load_score_gsm8k(ds.get("source") or GSM8K_HUB, ds.get("test_source"), n=sizes.get("train_1"))
        return s["train_1"], s["train_2"], _cap(s["test"], sizes.get("test"), "test", notes), notes
    if ds.get("split") == "official":
        s = load_paper_splits("gsm8k", ds.get("source"))
        train_1, train_2, test = s["train_1"], s["train_2"], s["test"]
        train_1 = _cap(train_1, sizes.get("train_1"), "train_1", notes)
        train_2 = _cap(train_2, sizes.get("train_2"), "train_2", notes)
    else:
        pool = load_gsm8k(ds.get("source") or GSM8K_HUB, "train")
        n1 = int(sizes.get("train_1", len(pool) // 2))
        train_1, train_2 = split_train(pool, n1, int(sizes.get("train_2", len(pool) - n1)), ctx.seed)
        test = load_gsm8k(ds.get("test_source") or ds.get("source") or GSM8K_HUB, "test")
    return train_1, train_2, _cap(test, sizes.get("test"), "test", notes), notes


def _math(ctx: RunContext, sizes: dict) -> tuple[list[Record], list[Record], list[Record], dict]:
    from w2s_lib.run.data import MATH500_HUB, MATH_HUB, load_math500, load_math_train_pool, split_train
    ds = ctx.preset.dataset
    notes: dict = {}
    test = load_math500(ds.get("test_source") or MATH500_HUB)
    pool, dropped = load_math_train_pool(ds.get("source") or MATH_HUB, test)
    notes["dropped"] = dropped
    n1 = int(sizes.get("train_1", len(pool) // 2))
    train_1, train_2 = split_train(pool, n1, int(sizes.get("train_2", len(pool) - n1)), ctx.seed)
    return train_1, train_2, _cap(test, sizes.get("test"), "test", notes), notes


def _olympic(ctx: RunContext, sizes: dict) -> tuple[list[Record], list[Record], list[Record], dict]:
    from w2s_lib.run.data import OLYMPIC_HUB, load_olympicarena
    ds = ctx.preset.dataset
    filters: dict[str, Any] = dict(ds.get("olympic") or {})
    if "subjects" in filters:
        filters["subjects"] = tuple(filters["subjects"])
    notes: dict = {}
    train_2, dropped_2 = load_olympicarena(ds.get("source") or OLYMPIC_HUB, "test", **filters)
    test, dropped_t = load_olympicarena(ds.get("test_source") or ds.get("source") or OLYMPIC_HUB, "val", **filters)
    notes["dropped"] = {"train_2 (HF test)": dropped_2, "test (HF val)": dropped_t}
    if sizes.get("train_1"):
        raise ValueError(f"{ctx.preset.path}: OlympicArena has no train_1 (the weak model is given as is); "
                         "remove dataset.sizes.train_1")
    train_2 = _cap(train_2, sizes.get("train_2"), "train_2", notes)
    return [], train_2, _cap(test, sizes.get("test"), "test", notes), notes


def _toy_olympic(ctx: RunContext, sizes: dict) -> tuple[list[Record], list[Record], list[Record], dict]:
    """The toy forward-looking world: OlympicArena-shaped toy problems (`toy.olympic_world.toy_olympic_records`, every
    number <= `toy.max_number`). No train_1 (the weak model is given as is); train_2 from the run seed with its gold
    removed (OlympicArena's train_2 has none); test from the world seed (the same for every run seed)."""
    from w2s_lib.toy.olympic_world import toy_olympic_records
    from w2s_lib.toy.task import difficulty_from_dict
    toy = dict(ctx.preset.dataset.get("toy") or {})
    if sizes.get("train_1"):
        raise ValueError(f"{ctx.preset.path}: toy-olympic has no train_1 (the weak model is given as is); "
                         "remove dataset.sizes.train_1")
    missing = [k for k in ("train_2", "test") if not sizes.get(k)]
    if missing:
        raise ValueError(f"{ctx.preset.path}: the toy-olympic dataset needs dataset.sizes.{missing[0]}")
    world, top = int(toy.get("world_seed", 0)), toy.get("max_number")
    diff = difficulty_from_dict(toy.get("difficulty"))
    test = toy_olympic_records(int(sizes["test"]), 10_000 * world + 601, diff, max_number=top,
                               id_prefix="toy-olympic-test")
    train = toy_olympic_records(int(sizes["train_2"]), 10_000 * world + 700 + ctx.seed, diff, max_number=top,
                                exclude={r.question for r in test}, id_prefix="toy-olympic-train_2")
    train_2 = [Record(r.id, r.question, None, None, r.meta) for r in train]
    return [], train_2, test, {"train_2 gold": "none (removed at generation, as OlympicArena's)"}


def _jsonl(ctx: RunContext, sizes: dict) -> tuple[list[Record], list[Record], list[Record], dict]:
    """Any dataset that is not built in: a train pool (`dataset.source`) split into train_1 / train_2 by seed,
    and a test set (`dataset.test_source`), local JSONL files in `dataset.format` (default `w2s`: one Record
    per line, {id, question, solution, answer, meta}). docs/bring_your_own_dataset.md."""
    from w2s_lib.run.data import load_jsonl_records, split_train
    ds = ctx.preset.dataset
    if not ds.get("source") or not ds.get("test_source"):
        raise ValueError(f"{ctx.preset.path}: dataset {ds['name']!r} is not built in ({sorted(BUILDERS)}): set "
                         "dataset.source and dataset.test_source to local JSONL files")
    fmt = ds.get("format") or "w2s"
    pool = load_jsonl_records(ds["source"], fmt)
    notes: dict = {}
    n1 = int(sizes.get("train_1", len(pool) // 2))
    train_1, train_2 = split_train(pool, n1, int(sizes.get("train_2", len(pool) - n1)), ctx.seed)
    test = load_jsonl_records(ds["test_source"], fmt)
    return train_1, train_2, _cap(test, sizes.get("test"), "test", notes), notes


BUILDERS = {"toy": _toy, "gsm8k": _gsm8k, "math": _math, "olympicarena": _olympic, "toy-olympic": _toy_olympic}


def build_records(ctx: RunContext) -> tuple[list[Record], list[Record], list[Record], dict]:
    """(train_1, train_2, test, notes) for the run's preset and seed; notes say what was capped or dropped.

    train_2 comes back with its gold, so this is a door to train_2 gold like `records.reference_gold`: it is
    logged in the run's gold_access.jsonl (purpose 'data_build') and raises LeakageError inside forbid_gold."""
    gold_door(ctx.root, "prepare.build_records (train_2 with gold)", purpose="data_build",
              note=f"dataset {ctx.preset.dataset['name']}")
    name = ctx.preset.dataset["name"]
    sizes = {k: v for k, v in (ctx.preset.dataset.get("sizes") or {}).items() if v is not None}
    return BUILDERS.get(name, _jsonl)(ctx, sizes)


def prepare(ctx: RunContext, *, verbose: bool = True) -> Stage:
    """Write (or reuse) the run's `data` stage. Returns the committed stage."""
    train_1, train_2, test, notes = build_records(ctx)
    if not train_2 and ctx.preset.has_w2s:      # a SCORE-only preset has no train_2 (SCORE reads train_1 and test)
        raise ValueError(f"{ctx.preset.path}: train_2 is empty; check dataset.source and dataset.sizes")
    if not test:
        raise ValueError(f"{ctx.preset.path}: the test set is empty; check dataset.test_source and dataset.sizes")
    if not train_1 and not ctx.weak_given and ctx.preset.has_w2s:
        raise ValueError(f"{ctx.preset.path}: train_1 is empty, so there is nothing to train the weak model on; "
                         "set models.weak_model to use a given weak supervisor instead")
    ds = ctx.preset.dataset
    config = {"version": STAGE_VERSION, "seed": ctx.seed, "dataset": ds["name"], "split": ds.get("split"),
              "sizes": ds.get("sizes"), "toy": ds.get("toy"), "olympic": ds.get("olympic"),
              "source": ds.get("source"), "test_source": ds.get("test_source"), "notes": notes}
    if ds.get("format"):
        config["format"] = ds["format"]
    st = prepare_data(ctx.root, train_1, train_2, test, config)
    if verbose:
        m = st.metrics
        print(f"data: train_1 {m['n_train_1']}, train_2 {m['n_train_2']} (gold sealed), test {m['n_test']}  "
              f"-> {Path(st.dir)}")
        for k, v in notes.items():
            print(f"  {k}: {v}")
    return st
