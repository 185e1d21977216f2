"""`pipeline-metrics`: what the job did over the last few seconds, as one record per task."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.jsonout import dumps
from lepton_stream.observability.pipeline import observe_batch, observe_lag
from lepton_stream.pipeline.batch import Batch, OutRecord

# The most rules one record lists (those with the most hits first): keeps a record of
# rules with 64-character ids well under the 64 KiB the alert monitor accepts.
MAX_RULE_HITS = 256

Lag = Callable[[dict[tuple[str, int], int]], dict[str, int]]  # last offsets -> lag per "topic/partition"


@dataclass
class MetricsStage:
    """Counts every batch; every `interval_s` appends one metrics record to the batch's output."""

    settings: Settings
    lag: Lag | None = None
    interval_s: float = 5.0
    task_id: str = field(default_factory=lambda: f"scoring/{socket.gethostname()}/{os.getpid()}")

    def __post_init__(self) -> None:
        # `tick` may come from another thread (the job's tick operator) than the batches.
        self._lock = threading.Lock()
        self._reset(time.time())

    def _reset(self, now: float) -> None:
        self.window_start = now
        self.events_in = self.scored = self.alerts = self.dlq = self.labels = self.duplicates = 0
        self.batch_sizes: list[int] = []
        self.latencies_ms: list[int] = []
        self.offsets: dict[tuple[str, int], int] = {}
        self.stage_s: dict[str, float] = {}
        self.rule_hits: dict[str, tuple[int, str, str | None, int]] = {}  # id -> version, action, severity, hits

    def __call__(self, batch: Batch) -> Batch:
        with self._lock:
            return self._count(batch)

    def _count(self, batch: Batch) -> Batch:
        topics = self.settings.topics
        self.events_in += len(batch.records)
        self.batch_sizes.append(len(batch.records))
        for rec in batch.records:
            self.offsets[(rec.topic, rec.partition)] = max(self.offsets.get((rec.topic, rec.partition), -1),
                                                           rec.offset)
        for out in batch.out:
            if out.topic == topics.scores:
                self.scored += 1
            elif out.topic == topics.risk_alerts:
                self.alerts += 1
            elif out.topic == topics.dlq:
                self.dlq += 1
        self.labels += batch.labels_applied + batch.labels_pending
        self.duplicates += batch.duplicates
        if batch.rule_hits is not None:
            for rule_id, version, action, severity, n in batch.rule_hits.totals():
                before = self.rule_hits.get(rule_id)
                # A rule changed in the window: its latest version, with every hit of the window.
                self.rule_hits[rule_id] = (version, action, severity, n + (before[3] if before else 0))
        for stage, seconds in batch.stage_s.items():
            self.stage_s[stage] = self.stage_s.get(stage, 0.0) + seconds
        if batch.scores is not None:
            now_ms = time.time_ns() // 1_000_000
            self.latencies_ms += [now_ms - t.ts_ms for t in batch.valid]
        now = time.time()
        if batch.records and now - self.window_start >= self.interval_s:
            batch.out.append(OutRecord(topics.pipeline_metrics, self.task_id.encode(), self._record(now),
                                       len(batch.records) - 1))
            self._reset(now)
        observe_batch(batch, topics, now)  # Prometheus
        return batch

    def tick(self) -> list[OutRecord]:
        """The window's record if it is due and counted anything, with no batch to carry it:
        without this, the last window of a burst would wait for the next event to be written."""
        with self._lock:
            now = time.time()
            if not self.events_in or now - self.window_start < self.interval_s:
                return []
            out = OutRecord(self.settings.topics.pipeline_metrics, self.task_id.encode(), self._record(now), 0)
            self._reset(now)
            return [out]

    def _record(self, now: float) -> bytes:
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else None
        sizes = np.asarray(self.batch_sizes)
        lag = self.lag(self.offsets) if self.lag else None
        body = {
            "task_id": self.task_id,
            "window_start": int(self.window_start * 1000), "window_end": int(now * 1000),
            "events_in": self.events_in, "scored": self.scored, "alerts": self.alerts, "dlq": self.dlq,
            "labels": self.labels, "duplicates": self.duplicates,
            "latency_ms": None if lat is None else {
                f"p{q}": float(np.percentile(lat, q)) for q in (50, 95, 99)},
            "batches": len(sizes), "batch_size": {"mean": float(sizes.mean()), "max": int(sizes.max())},
            "lag": lag,
            # Seconds this task spent in each stage during the window; the rest of the
            # window is time outside the pipeline (waiting for input, Flink's own work).
            "stage_s": {k: round(v, 4) for k, v in self.stage_s.items()},
            "feature_store": "ok",
            "rule_hits": self._rule_hits(),
            "schema_version": 1,
        }
        observe_lag(lag)
        return dumps(body, separators=(",", ":")).encode()


    def _rule_hits(self) -> list[dict]:
        """Every live rule this task evaluated in the window, with its hits (0 included:
        the alert monitor learns when a rule went live, and a quiet baseline is one)."""
        ranked = sorted(self.rule_hits.items(), key=lambda kv: (-kv[1][3], kv[0]))[:MAX_RULE_HITS]
        return [{"id": rule_id, "version": version, "action": action, "severity": severity, "hits": hits}
                for rule_id, (version, action, severity, hits) in ranked]


def kafka_lag(bootstrap: str) -> Lag:
    """Lag = the partition's end offset minus the next offset to read."""
    from confluent_kafka import Consumer, TopicPartition

    from lepton_stream.kafka.clients import client_security  # SASL/TLS from LEPTON_*

    client = Consumer({"bootstrap.servers": bootstrap, "group.id": "lepton-lag-probe", "log_level": 0,
                       **client_security()})

    def lag(offsets: dict[tuple[str, int], int]) -> dict[str, int]:
        out = {}
        for (topic, part), last in offsets.items():
            try:
                _, high = client.get_watermark_offsets(TopicPartition(topic, part), timeout=1.0, cached=False)
            except Exception:
                continue
            out[f"{topic}/{part}"] = max(0, high - last - 1)
        return out

    return lag


def store_lost_reporter(s: Settings, task_id: str) -> Callable[[str], None]:
    """Writes a task's "feature store lost" record to `pipeline-metrics` directly, outside
    the job's transactions: a paused batch's own output would only leave when it ends."""
    from lepton_stream.kafka.clients import client_security, producer

    made: list = []

    def report(reason: str) -> None:
        if not made:
            made.append(producer(s.kafka_bootstrap, security=client_security(s)))
        now = int(time.time() * 1000)
        body = {"task_id": task_id, "window_start": now, "window_end": now, "feature_store": "lost",
                "feature_store_reason": reason, "schema_version": 1}
        made[0].produce(s.topics.pipeline_metrics, dumps(body, separators=(",", ":")).encode(),
                        task_id.encode())
        made[0].flush(5)

    return report
