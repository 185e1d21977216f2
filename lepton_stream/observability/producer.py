"""The load generator's Prometheus metrics, updated from its running report a few
times a second (not per message: the producer sends hundreds of thousands a second)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lepton_stream.observability import metrics as m


class _Report(Protocol):
    sent: int
    delivered: int
    errors: int
    target_rate: float | None


@dataclass
class ProducerMeter:
    topic: str
    _sent: int = 0
    _delivered: int = 0
    _errors: int = 0
    _latencies_seen: int = 0

    def update(self, report: _Report, latencies: list[float]) -> None:
        m.PRODUCER_TARGET_RATE.set(report.target_rate or 0.0)
        m.PRODUCER_SENT.labels(self.topic).inc(max(0, report.sent - self._sent))
        m.PRODUCER_DELIVERED.inc(max(0, report.delivered - self._delivered))
        m.PRODUCER_ERRORS.inc(max(0, report.errors - self._errors))
        self._sent, self._delivered, self._errors = report.sent, report.delivered, report.errors
        # Delivery callbacks only append: the new acks are the list's tail.
        m.observe_many(m.PRODUCER_ACK_LATENCY, latencies[self._latencies_seen:])
        self._latencies_seen = len(latencies)
