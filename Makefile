# Two promises: `make run` and `make test` work on a fresh clone with only
# Python 3.11+ and make.
# The interpreter .venv is made with: the distribution's own Python 3 when
# it is 3.11 or newer and can make venvs (Debian and Ubuntu: python3-venv),
# else `python3` on PATH; `make PYTHON=...` chooses another.  The
# distribution's build is the one a plain VM runs the gateway with (README,
# "Deploying"), and like the container image's it is built with
# profile-guided optimisation; a build without it (pyenv's, by default)
# costs the gateway about a tenth more CPU per message (bench/README.md,
# "Which Python").
SYSTEM_PYTHON := /usr/bin/python3
PYTHON ?= $(shell $(SYSTEM_PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& $(SYSTEM_PYTHON) -m ensurepip --version >/dev/null 2>&1 && echo $(SYSTEM_PYTHON) || echo python3)
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/gateway.toml
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench venv clean sink

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "making $(VENV) with $(PYTHON) ($$($(PYTHON) -V))"; $(PYTHON) -m venv $(VENV); }
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
