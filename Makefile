# leadscore developer entry points. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKDIR ?= demo-output

.PHONY: help install demo test lint bench clean lock

help:
	@echo "make demo   - create $(VENV), install, run the whole job on the embedded default (DuckDB + MLflow/sqlite)"
	@echo "make test   - create $(VENV), install, run lint, type checks and the test suite on every"
	@echo "              engine the machine can run (starts a private PostgreSQL server if it can)"
	@echo "make bench  - run the benchmarks in benchmarks/ (slow; prints figures and ratios)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), f"leadscore needs Python 3.11+, found {sys.version.split()[0]}"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs exactly the versions the tests passed with (constraints.txt), with the Spark
# extra (the Spark tests skip without Java 17+).
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/leadscore demo --workdir $(WORKDIR)

# mypy reads the packages under their installed names (leadscore.features ...) through a
# tree of links, since it cannot follow setuptools' package-dir mapping.
.typecheck/leadscore/__init__.py:
	mkdir -p .typecheck/leadscore
	for p in features models training serving; do ln -sfn ../../$$p .typecheck/leadscore/$$p; done
	touch $@

lint: $(STAMP) .typecheck/leadscore/__init__.py
	$(BIN)/ruff check features models training serving tests benchmarks
	$(BIN)/mypy

# The suite runs on every engine the machine can run: PostgreSQL at LEADSCORE_TEST_POSTGRES_URL,
# else on the private server of .ci/postgres.sh, started for the run (and stopped after) where
# PostgreSQL's binaries are installed or root can install them; Spark where Java 17+ is. The
# summary's "engines" section says which engines ran and which were skipped, and why.
test: lint
	bash .ci/with-postgres.sh $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/http_bench.py

# Refresh constraints.txt from the current environment (after changing dependencies).
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) .typecheck $(WORKDIR) bench-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
