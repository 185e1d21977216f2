"""`make demo` / `lepton-stream demo`: the whole path on real parts, checked.

Simulates a small world (1,000 cards, 2,000 terminals) with the handbook's
process, loads its credit profiles and 30 days of history into the online
feature store, starts the scoring job, then publishes the next few thousand
transactions (some deliberately malformed) and the fraud labels falling due
meanwhile at a fixed rate; reads `scores`, `risk-alerts` and
`transactions-dlq` back (read_committed) and prints a summary. Exit code 0
only if every valid event got exactly one score and every malformed one is in
the DLQ with the expected reason. Stops everything it started, by PID.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from confluent_kafka import Consumer, KafkaException, TopicPartition

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.feature_store.backfill import backfill
from lepton_stream.feature_store.profiles import load_profiles
from lepton_stream.feature_store.redis_windows import RedisWindowStore
from lepton_stream.features.definitions import PROFILE_FIELDS
from lepton_stream.kafka.clients import consumer, producer
from lepton_stream.stack import manager
from lepton_stream.stack.job_process import start_job, stop_job
from lepton_stream.stack.processes import StackError
from producers.malformed import MALFORMED_KINDS, malformed
from producers.simulator import SimulationConfig, simulate
from producers.simulator.events import transaction_events
from producers.simulator.labels import DAY_MS, fraud_labels

log = logs.get("lepton.demo")
HISTORY_DAYS = 30


@dataclass
class Sent:
    valid: dict[str, int] = field(default_factory=dict)  # tx_id -> send time (ms)
    malformed: dict[tuple[int, int], str] = field(default_factory=dict)  # (partition, offset) -> expected code
    pending_malformed: dict[int, str] = field(default_factory=dict)
    labels: int = 0
    frauds: set[str] = field(default_factory=set)
    errors: int = 0


@dataclass
class Seen:
    scores: Counter = field(default_factory=Counter)
    job_latency_ms: list[int] = field(default_factory=list)  # sent -> scored by the job
    visible_latency_ms: list[int] = field(default_factory=list)  # sent -> readable by a read_committed consumer
    alerts: Counter = field(default_factory=Counter)
    severities: Counter = field(default_factory=Counter)
    dlq: dict[tuple[int, int], str] = field(default_factory=dict)
    last_ms: int = 0


@dataclass
class World:
    history: pd.DataFrame
    history_labels: pd.DataFrame
    live: list[tuple[str, dict]]  # ("tx", Transaction v1) or ("label", Label v1), in time order
    customers: pd.DataFrame


def make_world(events: int, run_id: str, seed: int = 7) -> World:
    days = HISTORY_DAYS + max(2, int(np.ceil(events / 1900)) + 1)
    sim = simulate(SimulationConfig(n_customers=1000, n_terminals=2000, nb_days=days, seed=seed))
    tx = sim.transactions
    for col in ("tx_id", "card_id", "terminal_id"):  # fresh ids: a kept-up stack may hold an older run
        tx[col] = f"{run_id}-" + tx[col]
    tx["amount_cents"] = np.round(tx["amount"].to_numpy() * 100).astype(np.int64)
    labels = fraud_labels(tx)
    split = sim.config.start_ms + HISTORY_DAYS * DAY_MS
    history, live = tx[tx["ts_ms"] < split], tx[tx["ts_ms"] >= split].head(events)
    live_labels = labels[(labels["labelled_at"] >= split) & (labels["labelled_at"] <= live["ts_ms"].max())]
    merged = [(int(t), 0, "tx", ev) for t, ev in zip(live["ts_ms"], transaction_events(live), strict=True)]
    merged += [(int(r["labelled_at"]), 1, "label", {**r, "is_fraud": True, "schema_version": 1})
               for r in live_labels.to_dict("records")]
    customers = sim.customers.copy()
    customers["card_id"] = f"{run_id}-" + customers["card_id"]
    world = World(history, labels[labels["labelled_at"] < split], [(k, e) for _, _, k, e in sorted(
        merged, key=lambda m: (m[0], m[1]))], customers)
    world.live_frauds = set(live.loc[live["is_fraud"] == 1, "tx_id"])  # type: ignore[attr-defined]
    return world


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


def _drain(c: Consumer, s: Settings, sent: Sent, seen: Seen, timeout_s: float) -> None:
    for msg in c.consume(num_messages=5000, timeout=timeout_s):
        if msg.error():
            continue
        now = time.time_ns() // 1_000_000
        body = json.loads(msg.value() or b"null")
        if msg.topic() == s.topics.scores:
            seen.scores[body["tx_id"]] += 1
            if body["tx_id"] in sent.valid:
                seen.job_latency_ms.append(body["scored_ts"] - sent.valid[body["tx_id"]])
                seen.visible_latency_ms.append(now - sent.valid[body["tx_id"]])
            seen.last_ms = now
        elif msg.topic() == s.topics.risk_alerts:
            seen.alerts[body["tx_id"]] += 1
            seen.severities[body["severity"]] += 1
        else:
            seen.dlq[(body["source_partition"], body["source_offset"])] = body["error_code"]
            seen.last_ms = now


def _publish(s: Settings, sent: Sent, live: list[tuple[str, dict]], rate: float, malformed_share: float) -> float:
    p = producer(s.kafka_bootstrap)
    rng = random.Random(11)
    kinds = sorted(MALFORMED_KINDS)

    def on_delivery(err, msg, idx=None):  # noqa: ANN001
        if err is not None:
            sent.errors += 1
        elif idx is not None:
            sent.malformed[(msg.partition(), msg.offset())] = sent.pending_malformed.pop(idx)

    t0 = time.monotonic()
    for i, (kind, ev) in enumerate(live):
        delay = t0 + i / rate - time.monotonic()  # pace to the target rate
        if delay > 0:
            time.sleep(delay)
        key = ev["card_id"].encode()
        if kind == "label":
            p.produce(s.topics.fraud_labels, key=key, value=json.dumps(ev).encode(), on_delivery=on_delivery)
            sent.labels += 1
        elif rng.random() < malformed_share:
            bad = kinds[i % len(kinds)]
            sent.pending_malformed[i] = MALFORMED_KINDS[bad]
            p.produce(s.topics.transactions, key=key, value=malformed(bad, ev),
                      on_delivery=partial(on_delivery, idx=i))
        else:
            sent.valid[ev["tx_id"]] = time.time_ns() // 1_000_000
            p.produce(s.topics.transactions, key=key, value=json.dumps(ev).encode(), on_delivery=on_delivery)
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
        t_w = time.monotonic()
        world = make_world(events, run_id)
        store = RedisWindowStore.from_settings(s)
        load_profiles(s, store, world.customers["card_id"].tolist(), world.customers[list(PROFILE_FIELDS)].to_numpy())
        backfill(store, world.history, world.history_labels)
        print(f"  {len(world.customers):,} credit profiles and {HISTORY_DAYS} days of history "
              f"({len(world.history):,} transactions, {len(world.history_labels):,} labels) in the feature store "
              f"in {time.monotonic() - t_w:.1f} s")
        since_ms = time.time_ns() // 1_000_000 - 1000
        job_log = s.run_dir / f"job-demo-{run_id}.log"
        job = start_job(s, f"timestamp:{since_ms}", job_log)
        print(f"  scoring job started, pid {job.pid}, log {job_log}")
        reader = _output_consumer(s, since_ms)

        # Warm-up: the first event alone, so the figures measure a running job, not its start-up.
        sent, seen = Sent(), Seen()
        _publish(s, sent, world.live[:1], 1.0, 0.0)
        t_warm = time.monotonic()
        while not all(seen.scores[t] for t in sent.valid):
            if job.poll() is not None:
                raise StackError("job", f"exited with code {job.returncode} during start-up (log {job_log})")
            if time.monotonic() - t_warm > 240:
                raise StackError("job", f"no score for the warm-up event after 240 s (log {job_log})")
            _drain(reader, s, sent, seen, 0.5)
        print(f"  job scoring after {time.monotonic() - t_warm:.1f} s; publishing {len(world.live) - 1:,} events "
              f"(transactions and the fraud labels falling due) at {rate:.0f}/s")

        sent, seen = Sent(), Seen()
        # Outputs are read while the events are published, as a downstream consumer
        # would, so that "readable" is when each became readable, not when publishing ended.
        stop = threading.Event()

        def follow() -> None:
            while not stop.is_set():
                _drain(reader, s, sent, seen, 0.05)  # a batch read waits its whole timeout

        follower = threading.Thread(target=follow, name="demo-reader", daemon=True)
        follower.start()
        t_pub = time.monotonic()
        pub_s = _publish(s, sent, world.live[1:], rate, malformed_share)
        pub_start_ms = time.time_ns() // 1_000_000 - int((time.monotonic() - t_pub) * 1000)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(seen.scores[t] for t in sent.valid) and all(k in seen.dlq for k in sent.malformed):
                break
            time.sleep(0.2)
        time.sleep(2.0)  # late duplicates, if any, would show up here
        stop.set()
        follower.join()
        reader.close()
        return _report(sent, seen, pub_s, pub_start_ms, rate, world.live_frauds)  # type: ignore[attr-defined]
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


def _report(sent: Sent, seen: Seen, pub_s: float, pub_start_ms: int, rate: float, frauds: set[str]) -> int:
    valid = set(sent.valid)
    scored = {t for t in valid if seen.scores[t] >= 1}
    dup = sorted(t for t in valid if seen.scores[t] > 1)
    missing = sorted(valid - scored)
    dlq_hit = {k: v for k, v in sent.malformed.items() if k in seen.dlq}
    wrong_reason = {k: (v, seen.dlq[k]) for k, v in dlq_hit.items() if seen.dlq[k] != v}
    span_s = max(1e-9, (seen.last_ms - pub_start_ms) / 1000)
    alerted = {t for t in valid if seen.alerts[t]}
    valid_frauds = frauds & valid
    published = len(valid) + len(sent.malformed) + sent.labels
    print("\n=== Lepton Stream demo summary ===")
    print(f"published         {published:,} events in {pub_s:.2f} s (target {rate:.0f}/s, achieved "
          f"{published / pub_s:.0f}/s): {len(valid):,} valid transactions ({len(valid_frauds)} known frauds), "
          f"{len(sent.malformed)} malformed, {sent.labels} fraud labels; {sent.errors} delivery errors")
    print(f"scored            {len(scored):,} of {len(valid):,} valid (duplicates {len(dup)}, missing {len(missing)})")
    print(f"alerted           {len(alerted)} ({dict(seen.severities)}); they hold "
          f"{len(alerted & valid_frauds)} of the {len(valid_frauds)} known frauds")
    print(f"sent to DLQ       {len(dlq_hit)} of {len(sent.malformed)} malformed "
          f"({dict(Counter(seen.dlq[k] for k in dlq_hit))}), wrong reason {len(wrong_reason)}")
    print(f"throughput        {(len(scored) + len(dlq_hit)) / span_s:.0f} transactions/s end to end "
          f"(first publish to last output; paced by the publisher)")
    print(f"latency sent->scored in the job                      p50 {_pct(seen.job_latency_ms, 50):.0f} ms, "
          f"p99 {_pct(seen.job_latency_ms, 99):.0f} ms")
    print(f"latency sent->score readable (exactly-once commits)  p50 {_pct(seen.visible_latency_ms, 50):.0f} ms, "
          f"p99 {_pct(seen.visible_latency_ms, 99):.0f} ms")
    ok = not dup and not missing and len(dlq_hit) == len(sent.malformed) and not wrong_reason and not sent.errors
    verdict = "OK: every valid event scored exactly once, every malformed one in the DLQ" if ok else "FAILED"
    print(f"result            {verdict}")
    if missing:
        print(f"  missing scores, e.g. {missing[:5]}")
    if wrong_reason:
        print(f"  wrong DLQ reasons, e.g. {list(wrong_reason.values())[:5]}")
    return 0 if ok else 1
