# leadscore developer entry points. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKDIR ?= demo-output

.PHONY: help install demo test lint bench bench-detail clean lock

help:
	@echo "make demo   - create $(VENV), install, run the whole job on the embedded default (DuckDB + MLflow/sqlite)"
	@echo "make test   - create $(VENV), install, run lint, type checks and the test suite on every"
	@echo "              engine the machine can run (starts a private PostgreSQL server if it can)"
	@echo "make bench  - the figures users wait on: HTTP latency, DuckDB/PostgreSQL features and score"
	@echo "              job, retraining at 1M contacts, each with the load average (slow the first"
	@echo "              time: it generates the data); make bench-detail for benchmarks/run.py"

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

# PostgreSQL as for the tests (the private server when its binaries are there); the venv's bin
# on PATH because `mlflow models serve --env-manager local` execs uvicorn.
bench: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" bash .ci/with-postgres.sh $(BIN)/python benchmarks/summary.py

bench-detail: $(STAMP)
	$(BIN)/python benchmarks/run.py

# Refresh constraints.txt from the current environment (after changing dependencies).
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) .typecheck $(WORKDIR) bench-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
