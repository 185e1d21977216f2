"""Benchmark: the load generator's sustained rate to a local broker.

acks=all and idempotence on (the producer's defaults), unlimited target
rate, several runs; writes benchmarks/results/producer_rate.json with every
run and the median. Starts its own broker on free ports under a temporary
home and stops it by PID.

    .venv/bin/python -m benchmarks.producer_rate [--runs 5] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from lepton_stream.config import Settings
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.stack import manager
from lepton_stream.stack.processes import free_ports
from producers.load import LoadOptions, run_load

OUT = Path(__file__).parent / "results" / "producer_rate.json"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--partitions", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lepton-bench-") as home:
        kafka, controller = free_ports(2)
        s = Settings.from_env({}, home=Path(home), kafka_port=kafka, kafka_controller_port=controller)
        manager.up(s, only=["kafka"])
        try:
            runs = []
            for i in range(args.runs):
                topic = f"bench-{i}"
                create_topics(s.kafka_bootstrap, [topic], args.partitions)
                wait_topics_ready(s.kafka_bootstrap, [topic])
                r = run_load(s.kafka_bootstrap, topic, LoadOptions(rate=0, duration_s=args.seconds, seed=i))
                runs.append({"acked_per_s": round(r.delivered_rate), "sent_per_s": round(r.achieved_rate),
                             "sent": r.sent, "errors": r.errors, "p50_ms": round(r.delivery_latency_ms_p50, 1),
                             "p99_ms": round(r.delivery_latency_ms_p99, 1)})
                print(f"run {i + 1}: {runs[-1]}", flush=True)
        finally:
            manager.down(s)
    result = {
        "benchmark": "producer sustained rate to the local broker (acks=all, enable.idempotence=true, lz4)",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, broker on the same machine",
        "seconds_per_run": args.seconds,
        "partitions": args.partitions,
        "median_acked_per_s": statistics.median(r["acked_per_s"] for r in runs),
        "median_sent_per_s": statistics.median(r["sent_per_s"] for r in runs),
        "goal_per_s": 100_000,
        "runs": runs,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"median {result['median_acked_per_s']:,.0f} events/s acknowledged (goal 100,000); written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
