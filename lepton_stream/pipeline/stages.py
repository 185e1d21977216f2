"""The pipeline's stages, one small class each."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.feature_store.base import LabelFacts, TxClaim, TxFacts, WindowStore
from lepton_stream.features.credit_vector import credit_feature_matrix
from lepton_stream.features.definitions import FRAUD_FEATURES, PROFILE_FIELDS
from lepton_stream.features.fraud_vector import fraud_feature_matrix
from lepton_stream.pipeline.batch import Batch, OutRecord, RawRecord
from lepton_stream.pipeline.clock import StreamClock
from lepton_stream.pipeline.retry import with_retry
from lepton_stream.schemas import Alert, DlqRecord, InvalidEvent, Score, Transaction, parse_transaction
from lepton_stream.schemas.label import Label, parse_label
from lepton_stream.schemas.outputs import Reason, RuleFired, dlq_key
from lepton_stream.schemas.profile import CreditProfile, ProfileDeleted, parse_profile
from lepton_stream.schemas.transaction import Limits
from lepton_stream.scoring.base import Scorer, Scores

T = TypeVar("T")


def input_limits(s: Settings) -> Limits:
    """What the parser accepts, from the settings: the job's and `lepton-stream publish`'s."""
    return Limits(s.limits.max_amount, s.limits.max_abs_coordinate, s.limits.max_future_ms)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _dlq(s: Settings, rec: RawRecord, bad: InvalidEvent, origin: int) -> OutRecord:
    record = DlqRecord(bad.code, bad.detail, bad.field, rec.topic, rec.partition, rec.offset, rec.value, _now_ms())
    return OutRecord(s.topics.dlq, dlq_key(rec.key), record.to_json(), origin)


def _retry(s: Settings, what: str) -> dict:
    return {"what": what, "attempts": s.job.retry_attempts, "base_s": s.job.retry_base_s}


def _parse_safely(parse: Callable[[], T]) -> T | InvalidEvent:
    """The parsers return errors as values; should one still raise on some input, that
    record goes to the DLQ instead of failing (and replaying) the batch for ever."""
    try:
        return parse()
    except Exception as exc:  # noqa: BLE001
        return InvalidEvent("unparseable", f"the record could not be parsed ({type(exc).__name__})")


@dataclass
class ProfileStage:
    """Credit profiles from the compacted `credit-profiles` topic into the store, before
    this batch's transactions are scored; a tombstone deletes the card's profile."""

    settings: Settings
    store: WindowStore

    def __call__(self, batch: Batch) -> Batch:
        latest: dict[str, CreditProfile | ProfileDeleted] = {}  # a card's later record wins
        for i, rec in enumerate(batch.records):
            if rec.topic != self.settings.topics.credit_profiles:
                continue
            profile = _parse_safely(partial(parse_profile, rec.key, rec.value))
            if isinstance(profile, CreditProfile | ProfileDeleted):
                latest.pop(profile.card_id, None)
                latest[profile.card_id] = profile
            else:
                batch.out.append(_dlq(self.settings, rec, profile if isinstance(profile, InvalidEvent) else
                                      InvalidEvent("unparseable", "not a credit profile"), i))
        loads = [p for p in latest.values() if isinstance(p, CreditProfile)]
        gone = [p.card_id for p in latest.values() if isinstance(p, ProfileDeleted)]
        if loads:
            rows = np.array([p.values for p in loads])
            with_retry(lambda: self.store.load_profiles([p.card_id for p in loads], rows),
                       **_retry(self.settings, "redis"))
        if gone:
            with_retry(lambda: self.store.delete_profiles(gone), **_retry(self.settings, "redis"))
        batch.profiles_applied += len(loads) + len(gone)
        return batch


@dataclass
class LabelStage:
    """Confirmed frauds from `fraud-labels` feed the terminal risk windows (once per tx_id)."""

    settings: Settings
    store: WindowStore

    def __call__(self, batch: Batch) -> Batch:
        facts = []
        for i, rec in enumerate(batch.records):
            if rec.topic != self.settings.topics.fraud_labels:
                continue
            label = _parse_safely(partial(parse_label, rec.value))
            if isinstance(label, InvalidEvent):
                batch.out.append(_dlq(self.settings, rec, label, i))
            elif isinstance(label, Label) and label.is_fraud:
                facts.append(LabelFacts(label.tx_id, label.terminal_id))
        if facts:
            results = with_retry(lambda: self.store.apply_labels(facts), **_retry(self.settings, "redis"))
            batch.labels_applied += results.count(1)
            batch.labels_pending += results.count(2)
        return batch


@dataclass
class ParseStage:
    """Valid transactions go on; each invalid or implausible one becomes a DLQ record
    with its reason."""

    settings: Settings
    # One clock per source partition: a partition is time-ordered (its events are
    # keyed by card), but a consumer catching up on a backlog reads partitions at
    # different paces, days apart, and one clock over all of them would send the
    # partition ahead to the DLQ.
    clocks: dict[int, StreamClock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.settings
        self.limits = input_limits(s)

    def __call__(self, batch: Batch) -> Batch:
        now = _now_ms()
        parsed: list[tuple[int, Transaction]] = []
        for i, rec in enumerate(batch.records):
            if rec.topic != self.settings.topics.transactions:
                continue
            tx = _parse_safely(partial(parse_transaction, rec.value, self.limits, now))
            if isinstance(tx, Transaction):
                parsed.append((i, tx))
            else:
                batch.out.append(_dlq(self.settings, rec, tx if isinstance(tx, InvalidEvent) else
                                      InvalidEvent("unparseable", "not a transaction"), i))
        if not parsed:
            return batch
        references = self._references(batch.records, parsed)
        ahead = self.settings.limits.max_ahead_of_stream_ms
        for i, tx in parsed:
            reference = references[batch.records[i].partition]
            if reference is not None and tx.ts_ms > reference + ahead:
                batch.out.append(_dlq(self.settings, batch.records[i], InvalidEvent(
                    "timestamp_ahead_of_stream", f"ts {tx.ts_ms} is {(tx.ts_ms - reference) / 3_600_000:.1f} h "
                    f"ahead of its partition's recent events (at most {ahead / 3_600_000:.1f} h)", "ts"), i))
            else:
                batch.valid.append(tx)
                batch.valid_origin.append(i)
        return batch

    def _references(self, records: list[RawRecord], parsed: list[tuple[int, Transaction]]) -> dict[int, int | None]:
        """Each source partition's reference time, after this batch's events of it."""
        times: dict[int, list[int]] = {}
        for i, tx in parsed:
            times.setdefault(records[i].partition, []).append(tx.ts_ms)
        return {p: self.clocks.setdefault(p, StreamClock()).observe(ts) for p, ts in times.items()}


def fingerprint(tx: Transaction) -> str:
    """What makes two events with one tx_id the same transaction: every field that
    feeds features or outputs (not the JSON's spelling, nor unknown extra fields)."""
    text = "|".join(map(str, (tx.card_id, tx.customer_id, tx.terminal_id, tx.merchant_id, tx.mcc, tx.amount_cents,
                              tx.currency, tx.ts_ms, tx.channel, repr(tx.x), repr(tx.y))))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass
class DedupStage:
    """Each tx_id is scored once: a second event with the same tx_id and the same
    content (a producer's retry) is dropped and counted; with other content it goes
    to the DLQ (`conflicting_duplicate`) and the first score stands. A replay of the
    same record (same topic, partition and offset: a restart from a checkpoint) is
    not a duplicate: it is scored again, with the same answer (the store is
    idempotent by tx_id), since the first try's output was never committed."""

    settings: Settings
    store: WindowStore

    def __call__(self, batch: Batch) -> Batch:
        if not batch.valid:
            return batch
        claims = []
        for tx, origin in zip(batch.valid, batch.valid_origin, strict=True):
            rec = batch.records[origin]
            claims.append(TxClaim(tx.tx_id, fingerprint(tx), f"{rec.topic}/{rec.partition}/{rec.offset}"))
        verdicts = with_retry(lambda: self.store.claim(claims), **_retry(self.settings, "redis"))
        valid, origins = [], []
        for tx, origin, verdict in zip(batch.valid, batch.valid_origin, verdicts, strict=True):
            if verdict == "conflict":
                batch.out.append(_dlq(self.settings, batch.records[origin], InvalidEvent(
                    "conflicting_duplicate", "tx_id was seen before with different content; the first "
                    "transaction's score stands", "tx_id"), origin))
            elif verdict == "duplicate":
                batch.duplicates += 1
            else:
                valid.append(tx)
                origins.append(origin)
        batch.valid, batch.valid_origin = valid, origins
        return batch


# Features are bounded before they reach the model: a value the store should never
# hold (inf, NaN) must not turn into a NaN score.
_FEATURE_LIMIT = 1e9


@dataclass
class FeatureStage:
    """Card and terminal windows (one Redis pipeline), credit profiles, then both feature matrices."""

    settings: Settings
    store: WindowStore

    def __call__(self, batch: Batch) -> Batch:
        txs = batch.valid
        if not txs:
            return batch
        facts = [TxFacts(t.tx_id, t.card_id, t.terminal_id, t.ts_ms, t.amount_cents, t.x, t.y) for t in txs]
        agg, profiles = with_retry(lambda: self.store.apply_and_profile(facts), **_retry(self.settings, "redis"))
        batch.aggregates = agg
        fraud = fraud_feature_matrix(
            np.array([t.amount for t in txs]), np.array([t.ts_ms for t in txs]), np.array([t.channel for t in txs]),
            np.array([t.x for t in txs]), np.array([t.y for t in txs]), agg)
        p = {f: profiles[:, k] for k, f in enumerate(PROFILE_FIELDS)}
        credit = credit_feature_matrix(
            p["credit_limit"], p["opening_balance"], p["missed_payments_12m"], p["account_age_months"],
            p["income_band"], agg)
        batch.fraud_features = _bounded(fraud)
        batch.credit_features = _bounded(credit)
        return batch


def _bounded(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if not np.isfinite(x).all() or np.abs(x).max(initial=0.0) > _FEATURE_LIMIT:
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=_FEATURE_LIMIT, neginf=-_FEATURE_LIMIT),
                    -_FEATURE_LIMIT, _FEATURE_LIMIT)
    return x.astype(np.float32)


@dataclass
class ScoreStage:
    settings: Settings
    scorer: Scorer

    def __call__(self, batch: Batch) -> Batch:
        if batch.fraud_features is None or batch.credit_features is None:
            return batch
        fx, cx = batch.fraud_features, batch.credit_features
        batch.scores = with_retry(lambda: self.scorer.score(fx, cx), **_retry(self.settings, "triton"))
        return batch


SEVERITY_ORDER = ("low", "medium", "high")


def severity(fraud_score: float, threshold: float) -> str | None:
    if fraud_score >= max(threshold, 0.9):
        return "high"
    if fraud_score >= max(threshold, 0.7):
        return "medium"
    if fraud_score >= threshold:
        return "low"
    return None


def _challenger(sc: Scores, i: int) -> dict:
    """The challenger's fields of score i; a challenger answer that is not a probability
    is written as null (with its version): the champion's score stands either way."""
    if sc.challenger is None:
        return {}
    value = float(sc.challenger[i])
    return {"challenger_fraud_score": round(value, 6) if math.isfinite(value) and 0 <= value <= 1 else None,
            "challenger_model_version": sc.challenger_version}


@dataclass
class RouteStage:
    """Every scored event to `scores` (with the live rules it matched); to `risk-alerts`
    those over the threshold that no allowlist rule suppresses, and those an alert rule
    fired on, at the highest severity of the two, with the features furthest from
    normal (for that model version) as reasons and the rules that fired."""

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
            if not (math.isfinite(fraud) and math.isfinite(credit) and 0 <= fraud <= 1 and 0 <= credit <= 1):
                # Never a null or NaN score: the event waits in the DLQ with its reason.
                batch.out.append(_dlq(self.settings, batch.records[origin], InvalidEvent(
                    "score_not_finite", f"the models answered {fraud!r} / {credit!r}, not probabilities"), origin))
                continue
            key = tx.card_id.encode()
            hits = batch.rule_hits
            matched = ([f"{hits.rule_ids[j]}:{hits.versions[j]}" for j in np.flatnonzero(hits.matched[i])]
                       if hits is not None and hits.matched[i].any() else [])
            score = Score(tx.tx_id, tx.card_id, round(fraud, 6), round(credit, 6), sc.fraud_version,
                          sc.credit_version, tx.ts_ms, now, now - tx.ts_ms, rules=matched,
                          **_challenger(sc, i))
            batch.out.append(OutRecord(topics.scores, key, score.to_json(), origin))
            level = severity(fraud, self.settings.models.alert_threshold)
            model_alert = level is not None and not (hits is not None and hits.suppressed(i))
            fired = [RuleFired(*a) for a in hits.alerts(i)] if hits is not None and hits.any_alert[i] else []
            if not model_alert and not fired:
                continue
            levels = ([level] if model_alert and level is not None else []) + [f.severity for f in fired]
            top = np.argsort(-np.abs(z[i]))[:3]
            reasons = [Reason(FRAUD_FEATURES[j], round(float(batch.fraud_features[i, j]), 4), round(float(z[i, j]), 2))
                       for j in top]
            alert = Alert(tx.tx_id, tx.card_id, tx.terminal_id, tx.amount, round(fraud, 6), round(credit, 6),
                          max(levels, key=SEVERITY_ORDER.index), reasons,
                          f"fraud_scorer:{sc.fraud_version},credit_scorer:{sc.credit_version}",
                          tx.ts_ms, now, merchant_id=tx.merchant_id, rules=fired, model_alert=model_alert)
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
