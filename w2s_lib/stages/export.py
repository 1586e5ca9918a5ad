"""The LLaMA-Factory JSON layouts the paper released (`data/llama_factory/` of the official repository), so a
run's training sets can be trained with the paper's own tooling on a GPU cluster.

    sft_to_llama_factory(rows)   -> [{id, content, output}, ...]                       SFT sets
    pairs_to_llama_factory(rows) -> [{id, instruction, input: "", output: [chosen, rejected]}, ...]
    dataset_info(sft={name: file}, pairs={name: file})   -> the dataset_info.json registry entries
    read_llama_factory(path)     -> the list, each row checked for its keys (errors name file and row)

Ids: the release uses the train_2 *row position* (0..6999) for GSM8K and MATH and the record id for
OlympicArena (`ids="position"` / `ids="record"`). Hybrid sets are written in the order given, which the
selection makes weak_i, icl_i, weak_j, icl_j, ... like the release.
"""
from __future__ import annotations

import json
import os
from typing import Iterable

from w2s_lib.run.jsonl import DataError

SFT_KEYS = ("id", "content", "output")
PAIR_KEYS = ("id", "instruction", "input", "output")


def _id(row: dict, ids: str) -> int | str:
    if ids == "position":
        return int(row["position"])
    if ids == "record":
        return row["id"]
    raise ValueError(f"ids must be 'position' or 'record', got {ids!r}")


def sft_to_llama_factory(rows: Iterable[dict], ids: str = "position") -> list[dict]:
    """Rows {id, position, prompt, response} -> {id, content, output} (content = the prompt verbatim)."""
    return [{"id": _id(r, ids), "content": r["prompt"], "output": r["response"]} for r in rows]


def pairs_to_llama_factory(rows: Iterable[dict], ids: str = "position") -> list[dict]:
    """Pairs {id, position, prompt, chosen, rejected} -> {id, instruction, input: "", output: [chosen, rejected]}."""
    return [{"id": _id(r, ids), "instruction": r["prompt"], "input": "", "output": [r["chosen"], r["rejected"]]}
            for r in rows]


def dataset_info(sft: dict[str, str] | None = None, pairs: dict[str, str] | None = None) -> dict:
    """LLaMA-Factory registry entries in the release's form (`columns` mapping; pairs are `ranking: true`)."""
    info: dict = {}
    for name, f in (sft or {}).items():
        info[name] = {"file_name": f, "columns": {"prompt": "content", "response": "output"}}
    for name, f in (pairs or {}).items():
        info[name] = {"file_name": f, "ranking": True,
                      "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
    return info


def read_llama_factory(path: str | os.PathLike) -> list[dict]:
    """A LLaMA-Factory JSON list (SFT or pairs), each row checked: the keys of one layout, string fields,
    and a two-element output list for pairs. Errors name the file and the row."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of rows, got {type(data).__name__}")
    for i, row in enumerate(data):
        keys = tuple(row) if isinstance(row, dict) else ()
        if set(keys) == set(SFT_KEYS):
            ok = isinstance(row["content"], str) and isinstance(row["output"], str)
        elif set(keys) == set(PAIR_KEYS):
            out = row["output"]
            ok = isinstance(row["instruction"], str) and isinstance(out, list) and len(out) == 2 \
                and all(isinstance(o, str) for o in out)
        else:
            raise DataError(f"{path}: row {i}: keys {sorted(keys)} are neither {list(SFT_KEYS)} nor {list(PAIR_KEYS)}")
        if not ok:
            raise DataError(f"{path}: row {i}: wrong field types for the layout {sorted(keys)}")
    return data
