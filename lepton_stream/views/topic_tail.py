"""Read the last committed records of a topic, or follow it live (read_committed)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, TopicPartition
from rich.console import Console

from lepton_stream.kafka.clients import consumer, drain


def console() -> Console:
    # Piped output (tests, `| less`) gets a wide console: Rich would otherwise wrap at 80 columns.
    return Console() if sys.stdout.isatty() else Console(width=200, soft_wrap=False)


def _viewer(bootstrap: str, **extra: Any) -> Consumer:
    # A throwaway group that never commits: looking must not move anybody's offsets.
    return consumer(bootstrap, f"lepton-view-{uuid.uuid4().hex[:8]}", log_level=0, **extra)


def last_records(bootstrap: str, topic: str, per_partition: int) -> list[Any]:
    """The last `per_partition` committed records of each partition, oldest first."""
    c = _viewer(bootstrap, **{"enable.partition.eof": True})
    try:
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None:
            return []
        start = []
        for p in md.partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
            if high > low:
                start.append(TopicPartition(topic, p, max(low, high - per_partition)))
        if not start:
            return []
        return sorted(drain(c, start, stall_s=5.0), key=lambda m: m.timestamp()[1])
    finally:
        c.close()


def follow(bootstrap: str, topic: str, from_beginning: bool = False, poll_s: float = 0.05) -> Iterator[Any]:
    """Every committed record from now on (or from the beginning); yields None when a poll is empty.

    A batch read waits its whole timeout unless it fills, so the timeout is short: a
    record is handed on within `poll_s` of becoming readable, not half a second later."""
    c = _viewer(bootstrap, **{"fetch.wait.max.ms": 50})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        c.assign([TopicPartition(topic, p, 0 if from_beginning else OFFSET_END) for p in md.partitions])
        while True:
            batch = c.consume(500, timeout=poll_s)
            if not batch:
                yield None
            for m in batch:
                if m.error() is None:
                    yield m
    finally:
        c.close()


def as_json(value: bytes | None) -> dict[str, Any] | None:
    try:
        out = json.loads(value or b"")
    except ValueError:
        return None
    return out if isinstance(out, dict) else None
