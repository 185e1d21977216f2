"""The pipeline's stages, one small class each."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.feature_store.base import FeatureStore, WindowUpdate
from lepton_stream.features import CARD_ACTIVITY, MODEL_FEATURES, feature_matrix
from lepton_stream.pipeline.batch import Batch, OutRecord
from lepton_stream.pipeline.retry import with_retry
from lepton_stream.schemas import Alert, DlqRecord, InvalidEvent, Score, parse_transaction
from lepton_stream.schemas.outputs import Reason
from lepton_stream.scoring.base import Scorer


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class ParseStage:
    """Valid events go on; each invalid one becomes a DLQ record with its reason."""

    settings: Settings

    def __call__(self, batch: Batch) -> Batch:
        for i, rec in enumerate(batch.records):
            parsed = parse_transaction(rec.value, self.settings.max_amount)
            if isinstance(parsed, InvalidEvent):
                dlq = DlqRecord(parsed.code, parsed.detail, parsed.field, rec.topic, rec.partition, rec.offset,
                                rec.value, _now_ms())
                batch.out.append(OutRecord(self.settings.topics.dlq, rec.key or b"", dlq.to_json(), i))
            else:
                batch.valid.append(parsed)
                batch.valid_origin.append(i)
        return batch


@dataclass
class FeatureStage:
    """One Redis pipeline per batch: update each card's window once per tx_id, read it back."""

    settings: Settings
    store: FeatureStore

    def __call__(self, batch: Batch) -> Batch:
        if not batch.valid:
            return batch
        updates = [WindowUpdate(t.card_id, t.tx_id, t.ts_ms, t.amount_cents) for t in batch.valid]
        windows = with_retry(lambda: self.store.update_and_read(CARD_ACTIVITY, updates), what="redis",
                             attempts=self.settings.retry_attempts, base_s=self.settings.retry_base_s)
        batch.features = feature_matrix(
            [t.amount for t in batch.valid], [t.ts_ms for t in batch.valid], [t.channel for t in batch.valid],
            [c for c, _ in windows], [s for _, s in windows],
        )
        return batch


@dataclass
class ScoreStage:
    settings: Settings
    scorer: Scorer

    def __call__(self, batch: Batch) -> Batch:
        if batch.features is None:
            return batch
        features = batch.features
        batch.scores = with_retry(lambda: self.scorer.score(features), what="triton",
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
    with the features furthest from normal as reasons."""

    settings: Settings
    feature_mean: np.ndarray
    feature_std: np.ndarray
    model_name: str = "risk_scorer"

    def __call__(self, batch: Batch) -> Batch:
        if batch.scores is None or batch.features is None:
            return batch
        now = _now_ms()
        topics = self.settings.topics
        z = (batch.features - self.feature_mean) / self.feature_std
        for i, (tx, origin) in enumerate(zip(batch.valid, batch.valid_origin, strict=True)):
            fraud, credit = float(batch.scores.fraud[i]), float(batch.scores.credit[i])
            key = tx.card_id.encode()
            score = Score(tx.tx_id, tx.card_id, round(fraud, 6), round(credit, 6), self.model_name,
                          batch.scores.model_version, tx.ts_ms, now, now - tx.ts_ms)
            batch.out.append(OutRecord(topics.scores, key, score.to_json(), origin))
            level = severity(fraud, self.settings.alert_threshold)
            if level is None:
                continue
            top = np.argsort(-np.abs(z[i]))[:3]
            reasons = [Reason(MODEL_FEATURES[j], round(float(batch.features[i, j]), 4), round(float(z[i, j]), 2))
                       for j in top]
            alert = Alert(tx.tx_id, tx.card_id, tx.terminal_id, tx.amount, round(fraud, 6), round(credit, 6),
                          level, reasons, batch.scores.model_version, tx.ts_ms, now)
            batch.out.append(OutRecord(topics.risk_alerts, key, alert.to_json(), origin))
        return batch
