"""Producer and consumer configurations used by every Lepton process."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer


def producer(bootstrap: str, **extra: Any) -> Producer:
    conf = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
    }
    conf.update(extra)
    return Producer(conf)


def consumer(bootstrap: str, group: str, **extra: Any) -> Consumer:
    # read_committed: only what the exactly-once job committed is seen.
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    conf.update(extra)
    return Consumer(conf)
