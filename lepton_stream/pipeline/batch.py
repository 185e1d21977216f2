"""What flows between the stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np

from lepton_stream.features.aggregates import Aggregates
from lepton_stream.schemas import Transaction
from lepton_stream.scoring.base import Scores

if TYPE_CHECKING:
    from confluent_kafka import Message

    from lepton_stream.rules.engine import RuleHits


@dataclass(frozen=True)
class RawRecord:
    key: bytes | None
    value: bytes | None  # None: a tombstone
    topic: str
    partition: int
    offset: int


def raw_record(m: Message) -> RawRecord:
    """A consumed Kafka message as a pipeline input (the consumer loop, a rebuild)."""
    # A message without an error always has its topic, partition and offset.
    return RawRecord(m.key(), m.value(), cast(str, m.topic()), cast(int, m.partition()), cast(int, m.offset()))


@dataclass(frozen=True)
class OutRecord:
    topic: str
    key: bytes
    value: bytes
    origin: int  # index of the input record in its batch that produced it


@dataclass
class Batch:
    records: list[RawRecord]
    valid: list[Transaction] = field(default_factory=list)
    valid_origin: list[int] = field(default_factory=list)
    aggregates: Aggregates | None = None
    fraud_features: np.ndarray | None = None
    credit_features: np.ndarray | None = None
    scores: Scores | None = None
    rule_hits: RuleHits | None = None  # which live rules each valid transaction matched
    out: list[OutRecord] = field(default_factory=list)
    labels_applied: int = 0
    labels_pending: int = 0
    profiles_applied: int = 0  # credit profiles loaded or deleted
    duplicates: int = 0  # exact repeats of a scored transaction, dropped
    stage_s: dict[str, float] = field(default_factory=dict)  # seconds per stage, for benchmarks
