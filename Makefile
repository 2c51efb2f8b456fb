# The project's commands, one line each. No activated venv is assumed: PY is .venv/bin/python when
# the checkout has one (`make venv` makes it), else python3; override it with `make PY=... target`.
PY ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
AGENTWATCH ?= $(if $(wildcard .venv/bin/agentwatch),.venv/bin/agentwatch,agentwatch)
PYTEST = $(PY) -m pytest -q -p no:cacheprovider
FAST = not paperclip and not prometheus and not slow

.PHONY: venv test test-fast lint format bench stack compose ci

venv:  ## .venv with the package (editable) and the test and lint tools
	python3 -m venv .venv && .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e ".[test]"

test:  ## the whole suite, as CI runs it (the real Paperclip, Prometheus and Alertmanager included); lists the 25 slowest tests
	$(PYTEST) --durations=25 tests

test-fast:  ## the unit, golden, oracle, parser and fuzz tests: no real Paperclip, Prometheus or frameworks, nothing slow (about 80 s)
	$(PYTEST) -m "$(FAST)" tests

lint:  ## ruff (lint and format) and mypy, as configured in pyproject.toml; CI runs it before the tests
	$(PY) -m ruff check exporter tests bench deploy && $(PY) -m ruff format --check exporter tests bench deploy && $(PY) -m mypy

format:  ## apply ruff's fixes and formatting
	$(PY) -m ruff check --fix exporter tests bench deploy && $(PY) -m ruff format exporter tests bench deploy

bench:  ## agentwatch against its floor at every scale (docs/benchmarks.md)
	$(PY) bench/run.py

stack:  ## the whole stack without Docker, from distro packages (README "Without Docker")
	$(AGENTWATCH) stack

compose:  ## the whole stack under Docker (README "With Docker")
	docker compose up -d

ci:  ## what CI runs on a fresh Debian machine, as root: installs everything, then lint and the tests
	bash .ci/run
