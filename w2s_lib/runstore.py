"""Run store: one directory per pipeline stage, written atomically, skipped when already up to date.

Layout (one run = one preset and one seed):

    runs/<preset>/seed<k>/
        <stage>/                  complete stage (exists only once committed)
            config.json           {"stage", "config", "deps": {dep: hash}, "hash"}
            metrics.json          whatever the stage reports (accuracy, counts, ...)
            ...                   the stage's data: JSONL, datasets.save_to_disk, model/, shard jobs
        <stage>.partial/          the stage being built; renamed to <stage>/ by commit()

Usage:

    store = RunStore("runs/toy/seed0")                       # or RunStore.for_run("toy", 0)
    st = store.stage("weak_model", config={...}, deps=["data"])
    if not st.done:
        ...write into st.path...                             # st.path is the partial dir until commit
        st.commit(metrics={"acc": 0.41})
    st.dir / "model"; st.metrics
    store.require("weak_model", hint="run notebooks/01_weak_data.ipynb first")

Rules, and why:
- A stage's hash covers its config and the hashes of the stages it depends on, so a changed config *or* a
  recomputed upstream stage recomputes it. The code itself is not hashed: put a `version` in the config
  when a code change must invalidate old results.
- A directory `<stage>/` is always complete: it only appears by renaming a finished `<stage>.partial/`.
  Replacing an out-of-date stage renames the old one aside first, then the new one in, then deletes the old.
- Long jobs write shards (`<job>/shard-00000.jsonl`, ...) inside the partial directory, each atomically;
  re-running with the same config resumes after the last finished shard. A partial directory built for a
  different hash is stale and discarded. One writer per run directory is assumed (no locking).
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .jsonl import DataError, read_json, read_jsonl, write_json, write_jsonl
from .paths import RUNS_DIR

log = logging.getLogger("w2s.runstore")

PARTIAL_SUFFIX = ".partial"
OLD_SUFFIX = ".old-"


class StageMissingError(RuntimeError):
    """A stage that is needed has not been computed (yet)."""


def canonical_json(obj: Any) -> str:
    """Stable JSON for hashing: sorted keys, no whitespace; Paths become strings, tuples lists.

    Anything else that JSON cannot represent raises TypeError, so a config never hashes by accident
    through its repr().
    """
    def default(o: Any) -> Any:
        if isinstance(o, Path):
            return str(o)
        if hasattr(o, "to_dict"):
            return o.to_dict()
        raise TypeError(f"cannot hash a {type(o).__name__} in a config (use plain JSON values): {o!r}")

    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)


def sha256_of(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def stage_hash(name: str, config: Mapping[str, Any], deps: Mapping[str, str]) -> str:
    """The identity of a stage's result: its name, its config and its upstream stages' hashes."""
    return sha256_of({"stage": name, "config": config, "deps": dict(sorted(deps.items()))})[:16]


class RunStore:
    """The stages of one run (`runs/<preset>/seed<k>/`)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    def for_run(cls, preset: str, seed: int, runs_dir: str | Path | None = None) -> "RunStore":
        return cls(Path(runs_dir or RUNS_DIR) / preset / f"seed{seed}")

    def stage_dir(self, name: str) -> Path:
        _check_name(name)
        return self.root / name

    def has(self, name: str) -> bool:
        """True when a committed `<name>/` exists (whatever its config)."""
        return (self.stage_dir(name) / "config.json").is_file()

    def stage(self, name: str, config: Mapping[str, Any],
              deps: Sequence[str] | Mapping[str, str] = ()) -> "Stage":
        """Open stage `name` for this config. `deps` are the names of the stages it reads, or a mapping
        name -> hint (what to run when that stage is missing). Each dep must already be committed."""
        hints = dict(deps) if isinstance(deps, Mapping) else {d: None for d in deps}
        dep_hashes = {d: self.require(d, hint=h).hash for d, h in hints.items()}
        st = Stage(self, name, dict(config), dep_hashes)
        st._open()
        return st

    def require(self, name: str, hint: str | None = None) -> "Stage":
        """The committed stage `name`, or StageMissingError saying what to run first."""
        d = self.stage_dir(name)
        if not (d / "config.json").is_file():
            msg = f"stage '{name}' is missing: {d} does not exist"
            msg += f"; {hint}" if hint else "; compute that stage first"
            raise StageMissingError(msg)
        saved = read_json(d / "config.json")
        st = Stage(self, name, saved["config"], saved.get("deps", {}))
        if st.hash != saved.get("hash"):
            raise DataError(f"{d / 'config.json'}: stored hash {saved.get('hash')} does not match its config "
                            f"({st.hash}); the file was edited by hand")
        return st


class Stage:
    """One stage of a run. `path` is where to write (the partial dir until commit), `dir` the final dir."""

    def __init__(self, store: RunStore, name: str, config: dict, deps: Mapping[str, str]):
        self.store = store
        self.name = name
        self.config = config
        self.deps = dict(deps)
        self.hash = stage_hash(name, config, self.deps)
        self.dir = store.stage_dir(name)
        self.partial = self.dir.with_name(name + PARTIAL_SUFFIX)

    def __repr__(self) -> str:
        return f"Stage({self.name!r}, hash={self.hash}, done={self.done})"

    # ---- state -------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True when `<stage>/` exists and was computed from exactly this config and these deps."""
        f = self.dir / "config.json"
        return f.is_file() and read_json(f).get("hash") == self.hash

    @property
    def path(self) -> Path:
        """Where the stage's files are: the partial dir while building, the final dir once done."""
        return self.dir if self.done else self.partial

    @property
    def metrics(self) -> dict:
        if not self.done:
            raise StageMissingError(f"stage '{self.name}' is not committed, it has no metrics yet")
        return read_json(self.dir / "metrics.json")

    def _config_record(self) -> dict:
        return {"stage": self.name, "config": self.config, "deps": self.deps, "hash": self.hash}

    def _open(self) -> None:
        """Prepare the partial dir unless done: keep it when it was started with this hash (resume),
        discard it when it belongs to another config (stale shards must not leak into this result)."""
        for old in self.dir.parent.glob(self.name + OLD_SUFFIX + "*"):
            shutil.rmtree(old, ignore_errors=True)   # left over from a commit interrupted mid-swap
        if self.done:
            return
        marker = self.partial / "config.json"
        if self.partial.exists():
            started = read_json(marker).get("hash") if marker.is_file() else None
            if started == self.hash:
                log.info("stage %s: resuming %s", self.name, self.partial)
                return
            log.info("stage %s: discarding stale partial dir (hash %s, now %s)", self.name, started, self.hash)
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True)
        write_json(marker, self._config_record())

    # ---- writing -----------------------------------------------------------------------------
    def commit(self, metrics: Mapping[str, Any] | None = None) -> None:
        """Write metrics.json and config.json, then rename the partial dir into place."""
        if self.done:
            raise RuntimeError(f"stage '{self.name}' is already committed with this config")
        if not self.partial.is_dir():
            raise RuntimeError(f"stage '{self.name}': {self.partial} is gone; nothing to commit")
        write_json(self.partial / "metrics.json", dict(metrics or {}))
        write_json(self.partial / "config.json", self._config_record())
        old = None
        if self.dir.exists():                       # out-of-date result: move aside, swap, then delete
            old = self.dir.with_name(self.name + OLD_SUFFIX + uuid.uuid4().hex[:8])
            self.dir.rename(old)
        self.partial.rename(self.dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def sharded(self, job: str, items: Iterable[Any], shard_size: int,
                fn: Callable[[list], list[dict]]) -> list[dict]:
        """Run `fn` over `items` in batches of `shard_size`, saving each batch's rows as
        `<job>/shard-NNNNN.jsonl`; return all rows in order.

        Finished shards are read back instead of recomputed, so an interrupted run resumes where it
        stopped. If the items (or shard size) differ from those the job was started with, its old shards
        are discarded. Rows must be JSON objects; they are returned as they read back from disk.
        """
        if shard_size < 1:
            raise ValueError("shard_size must be >= 1")
        _check_name(job)
        items = list(items)
        fingerprint = sha256_of({"items": items, "shard_size": shard_size})
        n_shards = (len(items) + shard_size - 1) // shard_size
        job_dir = self.path / job
        job_file = job_dir / "job.json"

        if self.done:                                # committed: just read the shards back
            if not job_file.is_file() or read_json(job_file)["fingerprint"] != fingerprint:
                raise DataError(f"{job_dir}: committed stage '{self.name}' has no job '{job}' for these items")
            return [r for k in range(n_shards) for r in read_jsonl(job_dir / _shard_name(k))]

        if job_file.is_file() and read_json(job_file).get("fingerprint") != fingerprint:
            log.info("stage %s: job %s was started on other items; discarding its shards", self.name, job)
            shutil.rmtree(job_dir)
        job_dir.mkdir(parents=True, exist_ok=True)
        if not job_file.is_file():
            write_json(job_file, {"fingerprint": fingerprint, "n_items": len(items),
                                  "shard_size": shard_size, "n_shards": n_shards})

        rows: list[dict] = []
        for k in range(n_shards):
            shard = job_dir / _shard_name(k)
            if shard.is_file():
                rows.extend(read_jsonl(shard))
                continue
            out = fn(items[k * shard_size:(k + 1) * shard_size])
            if not isinstance(out, list) or not all(isinstance(r, dict) for r in out):
                raise TypeError(f"job '{job}': fn must return a list of dicts (shard {k})")
            # Round-trip through JSON so fresh rows equal rows read back on a resumed run.
            out = [json.loads(json.dumps(r, ensure_ascii=False)) for r in out]
            write_jsonl(shard, out)
            rows.extend(out)
        return rows


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}.jsonl"


def _check_name(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or name.endswith(PARTIAL_SUFFIX) or OLD_SUFFIX in name:
        raise ValueError(f"bad stage/job name {name!r}")
