"""Run store: one directory per pipeline stage, written atomically by one writer, skipped when up to date.

Layout (one run = one preset and one seed):

    runs/<preset>/seed<k>/
        .lock                     the one-writer lock (w2s_lib.run.runlock): who writes this run now
        <stage>/                  complete stage (exists only once committed)
            config.json           {"stage", "config", "deps": {dep: digest}, "hash", "digest"}
            manifest.json         {"files": {path: {bytes, sha256, rows}}}: what the stage wrote
            metrics.json          whatever the stage reports (accuracy, counts, ...)
            ...                   the stage's data: JSONL, datasets.save_to_disk, model/, shard jobs
        <stage>.partial/          the stage being built; renamed to <stage>/ by commit()

Usage:

    store = RunStore("runs/toy/seed0")                       # or RunStore.for_run("toy", 0)
    st = store.stage("weak_model", config={...}, deps=["data"])   # takes the run's lock unless done
    if not st.done:
        ...write into st.path...                             # st.path is the partial dir until commit
        st.commit(metrics={"acc": 0.41})                     # records the manifest, gives the lock back
    st.dir / "model"; st.metrics
    rows = store.require("d_weak", hint="run notebooks/01_weak_data.ipynb first").read_jsonl("x.jsonl")

Rules, and why:
- One writer per run directory. Opening a stage for writing takes the run's exclusive lock (re-entrant within a
  process, given back at commit); the pipeline holds it for its whole run and lets its notebook kernels write as
  its delegates. Anybody else fails at once, naming the holder (runlock.py).
- "Done" depends on content. A commit records a manifest of every file it wrote (bytes, sha256, JSONL rows) and a
  digest over it; a stage's hash covers its config and the *digests* of the stages it depends on. So a changed
  config, or an upstream stage recomputed with other content, recomputes it and everything below it; an upstream
  stage recomputed to identical content does not. The code itself is not hashed: put a `version` in the config
  when a code change must invalidate old results.
- Reads check what was recorded: `Stage.read_jsonl` / `read_json` compare the file's rows and sha256 with the
  manifest, and `require()` checks that config and manifest agree and that every file has its recorded size. A
  stage changed after its commit is an error that names the file and says how to discard the stage.
- A directory `<stage>/` is always complete: it only appears by renaming a finished `<stage>.partial/`.
  Replacing an out-of-date stage renames the old one aside first, then the new one in, then deletes the old.
- Long jobs write shards (`<job>/shard-00000.jsonl`, ...) inside the partial directory, each atomically;
  re-running with the same config resumes after the last finished shard. A partial directory built for a
  different hash is stale and discarded; one that no writer can resume (no marker, or leftovers of an interrupted
  swap) is removed when a writer takes the lock (`clean_orphans`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import manifest as mf
from . import runlock
from .jsonl import DataError, iter_jsonl_bytes, read_json, read_jsonl, write_json, write_jsonl
from .paths import RUNS_DIR

log = logging.getLogger("w2s.runstore")

PARTIAL_SUFFIX = ".partial"
OLD_SUFFIX = ".old-"
CONFIG, METRICS = "config.json", "metrics.json"


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
    """The identity of a stage's result: its name, its config and its upstream stages' content digests."""
    return sha256_of({"stage": name, "config": config, "deps": dict(sorted(deps.items()))})[:16]


def content_digest(files: Mapping[str, Any]) -> str:
    """The digest of a stage's content: over its manifest's entries (paths, sizes, sha256, rows)."""
    return sha256_of(files)[:16]


def _discard_advice(d: Path) -> str:
    return f"the stage is damaged: discard it with `rm -r {d}` and re-run its notebook to recompute it"


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
        return (self.stage_dir(name) / CONFIG).is_file()

    def stage(self, name: str, config: Mapping[str, Any],
              deps: Sequence[str] | Mapping[str, str] = ()) -> "Stage":
        """Open stage `name` for this config. `deps` are the names of the stages it reads, or a mapping
        name -> hint (what to run when that stage is missing). Each dep must already be committed.

        Unless the stage is done, this takes the run's lock (RunLockedError naming the holder if another
        process writes this run) until `commit()`."""
        hints = dict(deps) if isinstance(deps, Mapping) else {d: None for d in deps}
        dep_digests = {d: self.require(d, hint=h).digest for d, h in hints.items()}
        st = Stage(self, name, dict(config), dep_digests)
        if st.done:
            return st
        hold = runlock.acquire(self.root)
        st._finalizer = weakref.finalize(st, hold.release)    # given back at commit, or when `st` is dropped
        if hold.fresh:
            self.clean_orphans()
        if st.done:                                           # another writer committed it before we locked
            st._release()
            return st
        st._open()
        return st

    def require(self, name: str, hint: str | None = None) -> "Stage":
        """The committed stage `name`, or StageMissingError saying what to run first. Checks that its config,
        manifest and files agree with what its commit recorded (DataError naming the file otherwise)."""
        d = self.stage_dir(name)
        if not (d / CONFIG).is_file():
            msg = f"stage '{name}' is missing: {d} does not exist"
            msg += f"; {hint}" if hint else "; compute that stage first"
            raise StageMissingError(msg)
        saved = read_json(d / CONFIG)
        st = Stage(self, name, saved["config"], saved.get("deps", {}))
        if st.hash != saved.get("hash"):
            raise DataError(f"{d / CONFIG}: stored hash {saved.get('hash')} does not match its config "
                            f"({st.hash}); the file was edited by hand; {_discard_advice(d)}")
        st._check_files()
        return st

    def clean_orphans(self) -> list[Path]:
        """Remove what no writer can resume: `<stage>.old-*` left by an interrupted swap, partial dirs without
        their marker (or for a result already committed), stray temporary files. Partial dirs of a config
        that is not current are kept until their stage is opened again (then resumed or discarded). Call it
        only while holding the run's lock (`stage()` does, when it takes the lock)."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        for d in sorted(self.root.iterdir()):
            if d.is_dir() and OLD_SUFFIX in d.name:
                orphan = True
            elif d.is_dir() and d.name.endswith(PARTIAL_SUFFIX):
                started = _marker_hash(d / CONFIG)
                committed = _marker_hash(d.with_name(d.name[:-len(PARTIAL_SUFFIX)]) / CONFIG)
                orphan = started is None or started == committed
            else:
                orphan = d.is_file() and d.name.startswith(".") and d.name.endswith(".tmp")
            if orphan:
                shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink(missing_ok=True)
                log.info("run store %s: removed orphan %s", self.root, d.name)
                removed.append(d)
        return removed


def _marker_hash(path: Path) -> str | None:
    try:
        return read_json(path).get("hash") if path.is_file() else None
    except DataError:
        return None


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
        self._finalizer: weakref.finalize | None = None
        self._manifest: dict | None = None

    def __repr__(self) -> str:
        return f"Stage({self.name!r}, hash={self.hash}, done={self.done})"

    # ---- state -------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True when `<stage>/` exists and was computed from exactly this config and these deps."""
        f = self.dir / CONFIG
        return f.is_file() and read_json(f).get("hash") == self.hash

    @property
    def path(self) -> Path:
        """Where the stage's files are: the partial dir while building, the final dir once done."""
        return self.dir if self.done else self.partial

    @property
    def digest(self) -> str:
        """The content digest its commit recorded (what dependents hash). A stage committed before digests
        existed gets one computed from its files now."""
        saved = read_json(self.dir / CONFIG)
        if saved.get("digest"):
            return saved["digest"]
        return content_digest(self.manifest)

    @property
    def manifest(self) -> dict:
        """{relative path: {bytes, sha256, rows}} of the committed stage's files."""
        if self._manifest is None:
            f = self.dir / mf.MANIFEST
            if f.is_file():
                self._manifest = read_json(f)["files"]
            else:                                           # committed before manifests existed
                self._manifest = mf.build(self.dir, exclude=(CONFIG, mf.MANIFEST))
        return self._manifest

    @property
    def metrics(self) -> dict:
        if not self.done:
            raise StageMissingError(f"stage '{self.name}' is not committed, it has no metrics yet")
        return self.read_json(METRICS)

    def _check_files(self) -> None:
        """Cheap consistency check of a committed stage: manifest digest and every file's size."""
        saved = read_json(self.dir / CONFIG)
        if not saved.get("digest"):
            return                                          # legacy stage: nothing was recorded
        mfile = self.dir / mf.MANIFEST
        if not mfile.is_file():
            raise DataError(f"{mfile}: missing, but {self.dir / CONFIG} records digest {saved['digest']}; "
                            f"{_discard_advice(self.dir)}")
        if content_digest(self.manifest) != saved["digest"]:
            raise DataError(f"{mfile}: does not match the digest recorded in {self.dir / CONFIG}; "
                            f"{_discard_advice(self.dir)}")
        for rel, entry in self.manifest.items():
            p = self.dir / rel
            size = p.stat().st_size if p.is_file() else None
            if size != entry["bytes"]:
                what = "is missing" if size is None else f"has {size} bytes, the commit recorded {entry['bytes']}"
                raise DataError(f"{p}: {what} (stage '{self.name}' changed after its commit); "
                                f"{_discard_advice(self.dir)}")

    def _entry(self, rel: str) -> dict | None:
        if not (self.dir / mf.MANIFEST).is_file():
            return None                                     # legacy stage: read unchecked
        entry = self.manifest.get(rel)
        if entry is None:
            raise DataError(f"{self.dir / rel}: not part of stage '{self.name}' as committed "
                            f"(its manifest lists {len(self.manifest)} files)")
        return entry

    def _check_bytes(self, rel: str, data: bytes, entry: dict | None) -> None:
        if entry is None:
            return
        p = self.dir / rel
        if "rows" in entry:
            rows = mf.count_rows(data)
            if rows != entry["rows"]:
                raise DataError(f"{p}: {rows} rows, but stage '{self.name}' recorded {entry['rows']} when it "
                                f"was committed; {_discard_advice(self.dir)}")
        sha = hashlib.sha256(data).hexdigest() if not entry.get("sampled") else mf.file_digest(p)[0]
        if sha != entry["sha256"]:
            raise DataError(f"{p}: its content changed after stage '{self.name}' was committed (sha256 "
                            f"differs); {_discard_advice(self.dir)}")

    def read_jsonl(self, rel: str) -> list[dict]:
        """The rows of `<stage>/<rel>`, checked against the row count and sha256 the commit recorded."""
        return [obj for _, obj in self.iter_jsonl(rel)]

    def iter_jsonl(self, rel: str) -> list[tuple[int, dict]]:
        """(line number, row) of `<stage>/<rel>`, checked like `read_jsonl`."""
        p = self.dir / rel
        entry = self._entry(rel)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{p}: file not found (stage '{self.name}'); {_discard_advice(self.dir)}") from None
        self._check_bytes(rel, data, entry)
        return list(iter_jsonl_bytes(data, p))

    def read_json(self, rel: str) -> Any:
        """`<stage>/<rel>` parsed, checked against the sha256 the commit recorded."""
        entry = self._entry(rel)
        if entry is not None and (self.dir / rel).is_file():
            self._check_bytes(rel, (self.dir / rel).read_bytes(), entry)
        return read_json(self.dir / rel)

    def _config_record(self) -> dict:
        return {"stage": self.name, "config": self.config, "deps": self.deps, "hash": self.hash}

    def _release(self) -> None:
        if self._finalizer is not None:
            self._finalizer()

    def _open(self) -> None:
        """Prepare the partial dir (the lock is held): keep it when it was started with this hash (resume),
        discard it when it belongs to another config (stale shards must not leak into this result)."""
        runlock.ensure_writer(self.store.root)
        for old in self.dir.parent.glob(self.name + OLD_SUFFIX + "*"):
            shutil.rmtree(old, ignore_errors=True)   # left over from a commit interrupted mid-swap
        marker = self.partial / CONFIG
        if self.partial.exists():
            started = _marker_hash(marker)
            if started == self.hash:
                log.info("stage %s: resuming %s", self.name, self.partial)
                for tmp in self.partial.rglob(".*.tmp"):     # a write interrupted before its rename
                    tmp.unlink(missing_ok=True)
                return
            log.info("stage %s: discarding stale partial dir (hash %s, now %s)", self.name, started, self.hash)
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True)
        write_json(marker, self._config_record())

    # ---- writing -----------------------------------------------------------------------------
    def commit(self, metrics: Mapping[str, Any] | None = None) -> None:
        """Write metrics.json, the manifest and config.json (with the content digest), rename the partial dir
        into place, and give the run's lock back."""
        if self.done:
            raise RuntimeError(f"stage '{self.name}' is already committed with this config")
        if not self.partial.is_dir():
            raise RuntimeError(f"stage '{self.name}': {self.partial} is gone; nothing to commit")
        runlock.ensure_writer(self.store.root)
        write_json(self.partial / METRICS, dict(metrics or {}))
        files = mf.build(self.partial, exclude=(CONFIG, mf.MANIFEST))
        write_json(self.partial / mf.MANIFEST, {"files": files})
        write_json(self.partial / CONFIG, {**self._config_record(), "digest": content_digest(files)})
        old = None
        if self.dir.exists():                       # out-of-date result: move aside, swap, then delete
            old = self.dir.with_name(self.name + OLD_SUFFIX + uuid.uuid4().hex[:8])
            self.dir.rename(old)
        self.partial.rename(self.dir)
        self._manifest = files
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self._release()

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

        if self.done:                                # committed: read the shards back, checked
            if not job_file.is_file() or self.read_json(f"{job}/job.json")["fingerprint"] != fingerprint:
                raise DataError(f"{job_dir}: committed stage '{self.name}' has no job '{job}' for these items")
            return [r for k in range(n_shards) for r in self.read_jsonl(f"{job}/{_shard_name(k)}")]

        runlock.ensure_writer(self.store.root)
        if job_file.is_file() and read_json(job_file).get("fingerprint") != fingerprint:
            log.info("stage %s: job %s was started on other items; discarding its shards", self.name, job)
            shutil.rmtree(job_dir)
        job_dir.mkdir(parents=True, exist_ok=True)
        if not job_file.is_file():
            write_json(job_file, {"fingerprint": fingerprint, "n_items": len(items),
                                  "shard_size": shard_size, "n_shards": n_shards})

        rows: list[dict] = []
        bar = _step_bar(len(items), f"{self.name}: {job}")   # one bar per step (the engine's calls show none)
        for k in range(n_shards):
            shard = job_dir / _shard_name(k)
            if shard.is_file():
                rows.extend(read_jsonl(shard))
                bar.update(len(items[k * shard_size:(k + 1) * shard_size]))
                continue
            out = fn(items[k * shard_size:(k + 1) * shard_size])
            if not isinstance(out, list) or not all(isinstance(r, dict) for r in out):
                raise TypeError(f"job '{job}': fn must return a list of dicts (shard {k})")
            # Round-trip through JSON so fresh rows equal rows read back on a resumed run.
            out = [json.loads(json.dumps(r, ensure_ascii=False)) for r in out]
            runlock.ensure_writer(self.store.root)
            write_jsonl(shard, out)
            rows.extend(out)
            bar.update(len(out))
        bar.close()
        return rows

    def read_shards(self, job: str) -> list[dict]:
        """All rows of a committed sharded job (`sharded`'s output), in order, each shard a checked read; an error
        naming the job when its shards do not hold the rows its job.json recorded."""
        _check_name(job)
        meta = self.read_json(f"{job}/job.json")
        rows = [r for k in range(meta["n_shards"]) for r in self.read_jsonl(f"{job}/{_shard_name(k)}")]
        if len(rows) != meta["n_items"]:
            raise DataError(f"{self.dir / job}: {len(rows)} rows but the job had {meta['n_items']} items")
        return rows


def _step_bar(total: int, desc: str) -> Any:
    """The progress bar of one sharded step, counted in items (tqdm.auto: a widget in a notebook with
    ipywidgets, else one console line that updates in place)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item")


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}.jsonl"


def _check_name(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or name.endswith(PARTIAL_SUFFIX) or OLD_SUFFIX in name:
        raise ValueError(f"bad stage/job name {name!r}")
