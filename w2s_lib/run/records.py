"""Records, and the guard that keeps train_2 gold away from the strong side.

Every dataset becomes `Record(id, question, solution, answer, meta)`. The strong model may see train_2
*questions* only, so the run stores train_2 in two files:

    runs/<preset>/seed<k>/data/
        train_1.jsonl                 gold records (the weak side trains on them)
        train_2.questions.jsonl       id, question, meta: no gold field anywhere
        test.jsonl                    gold records (evaluation grades against them; that is allowed)
        sealed/train_2.gold.jsonl     train_2 with gold, read only by `reference_gold`

`load_split(run_dir, "train_2")` returns `QuestionRecord`s: reading `.answer`, `.solution`, `["answer"]` or
a gold-ish meta key raises `LeakageError`. The one door to train_2 gold is
`reference_gold(run_dir, purpose=...)`, meant for the strong ceiling (a reference run) and analysis
cells; every opening (and every refused attempt) is appended to `<run_dir>/gold_access.jsonl`.
Wrap a stage in `forbid_gold("stage 02")` to prove it never opens the door: inside it the door raises,
in this process and in child processes (through the W2S_FORBID_GOLD environment variable).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from .jsonl import DataError, read_jsonl, require, write_jsonl
from .runstore import RunStore, Stage, sha256_of

# Keys that hold (or may hold) a gold answer. They never appear in a gold-free record, nor in its meta.
GOLD_KEYS = frozenset({
    "answer", "answers", "solution", "solutions", "gold", "gold_answer", "gold_answers", "final_answer",
    "ground_truth", "reference_answer", "test_cases",
})
SPLITS = ("train_1", "train_2", "test")
SEALED_SPLITS = ("train_2",)
PURPOSES = ("strong_ceiling", "analysis")     # the only reasons to open train_2 gold
DATA_STAGE = "data"
ACCESS_LOG = "gold_access.jsonl"
FORBID_ENV = "W2S_FORBID_GOLD"
DEFAULT_HINT = "prepare the run's data first (notebooks/01_weak_data.ipynb, data cell)"


class LeakageError(RuntimeError):
    """The strong side tried to read train_2 gold. (Not an AttributeError, so getattr(r, "answer", None)
    raises instead of quietly returning None.)"""


def _door_msg() -> str:
    return ("train_2 gold is sealed: only w2s_lib.run.records.reference_gold(run_dir, purpose="
            f"{' | '.join(repr(p) for p in PURPOSES)}) opens it, and every opening is logged")


# ---------------------------------------------------------------------------------------------------
# Record: the one shape for every dataset
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    """One problem. `solution` is the gold worked solution, `answer` the gold final answer (a string;
    OlympicArena keeps its answer list as a JSON string, see w2s_lib.run.data.gold_answers)."""
    id: str
    question: str
    solution: str | None = None
    answer: str | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"id": self.id, "question": self.question, "solution": self.solution,
                "answer": self.answer, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: Mapping, path: str | os.PathLike = "<dict>", lineno: int | None = None) -> "Record":
        """Build from a dict with id, question and optional solution/answer/meta; bad input raises a
        DataError naming the field, the file and the line."""
        rid = _text(d, "id", path, lineno)
        question = _text(d, "question", path, lineno)
        solution = _opt_text(d, "solution", path, lineno)
        answer = _opt_text(d, "answer", path, lineno)
        meta = d.get("meta") or {}
        if not isinstance(meta, dict):
            raise DataError(f"{_where(path, lineno)}: field 'meta' must be an object, got {type(meta).__name__}")
        return cls(rid, question, solution, answer, dict(meta))


class GoldFreeMeta(dict):
    """meta of a gold-free record: a plain dict (JSON-serialisable) that refuses gold-ish keys."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        bad = sorted(k for k in self if k in GOLD_KEYS)
        if bad:
            raise LeakageError(f"meta of a gold-free record may not carry {bad}; use hide_gold() to strip them")

    def __getitem__(self, key: Any) -> Any:
        if key in GOLD_KEYS:
            raise LeakageError(f"meta[{key!r}] of a gold-free train_2 record: {_door_msg()}")
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        if key in GOLD_KEYS:
            raise LeakageError(f"meta.get({key!r}) of a gold-free train_2 record: {_door_msg()}")
        return super().get(key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        if key in GOLD_KEYS:
            raise LeakageError(f"cannot put {key!r} into the meta of a gold-free record")
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def copy(self) -> "GoldFreeMeta":
        return GoldFreeMeta(self)


@dataclass(frozen=True)
class QuestionRecord:
    """A train_2 problem as the strong side sees it: id, question, meta. No gold, and asking for it fails."""
    id: str
    question: str
    meta: GoldFreeMeta = field(default_factory=GoldFreeMeta)

    def __post_init__(self) -> None:
        if not isinstance(self.meta, GoldFreeMeta):
            object.__setattr__(self, "meta", GoldFreeMeta(self.meta))

    def __getattr__(self, name: str) -> Any:   # only called when normal lookup fails
        if name in GOLD_KEYS:
            raise LeakageError(f"QuestionRecord {self.__dict__.get('id', '?')!r}.{name}: the strong side sees "
                               f"train_2 questions only. {_door_msg()}")
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __getitem__(self, key: str) -> Any:
        if key in GOLD_KEYS:
            raise LeakageError(f"QuestionRecord {self.id!r}[{key!r}]: the strong side sees train_2 questions "
                               f"only. {_door_msg()}")
        if key in ("id", "question", "meta"):
            return getattr(self, key)
        raise KeyError(key)

    def to_dict(self) -> dict:
        return {"id": self.id, "question": self.question, "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: Mapping, path: str | os.PathLike = "<dict>",
                  lineno: int | None = None) -> "QuestionRecord":
        """Build from {id, question, meta}; a row that carries any gold key raises LeakageError."""
        bad = sorted(k for k in d if k in GOLD_KEYS)
        meta = d.get("meta") or {}
        bad += sorted(f"meta.{k}" for k in meta if k in GOLD_KEYS) if isinstance(meta, dict) else []
        if bad:
            raise LeakageError(f"{_where(path, lineno)}: a gold-free question row carries {bad}")
        if not isinstance(meta, dict):
            raise DataError(f"{_where(path, lineno)}: field 'meta' must be an object, got {type(meta).__name__}")
        return cls(_text(d, "id", path, lineno), _text(d, "question", path, lineno), GoldFreeMeta(meta))


def hide_gold(records: Iterable[Record]) -> list[QuestionRecord]:
    """The gold-free view of records: drop solution and answer, and strip gold-ish keys from meta."""
    return [QuestionRecord(r.id, r.question, GoldFreeMeta({k: v for k, v in r.meta.items() if k not in GOLD_KEYS}))
            for r in records]


# ---------------------------------------------------------------------------------------------------
# Writing a run's data, and reading it back
# ---------------------------------------------------------------------------------------------------
def prepare_data(run_dir: str | Path, train_1: list[Record], train_2: list[Record], test: list[Record],
                 config: Mapping[str, Any] | None = None) -> Stage:
    """Write the run's `data` stage (see the module docstring) unless it is already there for the same
    config and the same records. Returns the committed stage; its metrics hold counts and overlaps.

    Ids must be unique within each split and train_1/train_2 must not share an id. Overlapping question
    *texts* are reported (metrics `question_overlap_*`), not refused: the paper's own GSM8K split has some.
    """
    for name, recs in (("train_1", train_1), ("train_2", train_2), ("test", test)):
        _check_records(name, recs)
    shared = {r.id for r in train_1} & {r.id for r in train_2}
    if shared:
        raise DataError(f"train_1 and train_2 share {len(shared)} ids, e.g. {sorted(shared)[:3]}")
    content = {s: sha256_of([r.to_dict() for r in recs])
               for s, recs in (("train_1", train_1), ("train_2", train_2), ("test", test))}
    st = RunStore(run_dir).stage(DATA_STAGE, {**dict(config or {}), "content_sha256": content})
    if st.done:
        return st
    p = st.path
    q2 = hide_gold(train_2)
    write_jsonl(p / "train_1.jsonl", (r.to_dict() for r in train_1))
    write_jsonl(p / "train_2.questions.jsonl", (q.to_dict() for q in q2))
    write_jsonl(p / "test.jsonl", (r.to_dict() for r in test))
    write_jsonl(p / "sealed" / "train_2.gold.jsonl", (r.to_dict() for r in train_2))
    norm = {s: {_norm_q(r.question) for r in recs} for s, recs in
            (("train_1", train_1), ("train_2", train_2), ("test", test))}
    st.commit(metrics={
        "n_train_1": len(train_1), "n_train_2": len(train_2), "n_test": len(test),
        "train_2_with_gold_answer": sum(r.answer is not None for r in train_2),
        "train_2_meta_keys_stripped": sum(len(r.meta) - len(q.meta) for r, q in zip(train_2, q2)),
        "question_overlap_train_1_train_2": len(norm["train_1"] & norm["train_2"]),
        "question_overlap_train_1_test": len(norm["train_1"] & norm["test"]),
        "question_overlap_train_2_test": len(norm["train_2"] & norm["test"]),
    })
    return st


def load_split(run_dir: str | Path, split: str, hint: str = DEFAULT_HINT) -> list[Record] | list[QuestionRecord]:
    """A split of the run's data: train_1 and test as Records (with gold), train_2 as QuestionRecords."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    st = RunStore(run_dir).require(DATA_STAGE, hint=hint)
    if split == "train_2":
        f = "train_2.questions.jsonl"
        return [QuestionRecord.from_dict(o, st.dir / f, n) for n, o in st.iter_jsonl(f)]
    f = f"{split}.jsonl"
    return [Record.from_dict(o, st.dir / f, n) for n, o in st.iter_jsonl(f)]


# ---------------------------------------------------------------------------------------------------
# The door
# ---------------------------------------------------------------------------------------------------
_forbidden: list[str] = []


@contextlib.contextmanager
def forbid_gold(reason: str) -> Iterator[None]:
    """Inside this block `reference_gold` raises LeakageError (and logs the refused attempt).
    Wrap the weak-data, selection, Stage I and Stage II code paths in it, in tests and in pipelines.
    Child processes started inside the block inherit the ban through the W2S_FORBID_GOLD variable."""
    _forbidden.append(reason)
    before = os.environ.get(FORBID_ENV)
    os.environ[FORBID_ENV] = reason
    try:
        yield
    finally:
        _forbidden.pop()
        if before is None:
            os.environ.pop(FORBID_ENV, None)
        else:
            os.environ[FORBID_ENV] = before


def reference_gold(run_dir: str | Path, split: str = "train_2", *, purpose: str, note: str = "",
                   hint: str = DEFAULT_HINT) -> list[Record]:
    """Open the sealed train_2 gold: full Records, for the strong ceiling ('strong_ceiling', a reference
    run) or analysis cells ('analysis'). Every call is logged in `<run_dir>/gold_access.jsonl`."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}: the strong side's stages have "
                         "no reason to open train_2 gold")
    if split not in SEALED_SPLITS:
        raise ValueError(f"{split!r} is not sealed (sealed: {SEALED_SPLITS}); read it with load_split()")
    run_dir = Path(run_dir)
    gold_door(run_dir, f"reference_gold({split!r}, purpose={purpose!r})", split=split, purpose=purpose, note=note)
    st, f = RunStore(run_dir).require(DATA_STAGE, hint=hint), f"sealed/{split}.gold.jsonl"
    return [Record.from_dict(o, st.dir / f, n) for n, o in st.iter_jsonl(f)]


def gold_door(run_dir: str | Path, what: str, *, split: str = "train_2", purpose: str, note: str = "",
              depth: int = 2) -> None:
    """The ban and the log every path to train_2 gold goes through (reference_gold, and the data builders
    `prepare.build_records` that read the source files with train_2's gold): log the attempt in
    `<run_dir>/gold_access.jsonl`, and raise LeakageError inside forbid_gold (or under W2S_FORBID_GOLD)."""
    ban = _forbidden[-1] if _forbidden else os.environ.get(FORBID_ENV)
    f = sys._getframe(depth)
    caller = f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}"
    _log_access(Path(run_dir), split=split, purpose=purpose, note=note, caller=caller, allowed=ban is None,
                forbidden_by=ban)
    if ban is not None:
        raise LeakageError(f"{what} called from {caller} inside forbid_gold({ban!r}): this code path must not "
                           "read train_2 gold")


def gold_access_log(run_dir: str | Path) -> list[dict]:
    """Every opening (or refused attempt) of `reference_gold` for this run, oldest first."""
    f = Path(run_dir) / ACCESS_LOG
    return read_jsonl(f) if f.is_file() else []


def _log_access(run_dir: Path, **entry: Any) -> None:
    entry = {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "pid": os.getpid(), **entry}
    run_dir.mkdir(parents=True, exist_ok=True)
    # One short O_APPEND write per entry: lines from concurrent processes do not interleave.
    fd = os.open(run_dir / ACCESS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------
def _where(path: str | os.PathLike, lineno: int | None) -> str:
    return f"{path}:{lineno}" if lineno is not None else f"{path}"


def _text(d: Mapping, key: str, path: str | os.PathLike, lineno: int | None) -> str:
    v = require(dict(d), key, path, lineno)
    if not isinstance(v, str):
        raise DataError(f"{_where(path, lineno)}: field '{key}' must be a string, got {type(v).__name__}")
    return v


def _opt_text(d: Mapping, key: str, path: str | os.PathLike, lineno: int | None) -> str | None:
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise DataError(f"{_where(path, lineno)}: field '{key}' must be a string or null, got {type(v).__name__}")
    return v


def _norm_q(q: str) -> str:
    return " ".join(q.split()).lower()


def _check_records(split: str, records: list) -> None:
    seen: set[str] = set()
    for r in records:
        if not isinstance(r, Record):
            raise TypeError(f"{split}: expected Record, got {type(r).__name__}")
        if r.id in seen:
            raise DataError(f"{split}: duplicate id {r.id!r}")
        seen.add(r.id)
