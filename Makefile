# The two quick-start commands: `make demo` and `make test`. Each installs what it needs into
# .venv first (Python >= 3.10 and make are all a fresh machine needs).
#
# Every library comes from uv.lock (exact versions and hashes, one resolution for every
# supported Python): two clones of one commit test the same code with the same libraries.
# uv itself is pinned here and installed into .venv-uv; `make lock` updates the locks on purpose.
PYTHON     ?= python3
VENV       ?= .venv
BIN        := $(VENV)/bin
UV_VERSION := 0.13.9
UV_VENV    := .venv-uv
UV         := $(UV_VENV)/bin/uv
UV_STAMP   := $(UV_VENV)/.uv-$(UV_VERSION)
FLOORS     := .venv-floors

# uv syncs into .venv with the interpreter named by PYTHON, never downloads one of its own.
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1

.PHONY: demo test test-fast test-floors lint unit infra-checks bench bench-quick readme lock clean

$(UV_STAMP):
	rm -rf $(UV_VENV)
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	touch $@

# --locked: refuse to run when pyproject.toml changed and uv.lock was not updated with it.
# The demo syncs inexactly so that it never uninstalls what `make test` installed.
$(VENV)/.demo: $(UV_STAMP) uv.lock pyproject.toml
	$(UV) sync --quiet --locked --inexact --python $(PYTHON) --extra demo
	touch $@

$(VENV)/.test: $(UV_STAMP) uv.lock pyproject.toml
	$(UV) sync --quiet --locked --python $(PYTHON) --all-extras
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

# The edit-test loop: everything but the tests marked slow.
test-fast: $(VENV)/.test
	$(BIN)/python -m pytest -q -m "not slow"

# The lowest versions pyproject.toml declares for the runtime libraries (and moto, which the
# local S3 runs on), with the locked test tools: the unit tier must pass on them too.
test-floors: $(UV_STAMP) uv.lock pyproject.toml
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(FLOORS)
	$(UV) export --quiet --frozen --all-extras --no-emit-project --no-hashes -o $(FLOORS)/locked.txt
	$(UV) pip compile --quiet --resolution lowest-direct --python $(PYTHON) --extra demo \
		--no-header --no-annotate pyproject.toml -o $(FLOORS)/floors.txt
	$(UV) pip install --quiet --python $(FLOORS)/bin/python -r $(FLOORS)/locked.txt \
		--override $(FLOORS)/floors.txt
	$(UV) pip install --quiet --python $(FLOORS)/bin/python --no-deps -e .
	@$(FLOORS)/bin/python -c "import boto3, botocore, moto, tenacity; \
		from importlib.metadata import version as v; \
		print('floors:', ', '.join(f'{n} {v(n)}' for n in \
		('boto3', 'botocore', 'moto', 'tenacity', 'python-json-logger')))"
	$(FLOORS)/bin/python -m pytest -q tests/unit

bench-quick: $(VENV)/.test
	$(BIN)/python -m bench --quick --out bench/out

bench: $(VENV)/.test
	$(BIN)/python -m bench

# Rewrite the README's settings table from shipper.config.SETTINGS (a test fails until it is).
readme: $(VENV)/.test
	$(BIN)/python -m tests.support.readme

# Move every lock to the newest versions the declared ranges allow. Commit the result on its
# own, after `make test` passes on it.
lock: $(UV_STAMP)
	$(UV) lock --upgrade
	$(UV) pip compile --quiet --upgrade --universal --python-version 3.10 --generate-hashes \
		infra/checkov.in -o infra/checkov.lock

test: lint infra-checks unit test-floors bench-quick

clean:
	rm -rf $(VENV) $(UV_VENV) $(FLOORS) .venv-* build dist *.egg-info .pytest_cache \
		.mypy_cache .ruff_cache .hypothesis bench/out rds-log-shipper-demo
