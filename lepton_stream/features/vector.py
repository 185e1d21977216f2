"""The model's input row from a transaction and its window aggregates."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from lepton_stream.features.definitions import MODEL_FEATURES

NIGHT_HOURS = range(0, 6)


def feature_row(amount: float, ts_ms: int, channel: str, count: int, sum_cents: int) -> list[float]:
    """One row in `MODEL_FEATURES` order; `count`/`sum_cents` include this event."""
    window_sum = sum_cents / 100.0
    mean = window_sum / count if count else amount
    hour = (ts_ms // 3_600_000) % 24
    return [
        amount,
        math.log1p(amount),
        float(count),
        window_sum,
        amount / mean if mean > 0 else 1.0,
        1.0 if hour in NIGHT_HOURS else 0.0,
        1.0 if channel == "ecom" else 0.0,
        1.0 if channel == "atm" else 0.0,
    ]


def feature_matrix(
    amounts: Sequence[float],
    ts_ms: Sequence[int],
    channels: Sequence[str],
    counts: Sequence[int],
    sums_cents: Sequence[int],
) -> np.ndarray:
    rows = [feature_row(*args) for args in zip(amounts, ts_ms, channels, counts, sums_cents, strict=True)]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(MODEL_FEATURES))
