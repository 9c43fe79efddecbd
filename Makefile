# The two quick-start commands: `make demo` and `make test`. Each installs what it needs into
# .venv first (Python >= 3.10 and make are all a fresh machine needs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint unit infra-checks bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.test: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

demo: $(VENV)/.demo
	$(BIN)/rds-log-shipper demo

lint: $(VENV)/.test
	$(BIN)/ruff check shipper tests bench infra
	$(BIN)/mypy

infra-checks: $(VENV)/.test
	bash infra/checks.sh

unit: $(VENV)/.test
	$(BIN)/python -m pytest -q

bench-quick: $(VENV)/.test
	$(BIN)/python -m bench --quick --out bench/out

bench: $(VENV)/.test
	$(BIN)/python -m bench

test: lint infra-checks unit bench-quick

clean:
	rm -rf $(VENV) .venv-* build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/out rds-log-shipper-demo
