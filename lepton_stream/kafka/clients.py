"""Producer and consumer configurations used by every Lepton process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

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


def read_to_end(bootstrap: str, topic: str, stall_s: float = 10.0, **extra: Any) -> list[Message]:
    """Every record of `topic` from its start up to its end as it stands now
    (read_committed unless `extra` says otherwise). Its group is throwaway and never
    commits."""
    c = consumer(bootstrap, f"lepton-read-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True, **extra})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return drain(c, [TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts], stall_s)
    finally:
        c.close()


def drain(c: Consumer, start: Sequence[TopicPartition], stall_s: float = 10.0) -> list[Message]:
    """Assigns `start` to `c` (made with `enable.partition.eof`) and reads each of those
    partitions up to its end: for read_committed, the last stable offset, before any
    transaction still open. A partition is done once it has reached its end (what
    arrives in it meanwhile is kept too), so that a topic still being written to is
    read as it stood, not chased. Returns as soon as every partition is done, rather
    than after a quiet spell as `read_until_idle` does; gives back what it has if
    `stall_s` pass with nothing at all, not even an end (a broker gone away)."""
    c.assign(list(start))
    pending = {tp.partition for tp in start}
    out: list[Message] = []
    heard = time.monotonic()
    while pending and time.monotonic() - heard < stall_s:
        for m in c.consume(5000, timeout=0.5):
            err = m.error()
            if err is None:
                out.append(m)
            elif err.code() == KafkaError._PARTITION_EOF:
                pending.discard(cast(int, m.partition()))
            else:  # a broker's error says nothing of progress: only records and ends do
                continue
            heard = time.monotonic()
    return out


def read_ranges(c: Consumer, starts: Mapping[str, int | None], *, batch: int = 2000,
                idle_s: float = 10.0) -> tuple[int, Iterator[list[Message]]]:
    """Each topic of `starts` from a point in time (epoch ms of the records' Kafka
    timestamps; None: from its oldest record) up to its end as it stood when called,
    read_committed through `c`, which this assigns. Returns how many records that is
    at most (aborted ones and transaction markers are counted but never seen) and the
    batches. A stream a rebuild or a backtest reads keeps growing while it reads: the
    end is fixed at the start so that it finishes."""
    positions: dict[tuple[str, int], int] = {}  # next offset to read
    ends: dict[tuple[str, int], int] = {}
    for topic, since_ms in starts.items():
        partitions = c.list_topics(topic, timeout=10).topics[topic].partitions
        parts = [TopicPartition(topic, p, since_ms or 0) for p in partitions]
        found = parts if since_ms is None else c.offsets_for_times(parts, timeout=10)
        for tp in found:
            low, high = c.get_watermark_offsets(tp, timeout=10)
            # offsets_for_times answers -1 after the last record: nothing to read there.
            first = low if since_ms is None else (high if tp.offset < 0 else max(tp.offset, low))
            positions[(topic, tp.partition)], ends[(topic, tp.partition)] = first, high
    total = sum(ends[k] - positions[k] for k in ends)
    c.assign([TopicPartition(t, p, positions[(t, p)]) for t, p in ends])

    def batches() -> Iterator[list[Message]]:
        idle_since = time.monotonic()
        while unread := [TopicPartition(t, p) for (t, p), end in ends.items() if positions[(t, p)] < end]:
            # Records appended since the start are left for another run: a topic that
            # keeps growing (transactions while the job runs) must not keep this one going.
            msgs = [m for m in c.consume(batch, timeout=0.5) if m.error() is None
                    and cast(int, m.offset()) < ends[(cast(str, m.topic()), cast(int, m.partition()))]]
            for m in msgs:
                key = (cast(str, m.topic()), cast(int, m.partition()))
                positions[key] = max(positions[key], cast(int, m.offset()) + 1)
            # Past aborted records and transaction markers, which are never delivered: a
            # topic written in transactions (`scores`) ends with a marker.
            for tp in c.position(unread):
                if tp.offset >= 0:
                    positions[(tp.topic, tp.partition)] = max(positions[(tp.topic, tp.partition)], tp.offset)
            done = [tp for tp in unread if positions[(tp.topic, tp.partition)] >= ends[(tp.topic, tp.partition)]]
            if done:
                c.pause(done)
            if msgs:
                idle_since = time.monotonic()
                yield msgs
            elif time.monotonic() - idle_since > idle_s:
                return  # an open producer transaction holds the rest back: what is committed is in

    return total, batches()


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
