"""The pipeline's checks before it runs anything (w2s_lib.run.pipeline): the -p parameters against the notebooks'
declared types, that the run directories can be written, and their one-writer locks (w2s_lib.run.runlock)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from . import runlock

MODEL_PARAMS = ("weak_base", "strong_base", "weak_model")
_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "list": (list,), "dict": (dict,)}


def check_params(params: dict, notebooks: Sequence) -> list[str]:
    """What is wrong with the -p parameters for these notebooks (pipeline.Notebook): names no notebook declares,
    values whose type differs from the one a notebook declares (`n_samples: int = 0` given "four"), local model
    paths that do not exist. Existing relative model paths are made absolute in `params` (the kernels run in
    notebooks/)."""
    import papermill

    from .preset_types import looks_local

    errors = []
    declared: dict[str, list[tuple[str, str]]] = {}
    for nb in notebooks:
        for name, info in papermill.inspect_notebook(str(nb.path)).items():
            declared.setdefault(name, []).append((nb.path.name, info.get("inferred_type_name") or ""))
    unknown = sorted(set(params) - set(declared))
    if unknown:
        errors.append(f"no notebook of this run declares parameter(s) {unknown}")
    for name, value in params.items():
        for nb_name, typ in declared.get(name, []):
            want = _TYPES.get(typ)
            if want and (not isinstance(value, want) or (isinstance(value, bool) and bool not in want)):
                errors.append(f"-p {name}={value!r}: {nb_name} declares {name}: {typ}, got {type(value).__name__}")
                break
        if name in MODEL_PARAMS and isinstance(value, str) and value:
            if Path(value).expanduser().exists():
                params[name] = str(Path(value).expanduser().resolve())
            elif looks_local(value):
                errors.append(f"-p {name}={value}: a local path that does not exist (a hub id is 'name' or "
                              "'org/name')")
    return errors


def check_writable(run_dirs: Sequence[Path]) -> list[str]:
    """The run directories this run would write that the user cannot write (or create)."""
    errors = []
    for d in run_dirs:
        probe = d
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        target = runlock.lock_path(d) if runlock.lock_path(d).exists() else probe
        if not os.access(target, os.W_OK) or (probe.is_dir() and not os.access(probe, os.W_OK | os.X_OK)):
            errors.append(f"cannot write {d}: permission denied on {target} (choose another --runs-dir or W2S_RUNS)")
    return errors


def lock_notes(run_dirs: Sequence[Path]) -> list[str]:
    """Who holds the lock of each of these run directories now (empty when nobody does)."""
    notes = []
    for d in run_dirs:
        if not runlock.lock_path(d).exists():
            continue
        try:
            with runlock.acquire(d):
                pass
        except runlock.RunLockedError:
            notes.append(f"note: {d} is being written now by {runlock.describe(runlock.holder(d))}; a run started "
                         "now would stop at once")
        except PermissionError:
            pass
    return notes



def take_locks(run_dirs: Sequence[Path], report_dir: Path) -> list[runlock.Hold]:
    """Hold the lock of every run directory this run writes (all or none); RunLockedError names the holder.
    Orphans of a killed run (partial dirs no writer can resume) are removed from the seed dirs."""
    from .runstore import RunStore

    holds: list[runlock.Hold] = []
    for d in run_dirs:
        try:
            holds.append(runlock.acquire(d))
        except runlock.RunLockedError as e:
            for h in holds:
                h.release()
            if d == report_dir:
                raise runlock.RunLockedError(f"{e}\n(this lock covers the report, runs/<preset>/report.md: add "
                                             "--no-report to run other seeds meanwhile)") from None
            raise
        if d != report_dir and holds[-1].fresh and not holds[-1].delegated:
            RunStore(d).clean_orphans()
    return holds
