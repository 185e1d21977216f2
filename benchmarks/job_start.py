"""Benchmark: how long a local job takes from its start to its first score, with
and without the gateway JVM's class archive (lepton_stream/stack/flink_cds.py).

Records the archive if missing, starts its own stack (Kafka, Redis, Triton) on
free ports under a temporary home, then alternates: a job started on a fresh set
of topics with 50 transactions waiting, timed from `start_job` to the first
record in `scores`, once with the archive and once without, `--runs` times.
Writes benchmarks/results/job_start.json (every run and the medians); stops its
stack by PID.

    .venv/bin/python -m benchmarks.job_start [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from lepton_stream.config import Settings
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.stack import flink_cds, manager
from lepton_stream.stack.job_process import start_job, stop_job
from lepton_stream.stack.processes import last_line
from producers.simple import SimpleGenerator

OUT = Path(__file__).parent / "results" / "job_start.json"


def time_to_first_score(s: Settings, log: Path, timeout_s: float = 180.0) -> float:
    run = uuid.uuid4().hex[:6]
    topics = s.topics.__class__(transactions=f"tx-{run}", scores=f"scores-{run}", risk_alerts=f"alerts-{run}",
                                dlq=f"dlq-{run}", fraud_labels=f"labels-{run}", pipeline_metrics=f"metrics-{run}")
    s = s.replace(consumer_group=f"start-{run}", topics=topics)
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    p = producer(s.kafka_bootstrap)
    for ev in SimpleGenerator(cards=20, seed=3, id_prefix=run).stream(50, 1_700_000_000_000, 100.0):
        p.produce(topics.transactions, key=ev.event["card_id"].encode(), value=ev.to_bytes())
    assert p.flush(30) == 0
    # Any record at all in `scores` (a transactional one counts once written): the job scores.
    c = Consumer({"bootstrap.servers": s.kafka_bootstrap, "group.id": f"watch-{run}"})
    parts = [TopicPartition(topics.scores, q) for q in c.list_topics(topics.scores).topics[topics.scores].partitions]
    try:
        t0 = time.monotonic()
        job = start_job(s, "group", log)
        try:
            while not any(c.get_watermark_offsets(tp, timeout=5)[1] > 0 for tp in parts):
                if job.poll() is not None:
                    raise RuntimeError(f"job exited {job.returncode}: {last_line(log)}")
                if time.monotonic() - t0 > timeout_s:
                    raise RuntimeError(f"no score after {timeout_s:.0f} s: {last_line(log)}")
                time.sleep(0.1)
            return time.monotonic() - t0
        finally:
            stop_job(job)
    finally:
        c.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    archive = flink_cds.record(Settings.from_env())
    runs: dict[str, list[float]] = {"archive": [], "no_archive": []}
    with tempfile.TemporaryDirectory(prefix="lepton-bench-") as home:
        with manager.private_stack(Path(home), {}, partitions=2) as s:
            for i in range(args.runs):
                for name, on in (("archive", True), ("no_archive", False)):
                    took = time_to_first_score(s.replace(jvm_class_archive=on), Path(home) / f"job-{name}-{i}.log")
                    runs[name].append(round(took, 1))
                    print(f"run {i + 1}, {name}: first score after {took:.1f} s", flush=True)
    medians = {k: statistics.median(v) for k, v in runs.items()}
    result = {
        "benchmark": "a local job's start: `start_job` to its first record in `scores`, 50 transactions waiting",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, the stack on the same machine",
        "archive_mb": round(archive.stat().st_size / 2**20),
        "median_s": medians,
        "runs_s": runs,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"median {medians['archive']} s with the class archive, {medians['no_archive']} s "
          f"without; written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
