# Two promises: `make run` and `make test` work on a fresh clone with only
# Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/gateway.toml
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench venv clean sink

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(BIN)/gateway db upgrade --config $(CONFIG)
	$(BIN)/gateway serve --config $(CONFIG)

# A throwaway upstream for `make run`: prints what the gateway relays.
sink: $(STAMP)
	$(BIN)/python -m gateway.devsink 127.0.0.1:2526

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check gateway tests bench
	$(BIN)/mypy --strict gateway

bench: $(STAMP)
	$(BIN)/python bench/relay.py
	$(BIN)/python bench/scan.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
