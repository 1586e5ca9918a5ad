"""Dataset loaders (GSM8K, MATH / MATH500, OlympicArena) and the train_1 / train_2 split.

Every loader returns `Record`s (w2s_lib.run.records). Each takes `source`, which is one of
  - a hub id ("openai/gsm8k"): read with `datasets.load_dataset` (full scale),
  - a local directory laid out like that hub repo (README.md with `configs:`, data files in parquet or
    JSONL): the same `load_dataset` call, so tests exercise the real code path without a network,
  - a local .jsonl file in the dataset's row schema: read by `load_jsonl_records`, errors name file:line.

Sources and their row schemas
  GSM8K     openai/gsm8k, config "main", splits train/test: question, answer ("...\\n#### 72").
            Gold answer = text after the last "####", thousands separators removed ("70,000" -> "70000");
            solution = the whole worked answer. Ids: gsm8k_<row> (train, as in the paper's release),
            gsm8k_test_<row> (test). The paper's own split files carry their ids (aug_* = Abel questions).
  MATH      EleutherAI/hendrycks_math, one config per subject, splits train/test: problem, level
            ("Level 5"), type (subject), solution. (hendrycks/competition_math was taken down.) Gold answer =
            the `answer` field when present, else the last \\boxed{} of the solution. meta: level (int, or
            None for the few "Level ?" rows), subject.
  MATH500   HuggingFaceH4/MATH-500, split test: problem, solution, answer, subject, level, unique_id (= id).
            The paper's MATH train pool is MATH train + MATH test minus MATH500 (7,500 + 4,500 = 12,000),
            split 6,000 / 6,000 (the release's README table; the split files themselves are not in our
            snapshot): `load_math_train_pool` + `split_train`.
  Olympic   GAIR/OlympicArena, one config per subject, splits val (with answers) and test (answers not
            public). As in the paper, HF *test* serves as train_2 and *val* as the test set. Filters:
            English only, text-only, no CODE/OT answer types; each filter reports how many rows it dropped.
            Record.answer is the gold answer *list* as a JSON string ('["\\\\frac{1}{2}"]'; None when the split
            has no public answers): use `gold_answers(record)` to get the list back. meta: answer_type, unit,
            answer_sequence, type_sequence, subject, language, modality, prompt (the HF prompt).
            Note: the paper's released code (src/inference_olympic.py) loads six subjects (no CS) and filters
            language and answer type only, not modality; its counts (train_2 6,020, test 313) include
            multi-modal rows. Pass text_only=False to reproduce that filter.
  SCORE     the second paper's data (end of this module): its GSM8K split (`load_score_gsm8k`: train shuffled
            as train_1, SCORE's 6,500 train then 973 dev, no train_2; preset `dataset.split: score` with
            `score.dev_size: 973`) and its out-of-distribution MATH
            subset (`load_score_math_ood`: Level 1 Algebra, Counting & Probability, Prealgebra, Number Theory
            test problems with a numeric answer and no `$`; preset `score.ood_source`).
"""
from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .jsonl import DataError, iter_jsonl, require
from .paths import shared_data_dir
from .records import Record

GSM8K_HUB = "openai/gsm8k"
MATH_HUB = "EleutherAI/hendrycks_math"
MATH500_HUB = "HuggingFaceH4/MATH-500"
OLYMPIC_HUB = "GAIR/OlympicArena"
MATH_CONFIGS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra",
                "number_theory", "prealgebra", "precalculus")
OLYMPIC_SUBJECTS = ("Math", "Physics", "Chemistry", "Biology", "Geography", "Astronomy", "CS")
PAPER_OLYMPIC_SUBJECTS = OLYMPIC_SUBJECTS[:6]          # the paper's load_data has no CS
OLYMPIC_DROPPED_TYPES = ("CODE", "OT")
# (train_1, train_2, test) sizes in the paper (release README, "Data Statistics").
PAPER_SIZES = {"gsm8k": (7000, 7000, 1319), "math": (6000, 6000, 500), "olympicarena": (0, 6020, 313)}
FORMATS = ("gsm8k", "math", "olympicarena", "w2s")

Where = tuple[Any, "int | None"]  # (path, lineno): what a DataError names


# ---------------------------------------------------------------------------------------------------
# answers
# ---------------------------------------------------------------------------------------------------
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def gsm8k_final_answer(text: str) -> str | None:
    """The text after the last '####', with thousands separators removed; None when there is no '####'."""
    if "####" not in text:
        return None
    return _THOUSANDS.sub("", text.rsplit("####", 1)[1].strip())


def last_boxed(text: str) -> str | None:
    r"""Content of the last \boxed{...} (or \fbox{...}) in text, braces balanced; `\boxed 5` gives '5'."""
    starts = [m for m in re.finditer(r"\\(?:boxed|fbox)\s*([{ ])", text)]
    for m in reversed(starts):
        i = m.end(1)
        if m.group(1) == " ":                      # \boxed 5  -> up to the next space or '$'
            tail = re.match(r"[^\s$]+", text[i:])
            return tail.group(0) if tail else None
        depth = 1
        for j in range(i, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[i:j].strip()
    return None


def gold_answers(record: Record) -> list[str]:
    """OlympicArena's gold answer list (stored as a JSON string in Record.answer); [] when unknown.
    Any other record's answer comes back as a one-element list."""
    if record.answer is None:
        return []
    if record.answer.startswith("["):
        try:
            value = json.loads(record.answer)
        except json.JSONDecodeError:
            return [record.answer]
        if isinstance(value, list):
            return [str(v) for v in value]
    return [record.answer]


# ---------------------------------------------------------------------------------------------------
# row -> Record, one function per schema; `where` names the file and line (or hub split and row)
# ---------------------------------------------------------------------------------------------------
def _err(where: Where, msg: str) -> DataError:
    path, lineno = where
    return DataError(f"{path}:{lineno}: {msg}" if lineno is not None else f"{path}: {msg}")


def _str(row: Mapping, key: str, where: Where) -> str:
    v = require(dict(row), key, *where)
    if not isinstance(v, str):
        raise _err(where, f"field '{key}' must be a string, got {type(v).__name__}")
    return v


def gsm8k_record(row: Mapping, rid: str, where: Where) -> Record:
    """GSM8K row: {question, answer: '... #### N'} (hub, paper train files) or the paper's test shape
    {question, solution, answer: bare N, source, tag}."""
    question = _str(row, "question", where)
    if row.get("solution") is not None:
        solution = _str(row, "solution", where)
        answer = _THOUSANDS.sub("", _str(row, "answer", where).strip())
        tail = gsm8k_final_answer(solution)
        if tail is not None and tail != answer:
            raise _err(where, f"answer {answer!r} disagrees with the solution's '#### {tail}'")
    else:
        solution = _str(row, "answer", where)
        answer = gsm8k_final_answer(solution)
        if answer is None:
            raise _err(where, "field 'answer' has no '#### N' final-answer line")
    if not answer:
        raise _err(where, "empty gold answer")
    meta: dict[str, Any] = {"augmented": rid.startswith("aug_")}
    if isinstance(row.get("source"), str):
        meta["source"] = row["source"]
    return Record(rid, question, solution, answer, meta)


def _level(v: Any, where: Where) -> int | None:
    if isinstance(v, int):
        return v
    m = re.fullmatch(r"\s*(?:Level\s*)?(\d+|\?)\s*", str(v))
    if not m:
        raise _err(where, f"field 'level' is not a MATH level: {v!r}")
    return None if m.group(1) == "?" else int(m.group(1))


def math_record(row: Mapping, rid: str, where: Where) -> Record:
    """MATH row: problem, solution, level, subject (or type), optional answer and unique_id."""
    problem = _str(row, "problem", where)
    solution = _str(row, "solution", where)
    answer = row.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise _err(where, f"field 'answer' must be a string, got {type(answer).__name__}")
    if not answer:
        answer = last_boxed(solution)
        if not answer:
            raise _err(where, "no 'answer' field and no \\boxed{} in the solution")
    subject = row.get("subject") if row.get("subject") is not None else row.get("type")
    if subject is None:
        raise _err(where, f"missing field 'subject' (or 'type') (fields present: {sorted(row)})")
    level = _level(require(dict(row), "level", *where), where)
    return Record(rid, problem, solution, answer, {"level": level, "subject": str(subject)})


def olympic_record(row: Mapping, where: Where, defaults: Mapping[str, Any] | None = None) -> Record:
    """OlympicArena row in the HF schema. `defaults` fills fields a file lacks (explicitly, by the caller:
    e.g. the Math-only fixture has no language/modality/answer_type); any other missing field raises."""
    row = {**dict(defaults or {}), **{k: v for k, v in row.items() if v is not None}}
    rid = _str(row, "id", where)
    problem = _str(row, "problem", where)
    answer = row.get("answer")
    if isinstance(answer, str):
        answer = [answer]
    if answer is not None and not (isinstance(answer, list) and all(isinstance(a, str) for a in answer)):
        raise _err(where, f"field 'answer' must be a list of strings, a string or null, got {answer!r}")
    solution = row.get("solution")
    if isinstance(solution, list):                 # some dumps keep one solution per list item
        solution = "\n\n".join(str(s) for s in solution) or None
    meta = {k: row.get(k) for k in ("answer_type", "unit", "answer_sequence", "type_sequence", "subject",
                                     "language", "modality", "prompt")}
    for k in ("answer_type", "subject", "language", "modality"):
        meta[k] = _str(row, k, where)
    return Record(rid, problem, solution if isinstance(solution, str) else None,
                  json.dumps(answer, ensure_ascii=False) if answer else None, meta)


# ---------------------------------------------------------------------------------------------------
# local JSONL
# ---------------------------------------------------------------------------------------------------
def load_jsonl_records(path: str | os.PathLike, format: str, *, id_prefix: str | None = None,
                       defaults: Mapping[str, Any] | None = None) -> list[Record]:
    """Records from a JSONL file in one of FORMATS ('gsm8k', 'math', 'olympicarena', 'w2s' = Record dicts).

    Rows without an `id` (or MATH `unique_id`) get `<id_prefix><row index>` (default prefix: the file's
    stem + '_'). `defaults` fills missing OlympicArena fields. Malformed lines, missing fields and
    duplicate ids raise DataError naming the file and line.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    path = Path(path)
    prefix = f"{path.stem}_" if id_prefix is None else id_prefix
    records, first_line = [], {}
    for i, (lineno, row) in enumerate(iter_jsonl(path)):
        where = (path, lineno)
        if format == "w2s":
            rec = Record.from_dict(row, path, lineno)
        elif format == "olympicarena":
            rec = olympic_record(row, where, defaults)
        else:
            rid = row.get("id", row.get("unique_id"))
            rid = f"{prefix}{i}" if rid is None else str(rid)
            rec = gsm8k_record(row, rid, where) if format == "gsm8k" else math_record(row, rid, where)
        if rec.id in first_line:
            raise DataError(f"{path}:{lineno}: duplicate id {rec.id!r} (first on line {first_line[rec.id]})")
        first_line[rec.id] = lineno
        records.append(rec)
    return records


# ---------------------------------------------------------------------------------------------------
# hub (or a local directory laid out like the hub repo)
# ---------------------------------------------------------------------------------------------------
def _is_jsonl_file(source: str | os.PathLike) -> bool:
    return str(source).endswith(".jsonl") and Path(source).is_file()


def _hub_rows(source: str | os.PathLike, config: str | None, split: str,
              cache_dir: str | os.PathLike | None) -> Iterable[tuple[Where, dict]]:
    import datasets  # heavy import: only when a hub-shaped source is actually read

    ds = datasets.load_dataset(str(source), config, split=split,
                               cache_dir=str(cache_dir) if cache_dir is not None else None)
    label = f"{source} [{config + '/' if config else ''}{split}] row"
    for i, row in enumerate(ds):
        yield (label, i), row


def load_gsm8k(source: str | os.PathLike = GSM8K_HUB, split: str = "train", *, config: str = "main",
               cache_dir: str | os.PathLike | None = None) -> list[Record]:
    """GSM8K as Records: ids gsm8k_<row> (train) / gsm8k_test_<row> (other splits) for hub sources."""
    if _is_jsonl_file(source):
        return load_jsonl_records(source, "gsm8k")
    prefix = "gsm8k_" if split == "train" else f"gsm8k_{split}_"
    return [gsm8k_record(row, f"{prefix}{w[1]}", w) for w, row in _hub_rows(source, config, split, cache_dir)]


def load_math(source: str | os.PathLike = MATH_HUB, split: str = "train", *,
              configs: Sequence[str] = MATH_CONFIGS, cache_dir: str | os.PathLike | None = None) -> list[Record]:
    """MATH (hendrycks) as Records, subjects in `configs` order; ids math/<split>/<config>/<row>."""
    if _is_jsonl_file(source):
        return load_jsonl_records(source, "math")
    return [math_record(row, f"math/{split}/{cfg}/{w[1]}", w)
            for cfg in configs for w, row in _hub_rows(source, cfg, split, cache_dir)]


def load_math500(source: str | os.PathLike = MATH500_HUB, *,
                 cache_dir: str | os.PathLike | None = None) -> list[Record]:
    """MATH500 (the paper's MATH test set) as Records; id = unique_id."""
    if _is_jsonl_file(source):
        return load_jsonl_records(source, "math")
    return [math_record(row, str(require(row, "unique_id", *w)), w)
            for w, row in _hub_rows(source, None, "test", cache_dir)]


def load_math_train_pool(source: str | os.PathLike = MATH_HUB, test: Sequence[Record] = (), *,
                         configs: Sequence[str] = MATH_CONFIGS,
                         cache_dir: str | os.PathLike | None = None) -> tuple[list[Record], dict[str, int]]:
    """The paper's MATH training pool: MATH train + MATH test, minus every problem of `test` (MATH500).
    Returns (records, dropped) where dropped counts removed rows by reason."""
    rows = load_math(source, "train", configs=configs, cache_dir=cache_dir)
    rows += load_math(source, "test", configs=configs, cache_dir=cache_dir)
    held_out = {_norm(r.question) for r in test}
    kept = [r for r in rows if _norm(r.question) not in held_out]
    return kept, {"in the test set (MATH500)": len(rows) - len(kept)}


def load_olympicarena(source: str | os.PathLike = OLYMPIC_HUB, split: str = "val", *,
                      subjects: Sequence[str] = PAPER_OLYMPIC_SUBJECTS, language: str | None = "EN",
                      text_only: bool = True, drop_answer_types: Sequence[str] = OLYMPIC_DROPPED_TYPES,
                      defaults: Mapping[str, Any] | None = None,
                      cache_dir: str | os.PathLike | None = None) -> tuple[list[Record], dict[str, int]]:
    """OlympicArena rows (HF split 'test' = our train_2, 'val' = our test), filtered; returns
    (records, dropped) with dropped = {reason: count}. A .jsonl source is one file of any subjects."""
    if _is_jsonl_file(source):
        records = load_jsonl_records(source, "olympicarena", defaults=defaults)
        keep_subjects: Sequence[str] | None = subjects
    else:                                # one config per subject: only `subjects` are read at all
        records = [olympic_record(row, w, defaults)
                   for subject in subjects for w, row in _hub_rows(source, subject, split, cache_dir)]
        keep_subjects = None
    return filter_olympicarena(records, language=language, text_only=text_only,
                               drop_answer_types=drop_answer_types, subjects=keep_subjects)


def filter_olympicarena(records: Iterable[Record], *, language: str | None = "EN", text_only: bool = True,
                        drop_answer_types: Sequence[str] = OLYMPIC_DROPPED_TYPES,
                        subjects: Sequence[str] | None = None) -> tuple[list[Record], dict[str, int]]:
    """Keep rows in `subjects`, in `language`, text-only, and not of `drop_answer_types`. Returns
    (kept, dropped): dropped maps each reason to how many rows it removed (first failing reason counts)."""
    checks: list[tuple[str, Callable[[dict], bool]]] = []
    if subjects is not None:
        checks.append((f"subject not in {list(subjects)}", lambda m: m["subject"] in subjects))
    if language is not None:
        checks.append((f"language != {language}", lambda m: m["language"] == language))
    if text_only:
        checks.append(("not text-only (has figures)", lambda m: m["modality"] == "text-only"))
    for t in drop_answer_types:
        checks.append((f"answer_type == {t}", lambda m, t=t: m["answer_type"] != t))
    return _keep(records, [(reason, lambda r, ok=ok: ok(r.meta)) for reason, ok in checks])


def _keep(records: Iterable[Record], checks: Sequence[tuple[str, Callable[[Record], bool]]]
          ) -> tuple[list[Record], dict[str, int]]:
    """(records passing every check, {reason: rows it dropped}); a row counts under the first check it fails."""
    kept, dropped = [], {reason: 0 for reason, _ in checks}
    for r in records:
        failed = next((reason for reason, ok in checks if not ok(r)), None)
        if failed is None:
            kept.append(r)
        else:
            dropped[failed] += 1
    return kept, dropped


# ---------------------------------------------------------------------------------------------------
# the paper's released split files, and our own split
# ---------------------------------------------------------------------------------------------------
RELEASE_REPO = "GAIR-NLP/weak-to-strong-reasoning"
RELEASE_COMMIT = "596a0b61166a91e9677e1940ae06ec4f84878cae"
RELEASE_FILES = {"gsm8k": ("train_1.jsonl", "train_2.jsonl", "test.jsonl")}
# In the release repository: data/raw/gsm8k/train_{1,2}.jsonl; its GSM8K test set is data/test/gsm8k.jsonl.
_RELEASE_PATHS = {("gsm8k", "train_1.jsonl"): "data/raw/gsm8k/train_1.jsonl",
                  ("gsm8k", "train_2.jsonl"): "data/raw/gsm8k/train_2.jsonl",
                  ("gsm8k", "test.jsonl"): "data/test/gsm8k.jsonl"}


def release_split_dir(source: str | os.PathLike | None, dataset: str = "gsm8k",
                      cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the release's `<dataset>/train_1.jsonl, train_2.jsonl, test.jsonl`, from `source`:
    - None: ../shared/data/w2s_official/raw (this project's copy) when present, else the release's repository
      on GitHub (below), so a paper preset runs from a fresh clone on a node with network access;
    - a local folder holding `<dataset>/` (a copy of the files), or a clone of the release repository (its
      `data/raw/<dataset>/` and `data/test/<dataset>.jsonl` are used through a cache folder of links);
    - `github:GAIR-NLP/weak-to-strong-reasoning[@commit]`: the release's repository, its files fetched once from
      raw.githubusercontent.com into `cache_dir` (default ~/.cache/w2s/release/<commit>). Nothing is fetched
      when the cache has them; with HF_HUB_OFFLINE or W2S_OFFLINE set, a missing file is an error instead."""
    if source is None:
        shared = shared_data_dir()
        if shared is None or not (shared / "w2s_official" / "raw" / dataset).is_dir():
            return release_split_dir("github:" + RELEASE_REPO, dataset, cache_dir)
        return shared / "w2s_official" / "raw"
    s = str(source)
    if s.startswith("github:"):
        repo, _, commit = s[len("github:"):].partition("@")
        commit = commit or RELEASE_COMMIT
        cache = Path(cache_dir or Path.home() / ".cache" / "w2s" / "release" / commit)
        for name in RELEASE_FILES[dataset]:
            _fetch_release_file(repo, commit, _RELEASE_PATHS[(dataset, name)], cache / dataset / name)
        return cache
    root = Path(source)
    if (root / dataset).is_dir():
        return root
    if (root / "data" / "raw" / dataset).is_dir():          # a clone of the release repository
        cache = Path(cache_dir or root / ".w2s_split")
        for name in RELEASE_FILES.get(dataset, ()):
            dst = cache / dataset / name
            src = root / _RELEASE_PATHS[(dataset, name)]
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.symlink_to(src.resolve())
        return cache
    raise DataError(f"{root}: holds neither {dataset}/ (the release's split files) nor data/raw/{dataset}/ "
                    "(a clone of the release repository)")


def _fetch_release_file(repo: str, commit: str, path: str, dst: Path) -> None:
    if dst.is_file():
        return
    if os.environ.get("HF_HUB_OFFLINE") or os.environ.get("W2S_OFFLINE"):
        raise DataError(f"{dst}: not in the cache and downloads are off (HF_HUB_OFFLINE / W2S_OFFLINE); copy "
                        f"{path} of {repo}@{commit} there")
    import urllib.request
    url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(dst.suffix + ".partial")
    with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as fh:
        fh.write(r.read())
    tmp.replace(dst)


def load_paper_splits(dataset: str = "gsm8k", root: str | os.PathLike | None = None, *,
                      cache_dir: str | os.PathLike | None = None) -> dict[str, list[Record]]:
    """The paper's own splits from its release: train_1, train_2 and test for GSM8K (7,000 / 7,000 / 1,319;
    `root` as `release_split_dir`'s `source`); MATH has only test.jsonl (MATH500) in our snapshot, so its
    train splits raise."""
    d = release_split_dir(root, dataset, cache_dir) / dataset
    if dataset == "gsm8k":
        return {"train_1": load_jsonl_records(d / "train_1.jsonl", "gsm8k"),
                "train_2": load_jsonl_records(d / "train_2.jsonl", "gsm8k"),
                "test": load_jsonl_records(d / "test.jsonl", "gsm8k", id_prefix="gsm8k_test_")}
    if dataset == "math":
        out = {"test": load_jsonl_records(d / "test.jsonl", "math")}
        for s in ("train_1", "train_2"):
            if not (d / f"{s}.jsonl").is_file():
                raise DataError(f"{d / f'{s}.jsonl'}: file not found (the release's MATH train splits are "
                                "not in this snapshot); use load_math_train_pool() + split_train()")
            out[s] = load_jsonl_records(d / f"{s}.jsonl", "math")
        return out
    raise ValueError(f"no released split files for {dataset!r} (gsm8k, math)")


def split_train(records: Sequence[Record], n_train_1: int, n_train_2: int,
                seed: int) -> tuple[list[Record], list[Record]]:
    """Disjoint random train_1 / train_2 of the given sizes, the same for the same seed and records.
    Each split keeps the records' original order (so reading it is like reading the dataset)."""
    if n_train_1 < 0 or n_train_2 < 0 or n_train_1 + n_train_2 > len(records):
        raise ValueError(f"cannot take {n_train_1} + {n_train_2} records from {len(records)}")
    order = _shuffled(records, seed, "split_train")
    first = sorted(order[:n_train_1])
    second = sorted(order[n_train_1:n_train_1 + n_train_2])
    return [records[i] for i in first], [records[i] for i in second]


def _shuffled(records: Sequence[Record], seed: int, who: str) -> list[int]:
    """The records' positions shuffled with `seed` (records must have distinct ids: a split is a set of ids)."""
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise DataError(f"{who}: records have duplicate ids")
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    return order


def _norm(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------------
# SCORE (the second paper: Zhang et al., "Small Language Models Need Strong Verifiers to Self-Correct
# Reasoning", Findings of ACL 2024): its GSM8K split and its MATH out-of-distribution subset
# ---------------------------------------------------------------------------------------------------
# GSM8K train (7,473 questions) shuffled; the first 6,500 are SCORE's training split, the next 973 its dev split
# (threshold search); the test set is GSM8K test (1,319). In the run's splits: train_1 = the whole shuffled pool in
# the shuffled order, and `score.dev_size: 973` makes SCORE's stages take its last 973 as dev and the rest as train
# (w2s_lib.stages.score.splits): the paper's split. There is no train_2.
SCORE_GSM8K = {"pool": 7473, "train": 6500, "dev": 973, "test": 1319}
SCORE_SPLIT_SEED = 42      # our choice: the official code shuffles GSM8K train, but its seed is not known to us
# The out-of-distribution MATH subset: Level 1 problems of these subjects with a numeric boxed answer and no `$`
# in the problem (181 problems of the MATH test set in the paper).
SCORE_MATH_SUBJECTS = ("Algebra", "Counting & Probability", "Prealgebra", "Number Theory")
SCORE_MATH_CONFIGS = ("algebra", "counting_and_probability", "prealgebra", "number_theory")
# "numeric": an optionally signed decimal number, as Python's float() reads it, without exponents, commas or
# units  # our choice (the paper says numeric answers; `1,000`, `\frac{1}{2}` and `5\%` are not kept)
_NUMERIC = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")


def score_split(pool: Sequence[Record], n: int | None = None, seed: int = SCORE_SPLIT_SEED) -> list[Record]:
    """SCORE's train_1: `pool` shuffled with `seed`, its first `n` records (default: all) in the shuffled order, so
    that the first 6,500 are SCORE's training split and the next 973 its dev (the last `score.dev_size` of train_1).
    The same for every run seed: like a benchmark's own split, it does not move with the run."""
    n = len(pool) if n is None else n
    if not 0 < n <= len(pool):
        raise ValueError(f"cannot take {n} records from {len(pool)}")
    return [pool[i] for i in _shuffled(pool, seed, "score_split")[:n]]


def load_score_gsm8k(source: str | os.PathLike = GSM8K_HUB, test_source: str | os.PathLike | None = None, *,
                     n: int | None = None, seed: int = SCORE_SPLIT_SEED,
                     cache_dir: str | os.PathLike | None = None) -> dict[str, list[Record]]:
    """SCORE's GSM8K as the run's splits: {train_1: score_split of GSM8K train (`source`), train_2: [] , test: GSM8K
    test (`test_source`, else `source`'s test split)}. A .jsonl `source` is the train pool only: it needs
    `test_source`. `n` (dataset.sizes.train_1) keeps the first n of the shuffle (default: all 7,473)."""
    if _is_jsonl_file(source) and test_source is None:
        raise DataError(f"{source}: a JSONL train pool needs a test_source (the GSM8K test set)")
    pool = load_gsm8k(source, "train", cache_dir=cache_dir)
    if n is not None and n > len(pool):
        raise DataError(f"{source}: dataset.sizes.train_1 is {n}, the pool has {len(pool)} questions (GSM8K train "
                        f"has {SCORE_GSM8K['pool']:,}: SCORE's {SCORE_GSM8K['train']:,} train + {SCORE_GSM8K['dev']} dev)")
    return {"train_1": score_split(pool, n, seed), "train_2": [],
            "test": load_gsm8k(test_source or source, "test", cache_dir=cache_dir)}


def is_numeric_answer(answer: str | None) -> bool:
    """Whether a gold answer is a plain number (SCORE's MATH subset keeps only those)."""
    return bool(answer) and _NUMERIC.fullmatch(answer.strip()) is not None


def score_math_ood(records: Iterable[Record]) -> tuple[list[Record], dict[str, int]]:
    """SCORE's out-of-distribution MATH subset of `records` (MATH test problems): Level 1, a subject of
    SCORE_MATH_SUBJECTS, a numeric answer, no `$` in the problem. Returns (kept, dropped by first failing reason)."""
    checks: list[tuple[str, Callable[[Record], bool]]] = [
        ("level != 1", lambda r: r.meta.get("level") == 1),
        (f"subject not in {list(SCORE_MATH_SUBJECTS)}", lambda r: r.meta.get("subject") in SCORE_MATH_SUBJECTS),
        ("answer not numeric", lambda r: is_numeric_answer(r.answer)),
        ("'$' in the problem", lambda r: "$" not in r.question),
    ]
    return _keep(records, checks)


def load_score_math_ood(source: str | os.PathLike = MATH_HUB, *,
                        cache_dir: str | os.PathLike | None = None) -> tuple[list[Record], dict[str, int]]:
    """SCORE's MATH subset from a MATH test set: the hub's hendrycks MATH (only the four subjects' test splits
    are read; 181 problems in the paper), a local folder laid out like it, or a MATH-format .jsonl (e.g. MATH500,
    which holds far fewer of them)."""
    if _is_jsonl_file(source):
        records = load_jsonl_records(source, "math")
    else:
        records = load_math(source, "test", configs=SCORE_MATH_CONFIGS, cache_dir=cache_dir)
    return score_math_ood(records)
