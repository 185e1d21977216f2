"""In-process fakes for unit tests of pure logic (never used by integration tests)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from lepton_stream.feature_store.base import WindowUpdate
from lepton_stream.features.definitions import BucketedWindowView
from lepton_stream.scoring.base import Scores


class MemoryFeatureStore:
    def __init__(self) -> None:
        self.buckets: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        self.applied: set[tuple[str, str]] = set()

    def update_and_read(self, view: BucketedWindowView, updates: list[WindowUpdate]) -> list[tuple[int, int]]:
        out = []
        for u in updates:
            b = view.bucket_of(u.ts_ms)
            if (u.entity_id, u.tx_id) not in self.applied:
                self.applied.add((u.entity_id, u.tx_id))
                self.buckets[u.entity_id][b][0] += 1
                self.buckets[u.entity_id][b][1] += u.amount_cents
            out.append(self.read(view, u.entity_id, u.ts_ms))
        return out

    def read(self, view: BucketedWindowView, entity_id: str, ts_ms: int) -> tuple[int, int]:
        b = view.bucket_of(ts_ms)
        cells = [v for k, v in self.buckets[entity_id].items() if b - view.buckets < k <= b]
        return sum(c for c, _ in cells), sum(s for _, s in cells)

    def ping(self) -> bool:
        return True


class AmountScorer:
    """Fraud score grows with the amount: 1000 -> 0.5."""

    def score(self, features: np.ndarray) -> Scores:
        fraud = (features[:, 0] / (features[:, 0] + 1000.0)).astype(np.float32)
        return Scores(fraud, np.full(len(features), 0.1, np.float32), "7")
