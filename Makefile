# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt typecheck pytest e2e demo bench chaos clean postgres

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bot

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict bot cogs

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The tests start throwaway PostgreSQL servers (tests/pg.py): install PostgreSQL from
# Debian's packages when initdb is missing (a no-op when it is there).
POSTGRES_BIN := $(firstword $(shell command -v initdb) $(wildcard /usr/lib/postgresql/*/bin/initdb))
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

postgres:
ifeq ($(POSTGRES_BIN),)
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
else
	@true
endif

# The suite mostly waits (on the bot process, timers, loopback): 6 workers on 2 cores,
# each taking the next test when free (worksteal: a few e2e tests run 10 s and more).
# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set: else every worker and
# every `python -m bot` the tests start compiles (and pytest assert-rewrites) from source.
pytest: export PYTHONDONTWRITEBYTECODE :=
pytest: $(STAMP) postgres
	$(BIN)/python -m pytest -q -n 6 --dist worksteal

# mypy (about 10 s of one core from a clean clone) runs beside pytest; its output is
# shown after pytest's, and either failing fails `make test`.
test: lint
	@$(BIN)/mypy --strict bot cogs > $(VENV)/mypy.out 2>&1 & typing=$$!; \
	$(MAKE) --no-print-directory pytest; tests=$$?; \
	wait $$typing; typed=$$?; \
	echo "$(BIN)/mypy --strict bot cogs"; cat $(VENV)/mypy.out; \
	[ $$tests -eq 0 ] && [ $$typed -eq 0 ]

e2e: $(STAMP) postgres
	$(BIN)/python -m pytest -q tests/e2e

demo: $(STAMP)
	$(BIN)/python -m tests.demo

# Benchmarks print figures and write bench/RESULTS.md; they are not timed tests.
bench: $(STAMP) postgres
	$(BIN)/python -m bench.run

# The long crash test: the short version runs inside `make test`.
chaos: $(STAMP)
	CHAOS_ROUNDS=25 $(BIN)/python -m pytest -q tests/chaos

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
