#!/usr/bin/env bash
# The GPU check (issue 14): the toy world through the stages of notebooks 01-04 on one CUDA GPU, in at most a few
# minutes, writing benchmarks/results/gpu_check.json (each stage's time and peak GPU memory).
#
# On a GPU machine with this repository's environment (make setup-gpu):   bash benchmarks/gpu_check.sh
# On a bare GPU machine that has torch, transformers, accelerate and peft but no TRL (the machine this project is
# sometimes lent): fetch the missing wheels first, where pip reaches PyPI, and carry .whl/ along:
#     bash benchmarks/gpu_wheels.sh          # -> .whl/ (about 5 MB; for Python 3.12, x86-64)
#     bash benchmarks/gpu_check.sh           # installs .whl/*.whl into /tmp/site when TRL is missing
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
if ! "$PY" -c "import trl" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  else
    echo "TRL is not installed and .whl/ holds no wheels: run benchmarks/gpu_wheels.sh where pip reaches PyPI" >&2
    exit 2
  fi
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
export PYTHONUNBUFFERED=1 TRL_EXPERIMENTAL_SILENCE=1 HF_HUB_OFFLINE=1
exec "$PY" benchmarks/gpu_check.py "$@"
