# Everything a new machine needs is Python: `make run`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv install run test lint format bench clean clean-all translations translations-compile translations-check

help:
	@echo "make run        install, migrate, start web + worker (+ embedded redis and mail catcher)"
	@echo "make test       run the test suite (PYTEST_ARGS=... to pass more)"
	@echo "make lint       ruff check and format check;  make format  fixes what it can"
	@echo "make bench      run the benchmarks"
	@echo "make translations  extract every message and merge it into each translations/*/messages.po"
	@echo "make translations-check  list the messages a language has not translated (fails if any)"
	@echo "make venv       create .venv and install requirements-dev.txt"
	@echo "make clean      remove .venv and caches;  make clean-all  also instance/"

venv install: $(STAMP)

# Re-installs only when a requirements file is newer than the stamp.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -r requirements-dev.txt
	# The bytecode `python -OO` loads, which the worker runs with (worker.py): without
	# it on disk, each worker would compile what it imports at every start.
	$(BIN)/python -OO -m compileall -q -j 0 $(VENV)/lib
	touch $(STAMP)

run: $(STAMP) translations-compile
	mkdir -p instance
	MOOCH_ENV=$${MOOCH_ENV:-development} $(BIN)/flask --app app db upgrade
	$(BIN)/python -m devtools.run

test: $(STAMP) translations-compile
	$(BIN)/python -m pytest -p randomly -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix --exit-zero . && $(BIN)/ruff format .

# The catalogues (docs/translations.md). The app also compiles a missing or stale .mo
# when it starts; compiling here first keeps that out of the first request.
translations: $(STAMP)
	$(BIN)/python -m devtools.translations update

translations-compile: $(STAMP)
	$(BIN)/python -m devtools.translations compile

translations-check: $(STAMP)
	$(BIN)/python -m devtools.translations check

# One table, every row beside its baseline (test-artifacts/bench.json holds the figures);
# QUICK=1 measures fewer mails and requests.
bench: $(STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-all: clean
	rm -rf instance
