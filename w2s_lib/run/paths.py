"""Where things live: the repository root, shipped data, and the optional ../shared/data folder."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]   # w2s_lib/run/paths.py -> the checkout
DATA_DIR = REPO_ROOT / "data"
CONFIGS_DIR = REPO_ROOT / "configs"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
RUNS_DIR = Path(os.environ.get("W2S_RUNS", REPO_ROOT / "runs"))


def shared_data_dir() -> Path | None:
    """The real-data folder (`W2S_SHARED_DATA`, else `<repo>/../shared/data`), or None when absent.

    A user's fresh clone has no such folder; tests that need it skip.
    """
    env = os.environ.get("W2S_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None
