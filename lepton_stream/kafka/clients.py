"""Producer and consumer configurations used by every Lepton process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from lepton_stream.config import Settings
from lepton_stream.kafka.limits import MAX_RECORD_BYTES
from lepton_stream.kafka.security import librdkafka_config


def client_security(s: Settings | None = None) -> dict[str, str]:
    """SASL/TLS properties for a confluent-kafka client (empty for PLAINTEXT). Without
    settings, the process's own LEPTON_* environment: that is how every producer,
    consumer and CLI command gets the same credentials without passing them around."""
    return librdkafka_config(Settings.from_env() if s is None else s)


def producer(bootstrap: str, *, security: Mapping[str, str] | None = None, **extra: Any) -> Producer:
    conf = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": MAX_RECORD_BYTES,
        **(client_security() if security is None else security),
    }
    conf.update(extra)
    return Producer(conf)


def consumer(bootstrap: str, group: str, *, security: Mapping[str, str] | None = None, **extra: Any) -> Consumer:
    # read_committed: only what the exactly-once job committed is seen.
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        **(client_security() if security is None else security),
    }
    conf.update(extra)
    return Consumer(conf)


def read_until_idle(bootstrap: str, topic: str, idle_s: float = 2.0, **extra: Any) -> list[Message]:
    """Every record of `topic` from its start (read_committed unless `extra` says
    otherwise), until `idle_s` pass without one: what tests, the benchmark and the
    views use to see what was written. Its group is throwaway and never commits."""
    c = consumer(bootstrap, f"lepton-read-{uuid.uuid4().hex[:8]}", **extra)
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        out: list[Message] = []
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < idle_s:
            batch = c.consume(5000, timeout=0.5)
            if batch:
                idle_since = time.monotonic()
            out += [m for m in batch if m.error() is None]
        return out
    finally:
        c.close()


def group_has_consumed(s: Settings, topic: str, timeout_s: float = 10.0) -> bool:
    """Whether the job's consumer group committed an offset on any partition of
    `topic`: a group that has consumed before expects a feature store that holds
    what it consumed (lepton_stream/pipeline/store_guard.py)."""
    c = consumer(s.kafka_bootstrap, s.job.consumer_group, security=client_security(s))
    try:
        parts = c.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        committed = c.committed([TopicPartition(topic, p) for p in parts], timeout=timeout_s)
        return any(tp.offset >= 0 for tp in committed)
    finally:
        c.close()
