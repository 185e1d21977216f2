"""The raw per-event aggregates both paths produce (Redis online, pandas offline),
from which `fraud_vector` derives the model's features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Aggregates:
    card_count: np.ndarray  # int64 [N, len(CARD_WINDOWS.windows_days)], the event included
    card_sum_cents: np.ndarray  # int64 [N, windows]
    prev_ts_ms: np.ndarray  # float64 [N], NaN when the card has no earlier transaction
    prev_x: np.ndarray  # float64 [N], NaN likewise
    prev_y: np.ndarray
    terminal_count: np.ndarray  # int64 [N, windows], delayed windows
    terminal_frauds: np.ndarray  # int64 [N, windows], labelled frauds among them

    def __len__(self) -> int:
        return len(self.prev_ts_ms)

    @classmethod
    def concat(cls, parts: list[Aggregates]) -> Aggregates:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))
