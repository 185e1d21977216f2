"""The same scoring work as a plain single-process consumer loop, for comparison
(`lepton-stream bench`): confluent-kafka consumes in batches, the same pipeline
(Redis store, Triton model) scores them, and a transactional producer writes the
outputs and commits the consumed offsets in one Kafka transaction, per batch or,
like a Flink checkpoint interval, every `commit_interval_s`.

Run: `python -m stream_jobs.consumer_loop [--batch-size N] [--max-wait-ms M] [--commit-interval-s S]`
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.kafka.clients import client_security
from lepton_stream.kafka.limits import MAX_RECORD_BYTES
from lepton_stream.pipeline import build_pipeline
from lepton_stream.pipeline.batch import raw_record


def run_loop(s: Settings, batch_size: int = 2000, commit_interval_s: float = 0.0, idle_stop_s: float = 5.0,
             first_wait_s: float = 60.0, max_wait_s: float = 0.5) -> dict:
    """Consume `transactions` (and labels) from the earliest offset until idle for
    `idle_stop_s` (or nothing arrived for `first_wait_s`: joining the group takes a
    while on a fresh broker); returns counts and time spent per stage. A batch is
    `batch_size` records or what arrived within `max_wait_s` (the loop's bundle time).
    One Kafka transaction holds the outputs of every batch consumed within
    `commit_interval_s` (0: one per batch)."""
    pipeline = build_pipeline(s)
    consumer = Consumer({"bootstrap.servers": s.kafka_bootstrap, "group.id": s.job.consumer_group,
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, **client_security(s)})
    consumer.subscribe([s.topics.transactions, s.topics.fraud_labels, s.topics.credit_profiles, s.topics.rules])
    producer = Producer({"bootstrap.servers": s.kafka_bootstrap, "transactional.id": f"{s.job.consumer_group}-loop",
                         "linger.ms": 5, "compression.type": "lz4", "message.max.bytes": MAX_RECORD_BYTES,
                         # a transaction may hold every output of `commit_interval_s`
                         "queue.buffering.max.messages": 2_000_000, **client_security(s)})
    producer.init_transactions()
    stage_s: dict[str, float] = defaultdict(float)
    events = 0
    idle_since = time.monotonic()
    offsets: dict[tuple[str, int], int] = {}  # next offset to read, of the open transaction
    opened_at = 0.0

    def commit() -> None:
        if offsets:
            producer.send_offsets_to_transaction([TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                                 consumer.consumer_group_metadata())
        producer.commit_transaction()
        offsets.clear()

    try:
        while time.monotonic() - idle_since < (idle_stop_s if events else first_wait_s):
            t0 = time.perf_counter()
            msgs = [m for m in consumer.consume(batch_size, timeout=max_wait_s) if m.error() is None]
            if msgs:  # not the waits for the group, the first records and the idle end
                stage_s["kafka consume"] += time.perf_counter() - t0
            if not msgs:
                due = pipeline.tick()  # the last metrics window, while nothing comes
                if due and not offsets:
                    producer.begin_transaction()
                for out in due:
                    producer.produce(out.topic, key=out.key, value=out.value)
                if offsets or due:  # nothing more for now: what was scored becomes visible
                    commit()
                continue
            idle_since = time.monotonic()
            records = [raw_record(m) for m in msgs]
            batch = pipeline.run(records)
            for stage, seconds in getattr(batch, "stage_s", {}).items():
                stage_s[stage] += seconds
            t0 = time.perf_counter()
            if not offsets:
                producer.begin_transaction()
                opened_at = time.monotonic()
            for out in batch.out:
                producer.produce(out.topic, key=out.key, value=out.value)
            producer.poll(0)
            for r in records:
                offsets[(r.topic, r.partition)] = r.offset + 1
            if time.monotonic() - opened_at >= commit_interval_s:
                commit()
            stage_s["kafka produce + commit"] += time.perf_counter() - t0
            events += len(msgs)
        if offsets:
            commit()
    except KafkaException:
        if offsets:
            producer.abort_transaction()
        raise
    finally:
        consumer.close()
    return {"events": events, "stage_seconds": {k: round(v, 3) for k, v in stage_s.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="consumer_loop", description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--max-wait-ms", type=float, default=500, help="how long a batch waits to fill")
    ap.add_argument("--commit-interval-s", type=float, default=0.0, help="0: a Kafka transaction per batch")
    ap.add_argument("--idle-stop-s", type=float, default=float("inf"), help="stop once idle this long")
    args = ap.parse_args(argv)
    logs.configure()
    summary = run_loop(Settings.from_env(), batch_size=args.batch_size, commit_interval_s=args.commit_interval_s,
                       idle_stop_s=args.idle_stop_s, first_wait_s=max(args.idle_stop_s, 60.0),
                       max_wait_s=args.max_wait_ms / 1000)
    logs.get("lepton.loop").info("loop stopped", extra=summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
