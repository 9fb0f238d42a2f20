# imgkit: two commands for a fresh machine with Python 3.11 and make.
#   make drill   installs imgkit into .venv and runs the lesson's drill on the local simulator
#   make test    installs imgkit with its test tools into .venv and runs the whole test suite
# Both are idempotent: the venv is rebuilt only when pyproject.toml changes. `make drill` needs
# only the core; `make lab` adds the notebook extra (JupyterLab, ipywidgets), `make test` the
# test extra, which includes the notebook extra.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BASE_STAMP := $(VENV)/.imgkit-base
NOTEBOOK_STAMP := $(VENV)/.imgkit-notebook
TEST_STAMP := $(VENV)/.imgkit-test
SOURCES    := imgkit tests benchmarks tools

.PHONY: help venv drill test test-fast lint format bench lab clean

help:
	@echo "make drill   run the lesson's consistency drill on the local simulator (results in runs/)"
	@echo "make test    run the whole test suite (ruff, pytest, notebooks)"
	@echo "make bench   run the benchmarks (medians and ratios)"
	@echo "make lab     open JupyterLab on the notebooks (prints the URL to open; works as root)"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "imgkit needs Python 3.11 or newer; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(BASE_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(NOTEBOOK_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[notebook]'
	@touch $@ $(BASE_STAMP)

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@ $(BASE_STAMP) $(NOTEBOOK_STAMP)

venv: $(TEST_STAMP)

drill: $(BASE_STAMP)
	$(VENV)/bin/imgkit drill --out runs --report

test: $(TEST_STAMP)
	$(PY) -m ruff check $(SOURCES)
	$(PY) -m ruff format --check $(SOURCES)
	$(PY) -m pytest -q tests
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax notebooks

test-fast: $(TEST_STAMP)
	$(PY) -m pytest -q -x tests

lint: $(TEST_STAMP)
	$(PY) -m ruff check $(SOURCES)
	$(PY) -m ruff format --check $(SOURCES)

format: $(TEST_STAMP)
	$(PY) -m ruff check --fix $(SOURCES)
	$(PY) -m ruff format $(SOURCES)

bench: $(TEST_STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lab: $(NOTEBOOK_STAMP)
	$(PY) tools/lab.py notebooks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache test-artifacts
