# huxiao — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-reliability install lint openapi bench clean-data help

help:
	@echo "make run   - set up everything (venv, PostGIS, local cluster, migrations, demo data) and serve on 127.0.0.1:$${PORT:-8000}"
	@echo "make test  - the whole suite against a throwaway PostGIS database"
	@echo "make test-reliability - the long suites: kill -9 of the server under load, database outages, Schemathesis (~20 min)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/huxiao serve

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The long suites (tests/reliability/): crash durability, then database outage; figures in docs/reliability.md.
test-reliability: $(STAMP)
	$(BIN)/python -m tests.reliability.crash_durability
	$(BIN)/python -m tests.reliability.database_outage
	$(BIN)/python -m tests.reliability.schemathesis_run

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .

openapi: $(STAMP)
	$(BIN)/huxiao export-openapi

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean-data:
	-$(BIN)/huxiao db stop
	rm -rf .data
