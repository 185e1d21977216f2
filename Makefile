# The two commands of the README: `make demo` and `make test`. Both set up
# whatever is missing first (scripts/setup.sh is idempotent).
.DEFAULT_GOAL := help
.PHONY: help setup demo test unit lint typecheck format clean bench-producer bench-job-start bench-pipeline

help:  ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup:  ## set up everything the tests need (idempotent)
	@scripts/setup.sh test

demo:  ## the end-to-end demo on a local stack (sets up only what it needs)
	@scripts/setup.sh demo
	.venv/bin/lepton-stream demo

# The suite waits on its services more than it computes (one worker kept two cores
# about 40 % busy), so two workers share them; each starts its own stack, and a
# file's tests stay on one worker with its module fixtures. Files go out in the
# order collected (integration before unit), not most tests first, which would leave
# the integration files, a few long tests each, to the end. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

test: setup  ## lint, type check, then every test (unit, integration, deploy, training)
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15 tests

unit:  ## the unit tests alone, in seconds (needs a set-up .venv)
	.venv/bin/pytest -q tests/unit

lint:  ## ruff
	.venv/bin/ruff check .

typecheck:  ## mypy
	.venv/bin/mypy

format:  ## format the code and fix what ruff can
	.venv/bin/ruff check --fix -q .
	.venv/bin/ruff format .

clean:  ## remove the environments and the local stack's home
	rm -rf .venv .venv-triton .venv-train .lepton

bench-producer: setup  ## the load generator's rate
	.venv/bin/python -m benchmarks.producer_rate

bench-job-start: setup  ## a job's start to its first score, with and without the JVM's class archive
	.venv/bin/python -m benchmarks.job_start

bench-pipeline: setup  ## the whole benchmark (about 25 minutes): benchmarks/results/
	.venv/bin/lepton-stream bench
