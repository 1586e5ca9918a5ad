import os
from pathlib import Path

import pytest

from w2s_lib.paths import REPO_ROOT, shared_data_dir

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real files from the paper's release); skip the test when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent (a fresh clone has no real data); real-data test skipped")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
