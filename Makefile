# Everything the project needs is installed by these targets: Python 3.11, make and apt suffice.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run cluster test test-fast lint bench bench-store bench-cluster chaos chaos-cluster worker demo clean lock

# What CI tested, exactly: the locked pip (the venv's own is slower by half), every version from the
# lock file, then the project itself.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet "$$(grep '^pip==' requirements.lock)"
	$(VENV)/bin/pip install --quiet -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e '.[dev,otel]'
	touch $(STAMP)

## lock: write requirements.lock anew from pyproject.toml's pins, in a throwaway environment
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet "$$(grep '^pip==' requirements.lock)"
	.lock-venv/bin/pip install --quiet -e '.[dev,otel]'
	{ sed -n '1,2p' requirements.lock; .lock-venv/bin/pip freeze --all --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf .lock-venv

## run: dev server (SQLite under .data/), worker and demo cases; UI at http://localhost:8233
run: $(STAMP)
	$(VENV)/bin/python -m devserver

## cluster: docker-compose.yml's topology for real: Temporal 1.29.1 built from its Go modules (cached in
## .cache/temporal), its four services on a throwaway PostgreSQL, 3 workers, API, codec server, UI server
cluster: $(STAMP)
	$(VENV)/bin/python -m cluster

## lint: ruff's checks and format, and mypy (strict on cases/ and workflows/); make test runs it first
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## test: the whole suite, offline
test: $(STAMP) lint
	$(VENV)/bin/pytest

## test-fast: tests/unit only: the rules and the project's own checks, no server, no store
test-fast: $(STAMP)
	$(VENV)/bin/pytest tests/unit

## bench: what a case costs beside Temporal's floor (overhead, history, latency, idle fleet, suite); writes bench/results/bench.json
bench: $(STAMP)
	$(VENV)/bin/python -m bench.cases_bench

## bench-store: the case store with 1,000,000 cases on SQLite and PostgreSQL; writes bench/results/store.json
bench-store: $(STAMP)
	$(VENV)/bin/python -m bench.store_bench

## bench-cluster: cases/s, answer to money and memory on the dev server and on the cluster, 1 and 3 workers; writes bench/results/cluster.json
bench-cluster: $(STAMP)
	$(VENV)/bin/python -m bench.cluster_bench

## chaos-cluster: the chaos run on make cluster's Temporal: history, matching, frontend and PostgreSQL restarted in turn; writes bench/results/chaos-cluster.json
chaos-cluster: $(STAMP)
	$(VENV)/bin/python -m bench.chaos --topology cluster --out bench/results/chaos-cluster.json

## chaos: 300 cases on a dev server while workers and the server are SIGKILLed; writes bench/results/chaos.json
chaos: $(STAMP)
	$(VENV)/bin/python -m bench.chaos

worker: $(STAMP)
	$(VENV)/bin/python -m worker

demo: $(STAMP)
	$(VENV)/bin/refund-cases demo

clean:
	rm -rf $(VENV) .data .pytest_cache
