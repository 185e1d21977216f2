"""Live rules beside the model: each batch's transactions through the rules the
worker holds now (`lepton_stream/rules/live.py`), after the scores are known."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.observability import metrics as m
from lepton_stream.pipeline.batch import Batch
from lepton_stream.pipeline.stages import _dlq, _parse_safely
from lepton_stream.rules.live import LiveRules, rule_of_record
from lepton_stream.schemas import InvalidEvent, Transaction
from lepton_stream.scoring.base import CREDIT_OUTPUT, FRAUD_OUTPUT

_TX_FIELDS = frozenset(f.name for f in fields(Transaction))


def rule_columns(batch: Batch, names: frozenset[str]) -> dict[str, Any]:
    """The columns the rules read, for the batch's valid transactions: their fields,
    the features as the models saw them, and the scores."""
    assert batch.scores is not None and batch.fraud_features is not None and batch.credit_features is not None
    out: dict[str, Any] = {}
    for name in names:
        if name in _TX_FIELDS:
            values = [getattr(tx, name) for tx in batch.valid]
            out[name] = np.array(values, dtype=object if values and isinstance(values[0], str) else np.float64)
        elif name in FRAUD_FEATURES:
            out[name] = batch.fraud_features[:, FRAUD_FEATURES.index(name)].astype(np.float64)
        elif name in CREDIT_FEATURES:
            out[name] = batch.credit_features[:, CREDIT_FEATURES.index(name)].astype(np.float64)
        elif name == FRAUD_OUTPUT:
            out[name] = batch.scores.fraud.astype(np.float64)
        elif name == CREDIT_OUTPUT:
            out[name] = batch.scores.credit.astype(np.float64)
    return out


@dataclass
class RuleStage:
    """Which live rules each scored transaction matched (for RouteStage to write and
    alert on); and each record of `rules` this task reads that is not a valid rule
    goes to the DLQ with its reason (every worker ignores it)."""

    settings: Settings
    live: LiveRules

    def __call__(self, batch: Batch) -> Batch:
        for i, rec in enumerate(batch.records):
            if rec.topic != self.settings.topics.rules or rec.value is None:
                continue
            rule = _parse_safely(lambda rec=rec: rule_of_record(rec.key, rec.value or b""))  # type: ignore[misc]
            if isinstance(rule, str):
                batch.out.append(_dlq(self.settings, rec, InvalidEvent("invalid_rule", rule), i))
            elif isinstance(rule, InvalidEvent):
                batch.out.append(_dlq(self.settings, rec, rule, i))
        rules = self.live.ruleset
        if not len(rules) or not batch.valid or batch.scores is None:
            batch.rule_hits = None
            return batch
        hits = batch.rule_hits = rules.evaluate(rule_columns(batch, rules.names), n=len(batch.valid))
        for rule_id, _version, _action, _severity, count in hits.totals():
            # Every live rule's series, 0 included: the spike alert (LeptonRuleHitsSpike)
            # needs a rule's quiet hour as its baseline, and a series that does not exist has none.
            m.RULE_HITS.labels(rule_id).inc(count)
        return batch
