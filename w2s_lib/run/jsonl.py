"""JSON Lines and JSON I/O with errors that name the file and line, and atomic writes.

Every reader in w2s goes through `read_jsonl`, so a malformed line anywhere reports
`path:line: ...` instead of a bare JSONDecodeError (or UnicodeDecodeError, for bytes that are not UTF-8),
and nothing is silently dropped. Writes are atomic, and the files get the permissions the user's umask gives
(group-readable under the usual 022 or 002), not mkstemp's 0600.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator


class DataError(ValueError):
    """Bad input data. The message always names the file (and line, where there is one)."""


def _parse_line(raw: bytes, path: Path, lineno: int) -> dict | None:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                        "save the file as UTF-8") from None
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{lineno}: malformed JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
    return obj


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object) for each non-blank line; raise DataError naming file:line (malformed JSON,
    a line that is not an object, bytes that are not UTF-8)."""
    path = Path(path)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied (cannot read it)") from None
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            obj = _parse_line(raw, path, lineno)
            if obj is not None:
                yield lineno, obj


def iter_jsonl_bytes(data: bytes, path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """`iter_jsonl` over a file's bytes already read (errors still name `path` and the line)."""
    path = Path(path)
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        obj = _parse_line(raw, path, lineno)
        if obj is not None:
            yield lineno, obj


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    return [obj for _, obj in iter_jsonl(path)]


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied (cannot read it)") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8") \
            from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: malformed JSON ({e.msg} at column {e.colno})") from None


def require(obj: dict, field: str, path: str | os.PathLike, lineno: int | None = None) -> Any:
    """obj[field], or a DataError that names the missing field, the file and the line."""
    if field not in obj or obj[field] is None:
        where = f"{path}:{lineno}" if lineno is not None else f"{path}"
        raise DataError(f"{where}: missing field '{field}' (fields present: {sorted(obj)})")
    return obj[field]


def file_mode() -> int:
    """The mode a plain `open(path, "w")` would give a new file under the process's umask (0644 under 022)."""
    try:                                           # Linux: read the umask without changing it
        with open("/proc/self/status", encoding="ascii") as fh:
            umask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)                    # elsewhere: set and restore it
        os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`. The file gets the
    permissions the user's umask gives new files (mkstemp alone would make it 0600, unreadable to the group)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Atomically write rows as JSON Lines; returns the number of rows."""
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
