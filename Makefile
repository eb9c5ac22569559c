# wastewatch: the README's two commands are `make demo` and `make test`.
# Both install what is missing (apt packages, .venv, the TimescaleDB build,
# the local services) and are safe to run again.

PYTHON ?= python3.11
VENV   := .venv
STAMP  := $(VENV)/.installed-stamp
WW     := $(VENV)/bin/wastewatch
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test lint unit venv services-up services-down clean-state

demo: $(STAMP)
	$(WW) demo $(DEMO_ARGS)

test: $(STAMP) lint
	$(WW) services install
	scripts/test_tools.sh
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Fast checks without services: pure-logic tests only.
unit: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not integration and not firmware" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m tests.firmware.typecheck

venv: $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap.sh
	PYTHON=$(PYTHON) scripts/bootstrap.sh
	touch $(STAMP)

services-up: $(STAMP)
	$(WW) services up

services-down: $(STAMP)
	$(WW) services down

# Stops the local stack and deletes its state (databases, broker data).
clean-state: $(STAMP)
	$(WW) services down
	rm -rf .wastewatch
