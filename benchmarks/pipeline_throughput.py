"""Benchmark: the Flink scoring job vs a plain consumer loop doing the same work.

Both read the same simulated transactions (their own copy, with their own ids,
so neither finds the other's Redis state) from Kafka with read_committed,
keep the same Redis features, call the same Triton models and write scores,
alerts and DLQ records transactionally. Throughput at saturation = events /
(last scored_ts - first scored_ts), the backlog published before each run.
Starts its own stack on free ports under a temporary home; stops it by PID.

    .venv/bin/python -m benchmarks.pipeline_throughput [--events 60000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import TopicPartition

from lepton_stream.config import Settings, Topics
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import consumer, producer
from lepton_stream.stack import manager
from lepton_stream.stack.job_process import start_job, stop_job, wait_job
from lepton_stream.stack.processes import free_ports, group_pids, rss_mb
from producers.simulator import SimulationConfig, simulate
from producers.simulator.events import transaction_events
from stream_jobs.consumer_loop import run_loop

OUT = Path(__file__).parent / "results" / "pipeline_throughput.json"


def _topics(prefix: str) -> Topics:
    return Topics(transactions=f"{prefix}-tx", fraud_labels=f"{prefix}-labels", scores=f"{prefix}-scores",
                  risk_alerts=f"{prefix}-alerts", pipeline_metrics=f"{prefix}-metrics", dlq=f"{prefix}-dlq")


def _publish(s: Settings, events: list[dict], prefix: str) -> None:
    p = producer(s.kafka_bootstrap, **{"linger.ms": 20, "batch.size": 1_000_000})
    for e in events:
        ev = {**e, "tx_id": f"{prefix}-{e['tx_id']}", "card_id": f"{prefix}-{e['card_id']}",
              "terminal_id": f"{prefix}-{e['terminal_id']}"}
        p.produce(s.topics.transactions, key=ev["card_id"].encode(), value=json.dumps(ev).encode())
        p.poll(0)
    p.flush(60)


def _scored_span(s: Settings) -> tuple[int, float]:
    c = consumer(s.kafka_bootstrap, f"bench-{uuid.uuid4().hex[:6]}")
    parts = c.list_topics(s.topics.scores, timeout=10).topics[s.topics.scores].partitions
    c.assign([TopicPartition(s.topics.scores, p, 0) for p in parts])
    times, idle = [], 0
    while idle < 2:
        batch = c.consume(5000, timeout=1.0)
        idle = 0 if batch else idle + 1
        times += [json.loads(m.value())["scored_ts"] for m in batch if m.error() is None]
    c.close()
    return len(times), (max(times) - min(times)) / 1000 if times else float("nan")


class PeakRss:
    def __init__(self, pgid_or_pid: int, group: bool) -> None:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, args=(pgid_or_pid, group), daemon=True)
        self._thread.start()

    def _run(self, pid: int, group: bool) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(group_pids(pid) if group else [pid]))
            time.sleep(0.5)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--parallelism", type=int, default=None)
    ap.add_argument("--only", choices=["flink", "loop"], default=None)
    args = ap.parse_args()
    sim = simulate(SimulationConfig(n_customers=1000, n_terminals=2000, nb_days=max(2, args.events // 1900 + 1)))
    events = transaction_events(sim.transactions.head(args.events))
    result: dict = {"benchmark": "scoring at saturation: Flink job vs plain consumer loop, exactly-once both",
                    "date": time.strftime("%Y-%m-%d"), "events": len(events),
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores; broker, Redis, Triton on it too"}
    with tempfile.TemporaryDirectory(prefix="lepton-bench-") as home:
        k, kc, r, th, tg, tm = free_ports(6)
        base = Settings.from_env(None, home=Path(home), kafka_port=k, kafka_controller_port=kc, redis_port=r,
                                 triton_http_port=th, triton_grpc_port=tg, triton_metrics_port=tm,
                                 partitions=2)
        manager.up(base)
        try:
            for name in [args.only] if args.only else ["flink", "loop"]:
                s = base.replace(topics=_topics(name), consumer_group=f"bench-{name}",
                                 **({"parallelism": args.parallelism} if args.parallelism else {}))
                create_topics(s.kafka_bootstrap, s.topics.all(), s.partitions)
                wait_topics_ready(s.kafka_bootstrap, s.topics.all())
                _publish(s, events, name)
                t0 = time.monotonic()
                if name == "flink":
                    job = start_job(s, "earliest", Path(home) / "job.log", bounded=True)
                    rss = PeakRss(job.pid, group=True)
                    rc = wait_job(job, 900)
                    stop_job(job)
                    detail = {"exit_code": rc}
                else:
                    rss = PeakRss(os.getpid(), group=False)
                    detail = run_loop(s)
                wall = time.monotonic() - t0
                n, span = _scored_span(s)
                result[name] = {"scored": n, "scoring_span_s": round(span, 2), "events_per_s": round(n / span),
                                "wall_s_incl_start": round(wall, 1), "peak_rss_mb": rss.stop(), **detail}
                print(f"{name}: {result[name]}", flush=True)
            state = json.loads((base.run_dir / "stack.json").read_text())
            result["server_rss_mb"] = {part: round(rss_mb(group_pids(v["pid"]))) for part, v in state.items()}
        finally:
            manager.down(base)
    if args.only:
        print(json.dumps(result[args.only]))
        return 0
    result["flink_vs_loop"] = round(result["flink"]["events_per_s"] / result["loop"]["events_per_s"], 2)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"Flink {result['flink']['events_per_s']:,}/s vs loop {result['loop']['events_per_s']:,}/s "
          f"(ratio {result['flink_vs_loop']}); written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
