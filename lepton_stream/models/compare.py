"""The champion and the challenger compared live, on what the job wrote (`scores`,
each record with both models' scores and versions) and the confirmed frauds that
arrive on `fraud-labels`.

What "labelled" means: `fraud-labels` carries confirmed frauds only, days after
the transaction; a transaction without a label is genuine only once a label
could no longer be on its way. So the labelled window is the scored events whose
event time lies in the `compare_window_hours` before the maturity point (the
newest event time seen, less `label_maturity_hours`, the delay features already
assume for labels): each one a fraud if a label arrived for it, else genuine.
AUC and average precision (lepton_stream/training/metrics.py) are computed there.
Alert rates and agreement need no labels: they cover the last
`compare_window_hours` of events. Only events both versions of the current pair
scored count, whichever of the two was champion then, so a promote does not
restart the comparison.

Used by `lepton-stream model promote` (read once from Kafka: `from_kafka`) and by
the alert monitor (followed live: `LiveComparison`, gauges and `/models`).
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import orjson

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.training.metrics import average_precision, roc_auc

log = logs.get("lepton.compare")
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class ModelFigures:
    version: str
    alert_rate: float  # share of the window's events scored >= alert_threshold
    auc_roc: float  # over the labelled window; NaN without frauds and genuine events both
    average_precision: float


@dataclass(frozen=True)
class Comparison:
    champion: ModelFigures | None  # None: no score with a challenger in the window
    challenger: ModelFigures | None
    events: int  # in the window, scored by both
    agreement: float  # share of those where both alert or neither does
    labelled: int  # in the labelled window
    frauds: int  # of those, confirmed by a label

    def lines(self) -> list[str]:
        if self.champion is None or self.challenger is None:
            return ["no score with a challenger in the window"]
        out = [f"{self.events:,} events scored by both, agreement {self.agreement:.4f}; labelled window "
               f"{self.labelled:,} events, {self.frauds:,} confirmed frauds"]
        for role, f in (("champion", self.champion), ("challenger", self.challenger)):
            out.append(f"{role:<10} fraud_scorer:{f.version:<4} alert rate {f.alert_rate:.4f}  "
                       f"AUC {f.auc_roc:.4f}  AP {f.average_precision:.4f}")
        return out

    def refusal(self) -> str | None:
        """Why promoting the challenger is refused, or None: its AP on the labelled window
        must not be below the champion's (and both must be known)."""
        if self.champion is None or self.challenger is None:
            return "no score with a challenger in the window to compare"
        c, ch = self.challenger.average_precision, self.champion.average_precision
        if math.isnan(c) or math.isnan(ch):
            return (f"no average precision on the labelled window ({self.labelled:,} events, "
                    f"{self.frauds:,} confirmed frauds)")
        if c < ch:
            return f"challenger AP {c:.4f} below champion AP {ch:.4f} on the labelled window"
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Entry:
    event_ts: int
    scores: dict[str, float]  # fraud_scorer version -> score
    fraud: bool = False


class ComparisonWindow:
    """Score records and labels in, a Comparison out. Keeps the events of the maturity
    span and the window before it (at most `max_events`, the oldest dropped first)."""

    def __init__(self, window_ms: int, maturity_ms: int, threshold: float, max_events: int) -> None:
        self.window_ms, self.maturity_ms = window_ms, maturity_ms
        self.threshold, self.max_events = threshold, max_events
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._early_labels: OrderedDict[str, None] = OrderedDict()  # labels read before their score
        self.pair: tuple[str, str] | None = None  # (champion, challenger) of the newest score with both
        self.newest_ts = 0

    @classmethod
    def of(cls, s: Settings) -> ComparisonWindow:
        m = s.models
        return cls(int(m.compare_window_hours * HOUR_MS), int(m.label_maturity_hours * HOUR_MS), m.alert_threshold,
                   m.compare_max_events)

    def add_score(self, rec: dict[str, Any]) -> None:
        challenger, score = rec.get("challenger_model_version") or "", rec.get("challenger_fraud_score")
        if not challenger or not isinstance(score, int | float):
            return
        champion = str(rec["fraud_model_version"])
        self.pair = (champion, challenger)
        ts = int(rec["event_ts"])
        self.newest_ts = max(self.newest_ts, ts)
        tx_id = str(rec["tx_id"])
        fraud = tx_id in self._early_labels
        self._early_labels.pop(tx_id, None)
        self._entries[tx_id] = _Entry(ts, {champion: float(rec["fraud_score"]), challenger: float(score)}, fraud)
        while len(self._entries) > self.max_events:
            self._entries.popitem(last=False)

    def add_label(self, tx_id: str) -> None:
        entry = self._entries.get(tx_id)
        if entry is not None:
            entry.fraud = True
        else:
            self._early_labels[tx_id] = None
            while len(self._early_labels) > self.max_events:
                self._early_labels.popitem(last=False)

    def _prune(self) -> None:
        oldest = self.newest_ts - self.maturity_ms - self.window_ms
        for tx_id in [t for t, e in self._entries.items() if e.event_ts <= oldest]:
            del self._entries[tx_id]

    def comparison(self) -> Comparison:
        self._prune()
        if self.pair is None:
            return Comparison(None, None, 0, float("nan"), 0, 0)
        pair = self.pair
        rows = [(e.event_ts, e.scores[pair[0]], e.scores[pair[1]], e.fraud)
                for e in self._entries.values() if pair[0] in e.scores and pair[1] in e.scores]
        ts, champ, chal, fraud = (np.array(c) for c in zip(*rows, strict=True)) if rows else [np.zeros(0)] * 4
        recent = ts > self.newest_ts - self.window_ms
        labelled = ts <= self.newest_ts - self.maturity_ms
        y = fraud[labelled].astype(bool)
        a, b = champ[recent] >= self.threshold, chal[recent] >= self.threshold

        def figures(version: str, scores: np.ndarray, alerted: np.ndarray) -> ModelFigures:
            x = scores[labelled]
            return ModelFigures(version, float(alerted.mean()) if len(alerted) else float("nan"),
                                roc_auc(y, x) if len(x) else float("nan"),
                                average_precision(y, x) if len(x) else float("nan"))

        return Comparison(figures(pair[0], champ, a), figures(pair[1], chal, b), int(recent.sum()),
                          float((a == b).mean()) if len(a) else float("nan"), int(labelled.sum()), int(y.sum()))

    def add_record(self, topic: str, labels_topic: str, value: bytes | None) -> None:
        """One record of `scores` or `fraud-labels`; anything unreadable is skipped (the
        job DLQs bad labels, and writes only well-formed scores)."""
        try:
            rec = orjson.loads(value or b"null")
            if not isinstance(rec, dict):
                return
            if topic == labels_topic:
                if rec.get("is_fraud") is True and isinstance(rec.get("tx_id"), str):
                    self.add_label(rec["tx_id"])
            else:
                self.add_score(rec)
        except (ValueError, KeyError, TypeError):
            return


def from_kafka(s: Settings) -> Comparison:
    """The comparison over what `scores` and `fraud-labels` hold now (read_committed)."""
    from lepton_stream.kafka.clients import read_to_end

    window = ComparisonWindow.of(s)
    for topic in (s.topics.scores, s.topics.fraud_labels):  # scores first: a label then finds its event
        for m in read_to_end(s.kafka_bootstrap, topic):
            window.add_record(topic, s.topics.fraud_labels, m.value())
    return window.comparison()


class LiveComparison:
    """`scores` and `fraud-labels` followed from their start by a thread of its own;
    `refresh()` answers the comparison now and sets the Prometheus gauges."""

    def __init__(self, s: Settings, poll_s: float = 0.5) -> None:
        self._s, self._poll_s = s, poll_s
        self._window = ComparisonWindow.of(s)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lepton-model-compare", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING

        from lepton_stream.kafka.clients import consumer

        while not self._stop.is_set():
            try:
                c = consumer(self._s.kafka_bootstrap, f"lepton-compare-{uuid.uuid4().hex[:8]}", log_level=0)
                try:
                    c.subscribe([self._s.topics.scores, self._s.topics.fraud_labels],
                                on_assign=lambda c, parts: c.assign([p.__class__(p.topic, p.partition,
                                                                                 OFFSET_BEGINNING) for p in parts]))
                    while not self._stop.is_set():
                        msgs = [m for m in c.consume(2000, timeout=self._poll_s) if m.error() is None]
                        with self._lock:
                            for m in msgs:
                                self._window.add_record(m.topic() or "", self._s.topics.fraud_labels, m.value())
                finally:
                    c.close()
            except Exception as exc:  # the broker away: the last comparison stands, retried
                log.warning("scores or labels unreadable, retrying", extra={"error": str(exc)})
                self._stop.wait(2.0)

    def refresh(self) -> Comparison:
        with self._lock:
            comparison = self._window.comparison()
        set_gauges(comparison)
        return comparison

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def set_gauges(c: Comparison) -> None:
    from lepton_stream.observability import metrics as m

    for gauge in (m.MODEL_ALERT_RATE, m.MODEL_AUC, m.MODEL_AP):
        gauge.clear()  # a version that left the pair leaves the gauges
    for role, f in (("champion", c.champion), ("challenger", c.challenger)):
        if f is not None:
            m.MODEL_ALERT_RATE.labels(role, f.version).set(f.alert_rate)
            m.MODEL_AUC.labels(role, f.version).set(f.auc_roc)
            m.MODEL_AP.labels(role, f.version).set(f.average_precision)
    m.MODEL_AGREEMENT.set(c.agreement)
    m.MODEL_LABELLED.set(c.labelled)
