"""What a committed stage wrote: one entry per file (bytes, sha256, and rows for JSONL), and one digest over all.

`runstore.Stage.commit` writes `<stage>/manifest.json` and records the digest in `config.json`; the stages that
read it hash that digest into their own identity (content-addressed "done"), and readers check a file's rows and
sha256 against its entry. Files up to FULL_HASH_BYTES are hashed whole; larger ones (model weights at paper
scale, tens of GB) by their size and SAMPLE_BLOCKS blocks spread over the file, which any retraining changes.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

FULL_HASH_BYTES = 64 << 20
SAMPLE_BLOCKS = 32
BLOCK = 1 << 20
MANIFEST = "manifest.json"


def file_digest(path: str | os.PathLike, size: int | None = None) -> tuple[str, bool]:
    """(sha256 hex, sampled?) of a file: the whole file up to FULL_HASH_BYTES, else sampled blocks."""
    size = os.path.getsize(path) if size is None else size
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= FULL_HASH_BYTES:
            for chunk in iter(lambda: fh.read(BLOCK), b""):
                h.update(chunk)
            return h.hexdigest(), False
        h.update(f"sampled:{size}:".encode())
        step = (size - BLOCK) // (SAMPLE_BLOCKS - 1)
        for k in range(SAMPLE_BLOCKS):
            fh.seek(k * step)
            h.update(fh.read(BLOCK))
        return h.hexdigest(), True


def count_rows(data: bytes) -> int:
    """Rows of a JSONL file as `jsonl.iter_jsonl` counts them: non-blank lines."""
    return sum(1 for line in data.split(b"\n") if line.strip())


def file_entry(path: Path) -> dict:
    size = path.stat().st_size
    sha, sampled = file_digest(path, size)
    entry: dict = {"bytes": size, "sha256": sha}
    if sampled:
        entry["sampled"] = True
    if path.suffix == ".jsonl" and not sampled:
        entry["rows"] = count_rows(path.read_bytes())
    elif path.suffix == ".jsonl":
        with open(path, "rb") as fh:
            entry["rows"] = sum(1 for line in fh if line.strip())
    return entry


def build(root: Path, exclude: Iterable[str] = ()) -> dict[str, dict]:
    """{relative path: entry} for every file under `root` (sorted), except the top-level names in `exclude` and
    leftover temporary files (`.*.tmp`)."""
    skip = set(exclude)
    files: dict[str, dict] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if rel in skip or (name.startswith(".") and name.endswith(".tmp")):
                continue
            files[rel] = file_entry(p)
    return files
