"""The pipeline's stages, one small class each."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.feature_store.redis_windows import LabelFacts, TxFacts
from lepton_stream.features.credit_vector import credit_feature_matrix
from lepton_stream.features.definitions import FRAUD_FEATURES, PROFILE_FIELDS
from lepton_stream.features.fraud_vector import fraud_feature_matrix
from lepton_stream.pipeline.batch import Batch, OutRecord, RawRecord
from lepton_stream.pipeline.retry import with_retry
from lepton_stream.schemas import Alert, DlqRecord, InvalidEvent, Score, parse_transaction
from lepton_stream.schemas.label import parse_label
from lepton_stream.schemas.outputs import Reason
from lepton_stream.scoring.base import Scorer


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _dlq(s: Settings, rec: RawRecord, bad: InvalidEvent, origin: int) -> OutRecord:
    record = DlqRecord(bad.code, bad.detail, bad.field, rec.topic, rec.partition, rec.offset, rec.value, _now_ms())
    return OutRecord(s.topics.dlq, rec.key or b"", record.to_json(), origin)


@dataclass
class LabelStage:
    """Confirmed frauds from `fraud-labels` feed the terminal risk windows (once per tx_id)."""

    settings: Settings
    store: object  # RedisWindowStore

    def __call__(self, batch: Batch) -> Batch:
        facts = []
        for i, rec in enumerate(batch.records):
            if rec.topic != self.settings.topics.fraud_labels:
                continue
            label = parse_label(rec.value)
            if isinstance(label, InvalidEvent):
                batch.out.append(_dlq(self.settings, rec, label, i))
            elif label.is_fraud:
                facts.append(LabelFacts(label.tx_id, label.terminal_id))
        if facts:
            results = with_retry(lambda: self.store.apply_labels(facts), what="redis",
                                 attempts=self.settings.retry_attempts, base_s=self.settings.retry_base_s)
            batch.labels_applied += results.count(1)
            batch.labels_pending += results.count(2)
        return batch


@dataclass
class ParseStage:
    """Valid transactions go on; each invalid one becomes a DLQ record with its reason."""

    settings: Settings

    def __call__(self, batch: Batch) -> Batch:
        for i, rec in enumerate(batch.records):
            if rec.topic != self.settings.topics.transactions:
                continue
            parsed = parse_transaction(rec.value, self.settings.max_amount)
            if isinstance(parsed, InvalidEvent):
                batch.out.append(_dlq(self.settings, rec, parsed, i))
            else:
                batch.valid.append(parsed)
                batch.valid_origin.append(i)
        return batch


@dataclass
class FeatureStage:
    """Card and terminal windows (one Redis pipeline), credit profiles, then both feature matrices."""

    settings: Settings
    store: object  # RedisWindowStore

    def __call__(self, batch: Batch) -> Batch:
        txs = batch.valid
        if not txs:
            return batch
        facts = [TxFacts(t.tx_id, t.card_id, t.terminal_id, t.ts_ms, t.amount_cents, t.x, t.y) for t in txs]
        retry = {"what": "redis", "attempts": self.settings.retry_attempts, "base_s": self.settings.retry_base_s}
        agg, profiles = with_retry(lambda: self.store.apply_and_profile(facts), **retry)
        batch.aggregates = agg
        batch.fraud_features = fraud_feature_matrix(
            np.array([t.amount for t in txs]), np.array([t.ts_ms for t in txs]), np.array([t.channel for t in txs]),
            np.array([t.x for t in txs]), np.array([t.y for t in txs]), agg).astype(np.float32)
        p = {f: profiles[:, k] for k, f in enumerate(PROFILE_FIELDS)}
        batch.credit_features = credit_feature_matrix(
            p["credit_limit"], p["opening_balance"], p["missed_payments_12m"], p["account_age_months"],
            p["income_band"], agg).astype(np.float32)
        return batch


@dataclass
class ScoreStage:
    settings: Settings
    scorer: Scorer

    def __call__(self, batch: Batch) -> Batch:
        if batch.fraud_features is None or batch.credit_features is None:
            return batch
        fx, cx = batch.fraud_features, batch.credit_features
        batch.scores = with_retry(lambda: self.scorer.score(fx, cx), what="triton",
                                  attempts=self.settings.retry_attempts, base_s=self.settings.retry_base_s)
        return batch


def severity(fraud_score: float, threshold: float) -> str | None:
    if fraud_score >= max(threshold, 0.9):
        return "high"
    if fraud_score >= max(threshold, 0.7):
        return "medium"
    if fraud_score >= threshold:
        return "low"
    return None


@dataclass
class RouteStage:
    """Every scored event to `scores`; those over the threshold also to `risk-alerts`,
    with the features furthest from normal (for that model version) as reasons."""

    settings: Settings
    feature_stats: Callable[[str], tuple[np.ndarray, np.ndarray]]  # fraud model version -> (mean, std)

    def __call__(self, batch: Batch) -> Batch:
        if batch.scores is None or batch.fraud_features is None:
            return batch
        now = _now_ms()
        topics, sc = self.settings.topics, batch.scores
        mean, std = self.feature_stats(sc.fraud_version)
        z = (batch.fraud_features - mean) / std
        for i, (tx, origin) in enumerate(zip(batch.valid, batch.valid_origin, strict=True)):
            fraud, credit = float(sc.fraud[i]), float(sc.credit[i])
            key = tx.card_id.encode()
            score = Score(tx.tx_id, tx.card_id, round(fraud, 6), round(credit, 6), sc.fraud_version,
                          sc.credit_version, tx.ts_ms, now, now - tx.ts_ms)
            batch.out.append(OutRecord(topics.scores, key, score.to_json(), origin))
            level = severity(fraud, self.settings.alert_threshold)
            if level is None:
                continue
            top = np.argsort(-np.abs(z[i]))[:3]
            reasons = [Reason(FRAUD_FEATURES[j], round(float(batch.fraud_features[i, j]), 4), round(float(z[i, j]), 2))
                       for j in top]
            alert = Alert(tx.tx_id, tx.card_id, tx.terminal_id, tx.amount, round(fraud, 6), round(credit, 6),
                          level, reasons, f"fraud_scorer:{sc.fraud_version},credit_scorer:{sc.credit_version}",
                          tx.ts_ms, now, merchant_id=tx.merchant_id)
            batch.out.append(OutRecord(topics.risk_alerts, key, alert.to_json(), origin))
        return batch


@dataclass
class PassthroughStage:
    """Benchmark floor: a zero score per valid event, in the real score's shape, with
    no Redis and no Triton, so what remains is what the data plane costs."""

    settings: Settings

    def __call__(self, batch: Batch) -> Batch:
        now = _now_ms()
        for tx, origin in zip(batch.valid, batch.valid_origin, strict=True):
            score = Score(tx.tx_id, tx.card_id, 0.0, 0.0, "passthrough", "passthrough", tx.ts_ms, now, now - tx.ts_ms)
            batch.out.append(OutRecord(self.settings.topics.scores, tx.card_id.encode(), score.to_json(), origin))
        return batch
