"""Benchmark: the Flink scoring job vs a plain consumer loop, latency at fixed rates,
memory. The same as `lepton-stream bench` (lepton_stream/bench/); writes
benchmarks/results/pipeline.json and pipeline.md.

    .venv/bin/python -m benchmarks.pipeline_throughput
"""

from __future__ import annotations

from lepton_stream.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench"]))
