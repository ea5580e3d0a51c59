# pond task file: every recipe bootstraps its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint fmt unit bench bench-scale chaos docs-cli clean

# Create the virtual environment and install pond with its dev tools (re-run when pyproject changes).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Run the whole documented flow end to end on a throwaway embedded server.
demo: $(STAMP)
	$(BIN)/pond demo

# Run every check CI runs: format, lint, types, then the whole test suite.
test: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	# The sync client's modules must be what scripts/unasync.py generates from the async ones.
	$(BIN)/python scripts/unasync.py --check
	$(BIN)/pytest tests/unit tests/integration tests/acceptance tests/browser

# Lint and type-check only, and check the generated sync client, for a quick loop.
lint: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/python scripts/unasync.py --check

# Rewrite the sources in the project's format, apply safe lint fixes, regenerate the sync client.
fmt: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests
	$(BIN)/python scripts/unasync.py

# Run only the fast unit tests.
unit: $(STAMP)
	$(BIN)/pytest tests/unit

# Measure pond against the reference tools and write docs/benchmarks.md (QUICK=1: a small run).
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(if $(QUICK),--quick,)

# Measure pond at scale, case 21 (20M events, 1,000 organisations, 10,000 snapshots; QUICK=1: a twentieth), into docs/benchmarks.md.
bench-scale: $(STAMP)
	$(BIN)/python -m benchmarks --cases scale $(if $(QUICK),--quick,)

# Kill workers, then the whole service, over 20 rounds of exports; then 50 clients for 3 minutes.
chaos: $(STAMP)
	POND_CHAOS_ROUNDS=20 $(BIN)/pytest tests/integration/test_cluster.py tests/integration/test_service_kill.py -p no:cacheprovider -rA
	POND_LOAD_SECONDS=180 $(BIN)/pytest tests/integration/test_load.py -p no:cacheprovider -s

# Regenerate the CLI references in docs/ from --help.
docs-cli: $(STAMP)
	$(BIN)/python -m pond.cli.reference > docs/cli.md
	$(BIN)/python -m pond.cli.client_reference docs/client.md

# Remove the virtual environment and local data.
clean:
	rm -rf $(VENV) pond-data .pytest_cache .mypy_cache .ruff_cache
