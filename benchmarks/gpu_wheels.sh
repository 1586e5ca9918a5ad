#!/usr/bin/env bash
# Wheels that benchmarks/gpu_check.sh needs on a GPU machine that has torch, transformers, accelerate and peft but
# not TRL and its data stack (Python 3.12, x86-64). Versions: requirements.txt's pins.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
pin() { grep -E "^$1==" requirements.txt | head -1; }
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "$(pin trl)" "$(pin datasets)" "$(pin math-verify)" "$(pin latex2sympy2_extended)" \
  "$(pin antlr4-python3-runtime)" dill==0.4.1 multiprocess==0.70.19
ls -la .whl
