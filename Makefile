# Two commands matter: `make run` (the suite on :8080 with a demo tenant) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Tests use their own RabbitMQ vhost (and their own database and Redis db, see tests/conftest.py).
TEST_SLOT_SUFFIX := $(if $(filter-out 0,$(CS_TEST_SLOT)),_s$(CS_TEST_SLOT))
TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/customer_suite_test$(TEST_SLOT_SUFFIX)

# The container image: `make image` builds it with podman, `make image-test` runs its own
# filesystem against the local data stores (tests/image/; own database, vhost, Redis db 6 and
# ports 18300-18304). IMAGE matches the Helm chart's defaults (image.repository, appVersion).
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
IMAGE ?= localhost/customer-suite:$(VERSION)
IMAGE_TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/customer_suite_image

.PHONY: run test test-replicas chaos test-fast fuzz openapi bench lint format prepare services venv lock clean
.PHONY: image image-test image-name

# `make run REPLICAS=3`: three processes of every service behind HAProxy (deploy/local/replicas.py).
REPLICAS ?= 1

run: prepare
	REPLICAS=$(REPLICAS) $(PY) -m deploy.local.run

test: prepare
	AMQP_URL=$(TEST_AMQP_URL) WITH_HAPROXY=1 bash deploy/local/bootstrap.sh
	bash deploy/local/test_tools.sh
	$(PY) -m pytest

# The end-to-end suite against two processes of every service behind HAProxy (E2E_REPLICAS=2,
# tests/e2e/conftest.py), then every fault test (also part of `make test`): README, Scaling.
CHAOS_TESTS := tests/replicas tests/chaos tests/integration/test_postgres_restart.py \
	tests/integration/test_redis_outage.py

# CI runs test-replicas after `make test` (which has the fault tests already).
test-replicas: prepare
	AMQP_URL=$(TEST_AMQP_URL) WITH_HAPROXY=1 bash deploy/local/bootstrap.sh
	bash deploy/local/test_tools.sh
	E2E_REPLICAS=2 $(PY) -m pytest tests/e2e

chaos: test-replicas
	$(PY) -m pytest $(CHAOS_TESTS)

# gateway/openapi.json, the document the gateway serves, from the services' route tables and
# schemas (a unit test fails while the committed file is out of date).
openapi: venv
	$(PY) -m deploy.local.openapi

# Schemathesis against /openapi.json and the live suite (own database, see deploy/local/fuzz.py):
# no 5xx, every response as documented. FUZZ_MAX_EXAMPLES, FUZZ_SEED, FUZZ_ARGS tune it.
fuzz: prepare
	AMQP_URL=$(TEST_AMQP_URL) bash deploy/local/bootstrap.sh
	$(PY) -m deploy.local.fuzz

# Benchmarks: every bench/bench_*.py in turn (measured, never asserted; not part of `make test`).
# They use their own database, vhost, Redis db and ports (bench/harness.py); BENCH_ARGS goes to
# each, e.g. `make bench BENCH_ARGS=--fresh` (reseed) or `BENCH_ARGS="--customers 100000"`.
BENCH_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/customer_suite_bench
BENCH_ARGS ?=

bench: venv
	AMQP_URL=$(BENCH_AMQP_URL) bash deploy/local/bootstrap.sh
	set -e; for script in bench/bench_*.py; do \
		$(PY) -m bench.$$(basename "$$script" .py) $(BENCH_ARGS); \
	done

image:
	IMAGE=$(IMAGE) bash deploy/docker/build_image.sh

# One at a time per machine (fixed ports and database); needs `make image` first.
image-test: venv
	AMQP_URL=$(IMAGE_TEST_AMQP_URL) bash deploy/local/bootstrap.sh
	flock /tmp/cs-image-test.lock env CS_IMAGE=$(IMAGE) IMAGE_TEST_AMQP_URL=$(IMAGE_TEST_AMQP_URL) \
		$(PY) -m pytest tests/image -p no:cacheprovider

image-name:
	@echo $(IMAGE)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

prepare: venv services

services:
	REPLICAS=$(REPLICAS) bash deploy/local/bootstrap.sh

venv: $(STAMP)

# The versions of requirements-dev.lock (requirements.lock's, which the image installs, plus the
# dev tools), then the project itself.
$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# Pin pyproject.toml's dependencies (with hashes) after changing them; `make lock
# LOCK_ARGS=--upgrade` moves every pin to the newest release.
LOCK_ARGS ?=
UV_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes $(LOCK_ARGS)

lock: venv
	$(UV_COMPILE) -o requirements.lock
	$(UV_COMPILE) --extra dev --constraint requirements.lock -o requirements-dev.lock

clean:
	rm -rf $(VENV) .run .pytest_cache .ruff_cache *.egg-info
