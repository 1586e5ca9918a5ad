"""The types and ranges of every preset key, checked when a preset file is read (presets.load_preset).

Each file of an `extends` chain is checked on its own, so an error names the file that holds the bad value, its
line, and the key: `configs/presets/my.yaml:12: stage2.n_samples must be an integer >= 1, got 'four' (a string)`.
Model references that look like local paths must exist (`looks_local`): a hub id is `name` or `org/name`, so
anything else (`/models/x`, `./x`, `~/x`, `data/toy/strong_base`) is a path and a typo in it fails here, not
two notebooks later as an "invalid repo id".
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable

import yaml

Check = Callable[[Any], "str | None"]          # returns what is wrong, or None


def _kind(v: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list",
            dict: "a mapping", type(None): "null"}.get(type(v), type(v).__name__)


def _got(v: Any) -> str:
    return f"got {v!r} ({_kind(v)})"


def integer(lo: int | None = None, none: bool = False) -> Check:
    def check(v):
        if v is None and none:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo):
            return f"must be an integer{f' >= {lo}' if lo is not None else ''}{' or null' if none else ''}, {_got(v)}"
        return None
    return check


def number(lo: float, hi: float | None = None, lo_open: bool = False, none: bool = False) -> Check:
    def check(v):
        if v is None and none:
            return None
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        ok = ok and (v > lo if lo_open else v >= lo) and (hi is None or v <= hi)
        if not ok:
            rng = f"{'>' if lo_open else '>='} {lo}" + (f" and <= {hi}" if hi is not None else "")
            return f"must be a number {rng}{' or null' if none else ''}, {_got(v)}"
        return None
    return check


def string(none: bool = True) -> Check:
    def check(v):
        if (v is None and none) or isinstance(v, str):
            return None
        return f"must be a string{' or null' if none else ''}, {_got(v)}"
    return check


def boolean() -> Check:
    return lambda v: None if isinstance(v, bool) else f"must be true or false, {_got(v)}"


def one_of(*choices: str, none: bool = False) -> Check:
    def check(v):
        if (v is None and none) or v in choices:
            return None
        return f"must be one of {', '.join(choices)}, {_got(v)}"
    return check


def list_of(item: Check, none: bool = False) -> Check:
    def check(v):
        if v is None and none:
            return None
        if not isinstance(v, list):
            return f"must be a list{' or null' if none else ''}, {_got(v)}"
        for i, x in enumerate(v):
            bad = item(x)
            if bad:
                return f"item {i} {bad}"
        return None
    return check


def mapping(values: Check | None = None) -> Check:
    def check(v):
        if v is None:
            return None
        if not isinstance(v, dict):
            return f"must be a mapping, {_got(v)}"
        for k, x in v.items():
            bad = values(x) if values else None
            if bad:
                return f"entry {k!r} {bad}"
        return None
    return check


TYPES: dict[str, dict[str, Check]] = {
    # name: a built-in dataset (toy, gsm8k, math, olympicarena) or any other, read from local JSONL files
    # (`source`, `test_source`, in `format`; docs/bring_your_own_dataset.md)
    "dataset": {"name": string(none=False), "format": one_of("gsm8k", "math", "olympicarena", "w2s"),
                "source": string(), "test_source": string(),
                "split": one_of("seeded", "official", "score"), "sizes": mapping(integer(0)), "toy": mapping(),
                "olympic": mapping()},
    "models": {"weak_base": string(), "strong_base": string(), "weak_model": string(), "dtype": string(none=False)},
    "generation": {"backend": one_of("transformers", "vllm"), "max_new_tokens": integer(1),
                   "batch_size": integer(1, none=True), "stop": list_of(string(none=False), none=True),
                   "subprocess": boolean(), "shard_size": integer(1, none=True), "engine": mapping(),
                   "cleanup": one_of("strip", "release", none=True)},
    "icl": {"n_demos": integer(0), "demo_seed": integer(), "demos": one_of("released", "sampled"),
            "demos_file": string()},
    "train": {"weak_sft": string(), "strong_sft": string(), "dpo": string(), "orpo": string(),
              "score_refiner": string(), "score_classifier": string(),
              "launcher": string(none=False), "num_processes": integer(1),     # its values: load_preset
              "accelerate_config": string(), "overrides": mapping(mapping()),
              "report_to": one_of("none", "tensorboard", "wandb", "trackio", none=True)},
    "stage1": {"iterations": integer(1), "subsets": list_of(one_of("weak", "icl", "hybrid")),
               "m_plus": one_of("weak", "icl", "hybrid"), "comparator": one_of("official", "math")},
    "stage2": {"n_samples": integer(1), "temperature": number(0), "top_p": number(0, 1, lo_open=True),
               "min_conf": number(0, 1, lo_open=True), "flip_conf": number(0, 1, lo_open=True),
               "max_pairs_per_question": integer(1), "pair_seed": integer(), "methods": list_of(one_of("dpo", "orpo"))},
    "eval": {"judge": one_of("grading", "olympic"), "max_new_tokens": integer(1, none=True),
             "sample_k": integer(0), "sample_stages": list_of(string(none=False), none=True),
             "breakdown": list_of(string(none=False))},
    "score": {"small_model": string(), "strong_verifier": string(), "train_split": one_of("train_1"),
              "dev_size": integer(0), "train_size": integer(0), "sample_demos": integer(0), "demo_seed": integer(), "n_samples": integer(1),
              "temperature": number(0), "top_p": number(0, 1, lo_open=True), "critique_max_new_tokens": integer(1),
              "pairs_per_question": integer(0), "pair_seed": integer(),
              "threshold_grid": list_of(number(0, 1)), "ood_source": string()},
    "compute": {"threads": integer(1, none=True), "gpus": integer(0), "gpu_memory_gb": number(0, lo_open=True, none=True)},
}
TOP_TYPES: dict[str, Check] = {"name": string(), "description": string(), "extends": string(),
                               "seeds": list_of(integer()), "paper": mapping()}


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """{(section, key): line} (1-based) of the keys of a YAML mapping, two levels deep."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    out: dict[tuple[str, ...], int] = {}

    def walk(node, prefix: tuple[str, ...]) -> None:
        if not isinstance(node, yaml.MappingNode) or len(prefix) >= 2:
            return
        for k, v in node.value:
            key = prefix + (str(k.value),)
            out[key] = k.start_mark.line + 1
            walk(v, key)

    walk(root, ())
    return out


def where(path: Path, lines: dict, *key: str) -> str:
    line = lines.get(tuple(key)) or (lines.get(tuple(key[:1])) if key else None)
    return f"{path}:{line}" if line else str(path)


def check_types(data: dict, path: Path, lines: dict, schema: dict[str, dict[str, Any]]) -> str | None:
    """What is wrong with one preset file's own keys (unknown keys, types, ranges), or None."""
    unknown = sorted(set(data) - set(TOP_TYPES) - set(schema))
    if unknown:
        return (f"{where(path, lines, unknown[0])}: unknown top-level key(s) {unknown}; "
                f"allowed: {sorted(set(TOP_TYPES) | set(schema))}")
    for key, check in TOP_TYPES.items():
        if key in data:
            bad = check(data[key])
            if bad:
                return f"{where(path, lines, key)}: {key} {bad}"
    for section in schema:
        given = data.get(section)
        if given is None:
            continue
        if not isinstance(given, dict):
            return f"{where(path, lines, section)}: '{section}' must be a mapping, {_got(given)}"
        bad_keys = sorted(set(given) - set(schema[section]))
        if bad_keys:
            return (f"{where(path, lines, section, bad_keys[0])}: unknown key(s) {bad_keys} in '{section}'; "
                    f"allowed: {sorted(schema[section])}")
        for key, value in given.items():
            check = TYPES.get(section, {}).get(key)      # a key without a type here is checked by load_preset
            bad = check(value) if check else None
            if bad:
                return f"{where(path, lines, section, key)}: {section}.{key} {bad}"
    return None


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def looks_local(value: str) -> bool:
    """True when `value` can only be a local path: not of the hub's `name` / `org/name` form, or starting with
    /, ./, ../ or ~."""
    v = str(value)
    return v.startswith(("/", ".", "~")) or not _HUB_ID.match(v) or "--" in v or ".." in v


def local_path(value: str, base: Path) -> Path:
    """Where a local model or data path points: absolute or ~ as given, else relative to `base`."""
    p = Path(os.path.expanduser(str(value)))
    return p if p.is_absolute() else base / p


def missing_local(value: str | None, bases: list[Path]) -> bool:
    """True when `value` looks like a local path and exists under none of `bases`."""
    if not value or not looks_local(value):
        return False
    return not any(local_path(value, b).exists() for b in bases)
