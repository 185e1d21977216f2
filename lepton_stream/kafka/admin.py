"""Broker readiness and topic creation."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from lepton_stream.config import Topics
from lepton_stream.kafka.clients import client_security  # SASL/TLS from LEPTON_*
from lepton_stream.kafka.limits import MAX_RECORD_BYTES
from lepton_stream.kafka.retention import topic_configs


def _admin(bootstrap: str) -> AdminClient:
    # log_level 0: a broker that is still starting is expected, not an error to print.
    return AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000,
                        "log_level": 0, **client_security()})


def _port_open(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


def broker_ready(bootstrap: str, timeout_s: float = 2.0) -> bool:
    if not _port_open(bootstrap):
        return False
    try:
        md = _admin(bootstrap).list_topics(timeout=timeout_s)
    except KafkaException:
        return False
    return bool(md.brokers)


def describe(bootstrap: str, ours: Sequence[str] = ()) -> str:
    """Brokers and topics; of the topics, Lepton Stream's own by name (and any missing),
    the rest counted: a shared cluster's hundreds would bury them."""
    md = _admin(bootstrap).list_topics(timeout=3)
    topics = {t for t in md.topics if not t.startswith("__")}
    present, missing = [t for t in ours if t in topics], [t for t in ours if t not in topics]
    others = len(topics - set(ours))
    text = f"{len(md.brokers)} broker(s), {len(topics)} topics"
    if present:
        text += f"; ours: {', '.join(present)}"
    if missing:
        text += f"; MISSING: {', '.join(missing)} (`lepton-stream up` creates them)"
    return text + (f"; {others} other(s)" if others and ours else "")


def create_topics(bootstrap: str, topics: Topics | Sequence[str], partitions: int,
                  timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics: those of `topics` each with its retention and
    cleanup (kafka/retention.py), other names with the record size limit alone.
    Returns the names created."""
    admin = _admin(bootstrap)
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    configs = (topic_configs(topics) if isinstance(topics, Topics)
               else {n: {"max.message.bytes": str(MAX_RECORD_BYTES)} for n in topics})
    new = [NewTopic(n, num_partitions=partitions, replication_factor=1, config=config)
           for n, config in configs.items() if n not in existing]
    if not new:
        return []
    for fut in admin.create_topics(new, operation_timeout=timeout_s).values():
        try:
            fut.result()
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return [t.topic for t in new]


def wait_topics_ready(bootstrap: str, names: list[str], timeout_s: float = 30.0) -> None:
    """Until every partition of every topic has a leader: a fresh topic's
    leaders take a moment, and clients asking before then get NOT_LEADER."""
    admin = _admin(bootstrap)
    deadline = time.monotonic() + timeout_s
    while True:
        md = admin.list_topics(timeout=5)
        pending = [n for n in names
                   if n not in md.topics or md.topics[n].error is not None or not md.topics[n].partitions
                   or any(p.leader < 0 or p.error is not None for p in md.topics[n].partitions.values())]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics without a leader after {timeout_s:.0f} s: {', '.join(pending)}")
        time.sleep(0.2)
