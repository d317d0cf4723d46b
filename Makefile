# Two commands on a fresh machine with Python 3.11:
#   make reproduce   set up .venv, then run the whole reproduction (snakemake --cores all)
#   make test        set up .venv, then run the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SNAKEMAKE_ARGS ?=
# Two pytest workers, one test file each at a time: the end-to-end module (most of the suite's time)
# runs on one while the other takes the rest (tests/conftest.py puts the slow files first).
PYTEST_ARGS ?= --numprocesses 2 --dist loadfile --no-loadscope-reorder
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup reproduce fast test bench

setup: $(STAMP)

# torch first and pinned: pip then takes the CPU wheel where one lies on disk instead of a CUDA build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || \
	  { echo "make: this project needs Python 3.11; '$(PYTHON)' is missing or another version (make PYTHON=/path/to/python3.11 ...)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

reproduce: $(STAMP)
	$(BIN)/snakemake --cores all $(SNAKEMAKE_ARGS)
	$(BIN)/snakemake --cores all --report results/snakemake-report.zip $(SNAKEMAKE_ARGS)

fast: $(STAMP)
	$(BIN)/snakemake --cores all --config preset=fast $(SNAKEMAKE_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/parzen.py
