# The two commands of the README: `make demo` and `make test`. Both set up
# whatever is missing first (scripts/setup.sh is idempotent).
.PHONY: setup demo test lint clean bench-producer bench-pipeline

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/lepton-stream demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/pytest -q tests

lint: setup
	.venv/bin/ruff check .

clean:
	rm -rf .venv .venv-triton .venv-train .lepton

bench-producer: setup
	.venv/bin/python -m benchmarks.producer_rate

bench-pipeline: setup
	.venv/bin/lepton-stream bench
