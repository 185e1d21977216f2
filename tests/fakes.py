"""In-process fakes for unit tests of pure logic (never used by integration tests)."""

from __future__ import annotations

import numpy as np

from lepton_stream.feature_store.base import LabelFacts, TxClaim, TxFacts, Verdict, verdict
from lepton_stream.features.aggregates import Aggregates
from lepton_stream.features.definitions import DEFAULT_PROFILE, PROFILE_FIELDS
from lepton_stream.scoring.base import Scores


class FirstSightStore:
    """Every card and terminal seen for the first time."""

    def __init__(self) -> None:
        self.labels: list[LabelFacts] = []
        self.claims: dict[str, str] = {}

    def claim(self, claims: list[TxClaim]) -> list[Verdict]:
        out = []
        for c in claims:
            out.append(verdict(c, self.claims.get(c.tx_id)))
            self.claims.setdefault(c.tx_id, f"{c.fingerprint}|{c.source}")
        return out

    def apply_transactions(self, txs: list[TxFacts]) -> Aggregates:
        n = len(txs)
        cents = np.array([t.amount_cents for t in txs], np.int64)
        return Aggregates(np.ones((n, 3), np.int64), np.repeat(cents[:, None], 3, axis=1), np.full(n, np.nan),
                          np.full(n, np.nan), np.full(n, np.nan), np.zeros((n, 3), np.int64),
                          np.zeros((n, 3), np.int64))

    def apply_and_profile(self, txs: list[TxFacts]) -> tuple[Aggregates, np.ndarray]:
        return self.apply_transactions(txs), self.profiles([t.card_id for t in txs])[0]

    def apply_labels(self, labels: list[LabelFacts]) -> list[int]:
        self.labels += labels
        return [1] * len(labels)

    def profiles(self, card_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        row = [DEFAULT_PROFILE[f] for f in PROFILE_FIELDS]
        return np.tile(row, (len(card_ids), 1)), np.ones(len(card_ids), bool)


class AmountScorer:
    """Fraud score grows with the amount (the first feature): 1000 -> 0.5."""

    def score(self, fraud_features: np.ndarray, credit_features: np.ndarray) -> Scores:
        amount = fraud_features[:, 0]
        return Scores((amount / (amount + 1000.0)).astype(np.float32), np.full(len(amount), 0.1, np.float32),
                      "7", "3")
