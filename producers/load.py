"""The load generator: publish simulated traffic to Kafka at a fixed rate or as a
time-scaled replay, and report honestly what was achieved.

Events are serialised once into a pool (everything but `tx_id` and `ts`);
each send only prepends a fresh `tx_id` and the send time, so Python does
about one bytes-format and one `produce()` per event. Delivery latency comes
from the broker's acks (`Message.latency()`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from confluent_kafka import KafkaError, Message

from lepton_stream.jsonout import dumps
from lepton_stream.kafka.clients import producer
from lepton_stream.observability.producer import ProducerMeter
from producers.malformed import MALFORMED_KINDS, malformed
from producers.simulator import SimulationConfig, simulate
from producers.simulator.events import TX_COLUMNS, label_bytes
from producers.simulator.labels import DAY_MS, fraud_labels


@dataclass(frozen=True)
class LoadOptions:
    rate: float = 10_000.0  # events/s; 0 = as fast as possible
    duration_s: float = 10.0
    replay: bool = False  # replay simulated time instead of a fixed rate
    speedup: float = 3600.0  # replay: simulated seconds per wall second
    days: int = 1  # simulated days to draw events from
    cards: int = 5000  # customers (one card each) in the simulation
    hot_cards: int = 0  # key skew: this many hot cards...
    hot_share: float = 0.0  # ...receive this share of all events
    fraud_share: float | None = None  # resample to this fraud share (None: as simulated)
    malformed_share: float = 0.0
    labels: bool = False  # replay: publish fraud-labels too
    label_delay_days: float = 7.0
    label_share: float = 1.0
    seed: int = 0
    run_id: str = ""
    # Put before every card, customer and terminal id: a world of cards new to the store.
    # Without it, load tests against one store all land on the same simulated cards, and
    # each test's windows hold every earlier test's events (ever more alerts, bigger state).
    id_prefix: str = ""

    def __post_init__(self) -> None:
        # The job sends an event whose ids it refuses to the DLQ: refused here, before
        # anything is sent. A counter follows the run id after a "_", which never joins
        # digit groups (pan.py), so a run id without 13 digits in a row cannot make a
        # tx_id that looks like a card number, whatever the counter.
        from lepton_stream.schemas.pan import has_digit_run
        from lepton_stream.schemas.transaction import InvalidEvent, check_id

        if has_digit_run(self.run_id):
            raise ValueError(f"run_id {self.run_id!r} holds 13 or more digits in a row: its tx_ids could look "
                             "like card numbers, which the job refuses")
        for name, sample in (("tx_id", f"{tx_id_prefix(self.run_id or 'ld0000000000')}{10**12 - 1}"),
                             ("card_id", f"{self.id_prefix}card_000000000000")):
            bad = check_id(name, sample)
            if isinstance(bad, InvalidEvent):
                what = "run_id" if name == "tx_id" else "id_prefix"
                raise ValueError(f"{what} {getattr(self, what)!r} makes ids the job refuses: {bad.detail}")


def tx_id_prefix(run: str) -> str:
    """What the tx_id of each event of a fixed-rate run starts with; its count follows."""
    return f"{run}_"


@dataclass
class LoadReport:
    mode: str
    target_rate: float | None
    sent: int = 0
    delivered: int = 0
    errors: int = 0
    malformed: int = 0
    labels: int = 0
    send_s: float = 0.0
    total_s: float = 0.0  # until every delivery was acknowledged
    achieved_rate: float = 0.0
    delivered_rate: float = 0.0
    delivery_latency_ms_p50: float = float("nan")
    delivery_latency_ms_p99: float = float("nan")
    fell_behind: bool = False
    max_behind_s: float = 0.0
    error_samples: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return dumps(asdict(self), indent=2)

    def human(self) -> str:
        target = "max" if not self.target_rate else f"{self.target_rate:,.0f}/s"
        lines = [
            f"mode               {self.mode}",
            f"target rate        {target}",
            f"achieved rate      {self.achieved_rate:,.0f}/s sending, {self.delivered_rate:,.0f}/s acknowledged",
            f"sent               {self.sent:,} ({self.malformed:,} malformed, {self.labels:,} labels) "
            f"in {self.send_s:.2f} s",
            f"delivered          {self.delivered:,}, errors {self.errors:,}",
            f"delivery latency   p50 {self.delivery_latency_ms_p50:.1f} ms, p99 {self.delivery_latency_ms_p99:.1f} ms",
        ]
        if self.fell_behind:
            lines.append(f"WARNING            could not keep the target rate: up to {self.max_behind_s:.2f} s "
                         f"behind schedule")
        for e in self.error_samples:
            lines.append(f"error              {e}")
        return "\n".join(lines)


@dataclass
class EventPool:
    """Serialised events minus `tx_id` and `ts`: bodies[i] starts with ',"card_id"'."""

    keys: list[bytes]
    bodies: list[bytes]
    ts_ms: np.ndarray
    is_malformed: np.ndarray
    frame: pd.DataFrame


def build_pool(opts: LoadOptions, max_events: int) -> EventPool:
    sim = simulate(SimulationConfig(n_customers=opts.cards, nb_days=max(1, opts.days), seed=opts.seed))
    tx = sim.transactions
    rng = np.random.default_rng(opts.seed + 1)
    if opts.fraud_share is not None and not opts.replay:
        n = min(len(tx), max_events)
        n_fraud = int(round(n * opts.fraud_share))
        frauds, legit = tx[tx["is_fraud"] == 1], tx[tx["is_fraud"] == 0]
        tx = pd.concat([frauds.sample(n_fraud, replace=len(frauds) < n_fraud, random_state=opts.seed),
                        legit.sample(n - n_fraud, replace=len(legit) < n - n_fraud, random_state=opts.seed)])
        tx = tx.sample(frac=1.0, random_state=opts.seed)
    tx = tx.head(max_events).reset_index(drop=True)
    if opts.id_prefix:
        for col in ("card_id", "customer_id", "terminal_id"):
            tx[col] = opts.id_prefix + tx[col].astype(str)
    if opts.hot_cards > 0 and opts.hot_share > 0:
        hot = [f"{opts.id_prefix}card_hot{i:08d}" for i in range(opts.hot_cards)]
        pick = rng.random(len(tx)) < opts.hot_share
        tx.loc[pick, "card_id"] = rng.choice(hot, int(pick.sum()))
    cols = [c for c in TX_COLUMNS if c not in ("tx_id", "ts")]
    records = tx[cols].to_dict("records")
    bodies = [json.dumps(r, separators=(",", ":")).encode()[1:-1] for r in records]
    bodies = [b"," + b + b',"schema_version":1}' for b in bodies]
    is_bad = rng.random(len(tx)) < opts.malformed_share
    kinds = sorted(MALFORMED_KINDS)
    for i in np.flatnonzero(is_bad):
        ev = {**records[i], "tx_id": f"bad-{i}", "ts": int(tx["ts_ms"].iat[i]), "schema_version": 1}
        bodies[i] = malformed(kinds[i % len(kinds)], ev)
    return EventPool([k.encode() for k in tx["card_id"]], bodies, tx["ts_ms"].to_numpy(), is_bad, tx)


def _make_producer(bootstrap: str, report: LoadReport, latencies: list[float]):
    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            report.errors += 1
            if len(report.error_samples) < 5:
                report.error_samples.append(str(err))
        else:
            report.delivered += 1
            latencies.append(msg.latency() or 0.0)

    # acks=all + idempotence: the guarantees a bank would run with, measured as such.
    extra: dict[str, Any] = {
        "linger.ms": 10, "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576, "compression.type": "lz4"}
    return producer(bootstrap, on_delivery=on_delivery, **extra)


def _send(p, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            p.produce(topic, value=value, key=key)
            return
        except BufferError:
            p.poll(0.01)  # local queue full: wait for acks rather than drop


def run_load(bootstrap: str, topic: str, opts: LoadOptions, labels_topic: str = "fraud-labels",
             progress: Callable[[LoadReport], None] | None = None) -> LoadReport:
    if opts.replay:
        return _replay(bootstrap, topic, labels_topic, opts, progress)
    total = int(opts.rate * opts.duration_s) if opts.rate > 0 else 0
    pool = build_pool(opts, min(total, 200_000) if total else 200_000)
    report = LoadReport("rate", opts.rate or None)
    latencies: list[float] = []
    p = _make_producer(bootstrap, report, latencies)
    meter = ProducerMeter(topic)
    head = b'{"tx_id":"' + tx_id_prefix(opts.run_id or f"ld{int(time.time())}").encode()
    n_pool = len(pool.bodies)
    t0 = time.monotonic()
    end = t0 + opts.duration_s
    i = 0
    last_progress = t0
    while True:
        now = time.monotonic()
        if total and i >= total or not total and now >= end:
            break
        due = min(total, int((now - t0) * opts.rate) + 1) if total else i + 2000
        if i >= due:
            time.sleep(min(0.002, (i - due + 1) / opts.rate))
            continue
        behind = (due - i) / opts.rate if total else 0.0
        if behind > 0.5:
            report.fell_behind = True
        report.max_behind_s = max(report.max_behind_s, behind)
        n = min(due - i, 5000)
        now_ms = time.time_ns() // 1_000_000
        for j in range(i, i + n):
            k = j % n_pool
            if pool.is_malformed[k]:
                report.malformed += 1
                _send(p, topic, pool.keys[k], pool.bodies[k])
            else:
                _send(p, topic, pool.keys[k], head + b'%d","ts":%d%s' % (j, now_ms, pool.bodies[k]))
        i += n
        p.poll(0)
        if now - last_progress > 0.25:
            report.sent, report.send_s = i, now - t0
            meter.update(report, latencies)
            if progress:
                progress(report)
            last_progress = now
    report.sent, report.send_s = i, time.monotonic() - t0
    return _finish(p, report, latencies, t0, progress, meter)


def replay_timeline(tx_ts_ms: np.ndarray, label_ts_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge transactions and labels by simulated time: (times, is_label), stable
    so a label never precedes its own transaction."""
    times = np.concatenate([tx_ts_ms, label_ts_ms])
    is_label = np.concatenate([np.zeros(len(tx_ts_ms), bool), np.ones(len(label_ts_ms), bool)])
    order = np.lexsort((is_label, times))
    return times[order], is_label[order] if len(order) else is_label


def _replay(bootstrap: str, topic: str, labels_topic: str, opts: LoadOptions,
            progress: Callable[[LoadReport], None] | None) -> LoadReport:
    pool = build_pool(opts, 10_000_000)
    report = LoadReport("replay", None)
    latencies: list[float] = []
    p = _make_producer(bootstrap, report, latencies)
    meter = ProducerMeter(topic)
    labels = fraud_labels(pool.frame, opts.label_delay_days, opts.label_share,
                          np.random.default_rng(opts.seed + 2)) if opts.labels else pool.frame.iloc[0:0]
    label_values = label_bytes(labels) if opts.labels else []
    label_keys = [c.encode() for c in labels["card_id"]] if opts.labels else []
    times, is_label = replay_timeline(pool.ts_ms, labels["labelled_at"].to_numpy() if opts.labels else
                                      np.zeros(0, np.int64))
    # Replay as far as the simulated days go; labels beyond them are not due yet.
    horizon = pool.ts_ms.max() if len(pool.ts_ms) else 0
    keep = times <= horizon + (opts.label_delay_days * DAY_MS if opts.labels else 0)
    times, is_label = times[keep], is_label[keep]
    tx_i = lab_i = 0
    t0 = time.monotonic()
    sim0 = times[0] if len(times) else 0
    last_progress = t0
    for t, lab in zip(times, is_label, strict=True):
        due = t0 + (t - sim0) / 1000 / opts.speedup
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        elif now - due > 0.5:
            report.fell_behind = True
        report.max_behind_s = max(report.max_behind_s, now - due)
        if lab:
            _send(p, labels_topic, label_keys[lab_i], label_values[lab_i])
            lab_i += 1
            report.labels += 1
        else:
            k = tx_i
            tx_i += 1
            if pool.is_malformed[k]:
                report.malformed += 1
                _send(p, topic, pool.keys[k], pool.bodies[k])
            else:
                tx_id = pool.frame["tx_id"].iat[k].encode()
                _send(p, topic, pool.keys[k], b'{"tx_id":"%s","ts":%d%s' % (tx_id, pool.ts_ms[k], pool.bodies[k]))
        report.sent += 1
        p.poll(0)
        if now - last_progress > 0.25:
            report.send_s = now - t0
            meter.update(report, latencies)
            if progress:
                progress(report)
            last_progress = now
    report.send_s = time.monotonic() - t0
    return _finish(p, report, latencies, t0, progress, meter)


def _finish(p, report: LoadReport, latencies: list[float], t0: float,
            progress: Callable[[LoadReport], None] | None, meter: ProducerMeter | None = None) -> LoadReport:
    remaining = p.flush(60)
    if remaining:
        report.errors += remaining
        report.error_samples.append(f"{remaining} messages not acknowledged within 60 s")
    report.total_s = time.monotonic() - t0
    report.achieved_rate = report.sent / report.send_s if report.send_s else 0.0
    report.delivered_rate = report.delivered / report.total_s if report.total_s else 0.0
    if latencies:
        ms = np.asarray(latencies) * 1000
        report.delivery_latency_ms_p50 = float(np.percentile(ms, 50))
        report.delivery_latency_ms_p99 = float(np.percentile(ms, 99))
    if report.target_rate and report.achieved_rate < 0.98 * report.target_rate:
        report.fell_behind = True
    if meter is not None:
        meter.update(report, latencies)
    if progress:
        progress(report)
    return report
