# Everyday commands; all tool configuration lives in pyproject.toml.
PYTHON ?= python
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: test lint bench bench-quick demo drills

test:  ## the whole test suite (PostgreSQL tests skip when the server is down)
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint:  ## ruff and mypy over our folders
	$(PYTHON) -m ruff check core monitor models sources alerts tests
	$(PYTHON) -m mypy

bench:  ## every figure next to its target (a few minutes on 2 cores)
	$(PYTHON) -m monitor bench $(BENCH_ARGS)

bench-quick:  ## the same table from smaller runs (10k backfill)
	$(PYTHON) -m monitor bench --quick $(BENCH_ARGS)

demo:  ## the whole loop offline over the bundled sample stream
	$(PYTHON) -m monitor demo

drills:  ## fault drills, fuzz and hostile-input tests only
	$(PYTHON) -m pytest -q tests/test_drill_*.py tests/test_fuzz_*.py tests/test_worker*.py $(PYTEST_ARGS)
