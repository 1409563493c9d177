# Two commands matter: `make run` (the suite on :8080 with a demo tenant) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Tests use their own RabbitMQ vhost (and their own database and Redis db, see tests/conftest.py).
TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/customer_suite_test

.PHONY: run test test-fast bench lint format prepare services venv clean

run: prepare
	$(PY) deploy/local/run.py

test: prepare
	AMQP_URL=$(TEST_AMQP_URL) bash deploy/local/bootstrap.sh
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

prepare: venv services

services:
	bash deploy/local/bootstrap.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .run .pytest_cache .ruff_cache *.egg-info
