# w2s: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Extra pip arguments, e.g. PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu" on a CPU laptop.
PIP_ARGS ?=
PRESET ?= toy
SEEDS  ?= 0 1 2
# seeds at once (one process each): 3 on 2 cores keeps both busy to the end (2 leaves one idle for the last seed)
JOBS   ?= 3

.PHONY: setup setup-gpu test demo lab toy-models pipeline dry-run strip bench clean-runs help

help:
	@echo "make demo        run the notebook series on the toy world (CPU), write runs/toy/report.md"
	@echo "make test        create .venv from the pins and run the test suite (smoke preset notebooks included)"
	@echo "make lab         open JupyterLab with the project's environment as the kernel"
	@echo "make toy-models  rebuild the shipped toy base models under data/toy/"
	@echo "make pipeline PRESET=name   run the series headless with papermill at any preset"
	@echo "make dry-run PRESET=name    print every stage, sizes and cost estimate without loading a model"

$(BIN)/.installed: requirements.txt requirements-deepspeed.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install $(PIP_ARGS) -r requirements.txt
	DS_BUILD_OPS=0 $(BIN)/pip install $(PIP_ARGS) --no-build-isolation -r requirements-deepspeed.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (w2s)" >/dev/null
	touch $@

setup: $(BIN)/.installed

setup-gpu: setup
	$(BIN)/pip install $(PIP_ARGS) -r requirements-gpu.txt

test: setup
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/python -m w2s_lib.pipeline --preset $(PRESET) --seeds $(SEEDS) --jobs $(JOBS) --report

pipeline: setup
	$(BIN)/python -m w2s_lib.pipeline --preset $(PRESET)

dry-run: setup
	$(BIN)/python -m w2s_lib.pipeline --preset $(PRESET) --dry-run

lab: setup
	$(BIN)/jupyter lab notebooks/

toy-models: setup
	$(BIN)/python -m w2s_lib.toy.build --out data/toy

strip: setup
	$(BIN)/nbstripout --keep-id notebooks/*.ipynb

bench: setup
	$(BIN)/python benchmarks/grading_bench.py

clean-runs:
	rm -rf runs/
