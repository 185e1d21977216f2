"""`lepton-stream rules backtest`: what a rule would have done over recent history.

It reads `transactions`, `fraud-labels`, `scores` and `credit-profiles` from Kafka
(read_committed, up to their ends when it starts), parses the transactions with
the job's own stage (what the job sent to the DLQ is skipped and counted), drops
repeated tx_ids as the job does, computes every transaction's features with the
offline definition (`lepton_stream/features/offline.py`, which
tests/integration/test_feature_parity.py holds equal to what the online store
answers) over the period and the store's whole history before it, so that the
windows of the period's first transactions are full, and evaluates the rule with
the job's columns and engine, a batch at a time.

The period is one of the records' Kafka timestamps, when each transaction reached
the broker, as for `features rebuild`; labels count in the terminal windows from
the moment their record arrived, as in the store. The model scores a rule may read
come from `scores`, joined by tx_id: a transaction without one is counted, and not
evaluated by a rule that reads a score (it is by one that does not).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import orjson
import pandas as pd

from lepton_stream.config import Settings
from lepton_stream.features.credit_vector import credit_feature_matrix
from lepton_stream.features.definitions import DEFAULT_PROFILE, PROFILE_FIELDS, STORE_HISTORY_MS
from lepton_stream.features.fraud_vector import fraud_feature_matrix
from lepton_stream.features.offline import offline_aggregates
from lepton_stream.pipeline.batch import Batch, RawRecord
from lepton_stream.pipeline.rules_stage import rule_columns
from lepton_stream.pipeline.stages import ParseStage, _bounded, _parse_safely, fingerprint, severity
from lepton_stream.rules.engine import RuleSet
from lepton_stream.rules.model import Rule
from lepton_stream.schemas import Transaction
from lepton_stream.schemas.label import Label, parse_label
from lepton_stream.schemas.profile import CreditProfile, ProfileDeleted, parse_profile
from lepton_stream.scoring.base import CREDIT_OUTPUT, FRAUD_OUTPUT, Scores

Progress = Callable[[int, int, float], None]  # done, total, seconds so far
# Records per ParseStage call. Its stream clock checks each batch against the median
# of the latest 255 event times: batches of about that size keep it as close to the
# stream as a job's batches at a steady rate keep it.
PARSE_BATCH = 256


@dataclass(frozen=True)
class Record:
    """What the backtest keeps of a consumed record; its Kafka timestamp is when it arrived."""

    timestamp_ms: int
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class History:
    transactions: list[Record] = field(default_factory=list)
    labels: list[Record] = field(default_factory=list)
    scores: list[Record] = field(default_factory=list)
    profiles: list[Record] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.transactions) + len(self.labels) + len(self.scores) + len(self.profiles)


@dataclass(frozen=True)
class BacktestReport:
    rule_id: str
    version: int
    action: str
    severity: str | None
    period_from_ms: int
    period_to_ms: int
    history_from_ms: int  # earlier transactions and labels are read for the windows only
    transactions: int  # valid transactions of the period, replayed
    invalid: int  # of the period, skipped: what the job sent to the DLQ
    duplicates: int  # of the period, repeats of a tx_id the job dropped
    late: int  # arrived after a later transaction of their card: features computed as if in time
    unscored: int  # of the period, without a record on `scores`
    not_evaluated: int  # of those, not evaluated because the rule reads a score
    matched: int  # transactions the condition holds for
    matches: int  # alerts it would raise; for a suppress rule, the model's alerts it would suppress
    model_alerted: int  # of the matches, alerted by the model (fraud_score >= alert_threshold)
    known_frauds: int  # transactions of the period labelled fraud
    caught: int  # matches among them
    precision: float | None  # caught / matches
    recall: float | None  # caught / known_frauds
    alert_threshold: float
    events_read: int
    duration_s: float

    def to_dict(self) -> dict:
        return asdict(self)

    def human(self) -> str:
        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.1%}"

        suppress = self.action == "suppress"
        kind = "suppress" if suppress else f"alert, {self.severity}"
        lines = [
            f"backtest of rule {self.rule_id} v{self.version} ({kind}) over {_when(self.period_from_ms)} .. "
            f"{_when(self.period_to_ms)}",
            f"  replayed      {self.transactions:,} transactions ({self.invalid:,} invalid skipped, "
            f"{self.duplicates:,} duplicates dropped, {self.late:,} late)",
            f"  matched       {self.matched:,} transactions",
        ]
        if suppress:
            lines.append(f"  suppressed    {self.matches:,} alerts of the model (fraud_score >= "
                         f"{self.alert_threshold:g}); {self.caught:,} of them known frauds, which would go unalerted")
        else:
            lines.append(f"  would alert   {self.matches:,} transactions; {self.model_alerted:,} of them already "
                         f"alerted by the model (fraud_score >= {self.alert_threshold:g})")
        what = "hidden" if suppress else "caught"
        skipped = (f", {self.not_evaluated:,} of them not evaluated (the rule reads a score)"
                   if self.not_evaluated else "")
        lines += [
            f"  known frauds  {self.known_frauds:,} in the period; {what} {self.caught:,}",
            f"  precision     {pct(self.precision)} ({self.caught:,} / {self.matches:,})    "
            f"recall {pct(self.recall)} ({self.caught:,} / {self.known_frauds:,})",
            f"  scores        {self.unscored:,} transactions without a score{skipped}",
            f"  read          {self.events_read:,} events (history from {_when(self.history_from_ms)}) "
            f"in {self.duration_s:.1f} s",
        ]
        return "\n".join(lines)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def read_history(s: Settings, since_ms: int, progress: Progress | None = None) -> History:
    """The records a backtest from `since_ms` needs, each topic in arrival order."""
    from lepton_stream.kafka.clients import client_security, consumer, read_ranges

    t0 = time.monotonic()
    topics = s.topics
    start = since_ms - STORE_HISTORY_MS
    history = History()
    into = {topics.transactions: history.transactions, topics.fraud_labels: history.labels,
            topics.scores: history.scores, topics.credit_profiles: history.profiles}
    # log_level 0: a broker away is said once, by the CLI, not by librdkafka every 50 ms.
    c = consumer(s.kafka_bootstrap, f"lepton-backtest-{uuid.uuid4().hex[:8]}", security=client_security(s),
                 log_level=0)
    try:
        # A score is written after its transaction arrived: those of the period are after its start.
        total, batches = read_ranges(c, {topics.transactions: start, topics.fraud_labels: start,
                                         topics.scores: since_ms, topics.credit_profiles: None})
        done = 0
        for msgs in batches:
            for m in msgs:
                into[str(m.topic())].append(Record(m.timestamp()[1], m.partition() or 0, m.offset() or 0,
                                                   m.key(), m.value()))
            done += len(msgs)
            if progress is not None:
                progress(done, total, time.monotonic() - t0)
    finally:
        c.close()
    for records in into.values():  # the order the job would have met them in
        records.sort(key=lambda r: (r.timestamp_ms, r.partition, r.offset))
    return history


def run(s: Settings, rule: Rule, since_ms: int, progress: Progress | None = None) -> BacktestReport:
    t0 = time.monotonic()
    until_ms = time.time_ns() // 1_000_000
    history = read_history(s, since_ms, progress)
    return backtest(s, rule, history, since_ms, until_ms, started=t0)


@dataclass
class _Replayed:
    txs: list[Transaction] = field(default_factory=list)
    arrival_ms: list[int] = field(default_factory=list)
    invalid: int = 0
    duplicates: int = 0


def _replay(s: Settings, records: list[Record], since_ms: int) -> _Replayed:
    """The valid transactions, each tx_id once, through the job's ParseStage; invalid ones
    and repeats of the period counted."""
    out = _Replayed()
    parse = ParseStage(s)
    seen: dict[str, str] = {}
    for lo in range(0, len(records), PARSE_BATCH):
        chunk = records[lo:lo + PARSE_BATCH]
        batch = parse(Batch([RawRecord(r.key, r.value, s.topics.transactions, r.partition, r.offset) for r in chunk]))
        valid = set(batch.valid_origin)
        out.invalid += sum(1 for i, r in enumerate(chunk) if i not in valid and r.timestamp_ms >= since_ms)
        for tx, i in zip(batch.valid, batch.valid_origin, strict=True):
            in_period = chunk[i].timestamp_ms >= since_ms
            fp = fingerprint(tx)
            first = seen.setdefault(tx.tx_id, fp)
            if first is fp:
                out.txs.append(tx)
                out.arrival_ms.append(chunk[i].timestamp_ms)
            elif first != fp:  # the job's conflicting_duplicate: to the DLQ
                out.invalid += in_period
            else:  # a producer's retry: dropped
                out.duplicates += in_period
    return out


def _label_arrivals(records: Iterable[Record]) -> tuple[set[str], dict[str, tuple[str, int]]]:
    """The tx_ids labelled fraud, and when the first such label of each arrived (with its terminal)."""
    frauds: set[str] = set()
    arrived: dict[str, tuple[str, int]] = {}
    for r in records:
        label = _parse_safely(lambda r=r: parse_label(r.value))  # type: ignore[misc]
        if isinstance(label, Label) and label.is_fraud:
            frauds.add(label.tx_id)
            arrived.setdefault(label.tx_id, (label.terminal_id, r.timestamp_ms))
    return frauds, arrived


def _profiles(records: Iterable[Record]) -> dict[str, tuple[float, ...]]:
    """Each card's credit profile as the compacted topic holds it now (a tombstone deletes)."""
    out: dict[str, tuple[float, ...]] = {}
    for r in records:
        p = _parse_safely(lambda r=r: parse_profile(r.key, r.value))  # type: ignore[misc]
        if isinstance(p, CreditProfile):
            out[p.card_id] = p.values
        elif isinstance(p, ProfileDeleted):
            out.pop(p.card_id, None)
    return out


def _scores(records: Iterable[Record], wanted: set[str]) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for r in records:
        try:
            x = orjson.loads(r.value or b"")
            tx_id, fraud, credit = x["tx_id"], float(x[FRAUD_OUTPUT]), float(x[CREDIT_OUTPUT])
        except (ValueError, TypeError, KeyError):
            continue
        if isinstance(tx_id, str) and tx_id in wanted:
            out.setdefault(tx_id, (fraud, credit))
    return out


def _late(frame: pd.DataFrame) -> np.ndarray:
    """Which transactions (in arrival order) arrived after a later one of their card."""
    before = frame.groupby("card_id")["ts_ms"].cummax().groupby(frame["card_id"]).shift()
    return (frame["ts_ms"] < before).to_numpy()


def backtest(s: Settings, rule: Rule, history: History, since_ms: int, until_ms: int, *,
             started: float | None = None, batch: int = 10_000) -> BacktestReport:
    """The rule over the transactions of `history` that arrived from `since_ms` on; the
    earlier ones feed the windows only. `rule` is one `rules add` accepts (admin.check)."""
    t0 = time.monotonic() if started is None else started
    rules = RuleSet([dataclasses.replace(rule, enabled=True)])
    if rules.errors or len(rules) != 1:
        raise ValueError(f"rule {rule.id} v{rule.version} does not load: {rules.errors}")
    replayed = _replay(s, history.transactions, since_ms)
    txs = replayed.txs
    frauds, label_at = _label_arrivals(history.labels)
    # The store files a label under its own terminal_id: one naming another terminal never counts.
    terminal = {tx.tx_id: tx.terminal_id for tx in txs}
    arrivals = {t: at for t, (term, at) in label_at.items() if terminal.get(t) == term}

    frame = pd.DataFrame({
        "tx_id": [t.tx_id for t in txs], "card_id": [t.card_id for t in txs],
        "terminal_id": [t.terminal_id for t in txs], "ts_ms": np.array([t.ts_ms for t in txs], np.int64),
        "amount_cents": np.array([t.amount_cents for t in txs], np.int64),
        "x": np.array([t.x for t in txs], np.float64), "y": np.array([t.y for t in txs], np.float64),
        "arrival_ms": np.array(replayed.arrival_ms, np.int64)})
    late = int((_late(frame) & (frame["arrival_ms"].to_numpy() >= since_ms)).sum())
    # The offline definition reads events in time order; a late one (rare) is computed as if in time.
    order = np.argsort(frame["ts_ms"].to_numpy(), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    txs = [txs[i] for i in order.tolist()]
    if not txs:
        return _report(s, rule, history, since_ms, until_ms, t0, replayed, dict.fromkeys(_COUNTS, 0))
    agg = offline_aggregates(frame, label_arrivals=arrivals)
    fraud_x = _bounded(fraud_feature_matrix(
        np.array([t.amount for t in txs], np.float64), frame["ts_ms"].to_numpy(),
        np.array([t.channel for t in txs], dtype=object), frame["x"].to_numpy(), frame["y"].to_numpy(), agg))
    profiles = _profiles(history.profiles)
    default = tuple(DEFAULT_PROFILE[f] for f in PROFILE_FIELDS)
    held = np.array([profiles.get(t.card_id, default) for t in txs], np.float64).reshape(len(txs), -1)
    p = {f: held[:, k] for k, f in enumerate(PROFILE_FIELDS)}
    credit_x = _bounded(credit_feature_matrix(p["credit_limit"], p["opening_balance"], p["missed_payments_12m"],
                                              p["account_age_months"], p["income_band"], agg))

    period = np.flatnonzero(frame["arrival_ms"].to_numpy() >= since_ms)
    scores = _scores(history.scores, {txs[i].tx_id for i in period.tolist()})
    reads_scores = bool(rules.names & {FRAUD_OUTPUT, CREDIT_OUTPUT})
    threshold = s.models.alert_threshold
    counts = dict.fromkeys(_COUNTS, 0)
    for lo in range(0, len(period), batch):
        rows = period[lo:lo + batch]
        got = [scores.get(txs[i].tx_id) for i in rows.tolist()]
        scored = np.array([g is not None for g in got], dtype=bool)
        fraud_tx = np.array([txs[i].tx_id in frauds for i in rows.tolist()], dtype=bool)
        counts["unscored"] += int((~scored).sum())
        counts["known_frauds"] += int(fraud_tx.sum())
        if reads_scores:  # a score it would read is unknown: not evaluated
            counts["not_evaluated"] += int((~scored).sum())
            rows, got, fraud_tx = rows[scored], [g for g in got if g is not None], fraud_tx[scored]
        fraud_score = np.array([g[0] if g is not None else np.nan for g in got], np.float64)
        credit_score = np.array([g[1] if g is not None else np.nan for g in got], np.float64)
        columns = Batch([], valid=[txs[i] for i in rows.tolist()], fraud_features=fraud_x[rows],
                        credit_features=credit_x[rows], scores=Scores(fraud_score, credit_score, "", ""))
        matched = rules.evaluate(rule_columns(columns, rules.names), n=len(rows)).matched[:, 0]
        model_alert = np.array([g is not None and severity(g[0], threshold) is not None for g in got], dtype=bool)
        matches = matched & model_alert if rule.action == "suppress" else matched
        counts["matched"] += int(matched.sum())
        counts["matches"] += int(matches.sum())
        counts["model_alerted"] += int((matches & model_alert).sum())
        counts["caught"] += int((matches & fraud_tx).sum())
    counts["transactions"], counts["late"] = len(period), late
    return _report(s, rule, history, since_ms, until_ms, t0, replayed, counts)


_COUNTS = ("transactions", "late", "unscored", "not_evaluated", "matched", "matches", "model_alerted",
           "known_frauds", "caught")


def _report(s: Settings, rule: Rule, history: History, since_ms: int, until_ms: int, t0: float,
            replayed: _Replayed, counts: dict[str, int]) -> BacktestReport:
    caught, matches, frauds = counts["caught"], counts["matches"], counts["known_frauds"]
    return BacktestReport(
        rule.id, rule.version, rule.action, rule.severity, since_ms, until_ms, since_ms - STORE_HISTORY_MS,
        invalid=replayed.invalid, duplicates=replayed.duplicates,
        precision=round(caught / matches, 4) if matches else None,
        recall=round(caught / frauds, 4) if frauds else None,
        alert_threshold=s.models.alert_threshold, events_read=len(history),
        duration_s=round(time.monotonic() - t0, 2), **counts)
