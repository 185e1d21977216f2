"""`make demo` / `lepton-stream demo`: the whole path on real parts, checked.

Brings the stack up, starts the scoring job, publishes simulated traffic
with some malformed events at a fixed rate, reads `scores`, `risk-alerts` and
`transactions-dlq` back (read_committed) and prints a summary. Exit code 0
only if every valid event got exactly one score and every malformed one is
in the DLQ with the expected reason. Stops everything it started, by PID.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from confluent_kafka import Consumer, KafkaException, TopicPartition

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.kafka.clients import consumer, producer
from lepton_stream.stack import manager
from lepton_stream.stack.job_process import start_job, stop_job
from lepton_stream.stack.processes import StackError
from producers.simple import MALFORMED_KINDS, SimpleGenerator, malformed

log = logs.get("lepton.demo")


@dataclass
class Sent:
    valid: dict[str, int] = field(default_factory=dict)  # tx_id -> event ts
    malformed: dict[tuple[int, int], str] = field(default_factory=dict)  # (partition, offset) -> expected code
    pending_malformed: dict[int, str] = field(default_factory=dict)
    errors: int = 0


@dataclass
class Seen:
    scores: Counter = field(default_factory=Counter)
    score_latency_ms: list[int] = field(default_factory=list)  # job: event ts -> scored
    visible_latency_ms: list[int] = field(default_factory=list)  # event ts -> readable by a consumer
    alerts: Counter = field(default_factory=Counter)
    severities: Counter = field(default_factory=Counter)
    dlq: dict[tuple[int, int], str] = field(default_factory=dict)
    last_ms: int = 0


def _output_consumer(s: Settings, since_ms: int) -> Consumer:
    c = consumer(s.kafka_bootstrap, f"lepton-demo-reader-{uuid.uuid4().hex[:8]}")
    tps = []
    for topic in (s.topics.scores, s.topics.risk_alerts, s.topics.dlq):
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        tps += [TopicPartition(topic, p, since_ms) for p in parts]
    for attempt in range(20):
        try:
            c.assign(c.offsets_for_times(tps, timeout=10))
            return c
        except KafkaException:
            if attempt == 19:
                raise
            time.sleep(0.5)
    return c


def _drain(c: Consumer, s: Settings, seen: Seen, timeout_s: float) -> None:
    for msg in c.consume(num_messages=5000, timeout=timeout_s):
        if msg.error():
            continue
        now = time.time_ns() // 1_000_000
        body = json.loads(msg.value())
        if msg.topic() == s.topics.scores:
            seen.scores[body["tx_id"]] += 1
            seen.score_latency_ms.append(body["latency_ms"])
            seen.visible_latency_ms.append(now - body["event_ts"])
            seen.last_ms = now
        elif msg.topic() == s.topics.risk_alerts:
            seen.alerts[body["tx_id"]] += 1
            seen.severities[body["severity"]] += 1
        else:
            seen.dlq[(body["source_partition"], body["source_offset"])] = body["error_code"]
            seen.last_ms = now


def _publish(s: Settings, sent: Sent, events: int, rate: float, malformed_share: float, prefix: str) -> float:
    p = producer(s.kafka_bootstrap)
    rng = random.Random(11)
    kinds = sorted(MALFORMED_KINDS)

    def on_delivery(err, msg, idx=None):  # noqa: ANN001
        if err is not None:
            sent.errors += 1
        elif idx is not None:
            sent.malformed[(msg.partition(), msg.offset())] = sent.pending_malformed.pop(idx)

    gen = SimpleGenerator(cards=500, fraud_share=0.03, seed=3, id_prefix=prefix)
    t0 = time.monotonic()
    for i, ev in enumerate(gen.stream(events, 0, 0)):
        # Pace to the target rate; the event time is the moment it is sent.
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ev.event["ts"] = time.time_ns() // 1_000_000
        key = ev.event["card_id"].encode()
        if rng.random() < malformed_share:
            kind = kinds[i % len(kinds)]
            sent.pending_malformed[i] = MALFORMED_KINDS[kind]
            p.produce(s.topics.transactions, key=key, value=malformed(kind, ev.event),
                      on_delivery=lambda err, msg, i=i: on_delivery(err, msg, i))
        else:
            sent.valid[ev.event["tx_id"]] = ev.event["ts"]
            p.produce(s.topics.transactions, key=key, value=ev.to_bytes(), on_delivery=on_delivery)
        p.poll(0)
    p.flush(30)
    return time.monotonic() - t0


def run_demo(s: Settings, events: int = 5000, rate: float = 1000.0, malformed_share: float = 0.03,
             keep_up: bool = False) -> int:
    run_id = uuid.uuid4().hex[:8]
    s = s.replace(consumer_group=f"lepton-demo-{run_id}")
    started: list[str] = []
    job = None
    try:
        print(f"demo {run_id}: starting the stack (Kafka, Redis, Triton)...", flush=True)
        t_up = time.monotonic()
        started = manager.up(s)
        print(f"  stack ready in {time.monotonic() - t_up:.1f} s (started: {', '.join(started) or 'already up'})")
        since_ms = time.time_ns() // 1_000_000 - 1000
        job_log = s.run_dir / f"job-demo-{run_id}.log"
        job = start_job(s, f"timestamp:{since_ms}", job_log)
        print(f"  scoring job started, pid {job.pid}, log {job_log}")
        reader = _output_consumer(s, since_ms)
        seen = Seen()

        # Warm-up: one event, so the figures below measure a running job, not its start-up.
        warm = Sent()
        _publish(s, warm, 1, 1.0, 0.0, f"demo-{run_id}-warm")
        t_warm = time.monotonic()
        while not all(seen.scores[t] for t in warm.valid):
            if job.poll() is not None:
                raise StackError("job", f"exited with code {job.returncode} during start-up (log {job_log})")
            if time.monotonic() - t_warm > 240:
                raise StackError("job", f"no score for the warm-up event after 240 s (log {job_log})")
            _drain(reader, s, seen, 0.5)
        print(f"  job scoring after {time.monotonic() - t_warm:.1f} s; publishing {events} events at {rate:.0f}/s")

        sent = Sent()
        seen = Seen()
        t_pub = time.monotonic()
        pub_s = _publish(s, sent, events, rate, malformed_share, f"demo-{run_id}")
        pub_start_ms = time.time_ns() // 1_000_000 - int((time.monotonic() - t_pub) * 1000)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _drain(reader, s, seen, 0.5)
            if all(seen.scores[t] for t in sent.valid) and set(sent.malformed) <= set(seen.dlq):
                break
        _drain(reader, s, seen, 2.0)  # late duplicates, if any, would show up here
        reader.close()
        return _report(sent, seen, pub_s, pub_start_ms, events, rate)
    except StackError as exc:
        print(f"demo failed: {exc}")
        return 1
    except Exception as exc:
        log.exception("demo failed")
        print(f"demo failed: {type(exc).__name__}: {exc}")
        return 1
    finally:
        if job is not None:
            stop_job(job)
        if not keep_up:
            for name in manager.down_parts(s, started):
                log.info("stopped", extra={"part": name})


def _pct(values: list[int], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _report(sent: Sent, seen: Seen, pub_s: float, pub_start_ms: int, events: int, rate: float) -> int:
    valid = set(sent.valid)
    scored = {t for t in valid if seen.scores[t] >= 1}
    dup = sorted(t for t in valid if seen.scores[t] > 1)
    missing = sorted(valid - scored)
    dlq_hit = {k: v for k, v in sent.malformed.items() if k in seen.dlq}
    wrong_reason = {k: (v, seen.dlq[k]) for k, v in dlq_hit.items() if seen.dlq[k] != v}
    span_s = max(1e-9, (seen.last_ms - pub_start_ms) / 1000)
    alerted = sum(1 for t in valid if seen.alerts[t])
    print("\n=== Lepton Stream demo summary ===")
    print(f"published         {events} events in {pub_s:.2f} s (target {rate:.0f}/s, achieved {events / pub_s:.0f}/s),"
          f" {len(valid)} valid, {len(sent.malformed)} malformed, {sent.errors} delivery errors")
    print(f"scored            {len(scored)} of {len(valid)} valid (duplicates {len(dup)}, missing {len(missing)})")
    print(f"alerted           {alerted} ({dict(seen.severities)})")
    print(f"sent to DLQ       {len(dlq_hit)} of {len(sent.malformed)} malformed "
          f"({dict(Counter(seen.dlq[k] for k in dlq_hit))}), wrong reason {len(wrong_reason)}")
    print(f"throughput        {(len(scored) + len(dlq_hit)) / span_s:.0f} events/s end to end "
          f"(first publish to last output)")
    print(f"latency event->score (job)      p50 {_pct(seen.score_latency_ms, 50):.0f} ms, "
          f"p99 {_pct(seen.score_latency_ms, 99):.0f} ms")
    print(f"latency event->score (visible, exactly-once commit) p50 {_pct(seen.visible_latency_ms, 50):.0f} ms, "
          f"p99 {_pct(seen.visible_latency_ms, 99):.0f} ms")
    ok = not dup and not missing and len(dlq_hit) == len(sent.malformed) and not wrong_reason and not sent.errors
    verdict = "OK: every valid event scored exactly once, every malformed one in the DLQ" if ok else "FAILED"
    print(f"result            {verdict}")
    if missing:
        print(f"  missing scores, e.g. {missing[:5]}")
    if wrong_reason:
        print(f"  wrong DLQ reasons, e.g. {list(wrong_reason.values())[:5]}")
    return 0 if ok else 1
